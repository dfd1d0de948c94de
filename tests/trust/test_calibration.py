"""Temperature scaling and calibration metrics: known answers, scikit-learn agreement, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from l2vision.trust import (
    TemperatureScaling,
    calibration_metrics,
    decision_to_logits,
    fit_temperature,
    reliability_diagram,
)


def synthetic_logits(n=4000, k=5, temperature=1.0, seed=0):
    """Logits and labels drawn from softmax(logits / temperature): calibrated at that T."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, k))
    proba = softmax(logits / temperature, axis=1)
    y = (rng.random(n)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    return logits, y


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=0.4, random_state=0,
                                                        stratify=y)
    X_cal, X_test, y_cal, y_test = train_test_split(X_rest, y_rest, train_size=0.5,
                                                    random_state=0, stratify=y_rest)
    return X_train, y_train, X_cal, y_cal, X_test, y_test


def test_binary_logits_reproduce_the_logistic_sigmoid():
    d = np.array([-3.0, -0.5, 0.0, 2.0])
    proba = TemperatureScaling().fit([-1.0, 1.0, -2.0, 2.0, 0.5], [0, 1, 1, 1, 0])
    proba.temperature_ = 1.0
    np.testing.assert_allclose(softmax(decision_to_logits(d), axis=1)[:, 1], expit(d))
    np.testing.assert_allclose(proba.predict_proba(d)[:, 1], expit(d))


@pytest.mark.parametrize("true_t", [0.3, 1.0, 2.5])
def test_recovers_the_temperature_that_generated_the_labels(true_t):
    logits, y = synthetic_logits(temperature=true_t)
    assert fit_temperature(logits, y) == pytest.approx(true_t, rel=0.08)


def test_over_confident_scores_get_t_above_one_and_keep_their_argmax():
    logits, y = synthetic_logits(temperature=3.0, seed=1)
    ts = TemperatureScaling().fit(2 * logits, y)
    assert ts.temperature_ > 1
    proba = ts.predict_proba(2 * logits)
    np.testing.assert_array_equal(proba.argmax(1), logits.argmax(1))
    np.testing.assert_allclose(proba.sum(1), 1)
    before = calibration_metrics(softmax(2 * logits, axis=1), y)
    after = calibration_metrics(proba, y)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]
    assert ts.nll_ == pytest.approx(after["nll"])


def test_matches_sklearn_temperature_calibration_on_digits(digits_split):
    X_train, y_train, X_cal, y_cal, X_test, _ = digits_split
    model = make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=2000))
    model.fit(X_train, y_train)
    ours = TemperatureScaling().fit(model.decision_function(X_cal), y_cal)
    theirs = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
    theirs.fit(X_cal, y_cal)
    diff = np.abs(ours.predict_proba(model.decision_function(X_test))
                  - theirs.predict_proba(X_test)).max()
    assert diff < 1e-6
    beta = theirs.calibrated_classifiers_[0].calibrators[0].beta_
    assert 1 / beta == pytest.approx(ours.temperature_, rel=1e-6)


def test_binary_matches_sklearn_whose_temperature_is_twice_ours(digits_split):
    X_train, y_train, X_cal, y_cal, X_test, _ = digits_split
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    model.fit(X_train, y_train < 5)                          # a binary task, not separable
    ours = TemperatureScaling().fit(model.decision_function(X_cal), (y_cal < 5).astype(int))
    theirs = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
    theirs.fit(X_cal, y_cal < 5)
    diff = np.abs(ours.predict_proba(model.decision_function(X_test))
                  - theirs.predict_proba(X_test)).max()
    assert diff < 1e-6
    beta = theirs.calibrated_classifiers_[0].calibrators[0].beta_
    assert 1 / beta == pytest.approx(2 * ours.temperature_, rel=1e-6)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_nll_and_brier_match_sklearn(k):
    rng = np.random.default_rng(k)
    proba = rng.dirichlet(np.full(k, 0.3), 500)
    proba[0] = np.eye(k)[1]                      # a zero on the true class: clipped
    y = rng.integers(0, k, 500)
    y[0] = 0
    metrics = calibration_metrics(proba, y)
    assert metrics["nll"] == pytest.approx(log_loss(y, proba, labels=range(k)), rel=1e-12)
    assert metrics["brier"] == pytest.approx(
        brier_score_loss(y, proba, labels=range(k), scale_by_half=False), rel=1e-12)
    halved = brier_score_loss(y, proba, labels=range(k))
    assert metrics["brier"] == pytest.approx(2 * halved if k == 2 else halved, rel=1e-12)


