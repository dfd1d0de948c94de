"""Standardized ridge beyond the Gram's memory: conjugate gradients, preconditioned by blocks.

The ``"blocks"`` mode of :class:`~l2vision.linear.RidgeClassifierKFoldCV`,
for feature counts whose d x d Gram (and its eigendecomposition) does not fit
in memory: 32,000 soft-threshold k-means features (``kmeans:4000``) need about
27 GiB that way.

Notes
-----
The solver is :mod:`~l2vision.linear.conjugate_ridge`'s.

Memory: the blocks' float64 Grams while they are accumulated (``8 Σ d_b²``),
their eigenvectors in X's dtype, one block's eigendecomposition at a time,
``d x L K`` float64 vectors for the iterations (L values of λ, K classes)
and the folds' decision values (``n x L K`` float32): about 4.4 GiB for
40,000 features in four blocks (against about 38 GiB for the
one-fold-at-a-time Gram form).

With one block, each fold decomposes its own scatter. With several, the
folds share one preconditioner: the blocks' eigendecompositions of all the
rows' scatter (:class:`BlockSums`), computed once per search (the Grams and
eigendecompositions are most of a fold's cost) and scaled by the fold's
share of the rows. It is not the fold's own, so a fold may take more
iterations, but conjugate gradients converge to the fold's exact solution
whatever the (symmetric positive definite) preconditioner; the final model,
on all the rows, has its own. The folds' decision values
on their test rows, computed to score every λ anyway, are kept for the
chosen λ's out-of-fold decisions (the calibration), so no fold is solved
twice.

Time: each iteration is two products of X's rows (read in place, the fold's test rows
masked) with the columns not yet converged. Measured on CIFAR-10's 12,800
soft-threshold k-means features (50,000 rows, float32, two blocks, two cores; 3 folds,
10 λ from 10 to 10,000; 2026-11-28, when each fold decomposed its own blocks and
copied its rows for every product): 53-63 iterations per fold (about 3 minutes), 9 for
the final fit, 10.7 minutes in all, 4.4 GB peak with X; the same λ (100) as the Gram
form (9.2 minutes, 7.2 GB), CV scores within 0.07 points from λ 46 up and 0.5 at λ 10,
where the float32 tolerance (relative residual 1e-3) tells.
The small λ of a wide grid converge slowly (on 8,000 of those rows, more
features than rows, the λ below 1e-4 n did not converge in 300 iterations):
after :data:`~l2vision.linear.conjugate_ridge.MAX_ITER` iterations the remaining
columns keep their last iterate with a ``ConvergenceWarning``. So each fold solves
the grid from the largest λ down, :data:`LAMBDA_GROUP` values at a time (one preconditioner for
all, each group starting from the previous group's smallest-λ solution), and
may stop after ``patience`` consecutive values scoring below its best, as the
logistic path does: the default 40-value grid then costs about the λ values
down to the best and three more, the well-conditioned ones.
"""

from __future__ import annotations

import numpy as np

from l2vision.linear.conjugate_ridge import (
    CHUNK_ROWS,
    StandardizedRows,
    feature_blocks,
    ridge_columns,
    row_chunks,
)
from l2vision.linear.ridge_path import fold_results

__all__ = ["LAMBDA_GROUP", "BlockSums", "block_fold_scores", "block_out_of_fold_decisions",
           "block_solution", "search_bytes"]

#: λ values a fold solves together (from the largest down), sharing the passes over the rows.
LAMBDA_GROUP = 4

#: Columns (λ values x classes) the estimate of :func:`search_bytes` allows for.
_COLUMNS = 600


def search_bytes(n_samples: int, n_features: int, itemsize: int = 4) -> int:
    """Peak memory of the blocks mode beyond X: see the module's notes.

    Examples
    --------
    >>> round(search_bytes(50_000, 40_000) / 2**30, 1)  # GiB
    4.4
    """
    sizes = [b.stop - b.start for b in feature_blocks(n_features)]
    grams = 8 * sum(s * s for s in sizes)
    eigen = sum(itemsize * s * s for s in sizes) + 3 * itemsize * max(sizes) ** 2
    iterations = 6 * n_features * _COLUMNS * 8
    chunk = 2 * CHUNK_ROWS * n_features * itemsize + CHUNK_ROWS * _COLUMNS * 8
    kept = n_samples * _COLUMNS * 4  # the folds' decision values (see BlockSums)
    return max(grams + itemsize * max(sizes) ** 2, eigen + iterations + chunk) + kept


class BlockSums:
    """What the blocks mode's folds share: the preconditioner of all the rows, and
    each fold's decision values on its test rows.

    The search's counterpart of the Gram modes' :class:`~l2vision.linear.ridge_path.FoldSums`:
    built once per search (one pass over X for the statistics, one for the
    blocks' Grams, then their eigendecompositions), passed to
    :func:`block_fold_scores`, :func:`block_out_of_fold_decisions` and
    :func:`block_solution`. With a single block, each fold decomposes its own
    (the exact inverse: one iteration) and only the final model uses it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(40, 6)), np.eye(2)[rng.integers(0, 2, 40)]
    >>> sums = BlockSums(X, Y)
    >>> [e.shape for e, V in sums.eigen], sums.decisions
    ([(6,)], {})
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray):
        self.n_samples = X.shape[0]
        self.data = StandardizedRows(X, np.arange(X.shape[0]), Y)
        self.eigen = self.data.block_eigen(feature_blocks(X.shape[1]))
        self.decisions: dict = {}  # (fold, λ) -> that fold's test rows' decisions (n, K)

    def eigen_for(self, n_rows: int) -> list:
        """The preconditioner for ``n_rows`` of the rows: the scatter grows with the rows."""
        share = n_rows / self.n_samples
        return [(e * share, V) for e, V in self.eigen]

    def keep(self, fold: int, lambdas, decisions: np.ndarray) -> None:
        """Keep fold ``fold``'s decisions (n_test, L, K) of the λ values it reached."""
        reached = ~np.isnan(decisions).any(axis=(0, 2))
        for j in np.flatnonzero(reached if len(decisions) else []):
            self.decisions[(fold, float(lambdas[j]))] = decisions[:, j]


