"""A fitted model's steps after the features, as one linear function of the feature vector.

l2vision's searches (:class:`~l2vision.linear.RidgeClassifierKFoldCV`,
:class:`~l2vision.linear.LogisticRegressionKFoldCV`) standardize inside and
store ``coef_`` in the units of their *input* features, with ``intercept_``
absorbing the mean: ``decision = coef_ @ x + intercept_``, which is
``(coef_ * scale_) @ z + (intercept_ + coef_ @ mean_)`` for the standardized
features ``z = (x - mean_) / scale_``. So ``decision - intercept_ = coef_ @ x``
is *not* the standardized score ``(coef_ * scale_) @ z = coef_ @ (x - mean_)``:
they differ by the constant ``coef_ @ mean_``. :class:`LinearHead` keeps both
forms: ``coef``, ``intercept`` (raw units) and ``mean``, so that a class's
score is its *baseline* (the score of the average training image,
``coef @ mean + intercept``) plus ``coef @ (x - mean)``, the part explained
by the image.

A fixed-λ pipeline (``StandardScaler`` then scikit-learn's
``RidgeClassifier`` or ``LogisticRegression``) is brought to the same form.
An ``l2`` ``Normalizer`` before them is kept as a flag: the features are
divided by their norm before the linear function (see
:func:`~l2vision.explain.explain_images` for how maps handle it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

__all__ = ["LinearHead", "linear_head"]


@dataclass(frozen=True)
class LinearHead:
    """``decision = coef @ x' + intercept`` with ``x' = x / ||x||`` if ``normalize``, else ``x``.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
    coef : ndarray of shape (n_rows, n_features)
        In the units of the features the linear step receives; one row for
        a two-class model (the second class's decision; the first's is its
        negative, as :func:`~l2vision.pipelines.build.class_scores` spreads it).
    intercept : ndarray of shape (n_rows,)
    mean : ndarray of shape (n_features,)
        The average training feature vector (zeros when the model did not
        standardize).
    normalize : bool
        Whether the features are L2-normalized before the linear step.

    Examples
    --------
    >>> head = LinearHead(np.array(["a", "b"]), np.array([[1.0, -1.0]]), np.array([0.5]),
    ...                   np.zeros(2), False)
    >>> head.decision(np.array([[2.0, 1.0]])).tolist()
    [[-1.5, 1.5]]
    """

    classes: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    normalize: bool

    def rows(self, class_indices=None) -> tuple[np.ndarray, np.ndarray]:
        """``(weights (K, d), intercepts (K,))`` of the classes (all when None), in order."""
        indices = range(len(self.classes)) if class_indices is None else class_indices
        if len(self.coef) == 1 and len(self.classes) == 2:
            sign = np.array([1.0 if int(i) == 1 else -1.0 for i in indices])
            return sign[:, None] * self.coef[0], sign * self.intercept[0]
        indices = np.asarray(list(indices), dtype=int)
        return self.coef[indices], self.intercept[indices]

    def scaled(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the linear step sees it (each row divided by its norm if ``normalize``)."""
        X = np.asarray(X, np.float64)
        if not self.normalize:
            return X
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        return X / np.where(norms > 0, norms, 1)

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Decision values ``(n, n_classes)`` (two classes: ``[-d, d]``)."""
        weights, intercepts = self.rows()
        return self.scaled(X) @ weights.T + intercepts

    def baselines(self, class_indices=None) -> np.ndarray:
        """Each class's score at the mean feature vector: ``coef @ mean + intercept``, (K,)."""
        weights, intercepts = self.rows(class_indices)
        return weights @ self.mean + intercepts


def linear_head(head) -> LinearHead:
    """The :class:`LinearHead` of a pipeline's steps after its features.

    Parameters
    ----------
    head : estimator or Pipeline
        What :func:`~l2vision.pipelines.build.split_pipeline` returns as the
        head: an l2vision search, or ``[Normalizer("l2"),] [StandardScaler,]``
        and a linear classifier with ``coef_`` and ``intercept_``.

    Raises
    ------
    ValueError
        A step other than an L2 ``Normalizer`` followed by a ``StandardScaler``
        (the score would not be linear in the features, up to the norm), or
        a classifier without ``coef_``.

    Examples
    --------
    >>> from sklearn.linear_model import RidgeClassifier
    >>> clf = RidgeClassifier().fit([[0.0, 1.0], [1.0, 0.0]], ["a", "b"])
    >>> linear_head(clf).coef.shape
    (1, 2)
    """
    steps = list(head.steps) if isinstance(head, Pipeline) else [("clf", head)]
    clf = steps[-1][1]
    if not hasattr(clf, "coef_") or not hasattr(clf, "intercept_"):
        raise ValueError(f"cannot explain a model whose classifier ({type(clf).__name__}) is "
                         "not linear (no coef_ and intercept_)")
    coef = np.atleast_2d(np.asarray(clf.coef_, np.float64))
    intercept = np.atleast_1d(np.asarray(clf.intercept_, np.float64)) * np.ones(len(coef))
    mean = np.asarray(getattr(clf, "mean_", np.zeros(coef.shape[1])), np.float64)
    normalize = standardized = False
    for name, step in steps[:-1]:
        if step is None or isinstance(step, str) and step == "passthrough":
            continue
        if isinstance(step, Normalizer) and step.norm == "l2" and not (normalize or standardized):
            normalize = True
        elif isinstance(step, StandardScaler) and not standardized:
            standardized = True
            scale = np.ones(coef.shape[1]) if step.scale_ is None else step.scale_
            shift = np.zeros(coef.shape[1]) if step.mean_ is None else step.mean_
            coef = coef / scale
            intercept = intercept - coef @ shift
            mean = np.asarray(shift, np.float64)
        else:
            raise ValueError(f"cannot explain a model with the step {name!r} "
                             f"({type(step).__name__}) between its features and its classifier: "
                             "only an L2 Normalizer then a StandardScaler keep the score linear")
    return LinearHead(np.asarray(clf.classes_), coef, intercept, mean, normalize)
