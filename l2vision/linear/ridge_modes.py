"""The ridge λ search's modes: which one runs, the memory each needs, what each computes.

:class:`~l2vision.linear.RidgeClassifierKFoldCV` runs the same
k-fold ridge path in one of four ways (``mode``): the folds' d x d Grams kept
(``"gram"``) or formed one at a time (``"gram-lowmem"``), the folds' n x n
kernels (``"kernel"``, for d > n; these three in :mod:`~l2vision.linear.ridge_path`), or
preconditioned conjugate gradients with no d x d matrix (``"blocks"``,
:mod:`~l2vision.linear.ridge_blocks`). This module estimates the memory of each
(:func:`search_bytes`), chooses one for ``"auto"`` (:func:`choose_mode`),
refuses a search the machine cannot hold before it starts
(:func:`check_memory`), and runs the chosen mode's fold scores and final
solution, so the estimator does not branch on modes.
"""

from __future__ import annotations

import os

import numpy as np

from l2vision.linear import ridge_blocks, ridge_path

__all__ = ["MODES", "check_memory", "choose_mode", "fits", "fold_scores", "fold_sums",
           "out_of_fold_decisions",
           "physical_memory", "search_bytes", "solution"]

#: The ways to run the path (``RidgeClassifierKFoldCV(mode=...)``).
MODES = ("auto", "gram", "gram-lowmem", "kernel", "blocks")

#: ``mode="auto"`` keeps every fold's Gram up to this many bytes.
GRAM_BUDGET = 4 << 30


def choose_mode(n_samples: int, n_features: int, n_folds: int,
                X_bytes: int | None = None, itemsize: int = 4) -> str:
    """``"kernel"`` when d > n, else ``"gram"`` unless the folds' Grams exceed 4 GiB.

    Given the feature matrix's size ``X_bytes``, a mode that would not fit in
    this machine's memory (:func:`fits`) gives way to ``"gram-lowmem"``, then
    to ``"blocks"`` (conjugate gradients, no d x d matrix; :mod:`~l2vision.linear.ridge_blocks`).

    Examples
    --------
    >>> choose_mode(50_000, 6_400, 5), choose_mode(50_000, 16_000, 5), choose_mode(300, 6_400, 5)
    ('gram', 'gram-lowmem', 'kernel')
    """
    if n_features > n_samples:
        mode = "kernel"
    else:
        mode = "gram" if n_folds * n_features**2 * 8 <= GRAM_BUDGET else "gram-lowmem"
    if X_bytes is None:
        return mode
    candidates = [mode] + (["gram-lowmem"] if mode == "gram" else []) + ["blocks"]
    return next((m for m in candidates
                 if fits(n_samples, n_features, n_folds, m, X_bytes, itemsize)), "blocks")


