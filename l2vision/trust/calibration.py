"""Temperature scaling of decision values, and how well probabilities are calibrated.

:class:`TemperatureScaling` turns a linear model's decision values into
probabilities with one fitted temperature (Guo et al., 2017): the argmax is
unchanged, only the confidence moves. :func:`calibration_metrics` and
:func:`reliability_diagram` measure the result on held-out labels.

Everything here works on score matrices (NumPy in, NumPy out) and imports
nothing from l2vision.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from l2vision.trust.checks import check_labels, check_proba

__all__ = ["TemperatureScaling", "calibration_metrics", "decision_to_logits",
           "fit_temperature", "reliability_diagram", "top_label_ece"]

_LOG_T_BOUNDS = (-10.0, 10.0)   # T in [4.5e-5, 2.2e4]: ridge decision values need T << 1


def decision_to_logits(decision) -> np.ndarray:
    """Logits of shape (n, K) from decision values; a binary decision vector gets two columns.

    Parameters
    ----------
    decision : array-like of shape (n_samples,) or (n_samples, n_classes)
        A linear model's ``decision_function``. A binary vector ``d`` becomes
        ``[-d/2, d/2]``, whose softmax ``[1 - sigmoid(d), sigmoid(d)]`` is the
        logistic model's ``predict_proba`` at T = 1.

    Returns
    -------
    logits : ndarray of shape (n_samples, n_classes), float64

    Raises
    ------
    ValueError
        Not 1-D or 2-D, fewer than two columns, no rows, or a non-finite value.

    Examples
    --------
    >>> decision_to_logits([2.0, -1.0])
    array([[-1. ,  1. ],
           [ 0.5, -0.5]])
    """
    z = np.asarray(decision, dtype=np.float64)
    if z.ndim == 1:
        z = np.column_stack([-z / 2, z / 2])
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] == 0:
        raise ValueError("The decision values must have shape (n_samples,) (binary) or "
                         "(n_samples, n_classes) with n_classes >= 2 and n_samples >= 1; "
                         f"got shape {np.shape(decision)}.")
    if not np.isfinite(z).all():
        raise ValueError("The decision values hold NaN or infinity "
                         f"(row {int(np.argwhere(~np.isfinite(z))[0, 0])}).")
    return z


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of softmax(logits / temperature)."""
    z = logits / temperature
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(y)), y]))


def fit_temperature(logits, y) -> float:
    """The temperature T > 0 minimizing the NLL of ``softmax(logits / T)`` on labels ``y``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes) or (n_samples,)
        Decision values held out from the model's training (a vector: binary,
        see :func:`decision_to_logits`).
    y : array-like of shape (n_samples,)
        Integer class indices 0..K-1 (the columns of ``logits``).

    Returns
    -------
    temperature : float

    Raises
    ------
    ValueError
        Bad shapes, non-finite values, or labels out of range.

    Warns
    -----
    UserWarning
        Every true class is ranked first, or T is at the edge of [e^-10, e^10]:
        the NLL has no useful minimum.

    See Also
    --------
    TemperatureScaling : The class over this function; the maths and references.

    Examples
    --------
    >>> decision = [3.0, -1.0, 2.0, -2.0, 0.5]    # binary: one wrong sign of five
    >>> round(fit_temperature(decision, [1, 0, 1, 1, 1]), 2)
    1.75
    """
    z = decision_to_logits(logits)
    y = check_labels(y, len(z), z.shape[1])
    result = minimize_scalar(lambda log_t: _nll(z, y, np.exp(log_t)), bounds=_LOG_T_BOUNDS,
                             method="bounded", options={"xatol": 1e-10})
    rows = np.arange(len(y))
    others = np.where(np.eye(z.shape[1], dtype=bool)[y], -np.inf, z).max(axis=1)
    if np.all(z[rows, y] > others) or min(abs(result.x - b) for b in _LOG_T_BOUNDS) < 1e-3:
        warnings.warn(f"The temperature is unreliable (T = {np.exp(result.x):.3g}): the "
                      "calibration scores rank every true class first, or carry no "
                      "information. Calibrate on held-out (out-of-fold) decision values, "
                      "not on the training fit.", UserWarning, stacklevel=2)
    return float(np.exp(result.x))