def block_fold_scores(X, labels, Y, folds, lambdas, decide, on_fold=None,
                      client=None, patience=None, sums: BlockSums | None = None) -> np.ndarray:
    """:func:`~l2vision.linear.ridge_path.fold_scores` by preconditioned
    conjugate gradients (no d x d Gram); shape (n_folds, n_lambdas).

    Each fold solves the λ values from the largest down, :data:`LAMBDA_GROUP`
    at a time, each group starting from the previous group's smallest-λ
    solution; with ``patience``, a fold stops after that many consecutive λ
    values scoring below its best (the small λ are the slow ones to
    converge), and the λ values it did not reach score NaN. With ``sums``,
    the folds use its preconditioner (unless they run as Dask tasks, which
    build their own rather than receive it) and leave their decision values in it.
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    # One block: the fold's own eigendecomposition is its exact inverse (one iteration).
    share = sums is not None and client is None and len(sums.eigen) > 1
    eigen = sums.eigen if share else None
    scores = []
    for k, (fold_scores, decisions) in enumerate(fold_results(
            _block_fold_score, len(folds), on_fold, client, X, labels, Y, folds, lambdas,
            decide, patience, eigen)):
        scores.append(fold_scores)
        if sums is not None:
            sums.keep(k, lambdas, decisions)
    return np.array(scores)


def _block_fold_score(k, X, labels, Y, folds, lambdas, decide, patience, shared=None):
    """Fold ``k``'s scores (L,) and test decisions (n_test, L, K) float32, NaN past its stop;
    ``shared``: the preconditioner of all the rows (:attr:`BlockSums.eigen`)."""
    test = folds[k]
    train = np.setdiff1d(np.arange(X.shape[0]), test)
    data = StandardizedRows(X, train, Y)
    if shared is None:
        eigen = data.block_eigen(feature_blocks(X.shape[1]))
    else:
        eigen = [(e * (len(train) / X.shape[0]), V) for e, V in shared]
    n_targets = Y.shape[1]
    scores = np.full(len(lambdas), np.nan)
    kept = np.full((len(test), len(lambdas), n_targets), np.nan, np.float32)
    descending = np.argsort(lambdas, kind="stable")[::-1]
    best, worse, start = -np.inf, 0, None
    for first in range(0, len(descending), LAMBDA_GROUP):
        group = descending[first:first + LAMBDA_GROUP]
        W = ridge_columns(data, lambdas[group], eigen, start)
        start = W[:, -n_targets:]
        offset = np.tile(data.ybar, len(group))
        decisions = np.vstack([data.chunk(chunk).astype(np.float64) @ W + offset
                               for chunk in row_chunks(test)])
        decisions = decisions.reshape(len(test), len(group), -1)
        scores[group] = decide(decisions, labels[test])
        kept[:, group] = decisions
        for score in scores[group]:
            best, worse = (score, 0) if score >= best else (best, worse + 1)
        if patience is not None and worse >= patience:
            break
    return scores, kept


def block_solution(X, Y, lam: float, rows: np.ndarray | None = None,
                   sums: BlockSums | None = None):
    """The model on the rows ``rows`` of X (default: all) at one λ:
    ``(coef (K, d), intercept (K,), mean, scale)``; with ``sums``, preconditioned by its
    blocks (the exact ones for all the rows)."""
    everything = rows is None or len(rows) == X.shape[0]
    if sums is not None and everything:
        data = sums.data
    else:
        data = StandardizedRows(X, np.arange(X.shape[0]) if rows is None else rows, Y)
    eigen = None if sums is None or (not everything and len(sums.eigen) == 1) \
        else sums.eigen_for(len(data.rows))
    w = ridge_columns(data, [lam], eigen)
    coef = (w / data.scale[:, None]).T
    intercept = data.ybar - coef @ data.mean
    return coef, intercept, data.mean, data.scale


def block_out_of_fold_decisions(X, Y, folds, lam: float, sums: BlockSums | None = None):
    """Each row's decision values (n, K) float64 from the fold model at ``lam`` that did
    not see it: the search's own (kept in ``sums``) where the fold reached ``lam``, else
    the fold solved again (its rows in place, not copied)."""
    decisions = np.empty((X.shape[0], Y.shape[1]))
    everything = np.arange(X.shape[0])
    for k, test in enumerate(folds):
        kept = None if sums is None else sums.decisions.get((k, float(lam)))
        if kept is None:
            coef, intercept, _, _ = block_solution(X, Y, lam, np.setdiff1d(everything, test),
                                                   sums)
            kept = X[test] @ coef.T.astype(X.dtype) + intercept
        decisions[test] = kept
    return decisions