def search_bytes(n_samples: int, n_features: int, n_folds: int, mode: str,
                 itemsize: int = 4) -> int:
    """Peak memory of the λ search and the final fit in bytes, beyond X itself.

    The estimate :func:`check_memory` compares with the machine's memory:
    the Grams kept (``k d²`` float64, or one in ``"gram-lowmem"``), then per
    fold a float64 training Gram with the fold's own Gram in X's dtype
    (``itemsize`` bytes) while it is downdated, or the scatter in X's dtype,
    its eigenvectors and LAPACK's ``2 d²`` workspace; the final fit a float64
    scatter and the solver's copy; and two copies of a fold's rows. In
    ``"kernel"`` mode, the final fit's standardized rows and its n x n arrays
    (the kernel in X's dtype and in float64, its eigenvectors, the workspace).

    Examples
    --------
    >>> round(search_bytes(50_000, 19_200, 3, "gram-lowmem") / 2**30, 1)  # GiB
    10.6
    """
    n, d, test_rows = n_samples, n_features, -(-n_samples // n_folds)
    if mode == "blocks":
        return ridge_blocks.search_bytes(n, d, itemsize, n_folds)
    if mode == "kernel":  # the final fit's is the largest: all rows
        return n * d * itemsize + 40 * n * n + test_rows * n * 8
    stored = (1 if mode == "gram-lowmem" else n_folds) * 8 * d * d
    downdate = (8 + itemsize) * d * d
    eigen = 3 * itemsize * d * d
    final = 16 * d * d
    return stored + max(downdate, eigen, final) + 2 * test_rows * d * itemsize


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def fits(n_samples: int, n_features: int, n_folds: int, mode: str, X_bytes: int,
         itemsize: int = 4) -> bool:
    """Whether :func:`search_bytes` plus the feature matrix fit in physical memory."""
    total = physical_memory()
    need = search_bytes(n_samples, n_features, n_folds, mode, itemsize)
    return total is None or need + X_bytes <= total


def check_memory(n_samples: int, n_features: int, n_folds: int, mode: str,
                 X_bytes: int, itemsize: int = 4) -> None:
    """Refuse a search that cannot fit in this machine's memory, before it starts.

    Without it the system kills the process part-way (often after the
    features took many minutes), with no message naming the cause.
    """
    if fits(n_samples, n_features, n_folds, mode, X_bytes, itemsize):
        return
    need, total = search_bytes(n_samples, n_features, n_folds, mode, itemsize), physical_memory()
    remedy = "use fewer features (a smaller K for kmeans or bovw, fewer extractors)" + (
        " or the logistic model ('logreg')" if mode == "blocks" else
        ", mode='blocks' (conjugate gradients, no d x d matrix) or the logistic model "
        "('logreg'), whose memory grows with rows x features")
    raise MemoryError(
        f"The ridge λ search over {n_samples} rows of {n_features} features "
        f"({mode!r} mode) needs about {_size(need)} besides the {_size(X_bytes)} feature "
        f"matrix, more than this machine's {_size(total)}: {remedy}.")


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 / 10 else f"{n_bytes / 2**20:.1f} MiB"


def fold_sums(X, Y, folds, mode: str, weights=None):
    """The fold sums the Gram modes start from (one pass over X); in the blocks mode the
    preconditioner all folds share (:class:`~l2vision.linear.ridge_blocks.BlockSums`);
    None in the kernel mode.

    ``weights``: one per row (class weights), Gram modes only.
    """
    if mode == "blocks":
        return ridge_blocks.BlockSums(X, Y)
    if mode == "kernel":
        return None
    return ridge_path.fold_sums(X, Y, folds, lowmem=mode == "gram-lowmem", weights=weights)


def fold_scores(mode: str, X, labels, Y, sums, folds, lambdas, decide, on_fold=None,
                client=None, patience=None) -> np.ndarray:
    """Each fold's accuracy at each λ in ``mode``, shape (n_folds, n_lambdas).

    ``sums``: :func:`fold_sums`'s; ``patience``: the blocks mode's early stop
    (see :func:`~l2vision.linear.ridge_blocks.block_fold_scores`).
    """
    if mode == "blocks":
        return ridge_blocks.block_fold_scores(X, labels, Y, folds, lambdas, decide, on_fold,
                                               client, patience=patience, sums=sums)
    if mode == "kernel":
        return ridge_path.kernel_fold_scores(X, labels, Y, folds, lambdas, decide, on_fold,
                                              client)
    return ridge_path.fold_scores(X, labels, sums, folds, lambdas, decide, on_fold, client)


def solution(X, Y, lam: float, mode: str, sums=None, weights=None):
    """``(coef, intercept, mean, scale)`` of the model at ``lam`` on all rows, in ``mode``.

    ``sums``: the search's fold sums, when the Gram modes already have them;
    ``weights``: one per row (Gram modes only).
    """
    if mode == "kernel":
        return ridge_path.kernel_solution(X, Y, lam)
    if mode == "blocks":
        return ridge_blocks.block_solution(X, Y, lam, sums=sums)
    if sums is None:
        sums = ridge_path.fold_sums(X, Y, [np.arange(X.shape[0])], weights=weights)
    return ridge_path.standardized_solution(sums, lam)


def out_of_fold_decisions(X, Y, folds, lam: float, mode: str, sums=None) -> np.ndarray:
    """Each row's decision values from the fold model at ``lam`` that did not see it.

    The Gram modes solve from the search's fold sums (one d x d solve per
    fold, no pass over X), the blocks mode takes the search's own decision
    values; the kernel mode fits each fold's training rows again.
    Returns shape (n_samples, n_targets), float64.
    """
    if mode == "blocks":
        return ridge_blocks.block_out_of_fold_decisions(X, Y, folds, lam, sums)
    decisions = np.empty((X.shape[0], Y.shape[1]))
    everything = np.arange(X.shape[0])
    for k, test in enumerate(folds):
        if sums is not None:
            coef, intercept, _, _ = ridge_path.standardized_solution(sums, lam, fold=k)
        else:
            train = np.setdiff1d(everything, test)
            coef, intercept, _, _ = solution(X[train], Y[train], lam, mode)
        decisions[test] = X[test] @ coef.T.astype(X.dtype) + intercept
    return decisions
