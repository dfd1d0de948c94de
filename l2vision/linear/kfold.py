"""The k-fold λ search shared by the ridge and logistic estimators: grid, folds, selection.

:class:`KFoldLambdaSearch` holds what both searches do the same way: the
parameter checks, the default grid and its one extension past an edge, the
folds, the choice of λ (ties to the larger) with its CV table and edge
warning, the refit at the chosen λ on other rows, the linear prediction, and
the calibration of probabilities on the out-of-fold decision values at the
chosen λ (which the search has, so calibrating costs no training pass).
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, check_cv
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from l2vision._validation import HintedError, check_int, check_option, invalid
from l2vision.config import drop_runtime_settings
from l2vision.linear.cv_metrics import CV_METRICS
from l2vision.trust.calibration import decision_to_logits, fit_temperature
from l2vision.trust.ood import OODDetector

__all__ = ["CALIBRATION_ROWS", "KFoldLambdaSearch", "LambdaAtEdgeWarning", "class_targets",
           "fold_bar"]

#: The most out-of-fold rows kept (a seeded random sample) as the calibration
#: set of prediction sets: 10,000 rows bound the file (0.4 MB at 10 classes)
#: and still give a coverage within about 0.005 of the level asked for.
CALIBRATION_ROWS = 10_000


class LambdaAtEdgeWarning(HintedError, UserWarning):
    """The chosen λ is the smallest or largest of the grid: the optimum may lie outside."""


def _has_temperature(search) -> bool:
    """predict_proba needs a temperature (or a logistic model, which is probabilistic at T=1)."""
    return hasattr(search, "temperature_") or getattr(search, "_probabilistic", False)


class KFoldLambdaSearch(ClassifierMixin, BaseEstimator):
    """Shared grid, folds, selection and linear prediction of the two searches."""

    #: Whether softmax(decision) is the model's own probability (logistic) at T = 1.
    _probabilistic = False

    _default_range = (1e-6, 10.0)  # λ / n_samples for an integer ``lambdas``

    def __setstate__(self, state):
        # Models of l2vision 0.1 stored n_jobs and progress as parameters.
        state = drop_runtime_settings(type(self).__name__, dict(state),
                                      {"n_jobs": None, "progress": False})
        state.setdefault("ood", None)  # before l2vision 0.2: no detector of unknown images
        state.setdefault("class_weight", None)
        state.setdefault("cv_metric", "accuracy")
        super().__setstate__(state)

    def _check_params(self) -> None:
        lambdas = self.lambdas
        allowed = "an int >= 1 or an array of positive floats"
        if isinstance(lambdas, (Integral, bool)):
            check_int(self, "lambdas", lambdas, low=1)
        else:
            try:
                values = np.asarray(lambdas, dtype=float)
            except (TypeError, ValueError):
                raise invalid(self, "lambdas", allowed, lambdas) from None
            if values.ndim != 1 or values.size == 0 or not np.all(values > 0) \
                    or not np.all(np.isfinite(values)):
                raise invalid(self, "lambdas", allowed, lambdas)
        if isinstance(self.cv, (Integral, bool)) and (isinstance(self.cv, bool) or self.cv < 2):
            raise invalid(self, "cv", "an int >= 2 or a cross-validation splitter", self.cv)
        check_option(self, "lambda_rule", self.lambda_rule, ("best", "1se"))
        check_option(self, "ood", self.ood, (None, "mahalanobis", "knn"))
        if not isinstance(self.class_weight, dict):
            check_option(self, "class_weight", self.class_weight, (None, "balanced"),
                         fix="Or a dict {class: weight}.")
        metrics = CV_METRICS if self._probabilistic else CV_METRICS[:-1]
        check_option(self, "cv_metric", self.cv_metric, metrics,
                     fix="" if self._probabilistic else "log_loss needs the logistic model.")

    def _grid(self, n_samples: int) -> np.ndarray:
        """The λ values, ascending."""
        if isinstance(self.lambdas, Integral):
            low, high = self._default_range
            return n_samples * np.logspace(np.log10(low), np.log10(high), self.lambdas)
        return np.sort(np.asarray(self.lambdas, dtype=float))

    def _extends(self, lambdas) -> bool:
        """Whether the search may extend ``lambdas`` (the default grid, 2 values or more)."""
        return isinstance(self.lambdas, Integral) and len(lambdas) >= 2

    @staticmethod
    def _extension(lambdas, upper: bool) -> np.ndarray:
        """The values added past the lower or upper edge: half the grid again, same log step."""
        step = lambdas[1] / lambdas[0]
        more = np.arange(1, max(2, len(lambdas) // 2) + 1)
        return lambdas[-1] * step ** more if upper else (lambdas[0] / step ** more)[::-1]

    def _search(self, n_samples: int, evaluate):
        """Scores on the grid, extended once past an edge when the default grid is used.

        ``evaluate(lambdas)`` returns ``(scores (n_folds, L), per-λ extras per fold)``.
        With an int ``lambdas`` (the default grid), a best λ at the grid's edge
        is followed once: as many values again as half the grid, with the same
        log step, beyond that edge (``grid_extended_`` says so;
        :meth:`_extension` gives the values). An explicit grid is kept as
        given. Returns ``(lambdas, scores, extras)``, ascending.
        """
        lambdas = self._grid(n_samples)
        scores, extras = evaluate(lambdas)
        self.grid_extended_ = False
        if not self._extends(lambdas):
            return lambdas, scores, extras
        mean = scores.mean(axis=0)  # NaN where a fold stopped early
        best = _best_index(mean)
        if best not in (0, len(lambdas) - 1):
            return lambdas, scores, extras
        upper = best == len(lambdas) - 1
        new = self._extension(lambdas, upper)
        new_scores, new_extras = evaluate(new)
        self.grid_extended_ = True
        if upper:
            return (np.concatenate([lambdas, new]), np.hstack([scores, new_scores]),
                    [a + b for a, b in zip(extras, new_extras, strict=True)])
        return (np.concatenate([new, lambdas]), np.hstack([new_scores, scores]),
                [b + a for a, b in zip(extras, new_extras, strict=True)])

    def _validate(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=True)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes to train a "
                             f"classifier; got 1 class, {str(classes[0])!r}.")
        return X, y, classes, y_index

    def _folds(self, X, y, groups=None) -> list[np.ndarray]:
        """Test rows of each fold; with ``groups``, the rows of one group share a fold."""
        cv = self.cv
        if isinstance(cv, Integral):
            splitter = StratifiedKFold if groups is None else StratifiedGroupKFold
            cv = splitter(cv, shuffle=True, random_state=self.random_state)
        cv = check_cv(cv, y, classifier=True)
        return [test for _, test in cv.split(X, y, groups)]

    def _select(self, lambdas, scores) -> None:
        """Record the CV table and the best λ; ties go to the largest λ (the simplest model).

        That is GridSearchCV's choice (first of the best) on the grid in
        descending order.
        """
        mean, std = scores.mean(axis=0), scores.std(axis=0)  # NaN where a fold stopped early
        self.lambdas_ = lambdas
        self.cv_results_ = {"lambda": lambdas, "mean_test_score": mean, "std_test_score": std,
                            **{f"split{k}_test_score": s for k, s in enumerate(scores)},
                            "rank_test_score": _rank(mean)}
        best = _best_index(mean)
        # The one-standard-error rule: the largest λ whose mean accuracy is within
        # one standard error (over the folds) of the best.
        standard_error = std[best] / np.sqrt(len(scores))
        one_se = int(np.flatnonzero(mean >= mean[best] - standard_error - 1e-12)[-1])
        self.lambda_best_ = float(lambdas[best])
        self.lambda_1se_ = float(lambdas[one_se])
        self.best_index_ = best if self.lambda_rule == "best" else one_se
        self.lambda_ = float(lambdas[self.best_index_])
        self.best_score_ = float(mean[self.best_index_])
        evaluated = np.flatnonzero(~np.isnan(mean))
        if len(lambdas) > 1 and best in (0, len(lambdas) - 1) and len(evaluated) > 1:
            edge = "smallest" if best == 0 else "largest"
            warnings.warn(LambdaAtEdgeWarning(
                f"{type(self).__name__}: the best lambda {lambdas[best]:.4g} is the {edge} of "
                f"the grid [{lambdas[0]:.4g}, {lambdas[-1]:.4g}]; the optimum may lie outside. "
                "Widen the grid with {lambdas}.", lambdas=None), stacklevel=3)

    def _calibrate(self, decision: np.ndarray, y_index: np.ndarray) -> None:
        """Temperature and calibration set from out-of-fold decision values at ``lambda_``.

        Temperature scaling (Guo et al., 2017) on the decisions each row got
        from the fold model that did not see it: one parameter, fitted by
        likelihood, so the argmax (and the accuracy) is unchanged. Sets
        ``temperature_``, ``oof_decision_`` (float32, every row: for reports,
        dropped before saving by :func:`~l2vision.workflows.train.train`),
        ``calibration_proba_`` and ``calibration_labels_`` (the calibrated
        out-of-fold probabilities and class indices of at most
        :data:`CALIBRATION_ROWS` rows, the calibration set of
        :class:`~l2vision.trust.ConformalPredictionSets`).
        """
        with warnings.catch_warnings():
            # A perfect out-of-fold ranking makes T small and the probabilities
            # sharp, which is what the data says; no warning for it here.
            warnings.simplefilter("ignore", UserWarning)
            self.temperature_ = fit_temperature(decision, y_index)
        self.oof_decision_ = np.asarray(decision, dtype=np.float32)
        keep = np.arange(len(y_index))
        if len(keep) > CALIBRATION_ROWS:
            seed = self.random_state if isinstance(self.random_state, Integral) else 0
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(len(keep), CALIBRATION_ROWS, replace=False))
        proba = softmax(decision_to_logits(decision[keep]) / self.temperature_, axis=1)
        self.calibration_proba_ = proba.astype(np.float32)
        self.calibration_labels_ = np.asarray(y_index[keep], dtype=np.int32)

    def _fit_ood(self, X, y_index) -> None:
        """``ood_``, the detector of images of no class, when ``ood`` names a method."""
        if self.ood is not None:
            seed = self.random_state if isinstance(self.random_state, Integral) else 0
            self.ood_ = OODDetector(self.ood, random_state=seed).fit(X, y_index)

    @available_if(lambda self: hasattr(self, "ood_"))
    def ood_score(self, X) -> np.ndarray:
        """How unusual each row is next to the training rows (higher: more unusual).

        ``ood_.threshold_`` accepts 95% of held-out training-like rows; see
        :class:`~l2vision.trust.OODDetector`.
        """
        check_is_fitted(self)
        return self.ood_.ood_score(X)

    @available_if(_has_temperature)
    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities, shape (n, n_classes).

        ``softmax(decision / temperature_)`` (a two-class decision ``d`` as
        the logits ``[-d/2, d/2]``), with the temperature fitted on the
        out-of-fold decision values of the λ search. A logistic model saved
        before l2vision 0.2 has no temperature and gives its own probabilities
        (T = 1); a ridge model of then has none (retrain it).
        """
        decision = self.decision_function(X)
        temperature = getattr(self, "temperature_", 1.0)
        return softmax(decision_to_logits(decision) / temperature, axis=1)

    def refit_on(self, X, y):
        """Fit the final model again at the chosen λ on other rows, keeping the CV results.

        For a model to ship after its held-out evaluation: λ was chosen by CV on
        the training rows and the held-out rows measured it; refitting at that
        λ on both uses every labelled image. ``y`` must hold the same classes.

        Returns
        -------
        self : object
        """
        check_is_fitted(self)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=False)
        classes, y_index = np.unique(y, return_inverse=True)
        if not np.array_equal(classes, self.classes_):
            raise ValueError(f"refit_on needs the classes the model was fitted with "
                             f"({list(self.classes_)}); got {list(classes)}.")
        self._fit_final(X, y_index)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Linear decision values, shape (n,) for two classes or (n, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        scores = X @ self.coef_.T.astype(X.dtype) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X) -> np.ndarray:
        """Class labels: the sign for two classes, the largest decision otherwise."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]


def class_targets(y_index: np.ndarray, n_classes: int) -> np.ndarray:
    """±1 ridge targets: one column for two classes, one per class otherwise."""
    if n_classes == 2:
        return np.where(y_index == 1, 1.0, -1.0)[:, None]
    return np.where(y_index[:, None] == np.arange(n_classes), 1.0, -1.0)


def fold_bar(enabled: bool, total: int):
    """A tqdm bar over CV folds (silent unless enabled and stderr is a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="fold", desc="λ search", disable=not enabled or None,
                leave=False)


def _rank(mean: np.ndarray) -> np.ndarray:
    """GridSearchCV-style ranks: 1 is best, ties share the smallest rank."""
    ranks = 1 + (mean[None, :] > mean[:, None]).sum(axis=1)
    return np.where(np.isnan(mean), len(mean), ranks)


def _best_index(mean: np.ndarray) -> int:
    """Position of the best mean accuracy; ties go to the largest λ (NaN: not evaluated)."""
    return int(np.flatnonzero(mean >= np.nanmax(mean) - 1e-12)[-1])
