"""What a score lets a user decide: prediction sets, ``unknown``, or the raw decision value.

:class:`TrustOptions` holds ``score``'s choices (``--coverage``,
``--reject``, ``--min-confidence``, ``--raw-scores``); :func:`check_trust`
refuses what a model cannot give (a model saved before l2vision 0.2 has no
calibration set or detector) with a message saying what to do; and
:class:`Decider` turns a chunk's probabilities and ``ood`` scores into label
sets and ``unknown`` labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l2vision._validation import check_real
from l2vision.pipelines.build import final_estimator, split_pipeline
from l2vision.trust import ConformalPredictionSets

__all__ = ["SET_SEPARATOR", "UNKNOWN", "Decider", "TrustOptions", "check_trust"]

#: The label written for an image rejected by ``--reject``.
UNKNOWN = "unknown"

#: Joins the classes of a prediction set in a CSV cell (class names may not contain it).
SET_SEPARATOR = "|"


@dataclass(frozen=True)
class TrustOptions:
    """How ``score`` turns probabilities into decisions.

    Attributes
    ----------
    coverage : float or None
        Write each image's prediction set (``label_set``) at this coverage, in (0, 1).
    reject : bool
        Label ``unknown`` the images of no class: ``ood`` above the model's
        threshold, or (with ``min_confidence``) a top probability below it.
    min_confidence : float or None
        With ``reject``: the smallest calibrated top probability accepted, in [0, 1].
    raw_scores : bool
        The ``score`` columns hold decision values, not calibrated probabilities.
    """

    coverage: float | None = None
    reject: bool = False
    min_confidence: float | None = None
    raw_scores: bool = False

    @property
    def needs_proba(self) -> bool:
        return self.coverage is not None or self.min_confidence is not None

    def columns(self) -> dict:
        """What a resumed output must have been written with (non-default options only)."""
        return {k: v for k, v in vars(self).items() if v not in (None, False)}


def check_trust(model, options: TrustOptions, source: str = "the model") -> None:
    """Raise ValueError (naming the flag and what to do) for options the model cannot serve.

    Examples
    --------
    >>> from l2vision.pipelines import make_pipeline
    >>> import numpy as np
    >>> images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 10, 240, 250)]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, ["a", "a", "b", "b"])
    >>> check_trust(model, TrustOptions(coverage=0.9), "m.joblib")
    Traceback (most recent call last):
    ...
    ValueError: m.joblib has no calibration set for prediction sets (--coverage): ...
    """
    check_real("score_files", "coverage", options.coverage, low=0, high=1, low_open=True,
               high_open=True, optional=True)
    check_real("score_files", "min_confidence", options.min_confidence, low=0, high=1,
               optional=True)
    clf = final_estimator(split_pipeline(model)[1])
    retrain = ("it was saved without one (by l2vision before 0.2, or with a fixed λ); "
               "retrain it with l2vision train")
    if options.coverage is not None:
        if not hasattr(clf, "calibration_proba_"):
            raise ValueError(f"{source} has no calibration set for prediction sets "
                             f"(--coverage): {retrain}")
        bad = [str(c) for c in clf.classes_ if SET_SEPARATOR in str(c)]
        if bad:
            raise ValueError(f"{source}: class {bad[0]!r} contains {SET_SEPARATOR!r}, which "
                             "separates the classes of a label_set cell; rename the class "
                             "folder and retrain to use --coverage")
    if options.min_confidence is not None and not options.reject:
        raise ValueError("--min-confidence labels images 'unknown' only with --reject")
    if options.needs_proba and not hasattr(clf, "predict_proba"):
        raise ValueError(f"{source} gives no calibrated probabilities (--coverage, "
                         f"--min-confidence): {retrain}")
    if options.reject and UNKNOWN in map(str, clf.classes_):
        raise ValueError(f"{source} has a class named {UNKNOWN!r}, the label --reject writes; "
                         "rename that class folder and retrain to use --reject")
    if options.reject and options.min_confidence is None and not hasattr(clf, "ood_"):
        raise ValueError(f"{source} has no detector of images of no class (--reject): "
                         f"{retrain}, or give --min-confidence P to reject by probability")


class Decider:
    """Label sets and ``unknown`` for the rows of a chunk, from one fitted model.

    Parameters
    ----------
    model : Pipeline
        A fitted l2vision pipeline (checked with :func:`check_trust`).
    options : TrustOptions
    """

    def __init__(self, model, options: TrustOptions):
        self.options = options
        self.classes = np.asarray([str(c) for c in model.classes_], dtype=object)
        clf = final_estimator(split_pipeline(model)[1])
        self.threshold = float(clf.ood_.threshold_) if hasattr(clf, "ood_") else None
        self.sets = None
        if options.coverage is not None:
            self.sets = ConformalPredictionSets(options.coverage).fit(
                clf.calibration_proba_, clf.calibration_labels_)

    def label_sets(self, proba: np.ndarray) -> list[tuple[str, ...]]:
        """Each row's prediction set, most probable class first (empty without ``coverage``)."""
        if self.sets is None or not len(proba):
            return [()] * len(proba)
        members = self.sets.predict_sets(proba)
        order = np.argsort(-proba, axis=1, kind="stable")
        return [tuple(self.classes[j] for j in row if inside[j])
                for row, inside in zip(order, members, strict=True)]

    def unknown(self, proba: np.ndarray | None, ood: np.ndarray | None) -> list[str]:
        """Why each row is ``unknown`` (``"ood"``, ``"low_confidence"``) or ``""``."""
        n = len(ood) if ood is not None else (len(proba) if proba is not None else 0)
        reasons = [""] * n
        if not self.options.reject:
            return reasons
        if self.threshold is not None and ood is not None:
            for i in np.flatnonzero(ood > self.threshold):
                reasons[i] = "ood"
        if self.options.min_confidence is not None and proba is not None:
            for i in np.flatnonzero(proba.max(axis=1) < self.options.min_confidence):
                reasons[i] = reasons[i] or "low_confidence"
        return reasons
