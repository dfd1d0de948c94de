"""What a model's probabilities, prediction sets and ``unknown`` are worth on labelled rows.

``train`` (on its held-out split) and ``evaluate`` (on the data given) report
the same figures through :func:`trust_metrics`: calibration before and after
temperature scaling, the coverage and size of prediction sets, the share of
images the ``unknown`` threshold accepts and the risk-coverage curve.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from l2vision.pipelines.build import final_estimator, head_input
from l2vision.trust import (
    ConformalPredictionSets,
    calibration_metrics,
    decision_to_logits,
    reliability_diagram,
)

__all__ = ["COVERAGES", "risk_coverage", "trust_metrics"]

#: The coverage levels train and evaluate report prediction sets at.
COVERAGES = (0.9, 0.95)


def risk_coverage(proba: np.ndarray, correct: np.ndarray, points: int = 20) -> dict:
    """Accuracy of the most confident fraction of images, for fractions 1/points .. 1.

    Images are accepted in decreasing order of their top probability (what
    ``--min-confidence`` does); ``coverage[i]`` of them give ``accuracy[i]``.

    Examples
    --------
    >>> curve = risk_coverage(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([True, False]), 2)
    >>> curve["coverage"], curve["accuracy"]
    ([0.5, 1.0], [1.0, 0.5])
    """
    order = np.argsort(-proba.max(axis=1), kind="stable")
    hits = np.cumsum(correct[order])
    coverage, accuracy = [], []
    for q in np.linspace(1 / points, 1, points):
        n = max(1, int(round(q * len(order))))
        coverage.append(round(float(n / len(order)), 6))
        accuracy.append(float(hits[n - 1] / n))
    return {"coverage": coverage, "accuracy": accuracy}


def trust_metrics(head, X: np.ndarray, truth, classes, coverages=COVERAGES) -> tuple[dict, dict]:
    """Calibration, prediction sets and ``unknown`` of a fitted head on labelled rows.

    Parameters
    ----------
    head : estimator or Pipeline
        The steps after a pipeline's features (:func:`~l2vision.pipelines.build.split_pipeline`).
    X : ndarray of shape (n_samples, n_features)
        The rows' features.
    truth : array-like of shape (n_samples,)
        Their true class names; rows of classes the model does not know are skipped.
    classes : sequence of str
        The model's classes, in its order.
    coverages : sequence of float, default=COVERAGES
        The levels of the prediction sets measured.

    Returns
    -------
    metrics : dict
        ``calibration`` (``before`` = softmax of the decision values, ``after``
        = the calibrated probabilities: ``ece``, ``nll``, ``brier``; and the
        ``temperature``), ``prediction_sets`` (per level of ``coverages``:
        ``coverage`` and ``mean_size``), ``ood`` (the ``threshold`` and the
        fraction ``accepted``) and ``risk_coverage``, each where the model has
        what it needs (a model saved before l2vision 0.2 has none). Empty for a
        head without probabilities.
    figures : dict
        ``reliability`` (:func:`~l2vision.trust.reliability_diagram`'s arrays)
        and ``ood_scores`` (ndarray), for the report.
    """
    clf = final_estimator(head)
    known = np.isin(np.asarray(truth, dtype=str), np.asarray(classes, dtype=str))
    if not hasattr(clf, "predict_proba") or not known.any():
        return {}, {}
    Xt = head_input(head, X[known])
    index = {str(c): i for i, c in enumerate(classes)}  # not searchsorted: '10' < '2' as text
    y = np.array([index[str(t)] for t in np.asarray(truth)[known]], dtype=np.intp)
    after = clf.predict_proba(Xt)
    before = softmax(decision_to_logits(clf.decision_function(Xt)), axis=1)
    metrics = {"calibration": {"before": calibration_metrics(before, y),
                               "after": calibration_metrics(after, y),
                               "temperature": getattr(clf, "temperature_", None)}}
    figures = {"reliability": reliability_diagram(after, y)}
    if hasattr(clf, "calibration_proba_"):
        metrics["prediction_sets"] = {}
        for level in coverages:
            sets = ConformalPredictionSets(level).fit(
                clf.calibration_proba_, clf.calibration_labels_).predict_sets(after)
            metrics["prediction_sets"][str(level)] = {
                "coverage": float(sets[np.arange(len(y)), y].mean()),
                "mean_size": float(sets.sum(axis=1).mean())}
    if hasattr(clf, "ood_"):
        scores = clf.ood_score(Xt)
        metrics["ood"] = {"threshold": float(clf.ood_.threshold_),
                          "accepted": float(np.mean(scores <= clf.ood_.threshold_))}
        figures["ood_scores"] = scores
    metrics["risk_coverage"] = risk_coverage(after, after.argmax(axis=1) == y)
    return metrics, figures
