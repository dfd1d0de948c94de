"""Extractors that learn (k-means features, bag of words): contract, driver, cache, bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from l2vision.config import config_context
from l2vision.features import BagOfVisualWords, ColorHistogram, ImageFeatures, KMeansFeatures
from l2vision.features.kmeans import from_spec as kmeans_spec
from l2vision.features.registry import parse_features
from tests.conftest import write_image

LEARNED = [
    KMeansFeatures(16, n_patches=3000, max_iter=3),
    KMeansFeatures(12, patch_size=5, size=(24, 20), grid=(1, 2), n_patches=2000, max_iter=2),
    BagOfVisualWords(10, side=64, step=8, scales=(16,), max_iter=3),
    BagOfVisualWords(6, encoding="vlad", side=48, step=6, scales=(12, 24), max_iter=2),
]
IDS = [repr(e)[:70] for e in LEARNED]


@pytest.fixture
def images(rng):
    # Smooth random images (blurred noise) so that patches have structure; varied sizes.
    import cv2

    out = []
    for h, w in [(32, 32), (40, 56), (17, 23), (64, 64), (32, 32), (48, 40)]:
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        out.append(cv2.GaussianBlur(noise, (3, 3), 0))
    return out


@pytest.mark.parametrize("extractor", LEARNED, ids=IDS)
def test_sklearn_api_checks(extractor):
    name = type(extractor).__name__
    check_no_attributes_set_in_init(name, extractor)
    check_get_params_invariance(name, extractor)
    check_set_params(name, extractor)
    check_parameters_default_constructible(name, extractor)
    assert extractor.__sklearn_tags__().requires_fit


@pytest.mark.parametrize("extractor", LEARNED, ids=IDS)
def test_fit_learns_and_transform_needs_it(extractor, images):
    unfitted = clone(extractor)
    with pytest.raises(NotFittedError, match=r"call fit\(images\) first"):
        unfitted.transform(images)
    fitted = clone(extractor)
    assert fitted.fit(images) is fitted
    features = fitted.transform(images)
    names = fitted.get_feature_names_out()
    assert features.dtype == np.float32
    assert features.shape == (len(images), fitted.n_features_out_) == (len(images), len(names))
    assert len(set(names)) == len(names)
    assert np.isfinite(features).all() and features.any()
    # clone drops the learned state; the same seed learns the same thing again.
    assert not hasattr(clone(fitted), "n_features_out_")
    np.testing.assert_array_equal(clone(fitted).fit(images).transform(images), features)
    # A pickle round trip (what a saved model holds) gives the same features.
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(images), features)
    assert fitted.transform([]).shape == (0, fitted.n_features_out_)


@pytest.mark.parametrize("extractor", LEARNED, ids=IDS)
def test_paths_and_arrays_give_the_same_features(extractor, images, tmp_path):
    paths = [str(write_image(tmp_path / f"{i}.png", im)) for i, im in enumerate(images)]
    fitted = clone(extractor).fit(images)
    np.testing.assert_array_equal(fitted.transform(paths), fitted.transform(images))
    np.testing.assert_array_equal(clone(extractor).fit(paths).transform(images),
                                  fitted.transform(images))


def _triangle_reference(km: KMeansFeatures, image: np.ndarray) -> np.ndarray:
    """The recipe written the plain way, in float64, one patch position at a time."""
    p = km.patch_size
    rows, cols = image.shape[0] - p + 1, image.shape[1] - p + 1
    codes = np.empty((rows, cols, km.n_clusters))
    for r in range(rows):
        for c in range(cols):
            x = image[r:r + p, c:c + p].transpose(2, 0, 1).ravel().astype(np.float64)
            x = (x - x.mean()) / np.sqrt(x.var(ddof=1) + km.normalize_eps)
            z = np.linalg.norm((x - km.patch_mean_) @ km.whitening_ - km.centroids_, axis=1)
            codes[r, c] = np.maximum(0, z.mean() - z)
    # Quadrants: rows and columns split at round(rows / 2).
    half_r, half_c = round(rows / 2), round(cols / 2)
    quadrants = [codes[:half_r, :half_c], codes[:half_r, half_c:], codes[half_r:, :half_c],
                 codes[half_r:, half_c:]]
    return np.concatenate([q.sum((0, 1)) for q in quadrants])


def _soft_threshold_reference(km: KMeansFeatures, image: np.ndarray) -> np.ndarray:
    """Coates & Ng (ICML 2011) written the plain way, in float64, one patch at a time."""
    p = km.patch_size
    rows, cols = image.shape[0] - p + 1, image.shape[1] - p + 1
    unit = km.centroids_ / np.linalg.norm(km.centroids_, axis=1, keepdims=True)
    codes = np.empty((rows, cols, 2 * km.n_clusters))
    for r in range(rows):
        for c in range(cols):
            x = image[r:r + p, c:c + p].transpose(2, 0, 1).ravel().astype(np.float64)
            x = (x - x.mean()) / np.sqrt(x.var(ddof=1) + km.normalize_eps)
            s = unit @ ((x - km.patch_mean_) @ km.whitening_)
            codes[r, c] = np.concatenate([np.maximum(0, s - km.alpha),
                                          np.maximum(0, -s - km.alpha)])
    half_r, half_c = round(rows / 2), round(cols / 2)
    quadrants = [codes[:half_r, :half_c], codes[:half_r, half_c:], codes[half_r:, :half_c],
                 codes[half_r:, half_c:]]
    return np.concatenate([q.sum((0, 1)) for q in quadrants])


def test_kmeans_soft_threshold_equals_the_plain_recipe(images, rng):
    km = KMeansFeatures(8, size=(12, 12), n_patches=2000, max_iter=2,
                        flip_average=False).fit(images)
    assert (km.encoding, km.alpha, km.power) == ("soft_threshold", 0.25, 1.0)  # the defaults
    small = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(3)]
    ours = km.transform(small)
    assert ours.shape == (3, 4 * 2 * 8) and km.get_feature_names_out()[8] == "g2r0c0_k0neg"
    expected = np.stack([_soft_threshold_reference(km, im) for im in small])
    np.testing.assert_allclose(ours, expected, rtol=2e-4, atol=2e-3)
    assert (expected > 0).mean() > 0.3  # the threshold leaves work to check
    mirrored = np.stack([_soft_threshold_reference(km, im[:, ::-1]) for im in small])
    np.testing.assert_allclose(km.set_params(flip_average=True).transform(small),
                               (expected + mirrored) / 2, rtol=2e-4, atol=2e-3)
    # Centroids in blocks of 3 (the last one narrower): the same features.
    km._centroids_per_pass = 3
    np.testing.assert_allclose(km.transform(small), (expected + mirrored) / 2, rtol=1e-5,
                               atol=1e-4)
    del km._centroids_per_pass
    # Another threshold, one image per group: the same recipe.
    km.set_params(alpha=0.0, flip_average=False, max_block_mb=1)
    np.testing.assert_allclose(km.transform(small),
                               np.stack([_soft_threshold_reference(km, im) for im in small]),
                               rtol=2e-4, atol=2e-3)
    assert np.isfinite(km.transform([np.zeros((12, 12, 3), np.uint8)])).all()
    with pytest.raises(ValueError, match="'encoding' parameter of KMeansFeatures must be one "
                                         "of 'soft_threshold', 'triangle'"):
        KMeansFeatures(encoding="hard").fit(images)
    with pytest.raises(ValueError, match="'alpha' parameter of KMeansFeatures"):
        KMeansFeatures(alpha=-1).fit(images)


def test_kmeans_encoding_equals_the_plain_recipe(images, rng):
    km = KMeansFeatures(8, size=(12, 12), n_patches=2000, max_iter=2,
                        flip_average=False, encoding="triangle").fit(images)
    small = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(3)]
    ours = km.transform(small)
    expected = np.stack([_triangle_reference(km, im) for im in small])
    np.testing.assert_allclose(ours, expected, rtol=2e-4, atol=2e-3)
    # flip_average: the mean of the image's and its mirror's codes.
    mirrored = np.stack([_triangle_reference(km, im[:, ::-1]) for im in small])
    np.testing.assert_allclose(km.set_params(flip_average=True).transform(small),
                               (expected + mirrored) / 2, rtol=2e-4, atol=2e-3)
    km.set_params(flip_average=False)
    # A group of one image at a time (the memory bound) changes nothing.
    np.testing.assert_array_equal(km.set_params(max_block_mb=1).transform(small), ours)
    # power=0.5: the pooled sums' square root, after flip averaging.
    # (Compared squared: a pooled sum of 1e-5 from float32 rounding where the
    # float64 reference has 0 becomes 0.004 under the root.)
    km.set_params(max_block_mb=16, flip_average=True, power=0.5)
    rooted = km.transform(small)
    assert (rooted >= 0).all()
    np.testing.assert_allclose(rooted ** 2, (expected + mirrored) / 2, rtol=2e-4, atol=2e-3)
    assert np.isfinite(km.transform([np.zeros((12, 12, 3), np.uint8)])).all()
    with pytest.raises(ValueError, match="'power' parameter of KMeansFeatures must be a float > 0"):
        KMeansFeatures(power=0).fit(images)
    # A model saved before `power`, `encoding` and `alpha` existed loads with the triangle
    # codes and plain sums it was trained on.
    state = pickle.loads(pickle.dumps(km)).__dict__.copy()
    for name in ("power", "encoding", "alpha"):
        del state[name]
    old = KMeansFeatures.__new__(KMeansFeatures)
    old.__setstate__(state)
    assert (old.power, old.encoding) == (1, "triangle")
    np.testing.assert_array_equal(old.transform(small),
                                  km.set_params(power=1).transform(small))


def test_kmeans_whitening_and_dictionary(images):
    km = KMeansFeatures(16, n_patches=3000, max_iter=3).fit(images)
    assert km.centroids_.shape == (16, 108) and km.whitening_.shape == (108, 108)
    assert km.n_patches_fit_ == 3000 and km.n_features_out_ == 128
    np.testing.assert_allclose(km.whitening_, km.whitening_.T, atol=1e-6)  # ZCA is symmetric
    assert km.get_feature_names_out()[[0, 16, 32]].tolist() == ["g2r0c0_k0pos", "g2r0c0_k0neg",
                                                               "g2r0c1_k0pos"]


def test_bovw_pyramid_histograms_are_hellinger_mapped(images):
    bovw = BagOfVisualWords(10, side=64, max_iter=3, grid=(1, 2)).fit(images)
    features = bovw.transform(images)
    whole = features[:, :10] ** 2          # the 1x1 cell, back from the square root
    np.testing.assert_allclose(whole.sum(axis=1), 1, rtol=1e-5)
    quadrants = (features[:, 10:] ** 2).reshape(len(images), 4, 10).sum(axis=2)
    assert ((np.abs(quadrants - 1) < 1e-5) | (quadrants == 0)).all()
    vlad = BagOfVisualWords(4, encoding="vlad", side=64, max_iter=2).fit(images)
    np.testing.assert_allclose(np.linalg.norm(vlad.transform(images), axis=1), 1, rtol=1e-5)


# -- bad input: clear errors, never NaN -------------------------------------------------
def test_a_training_set_too_small_for_the_dictionary(rng):
    tiny = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)]
    with pytest.raises(ValueError, match=r"KMeansFeatures: 1 image\(s\) give 9 patches, "
                                         r"fewer than n_clusters=16"):
        KMeansFeatures(16, size=(8, 8)).fit(tiny)
    with pytest.raises(ValueError, match=r"BagOfVisualWords: 1 image\(s\) give \d+ distinct "
                                         r"descriptors, fewer than n_clusters=500"):
        BagOfVisualWords(500, side=32).fit(tiny)


def test_a_single_colour_image_set_is_a_clear_error():
    flat = [np.full((32, 32, 3), (10, 200, 30), np.uint8)] * 5
    with pytest.raises(ValueError, match="only 1 of the 3000 sampled patches are distinct"):
        KMeansFeatures(16, n_patches=3000).fit(flat)
    with pytest.raises(ValueError, match="distinct descriptors, fewer than n_clusters"):
        BagOfVisualWords(16, side=32).fit(flat)


def test_uniform_images_get_finite_features(images):
    # Fitted on real structure, a blank image encodes to finite values (zero contrast patches).
    km = KMeansFeatures(16, n_patches=3000, max_iter=2).fit(images)
    bovw = BagOfVisualWords(8, side=64, max_iter=2).fit(images)
    blank = [np.zeros((32, 32, 3), np.uint8), np.full((5, 3, 3), 255, np.uint8)]
    assert np.isfinite(km.transform(blank)).all()
    assert np.isfinite(bovw.transform(blank)).all()


def test_images_smaller_than_the_receptive_field_are_enlarged(images):
    km = KMeansFeatures(16, n_patches=3000, max_iter=2).fit(images)
    small = km.transform([np.arange(12, dtype=np.uint8).reshape(2, 2, 3)])
    assert small.shape == (1, 128) and np.isfinite(small).all()
    with pytest.raises(ValueError, match="The 'patch_size' parameter of KMeansFeatures must "
                                         r"be at most the working size \(4, 4\)"):
        KMeansFeatures(size=(4, 4)).fit(images)


def test_spec_parsing():
    (km,) = parse_features("kmeans:400:soft")
    assert isinstance(km, KMeansFeatures) and km.n_clusters == 400
    assert km.encoding == "soft_threshold" and km._n_features() == 3200
    # The default: three dictionaries, K soft + K triangle + 3K/2 soft (38,400 values).
    parts = kmeans_spec()
    assert [name for name, _ in parts] == ["kmeans_soft", "kmeans_triangle", "kmeans_soft_large"]
    assert [(km.n_clusters, km.encoding, km._n_features()) for _, km in parts] == [
        (1600, "soft_threshold", 12_800), (1600, "triangle", 6_400),
        (2400, "soft_threshold", 19_200)]
    assert len({km.random_state for _, km in parts}) == 3
    assert [km.n_clusters for _, km in parse_features("kmeans:40")] == [40, 40, 60]
    (km,) = parse_features("kmeans:4000:triangle")
    assert (km.n_clusters, km.encoding, km.power, km._n_features()) == (4000, "triangle", 0.5,
                                                                        16_000)
    (soft, soft_km), (triangle, triangle_km) = parse_features("kmeans:16:both")
    assert (soft, triangle) == ("kmeans_soft", "kmeans_triangle")
    assert (soft_km.encoding, soft_km.n_clusters, soft_km._n_features()) == ("soft_threshold",
                                                                             16, 128)
    assert (triangle_km.encoding, triangle_km.power, triangle_km._n_features()) == ("triangle",
                                                                                    0.5, 64)
    assert soft_km.random_state != triangle_km.random_state  # two dictionaries
    with pytest.raises(ValueError, match="The 'ENCODING' parameter of feature spec "
                       "'kmeans:16:hard' must be one of 'soft', 'triangle', 'both', 'wide'"):
        parse_features("kmeans:16:hard")
    (bovw,) = parse_features("bovw:64:vlad")
    assert bovw.n_clusters == 64 and bovw.encoding == "vlad"
    with pytest.raises(ValueError, match="The 'CLUSTERS' parameter of feature spec "
                       "'kmeans:many' must be an int >= 2. Got 'many'."):
        parse_features("kmeans:many")
    with pytest.raises(ValueError, match="'ENCODING' parameter of feature spec 'bovw:64:fisher' "
                       "must be one of 'hist', 'vlad'"):
        parse_features("bovw:64:fisher")


# -- the driver ------------------------------------------------------------------------
def _spy(kind):
    """An extractor class recording the images it is fitted on."""

    class Spy(kind):
        fitted_on: list = []

        def _fit(self, views, y=None, progress=False):
            type(self).fitted_on.append([v.copy() for v in views])
            super()._fit(views, y, progress)

    return Spy


def test_driver_fits_on_a_seeded_subset_decoded_once(images, tmp_path):
    paths = [str(write_image(tmp_path / f"{i}.png", im)) for i, im in enumerate(images)]
    Spy = _spy(KMeansFeatures)
    Spy.fitted_on = []
    features = ImageFeatures([Spy(16, n_patches=3000, max_iter=2), ColorHistogram()],
                             fit_images=4, random_state=1)
    features.fit(paths)
    assert features.n_fit_images_ == 4 and len(Spy.fitted_on) == 1
    assert len(Spy.fitted_on[0]) == 4 and Spy.fitted_on[0][0].shape == (32, 32, 3)
    first = features.transform(paths)
    # Same seed, same subset, same features; serial equals parallel (to float32
    # rounding: BLAS may split the products differently with another thread count).
    with config_context(n_jobs=2, batch_size=2):
        again = clone(features).fit(paths).transform(paths)
    np.testing.assert_allclose(first, again, rtol=1e-5, atol=1e-5)
    # Unfitted: a clear error, not a crash in a worker.
    with pytest.raises(NotFittedError):
        clone(features).transform(paths)


def test_cache_never_serves_features_of_another_dictionary(images, rng, tmp_path):
    cache = tmp_path / "cache"
    other = [np.ascontiguousarray(im[::-1, ::-1]) for im in images]
    first = ImageFeatures([KMeansFeatures(16, n_patches=3000, max_iter=2)])
    with config_context(cache_dir=cache):
        a = first.fit(images).transform(images)
        # Refit on other images: a different dictionary, so a cache miss and new features.
        second = clone(first).fit(other)
        b = second.transform(images)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(b, clone(first).fit(other).transform(images))
    assert len(list(cache.glob("*.npy"))) == 2
    # The same fit again is a hit (no third entry).
    with config_context(cache_dir=cache):
        np.testing.assert_array_equal(clone(first).fit(images).transform(images), a)
    assert len(list(cache.glob("*.npy"))) == 2


# -- in the training pipeline ----------------------------------------------------------
def _two_class_set(rng, n=40):
    import cv2

    from l2vision.datasets import ImageSet

    images, labels = [], []
    for i in range(n):
        image = cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (3, 3), 0)
        if i % 2:
            image[:, :16] //= 3  # class "dark-left": a structure the dictionary can see
        images.append(image)
        labels.append("dark-left" if i % 2 else "plain")
    return ImageSet(images, np.array(labels), ("dark-left", "plain"), "synthetic")


def test_training_fits_the_dictionary_on_the_training_split_only(rng):
    from l2vision.workflows.train import train

    data = _two_class_set(rng)
    Spy = _spy(KMeansFeatures)
    Spy.fitted_on = []
    result = train(data, features=[Spy(16, n_patches=3000, max_iter=2)], model="ridge",
                   cv=3, test_size=0.25, lambdas=[0.1, 10, 1000])
    assert len(Spy.fitted_on) == 1  # one fit: the λ folds share the unsupervised dictionary
    seen = {v.tobytes() for v in Spy.fitted_on[0]}
    held_out = {p["image"].tobytes() for p in result.predictions}
    assert len(held_out) == 10 and not seen & held_out
    assert len(seen) == 30
    assert result.test_metrics["accuracy"] >= 0.9


def test_a_saved_model_gives_the_same_features_in_a_new_process(rng, tmp_path):
    import subprocess
    import sys

    from l2vision.pipelines.persist import save
    from l2vision.workflows.train import train

    data = _two_class_set(rng)
    result = train(data, features="kmeans:16", model="ridge", cv=3, test_size=0.25,
                   lambdas=[1, 100])
    path = save(result.model, tmp_path / "km.joblib", metadata=result.metadata)
    probe = np.stack(data.images[:4])
    np.save(tmp_path / "probe.npy", probe)
    expected = result.model.named_steps["features"].transform(list(probe))
    code = ("import numpy as np; from l2vision.pipelines.persist import load; "
            f"m = load({str(path)!r}); x = np.load({str(tmp_path / 'probe.npy')!r}); "
            f"np.save({str(tmp_path / 'out.npy')!r}, m.named_steps['features'].transform(list(x)))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_extract_cli_learns_from_the_readable_images(rng, tmp_path):
    from l2vision.cli import main

    data = _two_class_set(rng, n=12)
    for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        (tmp_path / "photos" / label).mkdir(parents=True, exist_ok=True)
        write_image(tmp_path / "photos" / label / f"{i:02d}.png", image)
    (tmp_path / "photos" / "plain" / "zz_truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut")
    out = tmp_path / "features.npz"
    assert main(["extract", str(tmp_path / "photos"), "--features", "kmeans:8", "-o", str(out),
                 "--quiet"]) == 3
    saved = np.load(out)
    assert saved["X"].shape == (13, 64 + 32 + 96)  # the default wide stack at K=8
    assert [p.rsplit("/", 1)[-1] for p in saved["failed"]] == ["zz_truncated.jpg"]
    assert np.isfinite(saved["X"]).all() and (saved["X"][:-1] > 0).any(axis=1).all()


def test_train_cli_says_what_the_dictionary_learned_from(rng, tmp_path, capsys):
    from l2vision.cli import main

    data = _two_class_set(rng, n=24)
    for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        (tmp_path / "photos" / label).mkdir(parents=True, exist_ok=True)
        write_image(tmp_path / "photos" / label / f"{i:02d}.png", image)
    code = main(["train", str(tmp_path / "photos"), "--features", "kmeans:8", "--model", "ridge",
                 "--cv", "3", "--test-size", "0.25", "-o", str(tmp_path / "m.joblib"), "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "features: kmeans:8; 192 per image (learned from 18 training images)" in out
