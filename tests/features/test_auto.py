"""``auto``: the features chosen from the images, and the driver that resolves them in fit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from l2vision.datasets import load_digits_images
from l2vision.features import HOG, CNNEmbedding, ImageFeatures
from l2vision.features.auto import choose_features
from l2vision.pipelines.build import make_pipeline
from tests.conftest import write_image


def test_small_images_get_hand_crafted_features_and_photos_the_cnn(tmp_path, rng):
    spec, reason = choose_features(load_digits_images().images)
    assert spec == "hog,color,lbp" and reason.startswith("images of 8x8 px (median of 64)")
    paths = [str(write_image(tmp_path / f"{i}.jpg",
                             rng.integers(0, 256, (480, 360, 3), dtype=np.uint8)))
             for i in range(5)]
    spec, reason = choose_features(paths)
    assert spec == "photo" and reason.startswith("images of 360x480 px (median of 5)")
    thumbs = [np.zeros((32, 32, 3), np.uint8)] * 3
    assert choose_features(thumbs)[0] == "photo"
    assert choose_features([str(tmp_path / "missing.jpg")])[0] == "hog,color,lbp"
    with pytest.raises(ValueError, match="no images"):
        choose_features([])


def test_image_features_auto_resolves_in_fit_and_clones_clean():
    digits = load_digits_images()
    features = ImageFeatures("auto")
    with pytest.raises(NotFittedError, match="(?i)call .?fit"):
        features.transform(digits.images[:2])
    X = features.fit_transform(digits.images[:50])
    assert features.features_spec_ == "hog,color,lbp"
    assert [type(e).__name__ for e in features.extractors_] == ["HOG", "ColorHistogram", "LBP"]
    assert X.shape == (50, features.n_features_out_) == (50, 1764 + 640 + 50)
    assert clone(features).get_params()["extractors"] == "auto"
    assert not hasattr(clone(features), "extractors_")
    with pytest.raises(ValueError, match="needs the training images in fit"):
        ImageFeatures("auto").fit()
    with pytest.raises(ValueError, match="The 'extractors' parameter of ImageFeatures must be"):
        ImageFeatures("hog").fit([np.zeros((8, 8), np.uint8)])


def test_make_pipeline_defaults_to_auto():
    digits = load_digits_images()
    pipe = make_pipeline(lam=1.0).fit(digits.images[:200], digits.labels[:200])
    assert pipe[0].extractors == "auto" and pipe[0].features_spec_ == "hog,color,lbp"
    assert pipe.score(digits.images[:200], digits.labels[:200]) > 0.95


def test_decoding_scale_follows_the_extractors():
    assert ImageFeatures([HOG()])._decode_size([("hog", HOG())]) == (32, 32)
    cnn = CNNEmbedding("mobilenet_v2_1.0", crop=0.875)
    assert ImageFeatures([cnn])._decode_size([("cnn", cnn)]) == (256, 256)
    named = [("hog", HOG()), ("cnn", CNNEmbedding("mobilenet_v2_1.0", crop=1.0))]
    assert ImageFeatures([])._decode_size(named) == (224, 224)
    from l2vision.features import ColorHistogram
    assert ImageFeatures([])._decode_size([("c", ColorHistogram())]) is None  # full size
    assert ImageFeatures([], size=(64, 48))._decode_size([("c", ColorHistogram())]) == (64, 48)
