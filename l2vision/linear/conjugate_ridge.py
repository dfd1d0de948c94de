"""Standardized ridge by conjugate gradients, preconditioned by blocks, through the rows.

The solver of the ``"blocks"`` mode (:mod:`~l2vision.linear.ridge_blocks`,
which runs it on the folds of a λ search): no d x d matrix is formed.

Notes
-----
The fold's problem is the same as in :mod:`~l2vision.linear.ridge_path`: with ``Z_T`` the training
rows standardized by their own mean and deviation, solve
``(Z_Tᵀ Z_T + λ I) w = Z_Tᵀ (Y_T - ȳ)`` for every λ of the grid. Here it is
solved by conjugate gradients, one column per (λ, class) pair, all columns
side by side, with:

* the product ``(Z_Tᵀ Z_T) P`` formed through the rows, ``Z_Tᵀ (Z_T P)``, a
  slice of :data:`CHUNK_ROWS` rows of X at a time, read in place (Z is never
  formed, see :meth:`StandardizedRows.gram_product`): no d x d matrix;
* a block-diagonal preconditioner: the columns are cut into blocks of at most
  :data:`MAX_BLOCK` features, and each block's own scatter ``S_b`` is
  eigendecomposed (``V_b diag(e_b) V_bᵀ``), so that
  ``(S_b + λ I)⁻¹`` is cheap for every λ. When the features fit in one
  block, the preconditioner is the exact inverse and one step solves the
  system; with several, the iterations account for the blocks' correlations.

After :data:`MAX_ITER` iterations the columns not yet converged keep their
last iterate, with a ``ConvergenceWarning``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from sklearn.exceptions import ConvergenceWarning

from l2vision.linear.ridge_path import scale_from_var

__all__ = ["CHUNK_ROWS", "MAX_BLOCK", "MAX_ITER", "StandardizedRows", "feature_blocks",
           "gram_products", "joint_ridge_columns", "ridge_columns", "row_chunks"]

#: Largest feature block of the preconditioner (its eigendecomposition is
#: cubic in this size: about a minute at 10,000 in float32 on two cores).
MAX_BLOCK = 10_000

#: Rows standardized and multiplied at a time (bounds the temporaries).
CHUNK_ROWS = 2_048

#: Conjugate-gradient iterations per fold before a column is given up on.
MAX_ITER = 300


def feature_blocks(n_features: int, max_block: int | None = None) -> list[slice]:
    """Contiguous, nearly equal column blocks of at most ``max_block`` features.

    Examples
    --------
    >>> feature_blocks(25_000)
    [slice(0, 8333, None), slice(8333, 16667, None), slice(16667, 25000, None)]
    """
    max_block = MAX_BLOCK if max_block is None else max_block
    n_blocks = max(1, -(-n_features // max_block))
    edges = np.linspace(0, n_features, n_blocks + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _tolerance(dtype) -> float:
    """The relative residual at which a column counts as solved: what the dtype can tell."""
    return 1e-3 if np.dtype(dtype).itemsize <= 4 else 1e-10


def row_chunks(rows: np.ndarray):
    """``rows`` in consecutive pieces of at most :data:`CHUNK_ROWS`."""
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start:start + CHUNK_ROWS]


class StandardizedRows:
    """The rows ``rows`` of X standardized by their own statistics, a chunk at a time."""

    def __init__(self, X, rows, Y):
        rows = np.unique(rows)
        self.X, self.rows = X, rows
        self.inside = np.zeros(X.shape[0], dtype=bool)
        self.inside[rows] = True
        n = len(rows)
        total = np.zeros(X.shape[1])
        for chunk in row_chunks(rows):
            total += X[chunk].sum(axis=0, dtype=np.float64)
        self.mean = total / n
        self.ybar = Y[rows].mean(axis=0, dtype=np.float64)
        squares = np.zeros(X.shape[1])
        cross = np.zeros((X.shape[1], Y.shape[1]))
        for chunk in row_chunks(rows):
            Xc = self._centered(chunk)
            squares += np.einsum("ij,ij->j", Xc, Xc, dtype=np.float64)
            cross += Xc.T.astype(np.float64) @ (Y[chunk] - self.ybar)
        self.scale = scale_from_var(squares / n, self.mean, n)
        self.b = cross / self.scale[:, None]          # Z_Tᵀ (Y_T - ȳ)

    def _centered(self, chunk):
        Xc = self.X[chunk]
        Xc -= self.mean.astype(self.X.dtype)
        return Xc

    def chunk(self, chunk):
        """``Z`` for the rows ``chunk`` (in X's dtype)."""
        Xc = self._centered(chunk)
        Xc /= self.scale.astype(self.X.dtype)
        return Xc

    def block_eigen(self, blocks):
        """``(e_b, V_b)`` of every block's scatter ``Z_bᵀ Z_b``.

        The scatters are accumulated in X's dtype by BLAS ``syrk`` (one
        triangle: half a general product's work), so float32 X needs
        ``4 Σ d_b²`` bytes for them, not twice that: a preconditioner needs no
        more precision, since the iterations converge to the exact solution
        whatever it is.
        """
        syrk = scipy.linalg.blas.get_blas_funcs("syrk", dtype=self.X.dtype)
        grams = [np.zeros((b.stop - b.start,) * 2, dtype=self.X.dtype, order="F")
                 for b in blocks]
        for chunk in row_chunks(self.rows):
            Zc = self.chunk(chunk)
            for i, block in enumerate(blocks):
                part = np.ascontiguousarray(Zc[:, block])
                # part.T is Fortran-ordered: syrk reads it in place; C += partᵀ part (upper)
                grams[i] = syrk(1.0, part.T, beta=1.0, c=grams[i], overwrite_c=True)
        eigen = []
        for i in range(len(grams)):
            S, grams[i] = grams[i], None
            e, V = scipy.linalg.eigh(S, lower=False, driver="evd", overwrite_a=True,
                                     check_finite=False)
            del S
            eigen.append((np.maximum(e.astype(np.float64), 0), V))
        return eigen

    def gram_product(self, P):
        """``Zᵀ Z P`` through the rows (P float64, returned float64): see :func:`gram_products`."""
        return gram_products([self], P, np.zeros(P.shape[1], dtype=np.intp))


def gram_products(parts: list[StandardizedRows], P, owner) -> np.ndarray:
    """``Z_pᵀ Z_p P[:, j]`` for every column j, ``p = owner[j]``: one pass over X's rows
    for the training sets ``parts`` of one X together (P float64, returned float64).

    ``Z = (X_T - 1 μᵀ) D⁻¹`` is never formed: with ``Q = D⁻¹ P`` and
    ``c = μᵀ Q``, ``Z P = X_T Q - 1 cᵀ`` and ``Zᵀ U = D⁻¹ (X_Tᵀ U - μ 1ᵀ U)``.
    X is read in contiguous slices of rows (views: no copy), and a row outside
    a part gets ``U = 0`` in that part's columns. A slice costs two products,
    whatever the number of parts: on 50,000 x 38,400 float32 rows a product
    with 120 columns takes 1.3 times as long as with 40, so the folds of a
    search are solved together.
    """
    X = parts[0].X
    used = np.unique(owner)
    columns = [owner == p for p in used]
    Q = np.empty(P.shape, dtype=X.dtype)
    shift = np.empty(P.shape[1], dtype=X.dtype)
    for p, cols in zip(used, columns, strict=True):
        Qp = P[:, cols] / parts[p].scale[:, None]
        shift[cols] = parts[p].mean @ Qp
        Q[:, cols] = Qp
    first = min(int(parts[p].rows[0]) for p in used)
    last = max(int(parts[p].rows[-1]) for p in used) + 1
    out = np.zeros_like(P)
    column_sums = np.zeros(P.shape[1])
    for start in range(first, last, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, last)
        part = X[start:stop]
        U = part @ Q
        U -= shift
        for p, cols in zip(used, columns, strict=True):
            outside = ~parts[p].inside[start:stop]
            if outside.any():
                U[np.ix_(outside, cols)] = 0
        out += part.T @ U
        column_sums += U.sum(axis=0, dtype=np.float64)
    for p, cols in zip(used, columns, strict=True):
        out[:, cols] -= np.outer(parts[p].mean, column_sums[cols])
        out[:, cols] /= parts[p].scale[:, None]
    return out


def _precondition(eigens, blocks, R, shifts, owner):
    """``(S_b + λ_j I)⁻¹ r_j`` block by block, column j with its own shift and the
    preconditioner of its part ``owner[j]``; parts that share a block's eigenvectors
    (the folds of a search, scaled eigenvalues) share its two products, which cost
    little more for all columns than for a third of them."""
    out = np.empty_like(R)
    used = np.unique(owner)
    for b, block in enumerate(blocks):
        sharing: dict = {}                      # id(V) -> the parts whose block b is V
        for p in used:
            sharing.setdefault(id(eigens[p][b][1]), []).append(p)
        for parts in sharing.values():
            V = eigens[parts[0]][b][1]
            cols = np.isin(owner, parts)
            Q = (V.T @ R[block][:, cols].astype(V.dtype)).astype(np.float64)
            for p in parts:
                mine = owner[cols] == p
                Q[:, mine] /= eigens[p][b][0][:, None] + shifts[cols][mine][None, :]
            out[block.start:block.stop, cols] = V @ Q.astype(V.dtype)
    return out


def ridge_columns(data: StandardizedRows, lambdas, eigen=None, start=None, tol=None,
                  max_iter=None):
    """Standardized ridge weights for every λ, shape (d, L * K): λ-major columns.

    ``eigen``: the blocks' ``(e_b, V_b)`` when already computed (a fold solves
    several groups of λ with one preconditioner); ``start``: a first iterate
    for every λ's K columns (d, K), the solution of a neighbouring λ. See
    :func:`joint_ridge_columns`, which solves several training sets at once.
    """
    if eigen is None:
        eigen = data.block_eigen(feature_blocks(data.b.shape[0]))
    return joint_ridge_columns([data], lambdas, [eigen], [start], tol, max_iter)[0]


def joint_ridge_columns(parts: list[StandardizedRows], lambdas, eigens: list, starts=None,
                        tol=None, max_iter=None) -> list[np.ndarray]:
    """:func:`ridge_columns` for several training sets of one X (the folds of a search)
    at once: one (d, L * K) array per part, each product passing over X's rows once for
    all of them (:func:`gram_products`).

    ``eigens``: each part's preconditioner (its blocks' ``(e_b, V_b)``);
    ``starts``: each part's first iterate (d, K) or None. The columns are
    independent conjugate-gradient runs that share only the products. Columns
    still above the tolerance after ``max_iter`` iterations (small λ on
    ill-conditioned features) keep their last iterate, with a
    ``ConvergenceWarning`` naming the λ values concerned.
    """
    max_iter = MAX_ITER if max_iter is None else max_iter
    lambdas = np.asarray(lambdas, dtype=np.float64)
    starts = [None] * len(parts) if starts is None else starts
    n_targets = parts[0].b.shape[1]
    width = len(lambdas) * n_targets
    blocks = feature_blocks(parts[0].b.shape[0])
    tol = _tolerance(parts[0].X.dtype) if tol is None else tol
    B = np.hstack([np.tile(part.b, len(lambdas)) for part in parts])      # (d, P*L*K)
    owner = np.repeat(np.arange(len(parts)), width)
    shifts = np.tile(np.repeat(lambdas, n_targets), len(parts))
    norms = np.linalg.norm(B, axis=0)
    W = np.hstack([np.zeros((B.shape[0], width)) if start is None
                   else np.tile(start, len(lambdas)) for start in starts])
    R = B.copy()
    if any(start is not None for start in starts):
        R -= gram_products(parts, W, owner) + shifts * W
    active = np.flatnonzero(norms > 0)  # a zero right-hand side is solved by w = 0
    W[:, norms == 0] = 0
    norms[norms == 0] = 1

    Zr = _precondition(eigens, blocks, R[:, active], shifts[active], owner[active])
    P = Zr.copy()
    rz = np.einsum("ij,ij->j", R[:, active], Zr)
    for _ in range(max_iter if len(active) else 0):
        AP = gram_products(parts, P, owner[active]) + shifts[active] * P
        step = rz / np.einsum("ij,ij->j", P, AP)
        W[:, active] += step * P
        R[:, active] -= step * AP
        residual = np.linalg.norm(R[:, active], axis=0) / norms[active]
        keep = residual > tol
        active, P, rz = active[keep], P[:, keep], rz[keep]
        if not len(active):
            break
        Zr = _precondition(eigens, blocks, R[:, active], shifts[active], owner[active])
        rz_new = np.einsum("ij,ij->j", R[:, active], Zr)
        P = Zr + (rz_new / rz) * P
        rz = rz_new
    if len(active):
        slow = np.unique(shifts[active])
        warnings.warn(ConvergenceWarning(
            f"Ridge by conjugate gradients: {len(slow)} of {len(lambdas)} λ values "
            f"(up to {slow.max():g}) not converged to {tol:g} after {max_iter} iterations; "
            "their scores are approximate. A grid of larger λ values converges faster."),
            stacklevel=3)
    return [W[:, p * width:(p + 1) * width] for p in range(len(parts))]
