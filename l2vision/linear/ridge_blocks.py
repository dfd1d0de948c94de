"""Standardized ridge beyond the Gram's memory: conjugate gradients, preconditioned by blocks.

The ``"blocks"`` mode of :class:`~l2vision.linear.RidgeClassifierKFoldCV`,
for feature counts whose d x d Gram (and its eigendecomposition) does not fit
in memory: 32,000 soft-threshold k-means features (``kmeans:4000``) need about
27 GiB that way.

Notes
-----
The solver is :mod:`~l2vision.linear.conjugate_ridge`'s.

Memory: the blocks' Grams while they are accumulated (``Σ d_b²`` in X's dtype),
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

Time: each iteration is two products of X's rows (read in place) with the
columns not yet converged, for all folds at once: a column of fold k is masked
on fold k's test rows, and the product's cost grows slowly with its columns
(:func:`~l2vision.linear.conjugate_ridge.gram_products`). The small λ of a
wide grid converge slowly (on 8,000 of CIFAR-10's k-means rows, more features
than rows, the λ below 1e-4 n did not converge in 300 iterations): after
:data:`~l2vision.linear.conjugate_ridge.MAX_ITER` iterations the remaining
columns keep their last iterate with a ``ConvergenceWarning``. So the folds
solve the grid from the largest λ down, :data:`LAMBDA_GROUP` values at a time
(each group starting from the previous group's smallest-λ solution), and with
a ``patience`` (large X) walk every :data:`COARSE_STRIDE`-th λ first, each
fold stopping past its best, then refine around the best coarse value
(:func:`fold_walk`); the final model starts from the folds' mean weights at
the chosen λ. Measured figures: ``benchmarks/accuracy.py --rows kmeans``
(``docs/benchmarks.md``).
"""

from __future__ import annotations

import numpy as np

from l2vision.linear.conjugate_ridge import (
    CHUNK_ROWS,
    StandardizedRows,
    feature_blocks,
    joint_ridge_columns,
    ridge_columns,
    row_chunks,
)
from l2vision.linear.ridge_path import fold_results

__all__ = ["COARSE_STRIDE", "LAMBDA_GROUP", "BlockSums", "block_fold_scores",
           "block_out_of_fold_decisions", "block_solution", "fold_walk", "search_bytes"]

#: λ values a fold solves together (from the largest down), sharing the passes over the rows.
LAMBDA_GROUP = 4

#: With a patience (large X), the walk first takes every COARSE_STRIDE-th λ (see
#: :func:`fold_walk`): with the default 40-value grid, a factor 3.5 between them.
COARSE_STRIDE = 3

#: Classes the estimate of :func:`search_bytes` allows for (the iterations hold
#: n_folds x LAMBDA_GROUP x classes columns: beyond this many, it is low).
_CLASSES = 50


def search_bytes(n_samples: int, n_features: int, itemsize: int = 4, n_folds: int = 3) -> int:
    """Peak memory of the blocks mode beyond X: see the module's notes.

    Examples
    --------
    >>> round(search_bytes(50_000, 40_000) / 2**30, 1)  # GiB
    4.4
    """
    sizes = [b.stop - b.start for b in feature_blocks(n_features)]
    columns = n_folds * LAMBDA_GROUP * _CLASSES
    grams = itemsize * sum(s * s for s in sizes)
    eigen = sum(itemsize * s * s for s in sizes) + 3 * itemsize * max(sizes) ** 2
    iterations = 6 * n_features * columns * 8
    chunk = 2 * CHUNK_ROWS * n_features * itemsize + CHUNK_ROWS * columns * 8
    kept = n_samples * columns * 4  # the folds' decision values (see BlockSums)
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
        self.solutions: dict = {}  # (fold, λ) -> that fold's standardized weights (d, K)

    def eigen_for(self, n_rows: int) -> list:
        """The preconditioner for ``n_rows`` of the rows: the scatter grows with the rows."""
        share = n_rows / self.n_samples
        return [(e * share, V) for e, V in self.eigen]

    def keep(self, fold: int, lambdas, decisions: np.ndarray, solutions: dict) -> None:
        """Keep fold ``fold``'s decisions (n_test, L, K) of the λ values it reached, and
        its weights (``solutions``: λ index -> (d, K))."""
        reached = ~np.isnan(decisions).any(axis=(0, 2))
        for j in np.flatnonzero(reached if len(decisions) else []):
            self.decisions[(fold, float(lambdas[j]))] = decisions[:, j]
        for j, W in solutions.items():
            self.solutions[(fold, float(lambdas[j]))] = W

    def start_for(self, lam: float):
        """A first iterate for the model on all the rows at ``lam``: the mean of the
        folds' weights there (a fold's weights at λ are the whole set's at about 1.5 λ
        with 3 folds), or None."""
        found = [W for (_, at), W in self.solutions.items() if at == float(lam)]
        return np.mean(found, axis=0) if found else None


