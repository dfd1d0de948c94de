"""The checks that heatmaps mean something: randomized weights change them (Adebayo et al.),
and masking the tiles they point at lowers the class's probability more than random tiles."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from l2vision.explain.checks import deletion_check, mask_tiles, sanity_check, tile_boxes
from l2vision.pipelines import make_pipeline
from l2vision.pipelines.persist import ModelVersionWarning, load
from tests.conftest import cifar_subset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photo_model():
    """The photo recipe (MobileNet V2 layers, flip-averaged) saved by l2vision 0.1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelVersionWarning)
        return load(ROOT / "tests" / "data" / "models_v0_1" / "clothes_photo_logreg.joblib")


@pytest.fixture(scope="module")
def photos():
    return sorted(str(p) for p in (ROOT / "data" / "clothes" / "val").glob("*/*.jpg"))


def test_randomized_weights_change_the_maps(photo_model, photos):
    result = sanity_check(photo_model, photos)
    assert result["n_images"] == len(photos) == 20
    assert result["mean_correlation"] < 0.5 and result["median_correlation"] < 0.5, result


def test_masking_the_most_evidence_lowers_the_probability_more_than_random(photo_model,
                                                                            photos):
    result = deletion_check(photo_model, photos)
    assert result["n_images"] == 20
    assert result["success_rate"] >= 0.8, result
    assert result["mean_drop_top"] > result["mean_drop_random"]


def test_deletion_on_cifar_with_hog_and_color(cifar_dir):
    paths, labels = cifar_subset(cifar_dir, "train", 100)
    model = make_pipeline("hog,color", "logreg", lam=300.0).fit(paths, labels)
    test, _ = cifar_subset(cifar_dir, "test", 5)
    result = deletion_check(model, test, repeats=3)
    assert result["n_images"] == 50
    assert result["success_rate"] >= 0.8, result
    sanity = sanity_check(model, test[:20])
    assert sanity["mean_correlation"] < 0.5, sanity


def test_tiles_have_a_side_of_an_eighth_of_the_short_side():
    boxes = tile_boxes(400, 533)
    assert boxes[0] == (slice(0, 50), slice(0, 50)) and len(boxes) == 8 * 11
    image = np.zeros((16, 16, 3), np.uint8)
    image[:8] = 200
    masked = mask_tiles(image, tile_boxes(16, 16), [0])
    assert masked[0, 0].tolist() == [100, 100, 100] and masked[0, 2].tolist() == [200] * 3
