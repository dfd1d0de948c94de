"""L2-regularized linear classifiers whose λ is chosen by k-fold cross-validation.

The two estimators search λ on a feature matrix that is extracted once: every
fold scores the whole grid cheaply, standardizing on its own training rows,
and the chosen λ is refit on all rows. They are plain scikit-learn
classifiers (``clone``, ``get_params``, ``Pipeline``) and the last step of an
l2vision pipeline.

- :class:`RidgeClassifierKFoldCV` (:mod:`~l2vision.linear.ridge`): an exact
  path per fold (:mod:`~l2vision.linear.ridge_path`; block conjugate
  gradients in :mod:`~l2vision.linear.ridge_blocks` when the Gram matrices
  would not fit; the choice in :mod:`~l2vision.linear.ridge_modes`).
- :class:`LogisticRegressionKFoldCV` (:mod:`~l2vision.linear.logistic`): a
  warm-started path per fold (:mod:`~l2vision.linear.logistic_path`).
- :mod:`~l2vision.linear.kfold`: what both share (grid, folds, selection, CV table).

Examples
--------
>>> from sklearn.datasets import load_digits
>>> from l2vision.linear import RidgeClassifierKFoldCV
>>> model = RidgeClassifierKFoldCV(lambdas=[1, 100, 10_000]).fit(*load_digits(return_X_y=True))
>>> model.lambda_
100.0
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "LambdaAtEdgeWarning": ".kfold",
    "LogisticRegressionKFoldCV": ".logistic",
    "RidgeClassifierKFoldCV": ".ridge",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