def block_fold_scores(X, labels, Y, folds, lambdas, decide, on_fold=None,
                      client=None, patience=None, sums: BlockSums | None = None) -> np.ndarray:
    """:func:`~l2vision.linear.ridge_path.fold_scores` by preconditioned
    conjugate gradients (no d x d Gram); shape (n_folds, n_lambdas).

    With several blocks, the folds are solved together
    (:func:`~l2vision.linear.conjugate_ridge.joint_ridge_columns`: each pass
    over X's rows serves all of them) and walk coarse to fine
    (:func:`fold_walk`). With one block (each fold its own exact
    preconditioner: one iteration per λ, and one fold's d x d eigenvectors in
    memory at a time), or one fold per task on a Dask cluster, each fold walks
    alone, every λ down to its stop: the λ set can then differ from a
    coarse-to-fine walk's, and so, rarely, the choice. Each fold solves the λ
    values from the largest down, :data:`LAMBDA_GROUP` at a time, each group
    starting from the previous group's smallest-λ solution; with ``patience``,
    a fold stops after that many consecutive λ values scoring below its best
    (the small λ are the slow ones to converge), and the λ values it did not
    reach score NaN. With ``sums``, the folds use its preconditioner (unless
    they run as Dask tasks, which build their own rather than receive it) and
    leave their decision values in it.
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    # One block: the fold's own eigendecomposition is its exact inverse (one iteration).
    share = sums is not None and client is None and len(sums.eigen) > 1
    if share:
        results = fold_walk(X, labels, Y, folds, range(len(folds)), lambdas, decide, patience,
                            sums)
        if on_fold is not None:
            for _ in folds:
                on_fold()
    else:
        results = fold_results(_block_fold_score, len(folds), on_fold, client, X, labels, Y,
                               folds, lambdas, decide, patience)
    scores = []
    for k, (fold_scores, decisions, solutions) in enumerate(results):
        scores.append(fold_scores)
        if sums is not None:
            sums.keep(k, lambdas, decisions, solutions)
    return np.array(scores)


def _block_fold_score(k, X, labels, Y, folds, lambdas, decide, patience):
    """Fold ``k`` alone (here, or as a Dask task; see :func:`fold_walk`): every λ down
    to its stop, as the coarse-to-fine walk needs the other folds' scores."""
    return fold_walk(X, labels, Y, folds, [k], lambdas, decide, patience, coarse=False)[0]


