"""ImageFeatures: one decode per image, same result serial or parallel, named features."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from l2vision.config import config_context
from l2vision.datasets import load_image_folder
from l2vision.features import HOG, LBP, ColorHistogram, ImageFeatures, TinyImage
from l2vision.io.errors import ImageReadError
from tests.conftest import write_image


@pytest.fixture
def paths(tmp_path, rng):
    return [str(write_image(tmp_path / f"{i:02d}.jpg",
                            rng.integers(0, 256, (24 + i, 30, 3), dtype=np.uint8)))
            for i in range(23)]


def test_equals_the_concatenation_of_the_extractors(paths):
    extractors = [HOG(), ColorHistogram(grid=(1, 2)), LBP(), TinyImage()]
    combined = ImageFeatures(extractors).fit_transform(paths)
    expected = np.hstack([e.transform(paths) for e in extractors])
    np.testing.assert_array_equal(combined, expected)


def test_each_image_is_decoded_once(paths, monkeypatch):
    from l2vision.features import _batches  # where a batch is decoded

    calls = []
    real = _batches.as_image
    monkeypatch.setattr(_batches, "as_image",
                        lambda item, **kw: calls.append(item) or real(item, **kw))
    with config_context(n_jobs=1):
        ImageFeatures([HOG(), ColorHistogram(), LBP(), TinyImage()]).transform(paths)
    assert calls == paths


def test_extractors_added_to_a_fitted_driver_share_its_decode(paths, monkeypatch):
    from l2vision.features import KMeansFeatures, _batches
    from l2vision.features.combine import with_extractors

    kmeans = KMeansFeatures(n_clusters=8, patch_size=4, size=(16, 16), n_patches=2000)
    learned = ImageFeatures([kmeans, ("gray", TinyImage(color="gray"))]).fit(paths)
    both = with_extractors(learned, [("first", ColorHistogram()), LBP()])
    assert [n.split("__")[0] for n in dict.fromkeys(
        both.get_feature_names_out())][:1] == ["first"]
    calls = []
    real = _batches.as_image
    monkeypatch.setattr(_batches, "as_image",
                        lambda item, **kw: calls.append(item) or real(item, **kw))
    with config_context(n_jobs=1, isolate=False):
        X, errors = both.transform_with_errors(paths)
    assert calls == paths and errors == {}  # one decode per image for all four
    expected = np.hstack([ColorHistogram().transform(paths), LBP().transform(paths),
                          learned.transform(paths)])  # the dictionary was not fitted again
    np.testing.assert_allclose(X, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="kmeansfeatures learns from images"):
        with_extractors(learned, [KMeansFeatures(n_clusters=4)])
    with pytest.raises(ValueError, match="names of extra repeat"):
        with_extractors(learned, [("gray", LBP())])


def test_serial_equals_parallel_and_batching_does_not_matter(paths):
    extractors = [HOG(color="max"), ColorHistogram("lab"), LBP(radius=2)]
    features = ImageFeatures(extractors)
    with config_context(n_jobs=1):
        serial = features.transform(paths)
    with config_context(n_jobs=2, batch_size=4):
        parallel = features.transform(paths)
    np.testing.assert_array_equal(serial, parallel)
    with config_context(batch_size=1):
        np.testing.assert_array_equal(serial, features.transform(paths))


def test_working_size_resizes_once_first(paths):
    import cv2

    features = ImageFeatures([ColorHistogram(), TinyImage()], size=(8, 8),
                             reduced_decoding=False)
    small = [cv2.resize(cv2.imread(p), (8, 8), interpolation=cv2.INTER_AREA) for p in paths]
    expected = ImageFeatures([ColorHistogram(), TinyImage()]).transform(small)
    np.testing.assert_array_equal(features.transform(paths), expected)
    # By default these JPEGs (24-46 px) are decoded at 1/2 scale, which still covers 8x8.
    reduced = [cv2.resize(cv2.imread(p, cv2.IMREAD_REDUCED_COLOR_2), (8, 8),
                          interpolation=cv2.INTER_AREA) for p in paths]
    np.testing.assert_array_equal(features.set_params(reduced_decoding=True).transform(paths),
                                  ImageFeatures([ColorHistogram(), TinyImage()]).transform(reduced))


def test_feature_names_are_prefixed_and_repeats_numbered():
    features = ImageFeatures([HOG(), ("col", ColorHistogram(bins=2)), LBP(), LBP(radius=2)])
    names = features.get_feature_names_out()
    assert names[0] == "hog__block0_cell0_o0"
    assert "col__hsv_g1r0c0_h0_s0_v0" in names
    assert {n.split("__")[0] for n in names} == {"hog", "col", "lbp-1", "lbp-2"}
    assert len(names) == features.fit().n_features_out_


def test_nested_parameters_work_like_a_pipeline(paths):
    features = ImageFeatures([HOG(), ("col", ColorHistogram())])
    params = features.get_params()
    assert params["hog__orientations"] == 9 and params["col__space"] == "hsv"
    features.set_params(hog__orientations=6, col=ColorHistogram(bins=2))
    assert features.fit().n_features_out_ == 7 * 7 * 4 * 6 + 8
    copy = clone(features)
    assert copy.get_params()["hog__orientations"] == 6
    assert copy.extractors[0] is not features.extractors[0]


def test_a_bad_image_is_named_and_training_never_drops_it(paths, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    mixed = paths[:5] + [str(bad)] + paths[5:]
    with pytest.raises(ImageReadError, match=r"broken\.jpg"), config_context(batch_size=4):
        ImageFeatures([HOG()]).transform(mixed)
    with pytest.raises(ImageReadError, match=r"broken\.jpg"), \
            config_context(batch_size=4, n_jobs=2):
        ImageFeatures([HOG()]).transform(mixed)


def test_transform_with_errors_reports_and_carries_on(paths, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    mixed = [paths[0], str(empty), paths[1], str(tmp_path / "missing.png")]
    with config_context(n_jobs=2, batch_size=1):
        features, errors = ImageFeatures([TinyImage()]).transform_with_errors(mixed)
    assert sorted(errors) == [1, 3]
    assert "empty.png: file is empty" in str(errors[1]) and "file not found" in str(errors[3])
    np.testing.assert_array_equal(features[[0, 2]], TinyImage().transform([paths[0], paths[1]]))
    np.testing.assert_array_equal(features[[1, 3]], 0)


def test_accepts_an_image_set_and_arrays(make_folder):
    images = load_image_folder(make_folder({"a": 2, "b": 3}))
    features = ImageFeatures([ColorHistogram()])
    assert features.transform(images).shape == (5, 128)
    batch = np.zeros((4, 16, 16, 3), np.uint8)
    assert features.transform(batch).shape == (4, 128)


def test_extractors_must_be_ours():
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(ValueError, match="must be a list of l2vision extractors"):
        ImageFeatures([StandardScaler()]).fit()
