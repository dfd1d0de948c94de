"""Exact k-fold cross-validation of standardized ridge classification over many λ.

The maths behind :class:`~l2vision.linear.RidgeClassifierKFoldCV`,
as plain functions on arrays.

Notes
-----
For each fold with training rows T and test rows S, the estimator to evaluate
is ``StandardScaler`` fitted on T followed by ridge with an unpenalized
intercept: minimize ``||Y_T - ȳ - Z_T w||² + λ ||w||²`` with
``Z_T = (X_T - μ_T) / σ_T``. Everything the fold needs comes from sums we can
downdate instead of recompute:

* ``G_k = X_kᵀ X_k`` and ``X_kᵀ Y_k`` per fold k (one pass over the data);
  the training Gram of fold k is ``G - G_k``.
* The centered, scaled scatter ``S_T = D⁻¹ (G_T - n_T μ_T μ_Tᵀ) D⁻¹`` with
  ``D = diag(σ_T)``, and ``b_T = D⁻¹ (X_Tᵀ Y_T - n_T μ_T ȳᵀ)``.
* One eigendecomposition ``S_T = V diag(e) Vᵀ`` per fold gives every λ:
  ``w(λ) = V diag(1 / (e + λ)) Vᵀ b_T`` and the test decisions
  ``Z_S V diag(1 / (e + λ)) Vᵀ b_T + ȳ``. The weights of all L values of λ
  are formed side by side (a d × LK matrix, one ``d² LK`` product) and the
  test rows multiplied once (``n_S d L K``), so the whole grid costs about as
  much as forming one fold's Gram matrix, and the fold as a whole about one
  eigendecomposition.

X is centered by its global mean before the Grams are accumulated, so that the
per-fold downdate ``G_T - n_T μ_T μ_Tᵀ`` does not cancel large numbers (the
fold means are then close to zero). Sums are accumulated in float64 except the
large Gram products of float32 input, which use float32 BLAS on the centered
data and are then promoted.

Memory. The Grams of every fold are kept (``k d²`` float64: 1.6 GB for
d = 6,400 and 5 folds), which costs one pass over the data. When that is too
much (``mode="gram-lowmem"``, chosen by ``"auto"`` above 4 GiB), only the
total Gram is kept and each fold's Gram is formed again when the fold comes,
then discarded, for one more pass over the data: about ``20 d²`` bytes at the
peak of a fold for float32 features (the total and the fold's training Gram
in float64 while the fold's own float32 Gram is subtracted; then the total,
the float32 scatter, its eigenvectors and LAPACK's workspace) and ``24 d²``
for the final fit (the total, the scatter and the solver's copy), plus copies of a
fold's rows: 10.6 GiB at d = 19,200 and 3 folds of 50,000 rows. The scatter
is formed in place. :func:`~l2vision.linear.ridge_modes.search_bytes` is
this estimate, from which :mod:`~l2vision.linear.ridge_modes` chooses the mode and refuses, before
the first pass, a search that would not fit in the machine's memory.

When features outnumber samples (``d > n``, e.g. a few hundred photos of
thousands of features), the same solutions come from the n x n kernel of the
standardized training rows (``mode="kernel"``, the push-through identity
``(ZᵀZ + λI)⁻¹Zᵀ = Zᵀ(ZZᵀ + λI)⁻¹``): one eigendecomposition of
``Z_T Z_Tᵀ = U diag(e) Uᵀ`` per fold gives the test decisions
``Z_S Z_Tᵀ U diag(1 / (e + λ)) Uᵀ (Y_T - ȳ) + ȳ`` for every λ, in ``O(n d)`` memory
(the standardized training rows) plus ``O(n²)``.

This is the k-fold counterpart of scikit-learn's leave-one-out ``_RidgeGCV``
(Rifkin & Lippert [1]_), which does not standardize inside the folds; its
``gcv_mode`` chooses between the same two forms.

References
----------
.. [1] R. M. Rifkin and R. A. Lippert, "Notes on regularized least squares",
   MIT-CSAIL-TR-2007-025, 2007.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

__all__ = ["FoldSums", "fold_results", "fold_scores", "fold_sums", "kernel_fold_scores",
           "kernel_solution", "map_folds", "path_solutions", "scale_from_var",
           "standardized_solution"]

class FoldSums:
    """Per-fold sums of one pass over the data: Grams, cross products, counts.

    ``gram`` holds every fold's Gram (k, d, d), or, in low-memory form, only
    their total (d, d): a fold's own Gram is then formed again from ``X`` when
    :meth:`training` needs it.
    """

    def __init__(self, gram, xty, xsum, ysum, counts, center, X=None, folds=None,
                 weights=None):
        self.gram = gram      # (k, d, d) or (d, d) float64: X_kᵀ X_k (globally centered X)
        self.xty = xty        # (k, d, K): X_kᵀ Y_k
        self.xsum = xsum      # (k, d): column sums of X_k
        self.ysum = ysum      # (k, K): column sums of Y_k
        self.counts = counts  # (k,): rows (or their summed weights) per fold
        self.center = center  # (d,): the global mean subtracted from X
        self.X, self.folds, self.weights = X, folds, weights  # low-memory form only

    def training(self, k: int | None):
        """Sums over every fold but ``k`` (all folds when ``k`` is None)."""
        keep = np.ones(len(self.counts), bool)
        if k is not None:
            keep[k] = False
        if self.gram.ndim == 3:
            gram = np.zeros(self.gram.shape[1:])
            for i in np.flatnonzero(keep):  # not gram[keep]: a copy of k - 1 Grams
                gram += self.gram[i]
        else:
            gram = self.gram.copy()
            if k is not None:  # in place: no second d x d float64 temporary
                np.subtract(gram, _centered_gram(self.X, self.folds[k], self.center,
                                                 self.weights), out=gram)
        n = self.counts[keep].sum()
        return (gram, self.xty[keep].sum(0), self.xsum[keep].sum(0),
                self.ysum[keep].sum(0), int(n) if self.counts.dtype.kind == "i" else float(n))


def _centered_gram(X, rows, center, weights=None) -> np.ndarray:
    """``(X[rows] - center)ᵀ W (X[rows] - center)`` in X's dtype (W: the rows' weights)."""
    Xk = X[rows]
    Xk -= center.astype(X.dtype)
    if weights is not None:
        Xk *= np.sqrt(weights[rows]).astype(X.dtype)[:, None]
    return Xk.T @ Xk


def fold_sums(X: np.ndarray, Y: np.ndarray, folds: list[np.ndarray],
              lowmem: bool = False, weights: np.ndarray | None = None) -> FoldSums:
    """Accumulate the per-fold sums; ``folds`` are the test indices of each fold.

    With ``lowmem``, keep only the total Gram (see :class:`FoldSums`). With
    ``weights`` (one per row), every sum is weighted: the Gram is ``Xᵀ W X``,
    the counts are the summed weights, so the means, the scales and the ridge
    loss of each fold are the weighted ones (``StandardScaler`` and ``Ridge``
    with ``sample_weight``).
    """
    center = X.mean(axis=0, dtype=np.float64)
    k, d, n_targets = len(folds), X.shape[1], Y.shape[1]
    gram = np.zeros((d, d)) if lowmem else np.empty((k, d, d))
    xty = np.empty((k, d, n_targets))
    xsum = np.empty((k, d))
    ysum = np.empty((k, n_targets))
    for i, rows in enumerate(folds):
        Xk = X[rows]
        Xk -= center.astype(X.dtype)
        w = np.ones(len(rows)) if weights is None else weights[rows]
        Xw = Xk if weights is None else Xk * np.sqrt(w).astype(X.dtype)[:, None]
        if lowmem:
            gram += Xw.T @ Xw
        else:
            gram[i] = Xw.T @ Xw
        xty[i] = Xk.T @ (Y[rows] * w[:, None].astype(Y.dtype))
        xsum[i] = (Xk * w[:, None].astype(X.dtype)).sum(axis=0, dtype=np.float64) \
            if weights is not None else Xk.sum(axis=0, dtype=np.float64)
        ysum[i] = (Y[rows] * w[:, None]).sum(axis=0)
    counts = np.array([len(f) for f in folds]) if weights is None else \
        np.array([float(weights[f].sum()) for f in folds])
    return FoldSums(gram, xty, xsum, ysum, counts, center, X if lowmem else None,
                    folds if lowmem else None, weights if lowmem else None)


def scale_from_var(var: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """Standard deviations with 1 for constant features (StandardScaler's rule)."""
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * np.abs(mean) * eps) ** 2 + 1e-12 * (1 + mean**2)
    return np.where(constant, 1.0, np.sqrt(np.maximum(var, 0)))