def test_perfectly_calibrated_probabilities_have_ece_near_zero():
    logits, y = synthetic_logits(n=20000, temperature=1.0, seed=2)
    assert calibration_metrics(softmax(logits, axis=1), y)["ece"] < 0.015
    assert calibration_metrics(softmax(3 * logits, axis=1), y)["ece"] > 0.05


def test_ece_and_reliability_diagram_known_answer():
    proba = np.array([[0.9, 0.1], [0.75, 0.25], [0.45, 0.55], [0.95, 0.05]])
    y = np.array([0, 1, 1, 0])
    d = reliability_diagram(proba, y, n_bins=5)
    np.testing.assert_array_equal(d["count"], [0, 0, 1, 1, 2])
    np.testing.assert_allclose(d["confidence"][2:], [0.55, 0.75, 0.925])
    np.testing.assert_allclose(d["accuracy"][2:], [1.0, 0.0, 1.0])
    assert np.isnan(d["accuracy"][:2]).all()
    np.testing.assert_allclose(d["edges"], np.linspace(0, 1, 6))
    expected = (0.45 + 0.75 + 2 * 0.075) / 4
    assert calibration_metrics(proba, y, n_bins=5)["ece"] == pytest.approx(expected)


def test_separable_calibration_scores_warn_at_the_edge_of_the_range():
    with pytest.warns(UserWarning, match="rank every true class first"):
        fit_temperature([[5.0, 0.0], [0.0, 5.0]], [0, 1])


def test_clone_and_not_fitted():
    ts = TemperatureScaling()
    assert clone(ts).get_params() == {}
    with pytest.raises(NotFittedError):
        ts.predict_proba([[0.0, 1.0]])


@pytest.mark.parametrize(("logits", "y", "match"), [
    (np.zeros((3, 1)), [0, 0, 0], r"shape \(n_samples,\) \(binary\) or"),
    (np.zeros((2, 2, 2)), [0, 1], "got shape"),
    (np.zeros((0, 3)), [], "n_samples >= 1"),
    ([[0.0, np.nan]], [0], "NaN or infinity"),
    (np.zeros((3, 3)), [0, 1], "vector of 3 class indices"),
    (np.zeros((3, 3)), [0, 1, 3], r"indices in \[0, 2\].*got 3 at row 2"),
    (np.zeros((3, 3)), [0, -1, 2], "got -1 at row 1"),
    (np.zeros((2, 3)), ["a", "b"], "numpy.unique"),
])
def test_bad_logits_and_labels(logits, y, match):
    with pytest.raises(ValueError, match=match):
        TemperatureScaling().fit(logits, y)


def test_predict_proba_checks_the_class_count():
    ts = TemperatureScaling().fit(*synthetic_logits(n=200, k=3))
    with pytest.raises(ValueError, match="fitted with 3 classes"):
        ts.predict_proba(np.zeros((2, 4)))


@pytest.mark.parametrize(("proba", "y", "match"), [
    ([0.2, 0.8], [1], r"shape \(n_samples, n_classes\)"),
    ([[0.2, 0.7]], [1], "row 0 sums to 0.9"),
    ([[1.2, -0.2]], [0], "values in"),
    ([[0.2, 0.8]], [2], r"indices in \[0, 1\]"),
    ([[0.2, 0.8]], [0, 1], "vector of 1 class indices"),
])
def test_bad_probabilities(proba, y, match):
    with pytest.raises(ValueError, match=match):
        calibration_metrics(proba, y)


def test_bad_n_bins():
    with pytest.raises(ValueError, match="The 'n_bins' parameter of reliability_diagram must "
                                         r"be an int >= 1. Got 0."):
        reliability_diagram([[0.5, 0.5]], [0], n_bins=0)
