"""Each extractor's ``_locate``: its maps sum to ``weights @ features`` (completeness), and the
helpers that carry maps between resolutions keep their sums."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from l2vision.features import (
    HOG,
    LBP,
    BagOfVisualWords,
    CNNEmbedding,
    ColorHistogram,
    ImageExtractor,
    ImageFeatures,
    KMeansFeatures,
    TinyImage,
)
from l2vision.features.auto import photo_spec
from l2vision.features.base import grid_cells, prepare_view
from l2vision.features.locate import locate_images, occlusion_maps
from l2vision.features.location import (
    cell_support,
    pyramid_evidence,
    resample_map,
    share_gain,
    spread_matrix,
)

RTOL = 1e-4


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(0)
    cat = skimage.data.chelsea()[:, :, ::-1].copy()
    return [cat, cat[40:200, 100:330].copy(), rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)]


def _check_completeness(ext, images, n_rows=3, seed=0, feature_tol=1e-5):
    """``_locate`` on prepared views: sums, features, shapes; returns the Located."""
    rng = np.random.default_rng(seed)
    views = [prepare_view(im, ext._input_spec()) for im in images]
    d = ext._n_features()
    weights, offsets = rng.normal(size=(n_rows, d)), rng.normal(size=(n_rows, d))
    located = ext._locate(views, weights, offsets)
    reference = ext._extract(views)
    np.testing.assert_allclose(located.features, reference, rtol=1e-4,
                               atol=feature_tol * np.abs(reference).max())
    assert located.features.dtype == np.float32
    for i in range(len(views)):
        want = weights @ located.features[i].astype(np.float64)
        got = located.evidence[i].sum(axis=(1, 2))
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max())
        np.testing.assert_allclose(located.support[i].sum(axis=(1, 2)), offsets.sum(axis=1),
                                   rtol=1e-9, atol=1e-9)
        assert located.evidence[i].shape[0] == n_rows
    return located


@pytest.mark.parametrize("ext, kind", [
    (ColorHistogram(), "exact"),
    (ColorHistogram("lab", mode="per-channel", grid=(1, 2)), "exact"),
    (ColorHistogram(grid=(1, 2), sqrt=True, max_side=64), "approximate"),
    (LBP(grid=(1, 2), max_side=64), "exact"),
    (LBP(16, radius=2, method="nri_uniform"), "exact"),
    (TinyImage(), "exact"),
    (TinyImage((8, 6), color="gray", normalize=False), "exact"),
    (HOG(), "approximate"),
    (HOG(color="max", signed=True), "approximate"),
    (HOG(color="per-channel", size=(64, 48), cell_size=(8, 8), gamma_correction=True),
     "approximate"),
], ids=lambda v: repr(v) if not isinstance(v, str) else v)
def test_hand_crafted_maps_sum_to_the_linear_score(ext, kind, photos):
    located = _check_completeness(ext.fit(), photos)
    assert located.kind == kind


@pytest.mark.parametrize("ext", [
    CNNEmbedding("mobilenet_v1_0.25", output=["conv11", "conv13"], pooling="pyramid"),
    CNNEmbedding("mobilenet_v1_0.25", output="conv13", pooling="pyramid", crop=0.875,
                 l2_normalize=True),
    CNNEmbedding("mobilenet_v1_0.25", output="conv9", pooling="flatten", input_size=(96, 96)),
    CNNEmbedding("mobilenet_v1_0.25", flip_average=True),  # the embedding: a global average
    photo_spec()[0][1],
], ids=["pyramid", "crop-l2", "flatten", "embedding-flip", "photo"])
def test_cnn_maps_are_exact_with_the_network_run_once(ext, photos):
    located = _check_completeness(ext.fit(), photos, n_rows=2)
    assert located.kind == "exact"
    assert located.boxes is not None and len(located.boxes) == len(photos)


def test_cnn_with_a_dense_output_cannot_say_and_falls_back_to_occlusion(photos):
    logits = CNNEmbedding("mobilenet_v1_0.25", output="logits").fit()
    views = [prepare_view(photos[2], logits._input_spec())]
    w = np.ones((1, logits._n_features()))
    assert logits._locate(views, w, w) is None
    driver = ImageFeatures([("net", logits)]).fit()
    [(_, loc)] = list(locate_images(driver, photos[2:], w, 0 * w))
    assert loc.parts["net"].kind == "occlusion"
    np.testing.assert_allclose(loc.heatmaps([0]).sum(), w @ loc.features, rtol=RTOL)


def test_kmeans_maps_are_exact_at_power_1_and_approximate_otherwise(photos):
    rng = np.random.default_rng(1)
    train = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(12)]
    soft = KMeansFeatures(16, n_patches=3000, max_iter=2).fit(train)
    # The extractor pools in float32 by differences of large sums (its fast path);
    # its maps use float64 codes: features agree to 1e-4 of their scale.
    assert _check_completeness(soft, photos, feature_tol=1e-4).kind == "exact"
    tri = KMeansFeatures(16, n_patches=3000, max_iter=2, encoding="triangle", power=0.5,
                         grid=(1, 2), flip_average=False).fit(train)
    assert _check_completeness(tri, photos, feature_tol=1e-4).kind == "approximate"


class _Plugin(ImageExtractor):
    """A plugin extractor with no ``_locate``: the mean of each channel of a 16x16 view."""

    def _check_params(self):
        pass

    def _input_spec(self):
        return ((16, 16), "bgr")

    def _n_features(self):
        return 3

    def _feature_names(self):
        return ["b", "g", "r"]

    def _extract(self, images):
        return np.stack([im.reshape(-1, 3).mean(axis=0) / 255 for im in images]).astype(
            np.float32)


def test_extractors_without_locate_get_an_occlusion_map_that_still_sums_right(photos):
    driver = ImageFeatures([("plugin", _Plugin()), ("tiny", TinyImage())]).fit()
    rng = np.random.default_rng(0)
    d = driver.n_features_out_
    weights, offsets = rng.normal(size=(2, d)), rng.normal(size=(2, d))
    for _, loc in locate_images(driver, photos, weights, offsets):
        assert {name: p.kind for name, p in loc.parts.items()} == \
            {"plugin": "occlusion", "tiny": "exact"}
        maps = loc.heatmaps([0, 1])
        assert maps.shape == (2, *loc.image.shape[:2])
        np.testing.assert_allclose(maps.sum(axis=(1, 2)), weights @ loc.features
                                   - offsets.sum(axis=1), rtol=RTOL)
        np.testing.assert_allclose(loc.features, driver.transform([loc.image])[0], rtol=1e-6)


def test_occlusion_finds_the_tile_that_matters():
    image = np.zeros((32, 32, 3), np.uint8)
    image[:4, :4] = 255  # one bright tile: masking it drops the channel means
    loc = occlusion_maps(_Plugin(), [image], np.ones((1, 3)), np.zeros((1, 3)))
    heat = loc.evidence[0][0]
    assert np.unravel_index(heat.argmax(), heat.shape) == (0, 0)
    assert loc.kind == "occlusion"


def test_bag_of_words_histograms_are_approximate_and_vlad_falls_back(photos):
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    hist = BagOfVisualWords(4, side=64, max_iter=2, grid=(1, 2)).fit(train)
    assert _check_completeness(hist, photos).kind == "approximate"
    vlad = BagOfVisualWords(4, encoding="vlad", side=64, max_iter=2)
    driver = ImageFeatures([vlad]).fit(train)
    w = np.ones((1, driver.n_features_out_))
    assert vlad._locate([photos[2]], w, w) is None
    [(_, loc)] = list(locate_images(driver, photos[2:], w))
    assert loc.parts["bagofvisualwords"].kind == "occlusion"


def test_the_approximate_rule_for_square_rooted_histograms():
    # One cell, two colors: 3 pixels of one bin, 1 of another. sqrt histogram
    # features sqrt(0.75) and sqrt(0.25); each bin's w * f is shared equally by its pixels.
    image = np.zeros((2, 2, 3), np.uint8)
    image[1, 1] = (0, 0, 255)
    color = ColorHistogram(bins=(2, 1, 1), sqrt=True, space="rgb").fit()
    w = np.array([[1.0, 1.0]])
    located = color._locate([image], w, 0 * w)
    heat = located.evidence[0][0]
    assert np.allclose(heat[0, 0], np.sqrt(0.75) / 3) and np.allclose(heat[1, 1], np.sqrt(0.25))


def test_hog_shares_each_feature_among_the_pixels_of_its_block():
    ramp = np.repeat(np.arange(0, 256, 8, dtype=np.uint8)[:, None], 32, axis=1)
    hog = HOG().fit()
    d = hog._n_features()
    w = np.zeros((1, d))
    w[0, 4] = 1.0  # block 0 (top left, 8x8 px), cell 0, bin 4 (90 degrees)
    located = hog._locate([ramp], w, 0 * w)
    heat = located.evidence[0][0]
    assert heat.min() >= 0 and heat[8:, :].sum() == 0 and heat[:, 8:].sum() == 0
    assert np.isclose(heat.sum(), located.features[0, 4])


def test_resampling_keeps_sums_and_spread_matrices_have_unit_columns():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 7, 5))
    for shape in [(224, 224), (3, 2), (7, 5), (13, 1)]:
        out = resample_map(maps, shape)
        assert out.shape == (3, *shape)
        np.testing.assert_allclose(out.sum(axis=(1, 2)), maps.sum(axis=(1, 2)), rtol=1e-10)
    np.testing.assert_allclose(spread_matrix(9, 4).sum(axis=0), 1.0)


def test_pyramid_helpers_match_the_histograms():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 4, (9, 7))
    w = rng.normal(size=(2, 5 * 4))
    from l2vision.features.base import pyramid_histograms

    h = pyramid_histograms(index, (1, 2), 4)
    np.testing.assert_allclose(pyramid_evidence(index, (1, 2), 4, w).sum(axis=(1, 2)), w @ h)
    support = cell_support(np.ones((1, 5)), grid_cells(9, 7, (1, 2)), (9, 7))
    assert np.isclose(support.sum(), 5)
    assert share_gain(np.array([0.5, 0.0]), np.array([0.25, 0.0])).tolist() == [2.0, 0.0]