class TemperatureScaling(BaseEstimator):
    """Calibrate decision values with one temperature: ``softmax(logits / T)``.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature T > 0. T > 1 softens over-confident scores, T < 1
        sharpens under-confident ones (ridge decision values, which lie near
        [-1, 1], get T well below 1).
    n_classes_ : int
        K, the number of columns of the logits (2 for a decision vector).
    nll_ : float
        The mean negative log-likelihood at ``temperature_`` on the fitting data.

    See Also
    --------
    fit_temperature : The function doing the work.
    calibration_metrics : ECE, NLL and Brier score of the probabilities.

    Notes
    -----
    With logits :math:`z_i \\in \\mathbb{R}^K` and labels :math:`y_i`, the
    temperature minimizes the negative log-likelihood

    .. math:: \\mathrm{NLL}(T) = \\frac{1}{n} \\sum_i \\Big( \\log \\sum_k
              e^{z_{ik}/T} - z_{i y_i}/T \\Big),

    a convex function of :math:`1/T`; we minimize it over :math:`\\log T \\in
    [-10, 10]` with SciPy's bounded Brent search (``xatol=1e-10``). Dividing
    by T > 0 keeps the order of each row, so the argmax (the predicted class)
    is unchanged. Fit on scores the model did not train on: out-of-fold
    decision values or a held-out calibration set.

    A binary decision vector d becomes the logits [-d/2, d/2], so T = 1 gives
    the logistic model's probabilities. scikit-learn's
    ``CalibratedClassifierCV(method="temperature")`` uses [-d, d]: its
    temperature is twice ours, its probabilities equal (tested to 1e-6).

    References
    ----------
    .. [1] Guo, C., Pleiss, G., Sun, Y. and Weinberger, K. Q. (2017). On
           Calibration of Modern Neural Networks. ICML 2017, PMLR 70:1321-1330.
           arXiv:1706.04599.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 500)
    >>> logits = 10 * (np.eye(3)[y] + rng.normal(0, 0.6, (500, 3)))  # over-confident
    >>> ts = TemperatureScaling().fit(logits, y)
    >>> ts.temperature_ > 1, ts.predict_proba(logits).shape
    (True, (500, 3))
    """

    def fit(self, logits, y):
        """Fit the temperature on held-out logits and labels (see :func:`fit_temperature`).

        Returns
        -------
        self : TemperatureScaling
        """
        z = decision_to_logits(logits)
        y = check_labels(y, len(z), z.shape[1])
        self.temperature_ = fit_temperature(z, y)
        self.n_classes_ = z.shape[1]
        self.nll_ = _nll(z, y, self.temperature_)
        return self

    def predict_proba(self, logits) -> np.ndarray:
        """Calibrated probabilities ``softmax(logits / temperature_)``, shape (n, K)."""
        check_is_fitted(self)
        z = decision_to_logits(logits)
        if z.shape[1] != self.n_classes_:
            raise ValueError(f"logits has {z.shape[1]} columns but TemperatureScaling was "
                             f"fitted with {self.n_classes_} classes.")
        return softmax(z / self.temperature_, axis=1)


def reliability_diagram(proba, y, *, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin confidence, accuracy and count of the top-label confidence.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Probabilities (rows summing to 1).
    y : array-like of shape (n_samples,)
        True class indices 0..K-1.
    n_bins : int, default=15
        Equal-width bins (i/B, (i+1)/B] of the confidence max_k p_k.

    Returns
    -------
    diagram : dict of ndarray
        ``"edges"`` (n_bins + 1,); ``"confidence"`` and ``"accuracy"``
        (n_bins,), the mean confidence and the fraction of correct top labels
        in each bin (NaN where a bin is empty); ``"count"`` (n_bins,) ints.

    Examples
    --------
    >>> proba = [[0.9, 0.1], [0.75, 0.25], [0.45, 0.55]]
    >>> reliability_diagram(proba, [0, 1, 1], n_bins=5)["accuracy"]
    array([nan, nan,  1.,  0.,  1.])
    """
    p = check_proba(proba)
    y = check_labels(y, len(p), p.shape[1])
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"The 'n_bins' parameter of reliability_diagram must be an int >= 1. "
                         f"Got {n_bins!r}.")
    confidence = p.max(axis=1).astype(np.float64)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.intp) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(bins, confidence, minlength=n_bins) / count
        acc = np.bincount(bins, correct, minlength=n_bins) / count
    return {"edges": np.linspace(0.0, 1.0, n_bins + 1), "confidence": conf,
            "accuracy": acc, "count": count}


def top_label_ece(confidence, correct, *, n_bins: int = 15) -> float:
    """The ECE from each image's top-class probability and whether that class was right.

    The same bins as :func:`reliability_diagram` (and so as
    :func:`calibration_metrics`' ``"ece"``), for callers that keep only the
    top label and its probability (the λ study, over many models at once).

    Examples
    --------
    >>> round(top_label_ece([0.9, 0.8], [True, True]), 3)
    0.15
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.ndim != 1 or confidence.shape != correct.shape or not len(confidence):
        raise ValueError("confidence and correct must be vectors of the same, non-zero length; "
                         f"got shapes {confidence.shape} and {correct.shape}.")
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.intp) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, correct, minlength=n_bins)
                 - np.bincount(bins, confidence, minlength=n_bins))
    return float(gap.sum() / len(confidence) if count.sum() else 0.0)


