"""Exact k-fold cross-validation of standardized ridge classification over many λ.

The maths behind :class:`~l2vision.pipelines.search.RidgeClassifierKFoldCV`,
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

This is the k-fold counterpart of scikit-learn's leave-one-out ``_RidgeGCV``
(Rifkin & Lippert [1]_), which does not standardize inside the folds.

References
----------
.. [1] R. M. Rifkin and R. A. Lippert, "Notes on regularized least squares",
   MIT-CSAIL-TR-2007-025, 2007.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

__all__ = ["FoldSums", "fold_sums", "fold_scores", "standardized_solution", "scale_from_var"]


class FoldSums:
    """Per-fold sums of one pass over the data: Grams, cross products, counts."""

    def __init__(self, gram, xty, xsum, ysum, counts, center):
        self.gram = gram      # (k, d, d) float64: X_kᵀ X_k (globally centered X)
        self.xty = xty        # (k, d, K): X_kᵀ Y_k
        self.xsum = xsum      # (k, d): column sums of X_k
        self.ysum = ysum      # (k, K): column sums of Y_k
        self.counts = counts  # (k,): rows per fold
        self.center = center  # (d,): the global mean subtracted from X

    def training(self, k: int | None):
        """Sums over every fold but ``k`` (all folds when ``k`` is None)."""
        keep = np.ones(len(self.counts), bool)
        if k is not None:
            keep[k] = False
        return (self.gram[keep].sum(0), self.xty[keep].sum(0), self.xsum[keep].sum(0),
                self.ysum[keep].sum(0), int(self.counts[keep].sum()))


def fold_sums(X: np.ndarray, Y: np.ndarray, folds: list[np.ndarray]) -> FoldSums:
    """Accumulate the per-fold sums; ``folds`` are the test indices of each fold."""
    center = X.mean(axis=0, dtype=np.float64)
    k, d, n_targets = len(folds), X.shape[1], Y.shape[1]
    gram = np.empty((k, d, d))
    xty = np.empty((k, d, n_targets))
    xsum = np.empty((k, d))
    ysum = np.empty((k, n_targets))
    for i, rows in enumerate(folds):
        Xk = X[rows]
        Xk -= center.astype(X.dtype)
        gram[i] = Xk.T @ Xk
        xty[i] = Xk.T @ Y[rows]
        xsum[i] = Xk.sum(axis=0, dtype=np.float64)
        ysum[i] = Y[rows].sum(axis=0)
    return FoldSums(gram, xty, xsum, ysum, np.array([len(f) for f in folds]), center)


def scale_from_var(var: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """Standard deviations with 1 for constant features (StandardScaler's rule)."""
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * np.abs(mean) * eps) ** 2 + 1e-12 * (1 + mean**2)
    return np.where(constant, 1.0, np.sqrt(np.maximum(var, 0)))


def _standardize(gram, xty, xsum, ysum, n):
    """Centered, scaled scatter and cross product of a training part."""
    mu = xsum / n
    ybar = ysum / n
    scatter = gram - n * np.outer(mu, mu)
    scale = scale_from_var(np.diag(scatter) / n, mu, n)
    S = scatter / np.outer(scale, scale)
    b = (xty - n * np.outer(mu, ybar)) / scale[:, None]
    return S, b, mu, scale, ybar


def fold_scores(X, labels, sums: FoldSums, folds, lambdas, decide, on_fold=None) -> np.ndarray:
    """Test accuracy of every λ on every fold, shape (n_folds, n_lambdas).

    ``decide(decisions)`` turns decision values of shape (..., K) into class
    indices; ``labels`` are the true class indices; ``on_fold()`` is called
    after each fold (progress). The eigendecomposition runs
    in the dtype of X (LAPACK's divide and conquer, ``syevd``); float32 halves
    its cost, and a float32 feature matrix carries no more precision anyway.
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    scores = np.empty((len(folds), len(lambdas)))
    for k, rows in enumerate(folds):
        S, b, mu, scale, ybar = _standardize(*sums.training(k))
        e, V = scipy.linalg.eigh(S.astype(X.dtype), driver="evd", check_finite=False)
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
        scores[k] = (decide(decisions) == labels[rows][:, None]).mean(axis=0)
        if on_fold is not None:
            on_fold()
    return scores


def standardized_solution(sums: FoldSums, lam: float):
    """Final model on all rows at one λ, in original feature units.

    Returns ``(coef (K, d), intercept (K,), mean (d,), scale (d,))``.
    """
    S, b, mu, scale, ybar = _standardize(*sums.training(None))
    w = np.linalg.solve(S + lam * np.eye(len(S)), b)  # (d, K), standardized units
    coef = (w / scale[:, None]).T
    mean = sums.center + mu
    intercept = ybar - coef @ mean
    return coef, intercept, mean, scale
