"""λ chosen by k-fold cross-validation on a feature matrix: ridge and L2 logistic.

Both estimators standardize inside every fold (the scaler sees only the fold's
training rows), evaluate a whole grid of λ per fold cheaply, pick the λ with
the best mean accuracy, and refit on all rows. They are the last step of an
l2vision pipeline: features are extracted once, λ is searched many times.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from l2vision._validation import check_int, check_option, check_real
from l2vision.distributed import get_client
from l2vision.pipelines import _logistic_path, _ridge_modes
from l2vision.pipelines._kfold import LambdaAtEdgeWarning, _fold_bar, _KFoldLambdaSearch, _targets

__all__ = ["LambdaAtEdgeWarning", "LogisticRegressionKFoldCV", "RidgeClassifierKFoldCV"]


#: Up to this X.size the logistic path (``patience="auto"``) and the ridge
#: blocks mode score the whole grid; above it they stop past the best λ.
_WHOLE_GRID_SIZE = 5_000_000


class RidgeClassifierKFoldCV(_KFoldLambdaSearch):
    """Ridge classification with λ chosen by exact k-fold CV, about one eigendecomposition per fold.

    Equivalent to ``GridSearchCV(make_pipeline(StandardScaler(),
    RidgeClassifier()), {"ridgeclassifier__alpha": lambdas[::-1]}, cv=folds)``
    (same scores; same choice, ties going to the largest λ; tested), but each
    fold costs one eigendecomposition of the d x d standardized scatter matrix
    instead of one fit per λ. Suited to n_samples >> n_features (image feature
    matrices); memory is O(k d²).

    Parameters
    ----------
    lambdas : int or array-like of float, default=40
        The λ grid (sklearn's ``alpha``). An int gives that many values,
        log-spaced from ``1e-6 * n`` to ``10 * n`` (n the number of samples),
        extended once past an edge where the best λ lies (half as many values
        again); an explicit grid is used as given.
    cv : int or cross-validation splitter, default=5
        Folds; an int means ``StratifiedKFold(cv, shuffle=True, random_state)``.
    random_state : int, RandomState or None, default=0
        Seed of the shuffled folds.
    lambda_rule : {"best", "1se"}, default="best"
        ``"best"``: the λ of the best mean CV accuracy (ties: the largest).
        ``"1se"``: the largest λ whose mean CV accuracy is within one standard
        error (over the folds) of the best: a simpler model that many prefer.
    progress : bool, default=False
        A tqdm progress bar over the folds on stderr.
    mode : {"auto", "gram", "gram-lowmem", "kernel", "blocks"}, default="auto"
        How the path is computed (same results; ``_ridge_path`` has the maths).
        ``"gram"``: every fold's d x d Gram is kept, ``k d²`` float64 (1.6 GB
        for 6,400 features and 5 folds). ``"gram-lowmem"``: one fold at a time,
        about ``24 d²`` bytes at the peak with float32 features (7.7 GiB for
        16,000 features and 3 folds), for one more pass over the data.
        ``"kernel"``: the n x n kernel of each fold's standardized rows,
        ``n d`` in X's dtype plus ``3 n²`` float64, for d > n. ``"blocks"``:
        conjugate gradients with no d x d matrix, preconditioned by blocks of
        at most 10,000 features (``_ridge_blocks``): about 4.3 GiB for 40,000
        features, slower (the iterations pass over the rows); each fold solves
        λ from the largest down and, when X has more than 5 million values,
        stops after 3 consecutive λ scoring below its best (the small λ are
        the slow ones; the λ it did not reach score NaN and are not chosen,
        as with the logistic path's ``patience``). ``"auto"``: ``"kernel"`` when d > n,
        else ``"gram"`` while the Grams fit in 4 GiB, else ``"gram-lowmem"``,
        or ``"blocks"`` when that would not fit in this machine's memory.

    Attributes
    ----------
    lambda_ : float
        The chosen λ. ``alpha_`` is the same value under sklearn's name.
    mode_ : str
        The mode used (what ``"auto"`` chose).
    lambda_best_, lambda_1se_ : float
        The λ of the best mean CV accuracy, and the one-standard-error choice.
    best_score_ : float
        Mean CV accuracy at ``lambda_``.
    best_index_ : int
        Position of ``lambda_`` in ``lambdas_``.
    lambdas_ : ndarray of shape (n_lambdas,)
        The grid, ascending (with its extension, if any).
    grid_extended_ : bool
        Whether the default grid was extended once because its best λ lay on
        its edge (see ``lambdas``).
    cv_results_ : dict of ndarray
        ``lambda``, ``mean_test_score``, ``std_test_score``,
        ``split<k>_test_score``, ``rank_test_score``.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights of the final model refit on all rows, in the units of X (the
        standardization is folded in).
    intercept_ : ndarray of shape (1,) or (n_classes,)
    mean_, scale_ : ndarray of shape (n_features,)
        The standardization of the final model.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int

    See Also
    --------
    sklearn.linear_model.RidgeClassifierCV : leave-one-out by default, scaler outside the folds.
    LogisticRegressionKFoldCV : the L2 logistic counterpart.

    Notes
    -----
    λ is sklearn's ``alpha``: the fold models minimize
    ``½ Σᵢ ||yᵢ - f(xᵢ)||² + (λ/2) ||w||²`` on standardized features, targets
    ±1 one-vs-all, intercept not penalized. The maths is in
    ``l2vision.pipelines._ridge_path``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> model = RidgeClassifierKFoldCV(lambdas=[1, 100, 10_000]).fit(X, y)
    >>> model.lambda_, round(model.best_score_, 2)
    (100.0, 0.94)
    """

    def __init__(self, lambdas=40, *, cv=5, random_state=0, lambda_rule="best",
                 progress=False, mode="auto"):
        self.lambdas = lambdas
        self.cv = cv
        self.random_state = random_state
        self.lambda_rule = lambda_rule
        self.progress = progress
        self.mode = mode

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
        self._check_params()
        check_option(self, "mode", self.mode, _ridge_modes.MODES)
        X, y, self.classes_, y_index = self._validate(X, y)
        binary = len(self.classes_) == 2
        Y = _targets(y_index, len(self.classes_)).astype(X.dtype)
        folds = self._folds(X, y, groups)
        self.mode_ = self.mode if self.mode != "auto" else _ridge_modes.choose_mode(
            X.shape[0], X.shape[1], len(folds), X.nbytes, X.dtype.itemsize)
        _ridge_modes.check_memory(X.shape[0], X.shape[1], len(folds), self.mode_, X.nbytes,
                                  X.dtype.itemsize)
        sums = _ridge_modes.fold_sums(X, Y, folds, self.mode_)
        # The blocks mode's λ cost iterations each: on large X a fold stops past its best.
        patience = None if X.size <= _WHOLE_GRID_SIZE else 3

        def decide(decisions):
            return (decisions[..., 0] > 0).astype(int) if binary else decisions.argmax(axis=-1)

        client = get_client()
        scored: dict = {}  # λ -> its score on every fold

        def evaluate(lambdas):
            if any(float(lam) not in scored for lam in lambdas):
                # A fold's eigendecomposition is the cost and any λ after it is
                # cheap: the values an extension of the grid would add are
                # scored in the same pass, so extending costs nothing. Not so
                # in the blocks mode, where every λ costs iterations.
                wanted = np.concatenate([self._extension(lambdas, False), lambdas,
                                         self._extension(lambdas, True)]) \
                    if self._extends(lambdas) and self.mode_ != "blocks" else lambdas
                with _fold_bar(self.progress, len(folds)) as bar:
                    scores = _ridge_modes.fold_scores(self.mode_, X, y_index, Y, sums, folds,
                                                      wanted, decide, bar.update, client,
                                                      patience)
                scored.update((float(lam), column) for lam, column in zip(wanted, scores.T,
                                                                           strict=True))
            return (np.column_stack([scored[float(lam)] for lam in lambdas]),
                    [[None] * len(lambdas) for _ in folds])

        lambdas, scores, _ = self._search(X.shape[0], evaluate)
        self._select(lambdas, scores)
        self.coef_, self.intercept_, self.mean_, self.scale_ = \
            _ridge_modes.solution(X, Y, self.lambda_, self.mode_, sums)
        self.alpha_ = self.lambda_
        return self

    def _fit_final(self, X, y_index) -> None:
        """The model at ``lambda_`` on all of ``X``."""
        Y = _targets(y_index, len(self.classes_)).astype(X.dtype)
        mode = self.mode if self.mode != "auto" else _ridge_modes.choose_mode(
            X.shape[0], X.shape[1], 1, X.nbytes, X.dtype.itemsize)
        self.coef_, self.intercept_, self.mean_, self.scale_ = \
            _ridge_modes.solution(X, Y, self.lambda_, mode)


class LogisticRegressionKFoldCV(_KFoldLambdaSearch):
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
    n_jobs : int or None, default=None
        Folds run in parallel (joblib processes, one BLAS thread each). On 2
        cores, ``n_jobs=2`` halves the search time: one L-BFGS fit gains little
        from a second BLAS thread. Fold scores can differ in the last digits
        between ``n_jobs`` values (BLAS sums in another order, and the path
        fits stop at ``path_tol``), which can move the choice between λ values
        of equal CV accuracy.
    progress : bool, default=False
        A tqdm progress bar over the folds on stderr.

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

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> model = LogisticRegressionKFoldCV(lambdas=[0.1, 1, 10, 100]).fit(X, y)
    >>> model.lambda_, round(model.best_score_, 2)
    (1.0, 0.97)
    """

    _default_range = (1e-6, 100.0)

    def __init__(self, lambdas=20, *, cv=5, random_state=0, lambda_rule="best", max_iter=200,
                 tol=1e-4, path_tol=1e-3, patience="auto", n_jobs=None, progress=False):
        self.lambdas = lambdas
        self.cv = cv
        self.random_state = random_state
        self.lambda_rule = lambda_rule
        self.max_iter = max_iter
        self.tol = tol
        self.path_tol = path_tol
        self.patience = patience
        self.n_jobs = n_jobs
        self.progress = progress

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
        from joblib import Parallel, delayed

        self._check_params()
        X, y, self.classes_, y_index = self._validate(X, y)
        folds = self._folds(X, y, groups)
        patience = self.patience if self.patience != "auto" else \
            (None if X.size <= _WHOLE_GRID_SIZE else 3)

        client = get_client()
        if client is not None:
            from l2vision.distributed import Shared, ordered_results

            shared_X = Shared(X)  # scattered once, also for an extension of the grid

        def evaluate(lambdas):
            args = (y_index, lambdas, self.max_iter, self.path_tol, patience)
            if client is not None:
                paths = ordered_results(client, _logistic_path.fold_task, folds, shared_X, *args)
            else:
                paths = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                    delayed(_logistic_path.fold_task)(test, X, *args) for test in folds)
            scores, solutions = [], []
            with _fold_bar(self.progress, len(folds)) as bar:
                for fold_scores, fold_solutions in paths:
                    scores.append(fold_scores)
                    solutions.append(list(fold_solutions))
                    bar.update()
            return np.array(scores), solutions

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            lambdas, scores, solutions = self._search(X.shape[0], evaluate)
            self._select(lambdas, scores)
            # Start from the folds' mean solution at the chosen λ: the same
            # optimum, fewer iterations.
            coef = np.mean([fold[self.best_index_][0] for fold in solutions], axis=0)
            intercept = np.mean([fold[self.best_index_][1] for fold in solutions], axis=0)
            self._fit_final(X, y_index, (coef, intercept))
        _logistic_path.report_convergence(caught)
        self.C_ = 1.0 / self.lambda_
        return self

    def _fit_final(self, X, y_index, start=None) -> None:
        """The model at ``lambda_`` on all of ``X``, from ``start`` = (coef, intercept), X units."""
        coef, intercept = start if start is not None else (self.coef_, self.intercept_)
        scaler = StandardScaler().fit(X)
        final = LogisticRegression(C=1.0 / self.lambda_, max_iter=self.max_iter, tol=self.tol,
                                   warm_start=True)
        final.coef_ = coef * scaler.scale_  # moved into this scaler's units
        final.intercept_ = intercept + coef @ scaler.mean_
        final.fit(scaler.transform(X), y_index)
        self.n_iter_ = int(np.max(final.n_iter_))
        self.scale_ = scaler.scale_
        self.mean_ = scaler.mean_
        self.coef_ = final.coef_ / self.scale_
        self.intercept_ = final.intercept_ - self.coef_ @ self.mean_

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, n_classes)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1 - p, p])
        return softmax(scores, axis=1)
