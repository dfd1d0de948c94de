"""The contract every image extractor shares (STYLE.md rule 13)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from l2vision.features import HOG, LBP, ColorHistogram, ImageFeatures, TinyImage
from l2vision.io.errors import ImageReadError
from tests.conftest import write_image

EXTRACTORS = [
    HOG(),
    HOG(color="per-channel", size=(32, 32), cell_size=(4, 4)),
    HOG(color="max", signed=True, orientations=12),
    ColorHistogram(),
    ColorHistogram("lab", bins=4, mode="per-channel", grid=(1, 2), sqrt=True, size=(16, 16)),
    ColorHistogram("rgb", bins=(2, 3, 4)),
    LBP(),
    LBP(16, radius=2, method="nri_uniform", grid=(1, 3)),
    LBP(max_side=20),
    ColorHistogram(grid=(1, 2), max_side=16),
    TinyImage(),
    TinyImage((8, 6), color="gray", normalize=False),
    ImageFeatures([HOG(), ColorHistogram(), LBP()], size=(24, 24)),
]
IDS = [repr(e)[:60] for e in EXTRACTORS]


@pytest.fixture
def images(rng):
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in
            [(32, 32), (40, 56), (17, 23), (64, 64), (8, 8)]] + \
           [rng.integers(0, 256, (30, 20), dtype=np.uint8)]


@pytest.mark.parametrize("extractor", EXTRACTORS, ids=IDS)
def test_sklearn_api_checks(extractor):
    name = type(extractor).__name__
    check_no_attributes_set_in_init(name, extractor)
    check_get_params_invariance(name, extractor)
    check_set_params(name, extractor)
    if not isinstance(extractor, ImageFeatures):
        check_parameters_default_constructible(name, extractor)


@pytest.mark.parametrize("extractor", EXTRACTORS, ids=IDS)
def test_output_contract(extractor, images):
    fitted = clone(extractor)
    assert fitted.fit(images) is fitted
    features = fitted.transform(images)
    names = fitted.get_feature_names_out()
    assert features.dtype == np.float32
    assert features.shape == (len(images), fitted.n_features_out_) == (len(images), len(names))
    assert len(set(names)) == len(names)
    assert np.isfinite(features).all()
    # Stateless: transform works without fit, and gives the same result twice.
    np.testing.assert_array_equal(clone(extractor).transform(images), features)
    # An empty batch has the right width.
    assert clone(extractor).transform([]).shape == (0, fitted.n_features_out_)


@pytest.mark.parametrize("extractor", EXTRACTORS, ids=IDS)
def test_clone_and_pickle_round_trip(extractor, images):
    expected = clone(extractor).transform(images)
    assert clone(extractor).get_params() .keys() == extractor.get_params().keys()
    restored = pickle.loads(pickle.dumps(clone(extractor).fit()))
    np.testing.assert_array_equal(restored.transform(images), expected)


@pytest.mark.parametrize("extractor", EXTRACTORS, ids=IDS)
def test_paths_and_arrays_give_the_same_features(extractor, images, tmp_path):
    paths = [write_image(tmp_path / f"{i}.png", im) for i, im in enumerate(images)]
    np.testing.assert_array_equal(extractor.transform([str(p) for p in paths]),
                                  extractor.transform(images))


@pytest.mark.parametrize("extractor", EXTRACTORS, ids=IDS)
def test_bad_image_is_named(extractor, images):
    bad = images[:2] + [np.zeros((8, 8), np.float64)]
    with pytest.raises(ImageReadError, match=r"X\[2\]: images must be uint8"):
        extractor.transform(bad)
    with pytest.raises(ValueError, match="single str"):
        extractor.transform("one.png")


@pytest.mark.parametrize("extractor,param,value,message", [
    (HOG(), "orientations", 0, "The 'orientations' parameter of HOG must be an int >= 1. Got 0."),
    (HOG(), "cell_size", (8,), "The 'cell_size' parameter of HOG must be a (width, height) pair"),
    (HOG(), "block_norm", "L1",
     "The 'block_norm' parameter of HOG must be one of 'L2-Hys'. Got 'L1'."),
    (HOG(), "size", (30, 32), "the width 30 must be at least the block's 8 px and exceed it by "
                              "a multiple of the 4 px stride"),
    (HOG(cell_size=(8, 8)), "size", (32, 20), "the height 20 must be at least the block's 16 px"),
    (HOG(), "color", "rgb", "The 'color' parameter of HOG must be one of 'gray', 'max'"),
    (ColorHistogram(), "space", "xyz", "The 'space' parameter of ColorHistogram must be one of"),
    (ColorHistogram(), "bins", 0, "The 'bins' parameter of ColorHistogram must be an int or "
                                  "three ints in [1, 256]. Got 0."),
    (ColorHistogram(), "grid", (), "The 'grid' parameter of ColorHistogram must be a non-empty"),
    (LBP(), "radius", -1, "The 'radius' parameter of LBP must be a float > 0. Got -1."),
    (LBP(), "method", "ror", "The 'method' parameter of LBP must be one of 'uniform'"),
    (TinyImage(), "size", None, "The 'size' parameter of TinyImage must be a (width, height)"),
    (ImageFeatures([HOG()]), "extractors", [], "must be a non-empty list of extractors"),
    (ImageFeatures([HOG()]), "fit_images", 0, "The 'fit_images' parameter of ImageFeatures must"),
])
def test_invalid_parameters_are_named_before_any_work(extractor, param, value, message, images):
    bad = clone(extractor).set_params(**{param: value})
    with pytest.raises(ValueError, match=_escape(message)):
        bad.fit()
    with pytest.raises(ValueError, match=_escape(message)):
        bad.transform(images)


def _escape(text: str) -> str:
    import re

    return re.escape(text)
