"""`auto` on photos measures its candidates by CV and keeps only the winner's features."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from l2vision import ParameterError
from l2vision.features.auto import choose_features
from l2vision.workflows.auto_select import (
    CANDIDATES,
    candidate_extractor,
    score_candidates,
    select_photo_features,
)
from l2vision.workflows.train import train


def _tinted(hues, saturation, per_class=15, seed=0):
    """Random textures of one hue per class (64x64 px: photos for the size rule)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c, hue in enumerate(hues):
        for _ in range(per_class):
            value = cv2.GaussianBlur(rng.integers(40, 255, (64, 64), dtype=np.uint8), (5, 5), 0)
            hsv = np.dstack([np.full((64, 64), hue, np.uint8),
                             np.full((64, 64), saturation, np.uint8), value])
            images.append(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR))
            labels.append(f"class{c}")
    return images, labels


@pytest.mark.parametrize("hues,saturation,winner", [
    ((0, 6, 12), 40, "photo"),           # the photo recipe beats the plain embedding
    ((100, 104, 108), 80, "photo+v1"),   # MobileNet V1's layers add what V2's lack
])
def test_the_candidate_with_the_best_cv_accuracy_wins(hues, saturation, winner):
    images, labels = _tinted(hues, saturation)
    selection = select_photo_features(images, labels, cv=3)
    names = [c["name"] for c in selection.candidates]
    assert names == list(CANDIDATES)
    best = max(c["cv_accuracy"] for c in selection.candidates)
    first_best = next(c["name"] for c in selection.candidates if c["cv_accuracy"] == best)
    assert selection.chosen == first_best == winner  # ties go to the simpler candidate
    # The winner's extractor computes exactly the winner's columns, and nothing else.
    chosen = next(c for c in selection.candidates if c["name"] == winner)
    assert selection.X.shape == (len(images), chosen["n_features"])
    np.testing.assert_array_equal(selection.extractor.transform(images[:5]), selection.X[:5])


def test_train_reports_every_candidate_and_saves_only_the_winner():
    images, labels = _tinted((100, 104, 108), 80, per_class=12)
    from l2vision.datasets import ImageSet

    data = ImageSet(images, np.asarray(labels, dtype=object), ("class0", "class1", "class2"),
                    "tinted")
    assert choose_features(images)[0] == "photo"
    result = train(data, model="ridge", cv=3, test_size=0.25)
    meta = result.metadata
    assert meta["features_spec"] in CANDIDATES
    assert [c["name"] for c in meta["features_candidates"]] == list(CANDIDATES)
    assert "best of 6 candidates by CV" in meta["features_choice"]
    chosen = meta["features_spec"]
    n = next(c["n_features"] for c in meta["features_candidates"] if c["name"] == chosen)
    assert result.model[0].transform(images[:2]).shape == (2, n)
    assert meta["feature_names_out"] == n


def test_thumbnails_and_explicit_features_are_not_compared():
    images, labels = _tinted((0, 60, 120), 200, per_class=8)
    small = [cv2.resize(im, (12, 12)) for im in images]
    from l2vision.datasets import ImageSet

    data = ImageSet(small, np.asarray(labels, dtype=object), ("class0", "class1", "class2"), "s")
    result = train(data, model="ridge", cv=3, test_size=0)
    assert result.metadata["features_candidates"] is None
    assert result.metadata["features_spec"] == "hog,color,lbp"


def test_candidates_can_be_scored_from_features_extracted_once():
    """A benchmark extracts the superset once and scores any subset of rows or columns."""
    images, labels = _tinted((0, 6, 12), 40)
    superset = candidate_extractor("photo+v1+color")
    X = superset.transform(images)
    names = superset.get_feature_names_out()
    scored = score_candidates(X, names, labels, cv=3)
    selection = select_photo_features(images, labels, cv=3)
    assert [c["name"] for c in scored] == list(CANDIDATES)
    for mine, theirs in zip(scored, selection.candidates, strict=True):
        assert mine["cv_accuracy"] == pytest.approx(theirs["cv_accuracy"])
    # Columns of the embedding and color only: the candidates needing more are skipped.
    keep = [i for i, n in enumerate(names)
            if n.startswith(("cnnembedding-1__embedding", "colorhistogram"))]
    partial = score_candidates(X[:, keep], [names[i] for i in keep], labels, cv=3)
    assert [c["name"] for c in partial] == ["embedding", "embedding+color"]
    assert partial[1]["n_features"] == len(keep)


def test_an_unknown_candidate_is_refused_with_the_known_ones():
    with pytest.raises(ParameterError, match="photo\\+v1\\+color"):
        candidate_extractor("vgg")


def test_the_cv_accuracy_is_the_mean_over_shufflings_of_the_folds():
    rng = np.random.default_rng(1)
    names = ["cnnembedding-1__embedding:0", "cnnembedding-1__embedding:1", "colorhistogram__h0"]
    X, y = rng.normal(size=(60, 3)), np.repeat(["a", "b", "c"], 20)
    X[y == "b", 0] += 1.0
    X[y == "c", 1] += 1.0
    one = [score_candidates(X, names, y, cv=3, seed=s, repeats=1)[0]["cv_accuracy"]
           for s in (4, 5, 6)]
    assert len(set(one)) > 1  # the shuffle of the folds matters on so few images
    mean = score_candidates(X, names, y, cv=3, seed=4, repeats=3)[0]["cv_accuracy"]
    assert mean == pytest.approx(np.mean(one))