#: Rows of the d x d scatter updated at a time (bounds the temporaries of the
#: in-place centering to this many rows).
_BLOCK_ROWS = 512


def _standardize(gram, xty, xsum, ysum, n):
    """Centered, scaled scatter and cross product of a training part.

    ``gram`` (the fresh sums of :meth:`FoldSums.training`) becomes the scatter
    in place: at d = 20,000 a d x d float64 temporary is 3.2 GB.
    """
    mu = xsum / n
    ybar = ysum / n
    S = gram
    for start in range(0, len(mu), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        S[block] -= n * np.outer(mu[block], mu)
    scale = scale_from_var(np.diag(S) / n, mu, n)
    S /= scale[:, None]
    S /= scale[None, :]
    b = (xty - n * np.outer(mu, ybar)) / scale[:, None]
    return S, b, mu, scale, ybar


def fold_scores(X, labels, sums: FoldSums, folds, lambdas, decide, on_fold=None,
                client=None) -> np.ndarray:
    """Test score of every λ on every fold, shape (n_folds, n_lambdas).

    ``decide(decisions, labels)`` scores a fold's decision values of shape
    (n, L, K) against its true class indices, one score per λ
    (:class:`~l2vision.linear.cv_metrics.FoldScorer`); ``labels`` are the true
    class indices; ``on_fold()`` is called
    after each fold (progress). The eigendecomposition runs
    in the dtype of X (LAPACK's divide and conquer, ``syevd``); float32 halves
    its cost, and a float32 feature matrix carries no more precision anyway.
    With a Dask ``client``, each fold is a task (X and the sums sent once).
    """
    return map_folds(_fold_score, len(folds), on_fold, client, X, labels, sums, folds,
                      np.asarray(lambdas, dtype=np.float64), decide)


def map_folds(function, n_folds, on_fold, client, *args) -> np.ndarray:
    """``function(k, *args)`` for every fold, here or as Dask tasks; rows in fold order."""
    return np.array(list(fold_results(function, n_folds, on_fold, client, *args)))


def fold_results(function, n_folds, on_fold, client, *args):
    """Yield ``function(k, *args)`` for every fold in fold order, here or as Dask tasks
    (arrays and fold sums sent once); ``on_fold()`` after each (progress)."""
    if client is None:
        results = (function(k, *args) for k in range(n_folds))
    else:
        from l2vision.distributed import Shared, ordered_results

        shared = [Shared(a) if isinstance(a, (np.ndarray, FoldSums)) else a for a in args]
        results = ordered_results(client, function, range(n_folds), *shared)
    for result in results:
        yield result
        if on_fold is not None:
            on_fold()


def _fold_score(k, X, labels, sums, folds, lambdas, decide) -> np.ndarray:
    """The score of every λ on fold ``k`` (see :func:`fold_scores`)."""
    rows = folds[k]
    S, b, mu, scale, ybar = _standardize(*sums.training(k))
    S = S.astype(X.dtype, copy=False)  # frees the float64 scatter of float32 input
    e, V = scipy.linalg.eigh(S, driver="evd", overwrite_a=True, check_finite=False)
    del S
    e = np.maximum(e.astype(np.float64), 0)
    Q = V.T.astype(np.float64) @ b                           # (d, K)
    # Weights of every λ side by side: W[:, j*K:(j+1)*K] = V diag(1/(e+λ_j)) Q.
    shrunk = Q[:, None, :] / (e[:, None, None] + lambdas[None, :, None])
    W = V.astype(np.float64) @ shrunk.reshape(len(e), -1)   # (d, L*K)
    # Standardize the test rows through the weights instead of copying them.
    W_raw = W / scale[:, None]
    offset = ybar.reshape(1, -1).repeat(len(lambdas), 0).ravel() - (sums.center + mu) @ W_raw
    decisions = X[rows] @ W_raw.astype(X.dtype) + offset.astype(X.dtype)
    decisions = decisions.reshape(len(rows), len(lambdas), -1)
    return decide(decisions, labels[rows])


def standardized_solution(sums: FoldSums, lam: float, fold: int | None = None):
    """The model at one λ on all rows (or without fold ``fold``), in original feature units.

    Returns ``(coef (K, d), intercept (K,), mean (d,), scale (d,))``.
    """
    S, b, mu, scale, ybar = _standardize(*sums.training(fold))
    S[np.diag_indices_from(S)] += lam
    w = np.linalg.solve(S, b)  # (d, K), standardized units
    coef = (w / scale[:, None]).T
    mean = sums.center + mu
    intercept = ybar - coef @ mean
    return coef, intercept, mean, scale


def _standardized_rows(X, rows):
    """``(Z, mean, scale)``: X[rows] standardized with their own statistics (StandardScaler's)."""
    Xt = X[rows]
    mean = Xt.mean(axis=0, dtype=np.float64)
    Xt -= mean.astype(X.dtype)
    var = np.einsum("ij,ij->j", Xt, Xt, dtype=np.float64) / len(rows)
    scale = scale_from_var(var, mean, len(rows))
    Xt /= scale.astype(X.dtype)
    return Xt, mean, scale


def _kernel_eigen(Z):
    """Eigendecomposition of ``Z Zᵀ`` (float64), eigenvalues clipped at 0."""
    e, U = scipy.linalg.eigh((Z @ Z.T).astype(np.float64), driver="evd", check_finite=False)
    return np.maximum(e, 0), U


def kernel_fold_scores(X, labels, Y, folds, lambdas, decide, on_fold=None,
                       client=None) -> np.ndarray:
    """:func:`fold_scores` through the n x n kernel of each fold's training rows (d > n)."""
    return map_folds(_kernel_fold_score, len(folds), on_fold, client, X, labels, Y, folds,
                      np.asarray(lambdas, dtype=np.float64), decide)


def _kernel_fold_score(k, X, labels, Y, folds, lambdas, decide) -> np.ndarray:
    test = folds[k]
    train = np.setdiff1d(np.arange(X.shape[0]), test)
    Z, mean, scale = _standardized_rows(X, train)
    ybar = Y[train].mean(axis=0, dtype=np.float64)
    e, U = _kernel_eigen(Z)
    Q = U.T @ (Y[train] - ybar)                                 # (n_T, K)
    Zs = (X[test] - mean.astype(X.dtype)) / scale.astype(X.dtype)
    A = (Zs @ Z.T).astype(np.float64) @ U                       # (n_S, n_T)
    shrunk = Q[:, None, :] / (e[:, None, None] + lambdas[None, :, None])
    decisions = A @ shrunk.reshape(len(e), -1) + np.tile(ybar, len(lambdas))
    decisions = decisions.reshape(len(test), len(lambdas), -1)
    return decide(decisions, labels[test])


def kernel_solution(X, Y, lam: float):
    """:func:`standardized_solution` on all rows of X through the kernel form."""
    Z, mean, scale = _standardized_rows(X, np.arange(X.shape[0]))
    ybar = Y.mean(axis=0, dtype=np.float64)
    e, U = _kernel_eigen(Z)
    alpha = U @ ((U.T @ (Y - ybar)) / (e + lam)[:, None])          # (n, K)
    w = Z.T.astype(np.float64) @ alpha                              # (d, K), standardized units
    coef = (w / scale[:, None]).T
    intercept = ybar - coef @ mean
    return coef, intercept, mean, scale


def _inverse_shift(e: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """``1 / (e + λ)`` for every λ (L, r); at λ = 0, the pseudo-inverse (0 on null directions)."""
    shifted = e[None, :] + lambdas[:, None]
    null = shifted <= np.finfo(np.float64).eps * max(float(e.max(initial=0)), 1.0) * len(e)
    return np.where(null, 0.0, 1.0 / np.where(null, 1.0, shifted))


def path_solutions(X, Y, lambdas):
    """Standardized ridge on all rows of X at every λ, from one eigendecomposition.

    ``λ = 0`` gives the minimum-norm least-squares solution (no penalty).
    Returns ``(coef (L, K, d), intercept (L, K))`` in the units of X; the
    Gram form when n >= d, the kernel form otherwise.
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    if X.shape[1] > X.shape[0]:
        Z, mean, scale = _standardized_rows(X, np.arange(X.shape[0]))
        ybar = Y.mean(axis=0, dtype=np.float64)
        e, U = _kernel_eigen(Z)
        Q = U.T @ (Y - ybar)                                          # (n, K)
        inverse = _inverse_shift(e, lambdas)                          # (L, n)
        alpha = np.einsum("nr,lr,rk->lnk", U, inverse, Q)             # (L, n, K)
        w = np.einsum("nd,lnk->lkd", Z.astype(np.float64), alpha)     # standardized units
    else:
        sums = fold_sums(X, Y, [np.arange(X.shape[0])])
        S, b, mu, scale, ybar = _standardize(*sums.training(None))
        e, V = scipy.linalg.eigh(S, driver="evd", overwrite_a=True, check_finite=False)
        e = np.maximum(e, 0)
        Q = V.T @ b                                                   # (d, K)
        w = np.einsum("dr,lr,rk->lkd", V, _inverse_shift(e, lambdas), Q)
        mean = sums.center + mu
    coef = w / scale[None, None, :]
    intercept = ybar[None, :] - coef @ mean
    return coef, intercept
