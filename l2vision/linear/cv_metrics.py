"""What a fold's decision values score, for every λ at once: the ``cv_metric`` of the searches.

:class:`FoldScorer` turns the decisions of one fold's test rows at every λ,
shape ``(n_rows, n_lambdas, n_targets)``, into one score per λ (higher is
better). It is a small picklable object, so it travels to joblib workers and
Dask tasks with the fold.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

__all__ = ["CV_METRICS", "FoldScorer", "by_index", "class_weights", "row_weights"]

#: The metrics λ can be chosen by (``log_loss`` is scored negated: higher is better).
CV_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "log_loss")


def class_weights(y_index: np.ndarray, n_classes: int) -> np.ndarray:
    """Each row's weight under ``class_weight="balanced"``: ``n / (K n_c)``, scikit-learn's rule.

    Examples
    --------
    >>> class_weights(np.array([0, 0, 0, 1]), 2).tolist()
    [0.666..., 0.666..., 0.666..., 2.0]
    """
    counts = np.bincount(y_index, minlength=n_classes).astype(np.float64)
    return (len(y_index) / (n_classes * np.maximum(counts, 1)))[y_index]


def by_index(class_weight, classes) -> dict | str | None:
    """``class_weight`` with the class indices as keys (a dict), as the folds see labels.

    Examples
    --------
    >>> by_index({"cat": 2.0}, np.array(["cat", "dog"])), by_index("balanced", None)
    ({0: 2.0, 1: 1.0}, 'balanced')
    """
    if not isinstance(class_weight, dict):
        return class_weight
    return {i: float(class_weight.get(c, 1.0)) for i, c in enumerate(classes.tolist())}


def row_weights(class_weight, classes, y_index: np.ndarray) -> np.ndarray | None:
    """Each row's weight under ``class_weight`` (None, "balanced" or ``{class: weight}``)."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        return class_weights(y_index, len(classes))
    table = by_index(class_weight, classes)
    return np.array([table[i] for i in range(len(classes))], dtype=np.float64)[y_index]


class FoldScorer:
    """Score every λ column of a fold's decisions with one metric.

    Parameters
    ----------
    metric : str
        One of :data:`CV_METRICS`.
    n_classes : int
    binary : bool
        The decisions have one column (the sign decides); for ``log_loss`` the
        column is the logit of the second class.

    Examples
    --------
    >>> decisions = np.array([[[2.0, -1.0]], [[0.5, 1.0]], [[-1.0, 3.0]]])  # 3 rows, 1 λ
    >>> FoldScorer("accuracy", 2, False)(decisions, np.array([0, 0, 1])).round(3).tolist()
    [0.667]
    >>> FoldScorer("balanced_accuracy", 2, False)(decisions, np.array([0, 0, 1])).tolist()
    [0.75]
    """

    def __init__(self, metric: str, n_classes: int, binary: bool):
        self.metric, self.n_classes, self.binary = metric, n_classes, binary

    def _logits(self, decisions: np.ndarray) -> np.ndarray:
        if self.binary:
            d = decisions[..., 0]
            return np.stack([-d / 2, d / 2], axis=-1)
        return decisions

    def __call__(self, decisions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if self.metric == "log_loss":
            logp = log_softmax(self._logits(decisions).astype(np.float64), axis=-1)
            return np.take_along_axis(logp, labels[:, None, None], axis=-1)[..., 0].mean(axis=0)
        predicted = (decisions[..., 0] > 0).astype(int) if self.binary \
            else decisions.argmax(axis=-1)
        hit = predicted == labels[:, None]                       # (n, L)
        if self.metric == "accuracy":
            return hit.mean(axis=0)
        present = np.unique(labels)
        recall = np.stack([hit[labels == c].mean(axis=0) for c in present])   # (C, L)
        if self.metric == "balanced_accuracy":
            return recall.mean(axis=0)
        f1 = []
        for c in range(self.n_classes):                          # f1_macro over every class
            tp = (hit & (labels[:, None] == c)).sum(axis=0)
            predicted_c = (predicted == c).sum(axis=0)
            actual_c = (labels == c).sum()
            denominator = predicted_c + actual_c
            f1.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
        return np.mean(f1, axis=0)
