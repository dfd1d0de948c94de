"""Calibration, prediction sets and the OOD detector inside the λ searches and trained models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from l2vision.linear import LogisticRegressionKFoldCV, RidgeClassifierKFoldCV, ridge_modes
from l2vision.linear.kfold import class_targets
from l2vision.trust import ConformalPredictionSets, calibration_metrics
from l2vision.workflows.train import train

SEARCHES = [RidgeClassifierKFoldCV(lambdas=10), LogisticRegressionKFoldCV(lambdas=8)]


@pytest.fixture(scope="module")
def hard_problem():
    """Ten classes a linear model gets about 57% right: prediction sets of 4 classes."""
    return make_classification(4000, 20, n_informative=10, n_classes=10,
                               n_clusters_per_class=1, class_sep=1.0, random_state=0)


@pytest.mark.parametrize("search", SEARCHES, ids=["ridge", "logreg"])
def test_coverage_of_the_saved_calibration_set_over_5_random_splits(hard_problem, search):
    X, y = hard_problem
    for level in (0.9, 0.95):
        coverages = []
        for seed in range(5):
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5,
                                                                random_state=seed)
            model = clone(search).set_params(random_state=seed).fit(X_train, y_train)
            sets = ConformalPredictionSets(level).fit(
                model.calibration_proba_, model.calibration_labels_).predict_sets(
                model.predict_proba(X_test))
            coverages.append(sets[np.arange(len(y_test)), y_test].mean())
        assert level - 0.02 <= np.mean(coverages) <= level + 0.04, coverages


@pytest.mark.parametrize("search", SEARCHES, ids=["ridge", "logreg"])
def test_probabilities_keep_the_argmax_and_sum_to_one(hard_problem, search):
    X, y = hard_problem
    model = clone(search).fit(X[:2000], y[:2000])
    proba = model.predict_proba(X[2000:])
    assert proba.shape == (2000, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-9)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X[2000:]))
    assert model.calibration_proba_.shape == (2000, 10)
    assert model.calibration_proba_.dtype == np.float32
    assert model.oof_decision_.shape == (2000, 10)


def _four_folds(problem):
    """600 rows of ``problem``: X, class indices, one-hot targets and 4 random test folds."""
    X, y = problem
    y_index = np.unique(y[:600], return_inverse=True)[1]
    folds = np.array_split(np.random.default_rng(0).permutation(600), 4)
    return X[:600], y_index, class_targets(y_index, 10).astype(X.dtype), folds


def test_ridge_out_of_fold_decisions_equal_each_folds_own_fit(hard_problem):
    """The Gram modes' per-fold solve from the search's sums equals a fit on the fold's rows."""
    X, y_index, Y, folds = _four_folds(hard_problem)
    sums = ridge_modes.fold_sums(X, Y, folds, "gram")
    from_sums = ridge_modes.out_of_fold_decisions(X, Y, folds, 30.0, "gram", sums)
    refit = ridge_modes.out_of_fold_decisions(X, Y, folds, 30.0, "kernel")
    np.testing.assert_allclose(from_sums, refit, atol=1e-8)


def test_blocks_out_of_fold_decisions_are_the_searchs_own(hard_problem, monkeypatch):
    """Several blocks: the folds share one preconditioner, and the out-of-fold decisions
    at a λ the search scored are its own; at another, each fold is solved again. Both
    equal a fit on each fold's rows."""
    from l2vision.linear import conjugate_ridge
    from l2vision.linear.cv_metrics import FoldScorer

    monkeypatch.setattr(conjugate_ridge, "MAX_BLOCK", 8)
    X, y_index, Y, folds = _four_folds(hard_problem)
    sums = ridge_modes.fold_sums(X, Y, folds, "blocks")
    assert len(sums.eigen) == 3
    ridge_modes.fold_scores("blocks", X, y_index, Y, sums, folds, [300.0, 30.0],
                            FoldScorer("accuracy", 10, False))
    assert sorted(sums.decisions) == [(k, lam) for k in range(4) for lam in (30.0, 300.0)]
    exact = ridge_modes.out_of_fold_decisions(X, Y, folds, 30.0, "kernel")
    kept = ridge_modes.out_of_fold_decisions(X, Y, folds, 30.0, "blocks", sums)
    np.testing.assert_allclose(kept, exact, atol=1e-6)
    np.testing.assert_array_equal(kept[folds[1]], sums.decisions[(1, 30.0)])
    solved = ridge_modes.out_of_fold_decisions(X, Y, folds, 3.0, "blocks", sums)
    np.testing.assert_allclose(solved, ridge_modes.out_of_fold_decisions(X, Y, folds, 3.0,
                                                                           "kernel"), atol=1e-6)