def fold_walk(X, labels, Y, folds, ks, lambdas, decide, patience, shared=None,
              coarse: bool = True) -> list:
    """The λ walk of the folds ``ks``, solved together: for each, its scores (L,),
    test decisions (n_test, L, K) float32, NaN where not solved, and its
    standardized weights (d, K) at the λ of the best mean score (``{λ index:
    weights}``); ``shared``: the search's :class:`BlockSums`, whose preconditioner of all
    the rows the folds share (scaled to their rows), else each fold its own.

    Without ``patience`` (or ``coarse``), every λ from the largest down (to
    the stop). With it (large X), first every :data:`COARSE_STRIDE`-th λ from
    the largest down, each fold stopping ``ceil(patience / COARSE_STRIDE)`` of
    them past its best (as far below its best as ``patience`` grid values),
    then the grid values between the coarse value with the best mean score and
    its two neighbours, each fold starting from its solution there. When the
    mean score has a single peak this finds the best λ of the whole walk, in
    about half the λ values.
    """
    walk = _Walk(X, labels, Y, folds, ks, lambdas, decide, shared)
    descending = np.argsort(lambdas, kind="stable")[::-1]
    stride = COARSE_STRIDE if patience is not None and coarse else 1
    coarse = descending[::stride]
    walk.run(coarse, None if patience is None else -(-patience // stride))
    centre = walk.best if stride > 1 else None
    if centre is not None:
        at = int(np.flatnonzero(descending == centre)[0])
        near = descending[max(at - stride + 1, 0):at + stride]
        walk.run(np.array([j for j in near if not walk.solved(j)], dtype=int), None,
                 start_at=centre)
    return walk.results()


class _Walk:
    """The state of :func:`fold_walk`: each fold's rows, preconditioner, scores and
    decisions, and the λ with the best mean score so far with each fold's weights there
    (one (d, K) copy per fold: the refinement's and the final model's start)."""

    def __init__(self, X, labels, Y, folds, ks, lambdas, decide, shared):
        n = X.shape[0]
        self.labels, self.lambdas, self.decide = labels, lambdas, decide
        self.n_targets = Y.shape[1]
        self.tests = [folds[k] for k in ks]
        self.parts = [StandardizedRows(X, np.setdiff1d(np.arange(n), test), Y)
                      for test in self.tests]
        self.eigens = [part.block_eigen(feature_blocks(X.shape[1])) if shared is None
                       else shared.eigen_for(len(part.rows)) for part in self.parts]
        self.scores = [np.full(len(lambdas), np.nan) for _ in ks]
        self.kept = [np.full((len(test), len(lambdas), self.n_targets), np.nan, np.float32)
                     for test in self.tests]
        self.best: int | None = None          # λ index: the best mean score so far
        self.solutions: list[dict] = [{} for _ in ks]  # {self.best: (d, K) weights}
        self.descending = np.argsort(lambdas, kind="stable")[::-1]

    def run(self, order, patience, start_at=None) -> None:
        """Solve the λ indices ``order`` in groups of :data:`LAMBDA_GROUP`, all folds
        together, each fold stopping after ``patience`` values below its best; the
        first group starts from the solutions at ``start_at`` (else from zero)."""
        walking = list(range(len(self.parts)))
        best, worse = [-np.inf] * len(walking), [0] * len(walking)
        starts = [None if start_at is None else self.solutions[i][start_at] for i in walking]
        for first in range(0, len(order), LAMBDA_GROUP):
            group = order[first:first + LAMBDA_GROUP]
            solved = joint_ridge_columns([self.parts[i] for i in walking],
                                         self.lambdas[group], [self.eigens[i] for i in walking],
                                         [starts[i] for i in walking])
            for i, W in zip(walking, solved, strict=True):
                self._score(i, group, W)
                starts[i] = W[:, -self.n_targets:]
                for score in self.scores[i][group]:
                    best[i], worse[i] = (score, 0) if score >= best[i] else \
                        (best[i], worse[i] + 1)
            self._track(group, dict(zip(walking, solved, strict=True)))
            walking = [i for i in walking if patience is None or worse[i] < patience]
            if not walking:
                break

    def _score(self, i: int, group, W) -> None:
        """Fold ``i``'s decisions and scores for the λ indices ``group`` (weights W)."""
        data, test = self.parts[i], self.tests[i]
        offset = np.tile(data.ybar, len(group))
        decisions = np.vstack([data.chunk(chunk).astype(np.float64) @ W + offset
                               for chunk in row_chunks(test)])
        decisions = decisions.reshape(len(test), len(group), -1)
        self.scores[i][group] = self.decide(decisions, self.labels[test])
        self.kept[i][:, group] = decisions

    def _track(self, group, solved: dict) -> None:
        """Move :attr:`best` to the λ with the best mean score over the folds (solved by
        all of them; the largest λ of a tie) and keep each fold's weights there."""
        mean = np.mean(self.scores, axis=0)[self.descending]
        if np.isnan(mean).all():
            return
        best = int(self.descending[np.nanargmax(mean)])
        if best != self.best and best in group:
            j, K = list(group).index(best), self.n_targets
            self.best = best
            self.solutions = [{best: solved[i][:, j * K:(j + 1) * K].copy()}
                              for i in range(len(self.parts))]

    def solved(self, index) -> bool:
        """Whether any fold solved the λ of index ``index``."""
        return any(not np.isnan(scores[index]) for scores in self.scores)

    def results(self) -> list:
        """``(scores, decisions, {best λ index: weights})`` of each fold."""
        return list(zip(self.scores, self.kept, self.solutions, strict=True))


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
    start = sums.start_for(lam) if sums is not None and everything else None
    w = ridge_columns(data, [lam], eigen, start)
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
