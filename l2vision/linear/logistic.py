"""Multinomial L2 logistic regression with λ = 1/C chosen by k-fold cross-validation.

:class:`LogisticRegressionKFoldCV` fits each fold's warm-started path
(:mod:`~l2vision.linear.logistic_path`) from the largest λ down, in parallel
folds, and refits the chosen λ on all rows.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from l2vision._validation import check_int, check_real
from l2vision._workers import worker_pool
from l2vision.config import get_config
from l2vision.distributed import get_client
from l2vision.linear import logistic_path
from l2vision.linear.cv_metrics import FoldScorer, by_index
from l2vision.linear.kfold import KFoldLambdaSearch, fold_bar
from l2vision.linear.ridge import WHOLE_GRID_SIZE

__all__ = ["LogisticRegressionKFoldCV"]


class LogisticRegressionKFoldCV(KFoldLambdaSearch):
    """Multinomial L2 logistic regression with λ = 1/C chosen by k-fold CV on a warm-started path.

    In each fold the features are standardized on the training rows, then
    ``LogisticRegression`` is fitted from the strongest to the weakest
    regularization, each fit starting from the extrapolation of the previous
    two solutions. The chosen λ is refit on all rows, starting from the
    folds' mean solution at that λ.

    Parameters
    ----------
    lambdas : int or array-like of float, default=20
        The λ grid (``C = 1 / λ``). An int gives that many values log-spaced
        from ``1e-6 * n`` to ``100 * n`` (wide enough for a few hundred images
        of thousands of CNN features, which want λ near n), extended once past
        an edge where the best λ lies; an explicit grid is used as given.
    cv : int or cross-validation splitter, default=5
        Folds; an int means ``StratifiedKFold(cv, shuffle=True, random_state)``.
    random_state : int, RandomState or None, default=0
        Seed of the shuffled folds.
    lambda_rule : {"best", "1se"}, default="best"
        ``"best"``: the λ of the best mean CV accuracy (ties: the largest).
        ``"1se"``: the largest λ whose mean CV accuracy is within one standard
        error (over the folds) of the best: a simpler model that many prefer.
    max_iter : int, default=200
        L-BFGS iterations per fit on the path.
    tol : float, default=1e-4
        L-BFGS tolerance of the final fit on all rows.
    path_tol : float, default=1e-3
        L-BFGS tolerance of the fits along the CV path. Accuracy, which only
        ranks the λ values, is settled long before the coefficients are, so
        the path stops early; the CV scores then differ from exactly converged
        fits in the third or fourth decimal, which can move the choice between
        λ values of nearly equal accuracy (on the digits with unshuffled
        ``StratifiedKFold(5)`` and 13 λ from 1e-2 to 1e4: λ = 31.6 at 1e-3, 10
        at 1e-4 and tighter; both 92.5% CV accuracy). Measured on CIFAR-10
        (50,000 x 1,892 HOG + color features, 5 folds x 20 λ, ``n_jobs=2``):
        1e-3 takes 87 s, 1e-4 270 s and 1e-5 429 s, all choosing λ = 1680 with
        test accuracy 57.55%, 57.51% and 57.54%. Set it to ``tol`` for exact paths
        (what ``GridSearchCV`` with a tight solver tolerance computes).
    patience : int, None or "auto", default="auto"
        Each fold walks the path from the largest λ down and stops after this
        many consecutive λ values scoring below its best: the weakly
        regularized end of the path is the slowest to fit and rarely the best.
        λ values not reached by every fold get NaN scores and are not chosen.
        None evaluates the whole grid; ``"auto"`` does so when the whole grid
        is cheap (X of at most 5 million values, e.g. 1,000 photos x 4,000
        features), so that the accuracy-vs-λ curve shows both ends, and
        stops after 3 worse λ otherwise.
    class_weight : {None, "balanced"} or dict, default=None
        Passed to ``LogisticRegression`` in every fold and the final fit
        (``{class: weight}``: others weigh 1).
    cv_metric : {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"}, \
default="accuracy"
        What the folds score to choose λ (``log_loss`` negated: higher is better).
    ood : {None, "mahalanobis", "knn"}, default=None
        Also fit ``ood_``, an :class:`~l2vision.trust.OODDetector` of images of
        no training class on the same rows (:meth:`ood_score`).

    Attributes
    ----------
    lambda_ : float
        The chosen λ; ``C_ = 1 / lambda_``.
    best_score_, best_index_, lambdas_, grid_extended_, cv_results_ :
        As in :class:`RidgeClassifierKFoldCV`.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Final model weights in the units of X (standardization folded in).
    intercept_ : ndarray of shape (1,) or (n_classes,)
    mean_, scale_ : ndarray of shape (n_features,)
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    temperature_ : float
        Of the calibrated :meth:`predict_proba`, fitted on the out-of-fold
        decision values at ``lambda_`` (no extra training pass).
    calibration_proba_, calibration_labels_ : ndarray
        Calibrated out-of-fold probabilities and class indices of at most
        10,000 rows: the calibration set of prediction sets.
    ood_ : OODDetector
        With ``ood``: scores how unusual a row is; ``ood_.threshold_``.
    oof_decision_ : ndarray of shape (n_samples,) or (n_samples, n_classes)
        The out-of-fold decision values at ``lambda_`` (float32).
    n_iter_ : int
        L-BFGS iterations of the final fit.

    See Also
    --------
    sklearn.linear_model.LogisticRegressionCV : the same path, scaler outside the folds.

    Notes
    -----
    scikit-learn minimizes ``C Σᵢ logloss(xᵢ) + ½ ||w||²``, which is
    ``Σᵢ logloss(xᵢ) + (λ/2) ||w||²`` with ``λ = 1 / C``: the same λ axis as the
    ridge model (whose squared loss carries the same ½). The model is
    L2-regularized: ``penalty`` is left at its default (it is deprecated since
    scikit-learn 1.8).

    The folds run in parallel with the ``n_jobs`` setting of
    :func:`l2vision.config_context` (joblib processes, one BLAS thread each; on
    2 cores, two jobs halve the search time), or as Dask tasks with its
    ``scheduler``. Fold scores can differ in the last digits between
    ``n_jobs`` values (BLAS sums in another order, and the path fits stop at
    ``path_tol``), which can move the choice between λ values of equal CV
    accuracy.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> model = LogisticRegressionKFoldCV(lambdas=[0.1, 1, 10, 100]).fit(X, y)
    >>> model.lambda_, round(model.best_score_, 2)
    (1.0, 0.97)
    """

    _default_range = (1e-6, 100.0)

    _probabilistic = True  # softmax of the decision is the model's own probability

    def __init__(self, lambdas=20, *, cv=5, random_state=0, lambda_rule="best", max_iter=200,
                 tol=1e-4, path_tol=1e-3, patience="auto", ood=None, class_weight=None,
                 cv_metric="accuracy"):
        self.lambdas = lambdas
        self.ood = ood
        self.class_weight = class_weight
        self.cv_metric = cv_metric
        self.cv = cv
        self.random_state = random_state
        self.lambda_rule = lambda_rule
        self.max_iter = max_iter
        self.tol = tol
        self.path_tol = path_tol
        self.patience = patience

    def _check_params(self) -> None:
        super()._check_params()
        check_int(self, "max_iter", self.max_iter, low=1)
        for name in ("tol", "path_tol"):
            check_real(self, name, getattr(self, name), low=0, low_open=True)
        if self.patience != "auto":
            check_int(self, "patience", self.patience, low=1, optional=True,
                      fix="Or 'auto'.")

    def fit(self, X, y, groups=None):
        """Search λ on ``X`` (n_samples, n_features) and refit on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,) or None, default=None
            Rows of one group never straddle a training and a test fold
            (``StratifiedGroupKFold`` for an int ``cv``; passed to a splitter's
            ``split``): the augmented copies of one image, for instance.

        Returns
        -------
        self : object
        """
        from joblib import delayed

        self._check_params()
        X, y, self.classes_, y_index = self._validate(X, y)
        folds = self._folds(X, y, groups)
        patience = self.patience if self.patience != "auto" else \
            (None if X.size <= WHOLE_GRID_SIZE else 3)

        client = get_client()
        if client is not None:
            from l2vision.distributed import Shared, ordered_results

            shared_X = Shared(X)  # scattered once, also for an extension of the grid

        def evaluate(lambdas):
            args = (y_index, lambdas, self.max_iter, self.path_tol, patience,
                    FoldScorer(self.cv_metric, len(self.classes_), len(self.classes_) == 2),
                    by_index(self.class_weight, self.classes_))
            if client is not None:
                paths = ordered_results(client, logistic_path.fold_task, folds, shared_X, *args)
            else:
                paths = worker_pool(get_config()["n_jobs"], return_as="generator")(
                    delayed(logistic_path.fold_task)(test, X, *args) for test in folds)
            scores, solutions = [], []
            with fold_bar(get_config()["progress"], len(folds)) as bar:
                for fold_scores, fold_solutions, unconverged in paths:
                    scores.append(fold_scores)
                    solutions.append(list(fold_solutions))
                    counted[0] += unconverged
                    bar.update()
            return np.array(scores), solutions

        counted = [0]  # fits of the folds that stopped at max_iter

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            lambdas, scores, solutions = self._search(X.shape[0], evaluate)
            self._select(lambdas, scores)
            # Start from the folds' mean solution at the chosen λ: the same
            # optimum, fewer iterations.
            coef = np.mean([fold[self.best_index_][0] for fold in solutions], axis=0)
            intercept = np.mean([fold[self.best_index_][1] for fold in solutions], axis=0)
            self._fit_final(X, y_index, (coef, intercept))
        logistic_path.report_convergence(caught, counted[0])
        decision = np.empty((X.shape[0], len(coef)))
        for test, fold in zip(folds, solutions, strict=True):
            fold_coef, fold_intercept = fold[self.best_index_]
            decision[test] = X[test] @ fold_coef.T.astype(X.dtype) + fold_intercept
        self._calibrate(decision[:, 0] if decision.shape[1] == 1 else decision, y_index)
        self._fit_ood(X, y_index)
        self.C_ = 1.0 / self.lambda_
        return self

    def _fit_final(self, X, y_index, start=None) -> None:
        """The model at ``lambda_`` on all of ``X``, from ``start`` = (coef, intercept), X units."""
        coef, intercept = start if start is not None else (self.coef_, self.intercept_)
        scaler = StandardScaler().fit(X)
        final = LogisticRegression(C=1.0 / self.lambda_, max_iter=self.max_iter, tol=self.tol,
                                   warm_start=True,
                                   class_weight=by_index(self.class_weight, self.classes_))
        final.coef_ = coef * scaler.scale_  # moved into this scaler's units
        final.intercept_ = intercept + coef @ scaler.mean_
        final.fit(scaler.transform(X), y_index)
        self.n_iter_ = int(np.max(final.n_iter_))
        self.scale_ = scaler.scale_
        self.mean_ = scaler.mean_
        self.coef_ = final.coef_ / self.scale_
        self.intercept_ = final.intercept_ - self.coef_ @ self.mean_
