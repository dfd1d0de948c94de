"""The input checks of the trust estimators: probability matrices and class indices.

Shared by :mod:`~l2vision.trust.calibration` and :mod:`~l2vision.trust.conformal`
so that both refuse the same inputs with the same words.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_labels", "check_proba"]


def check_labels(y, n_samples: int, n_classes: int) -> np.ndarray:
    """Class indices in [0, n_classes) as an intp vector of length n_samples, or ValueError.

    Examples
    --------
    >>> check_labels([0, 2], 2, 3)
    array([0, 2])
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(f"y must be a vector of {n_samples} class indices (one per row of "
                         f"the scores); got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class indices 0..{n_classes - 1}; got dtype "
                         f"{y.dtype}. Encode labels with numpy.unique(labels, "
                         "return_inverse=True).")
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"y must hold class indices in [0, {n_classes - 1}] (the score "
                         f"columns); got {y[i]} at row {i}.")
    return y.astype(np.intp)


def check_proba(proba, n_classes: int | None = None, fitted_by: str = "") -> np.ndarray:
    """A (n, K) probability matrix (rows summing to 1), float32 kept, else float64.

    ``n_classes``: the K a fitted estimator (named ``fitted_by``) expects.

    Examples
    --------
    >>> check_proba([[0.25, 0.75]]).dtype
    dtype('float64')
    """
    p = np.asarray(proba)
    p = p if p.dtype == np.float32 else p.astype(np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] == 0:
        raise ValueError("proba must have shape (n_samples, n_classes) with n_classes >= 2; "
                         f"got shape {p.shape}.")
    if n_classes is not None and p.shape[1] != n_classes:
        raise ValueError(f"proba has {p.shape[1]} columns but {fitted_by} was fitted with "
                         f"{n_classes} classes.")
    sums = p.sum(axis=1)
    bad = ~np.isfinite(sums) | (np.abs(sums - 1) > 1e-4) | (p.min(axis=1) < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError("proba must hold probabilities (values in [0, 1], rows summing to "
                         f"1); row {i} sums to {sums[i]:.6g}. Pass predict_proba's output "
                         "or TemperatureScaling.predict_proba(decision values).")
    return p
