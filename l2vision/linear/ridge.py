"""Ridge classification with λ chosen by exact k-fold cross-validation.

:class:`RidgeClassifierKFoldCV` evaluates a whole grid of λ per fold from one
eigendecomposition (or a kernel, or block conjugate gradients when the Gram
matrices would not fit in memory): the solvers are in
:mod:`~l2vision.linear.ridge_path`, :mod:`~l2vision.linear.ridge_blocks`, and
the choice between them in :mod:`~l2vision.linear.ridge_modes`.
"""

from __future__ import annotations

import numpy as np

from l2vision._validation import check_option, invalid
from l2vision.config import get_config
from l2vision.distributed import get_client
from l2vision.linear import ridge_modes
from l2vision.linear.cv_metrics import FoldScorer, row_weights
from l2vision.linear.kfold import KFoldLambdaSearch, class_targets, fold_bar

__all__ = ["RidgeClassifierKFoldCV"]

#: Up to this X.size the blocks mode scores the whole grid; above it a fold
#: stops past its best λ.
WHOLE_GRID_SIZE = 5_000_000


class RidgeClassifierKFoldCV(KFoldLambdaSearch):
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
    mode : {"auto", "gram", "gram-lowmem", "kernel", "blocks"}, default="auto"
        How the path is computed (same results; :mod:`~l2vision.linear.ridge_path` has the maths).
        ``"gram"``: every fold's d x d Gram is kept, ``k d²`` float64 (1.6 GB
        for 6,400 features and 5 folds). ``"gram-lowmem"``: one fold at a time,
        about ``24 d²`` bytes at the peak with float32 features (7.7 GiB for
        16,000 features and 3 folds), for one more pass over the data.
        ``"kernel"``: the n x n kernel of each fold's standardized rows,
        ``n d`` in X's dtype plus ``3 n²`` float64, for d > n. ``"blocks"``:
        conjugate gradients with no d x d matrix, preconditioned by blocks of
        at most 10,000 features (:mod:`~l2vision.linear.ridge_blocks`): about 4.4 GiB for 40,000
        features, slower (the iterations pass over the rows; the folds are
        solved together); the folds solve λ from the largest down and, when X
        has more than 5 million values, walk every third λ, each fold
        stopping one past its best (the small λ are the slow ones; the λ it
        did not reach score NaN and are not chosen, as with the logistic
        path's ``patience``), then the values around the best of the folds'
        mean. ``"auto"``: ``"kernel"`` when d > n,
        else ``"gram"`` while the Grams fit in 4 GiB, else ``"gram-lowmem"``,
        or ``"blocks"`` when that would not fit in this machine's memory.
    class_weight : {None, "balanced"} or dict, default=None
        "balanced": each row weighs ``n / (K n_c)`` (scikit-learn's rule, from
        all training rows); a dict: ``{class: weight}`` (others 1). The weights
        apply in the ridge loss and the standardization; solved
        exactly on the Gram path ("auto" then picks a Gram mode).
    cv_metric : {"accuracy", "balanced_accuracy", "f1_macro"}, default="accuracy"
        What the folds score to choose λ (``log_loss``: logistic model only).
    ood : {None, "mahalanobis", "knn"}, default=None
        Also fit ``ood_``, an :class:`~l2vision.trust.OODDetector` of images of
        no training class on the same rows (:meth:`ood_score`).

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

    See Also
    --------
    sklearn.linear_model.RidgeClassifierCV : leave-one-out by default, scaler outside the folds.
    LogisticRegressionKFoldCV : the L2 logistic counterpart.

    Notes
    -----
    λ is sklearn's ``alpha``: the fold models minimize
    ``½ Σᵢ ||yᵢ - f(xᵢ)||² + (λ/2) ||w||²`` on standardized features, targets
    ±1 one-vs-all, intercept not penalized. The maths is in
    ``l2vision.linear.ridge_path``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> model = RidgeClassifierKFoldCV(lambdas=[1, 100, 10_000]).fit(X, y)
    >>> model.lambda_, round(model.best_score_, 2)
    (100.0, 0.94)
    """

    def __init__(self, lambdas=40, *, cv=5, random_state=0, lambda_rule="best", mode="auto",
                 ood=None, class_weight=None, cv_metric="accuracy"):
        self.lambdas = lambdas
        self.ood = ood
        self.class_weight = class_weight
        self.cv_metric = cv_metric
        self.cv = cv
        self.random_state = random_state
        self.lambda_rule = lambda_rule
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
        check_option(self, "mode", self.mode, ridge_modes.MODES)
        X, y, self.classes_, y_index = self._validate(X, y)
        binary = len(self.classes_) == 2
        Y = class_targets(y_index, len(self.classes_)).astype(X.dtype)
        folds = self._folds(X, y, groups)
        self.mode_ = self._mode(X, len(folds))
        ridge_modes.check_memory(X.shape[0], X.shape[1], len(folds), self.mode_, X.nbytes,
                                  X.dtype.itemsize)
        weights = self._weights(y_index)
        sums = ridge_modes.fold_sums(X, Y, folds, self.mode_, weights)
        # The blocks mode's λ cost iterations each: on large X a fold stops past its best.
        patience = None if X.size <= WHOLE_GRID_SIZE else 3

        decide = FoldScorer(self.cv_metric, len(self.classes_), binary)
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
                with fold_bar(get_config()["progress"], len(folds)) as bar:
                    scores = ridge_modes.fold_scores(self.mode_, X, y_index, Y, sums, folds,
                                                      wanted, decide, bar.update, client,
                                                      patience)
                scored.update((float(lam), column) for lam, column in zip(wanted, scores.T,
                                                                           strict=True))
            return (np.column_stack([scored[float(lam)] for lam in lambdas]),
                    [[None] * len(lambdas) for _ in folds])

        lambdas, scores, _ = self._search(X.shape[0], evaluate)
        self._select(lambdas, scores)
        decision = ridge_modes.out_of_fold_decisions(X, Y, folds, self.lambda_, self.mode_, sums)
        self.coef_, self.intercept_, self.mean_, self.scale_ = \
            ridge_modes.solution(X, Y, self.lambda_, self.mode_, sums)
        sums = None  # GBs at 40,000 features: not held while the detector copies X
        self._calibrate(decision[:, 0] if binary else decision, y_index)
        self._fit_ood(X, y_index)
        self.alpha_ = self.lambda_
        return self

    def _weights(self, y_index) -> np.ndarray | None:
        """Row weights of ``class_weight`` (None: unweighted)."""
        return row_weights(self.class_weight, self.classes_, y_index)

    def _mode(self, X, n_folds: int) -> str:
        """The mode to run: ``mode``, or what ``"auto"`` chooses (a Gram mode when weighted)."""
        weighted = self.class_weight is not None
        if self.mode != "auto":
            if weighted and self.mode in ("kernel", "blocks"):
                raise invalid(self, "mode", "'auto', 'gram' or 'gram-lowmem' with class_weight "
                              "(the weighted path is solved from the Gram matrices)", self.mode)
            return self.mode
        mode = ridge_modes.choose_mode(X.shape[0], X.shape[1], n_folds, X.nbytes,
                                       X.dtype.itemsize)
        if weighted and mode in ("kernel", "blocks"):
            fits = ridge_modes.fits(X.shape[0], X.shape[1], n_folds, "gram", X.nbytes,
                                    X.dtype.itemsize)
            mode = "gram" if fits else "gram-lowmem"
        return mode

    def _fit_final(self, X, y_index) -> None:
        """The model at ``lambda_`` on all of ``X``."""
        Y = class_targets(y_index, len(self.classes_)).astype(X.dtype)
        mode = self._mode(X, 1)
        self.coef_, self.intercept_, self.mean_, self.scale_ = \
            ridge_modes.solution(X, Y, self.lambda_, mode, weights=self._weights(y_index))