def calibration_metrics(proba, y, *, n_bins: int = 15) -> dict[str, float]:
    """Expected calibration error, negative log-likelihood and Brier score.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Probabilities (rows summing to 1).
    y : array-like of shape (n_samples,)
        True class indices 0..K-1.
    n_bins : int, default=15
        Equal-width confidence bins of the ECE.

    Returns
    -------
    metrics : dict of float
        ``"ece"``, ``"nll"`` and ``"brier"`` (lower is better for each).

    Raises
    ------
    ValueError
        Not a probability matrix, labels out of range or of the wrong length.

    Notes
    -----
    With confidence :math:`c_i = \\max_k p_{ik}`, bins :math:`B_b` of
    :math:`c_i` and :math:`\\mathrm{acc}(B_b)`, :math:`\\mathrm{conf}(B_b)`
    the bin's accuracy and mean confidence,

    .. math:: \\mathrm{ECE} = \\sum_b \\frac{|B_b|}{n}
              |\\mathrm{acc}(B_b) - \\mathrm{conf}(B_b)|,\\quad
              \\mathrm{NLL} = -\\frac{1}{n}\\sum_i \\log p_{i y_i},\\quad
              \\mathrm{Brier} = \\frac{1}{n}\\sum_i \\sum_k (p_{ik} - [y_i = k])^2 .

    :math:`p_{i y_i}` is clipped to [eps, 1 - eps] (eps of the dtype), as
    scikit-learn's ``log_loss`` does, so the NLL equals ``log_loss(y, proba,
    labels=range(K))``. The Brier score is the squared L2 distance to the
    one-hot label, summed over the K classes and **not** divided by K (range
    [0, 2]): it equals ``brier_score_loss(y, proba, labels=range(K),
    scale_by_half=False)``, which is that function's default for K >= 3; for
    K = 2 its default halves it.

    References
    ----------
    .. [1] Naeini, M. P., Cooper, G. and Hauskrecht, M. (2015). Obtaining Well
           Calibrated Probabilities Using Bayesian Binning. AAAI 2015.
           doi:10.1609/aaai.v29i1.9602.
    .. [2] Brier, G. W. (1950). Verification of forecasts expressed in terms of
           probability. Monthly Weather Review 78(1):1-3.
           doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2.

    Examples
    --------
    >>> m = calibration_metrics([[0.9, 0.1], [0.2, 0.8]], [0, 1])
    >>> round(m["ece"], 3), round(m["nll"], 4), round(m["brier"], 3)
    (0.15, 0.1643, 0.05)
    """
    p = check_proba(proba)
    y = check_labels(y, len(p), p.shape[1])
    diagram = reliability_diagram(p, y, n_bins=n_bins)
    filled = diagram["count"] > 0
    ece = np.sum(diagram["count"][filled] / len(p)
                 * np.abs(diagram["accuracy"][filled] - diagram["confidence"][filled]))
    eps = np.finfo(p.dtype).eps
    p_true = np.clip(p[np.arange(len(y)), y], eps, 1 - eps).astype(np.float64)
    onehot = np.eye(p.shape[1])[y]
    return {"ece": float(ece), "nll": float(-np.mean(np.log(p_true))),
            "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1)))}