def test_binary_ridge_probabilities_are_a_sigmoid_of_the_decision():
    X, y = make_classification(600, 10, class_sep=0.5, flip_y=0.1, random_state=1)
    model = RidgeClassifierKFoldCV(lambdas=10).fit(X, y)
    d = model.decision_function(X[:5])
    expected = 1 / (1 + np.exp(-d / model.temperature_))
    np.testing.assert_allclose(model.predict_proba(X[:5])[:, 1], expected, rtol=1e-9)


def test_ridge_calibration_on_the_digits_takes_ece_below_003():
    """A ridge model's raw decision values are no probabilities (ECE 0.6); calibrated: < 0.03."""
    result = train(features="hog", model="ridge")
    calibration = result.test_metrics["calibration"]
    assert calibration["before"]["ece"] > 0.3
    assert calibration["after"]["ece"] <= 0.03
    assert result.metadata["calibration"]["out_of_fold"]["after"]["ece"] <= 0.03
    assert not hasattr(result.model[-1], "oof_decision_")  # not saved with the model
    sets = result.test_metrics["prediction_sets"]
    assert set(sets) == {"0.9", "0.95"} and sets["0.9"]["coverage"] >= 0.9
    assert 0.9 <= result.test_metrics["ood"]["accepted"] <= 1.0
    curve = result.test_metrics["risk_coverage"]
    assert curve["coverage"][-1] == 1.0
    assert curve["accuracy"][-1] == pytest.approx(result.test_metrics["accuracy"])
    assert curve["accuracy"][0] >= curve["accuracy"][-1]


def test_the_ood_detector_flags_noise_and_accepts_digits():
    result = train(features="tiny:8", model="logreg", test_size=0.2)
    search = result.model[-1]
    from l2vision.datasets import load_dataset

    digits = load_dataset(None)
    X = result.model[0].transform(digits.images[:200])
    noise = np.random.default_rng(0).integers(0, 256, (50, 8, 8), dtype=np.uint8)
    X_noise = result.model[0].transform(list(noise))
    threshold = search.ood_.threshold_
    assert np.mean(search.ood_score(X) <= threshold) >= 0.9
    assert np.mean(search.ood_score(X_noise) > threshold) == 1.0


def test_no_detector_without_ood_and_bad_ood_refused():
    X, y = make_classification(200, 5, random_state=0)
    model = RidgeClassifierKFoldCV(lambdas=3).fit(X, y)
    assert not hasattr(model, "ood_") and not hasattr(model, "ood_score")
    with pytest.raises(ValueError, match="'ood' parameter of RidgeClassifierKFoldCV must be "
                                         "one of"):
        RidgeClassifierKFoldCV(ood="nearest").fit(X, y)


def test_a_logistic_model_is_calibrated_too():
    X, y = make_classification(1500, 20, n_informative=10, n_classes=5, random_state=3)
    model = LogisticRegressionKFoldCV(lambdas=8).fit(X[:1000], y[:1000])
    after = calibration_metrics(model.predict_proba(X[1000:]), y[1000:])
    assert after["ece"] < 0.06
    assert 0.2 < model.temperature_ < 5


def test_a_model_file_whose_detector_is_another_class_is_refused(tmp_path):
    from l2vision.features import ImageFeatures
    from l2vision.pipelines.persist import ModelFileError, load, save

    result = train(features="tiny:4", model="ridge", lambdas=[1.0, 10.0], test_size=0)
    result.model[-1].ood_ = ImageFeatures("tiny:2")  # an allowed class in the wrong place
    path = save(result.model, tmp_path / "m.joblib", metadata=result.metadata)
    with pytest.raises(ModelFileError, match=r"m\.joblib: the model's ood_ is a ImageFeatures, "
                                             "not an OODDetector; refused"):
        load(path)
