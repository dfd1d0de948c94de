"""Out-of-distribution score on feature vectors, and the threshold that flags ``unknown``.

:class:`OODDetector` learns what the training images' features look like and
scores new feature vectors (higher = more unusual). Its threshold is set on
held-out (cross-fitted) training features so that a chosen fraction of
in-distribution images, 95% by default, is accepted.

Everything here works on feature matrices (NumPy in, NumPy out) and imports
nothing from l2vision.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

__all__ = ["AUTO_VALUES", "OODDetector"]

#: Values (rows x features) of the float32 copy ``max_samples="auto"`` allows: 1 GiB.
AUTO_VALUES = 2**28

#: Rows standardized at a time outside that copy (bounds the temporaries).
_CHUNK_BYTES = 1 << 23

_METHODS = ("mahalanobis", "knn")


class OODDetector(BaseEstimator):
    """Flag images unlike the training set: a Mahalanobis or k-NN distance on features.

    Parameters
    ----------
    method : {"mahalanobis", "knn"}, default="mahalanobis"
        "mahalanobis": the smallest distance to a class mean under a shared
        covariance, estimated as low rank plus isotropic noise (see Notes).
        "knn": the distance to the k-th nearest of a subsample of the training
        features, all L2-normalized.
    n_components : int, default=64
        "mahalanobis": the rank r of the covariance's principal part (capped
        at n_features - 1 and n_samples - n_classes - 1).
    n_neighbors : int, default=1
        "knn": k.
    max_reference : int, default=1000
        "knn": at most this many training rows are kept as references (a seeded
        random subsample): the state is max_reference x n_features floats.
    accept : float, default=0.95
        The fraction of held-out in-distribution images the threshold accepts,
        in (0, 1).
    cv : int, default=5
        Folds of the cross-fitting that gives held-out scores for the threshold (>= 2).
    max_samples : "auto" or int, default="auto"
        "mahalanobis": at most this many rows (a seeded random subsample)
        give the principal directions and the noise level; the standardization
        and the class means always come from all rows, a few megabytes of rows
        at a time.
        "auto": all rows while their float32 copy fits in 1 GiB
        (:data:`AUTO_VALUES` values), else as many as fit: at 50,000 x
        38,400 k-means features the copy of all rows was 7.7 GB beside X.
    random_state : int, default=0
        Seed of the folds, the randomized SVD and the subsamples.

    Attributes
    ----------
    threshold_ : float
        Scores above it are out of distribution.
    n_features_in_ : int
        The feature count seen in ``fit``.
    mean_, scale_ : ndarray of shape (n_features,)
        "mahalanobis": the standardization (a constant feature gets scale 1).
    class_means_ : ndarray of shape (n_classes, n_features), float32
        "mahalanobis": class means of the standardized features (one row when
        ``fit`` gets no y).
    components_ : ndarray of shape (n_components_, n_features), float32
        "mahalanobis": the principal directions v_j of the within-class covariance.
    explained_variance_ : ndarray of shape (n_components_,)
        "mahalanobis": their eigenvalues lambda_j.
    noise_variance_ : float
        "mahalanobis": the mean of the covariance's other eigenvalues.
    n_components_ : int
        "mahalanobis": r after capping.
    reference_ : ndarray of shape (n_reference, n_features), float32
        "knn": the L2-normalized reference rows.

    Notes
    -----
    **mahalanobis** (Lee et al., 2018, with a probabilistic-PCA covariance).
    On standardized features z, class means :math:`\\mu_c` and the pooled
    within-class covariance, whose top r eigenpairs are :math:`(\\lambda_j,
    v_j)` and whose other eigenvalues average :math:`\\sigma^2`, the covariance
    is modelled as :math:`\\Sigma = V \\Lambda V^T + \\sigma^2 (I - V V^T)`
    (Tipping & Bishop, 1999), and

    .. math:: s(z) = \\min_c\\, (z - \\mu_c)^T \\Sigma^{-1} (z - \\mu_c)
              = \\min_c \\sum_j \\Big(\\frac{1}{\\lambda_j} - \\frac{1}{\\sigma^2}\\Big)
              (v_j^T (z - \\mu_c))^2 + \\frac{\\lVert z - \\mu_c \\rVert^2}{\\sigma^2}.

    Its part outside the principal subspace, :math:`(\\lVert \\delta \\rVert^2 -
    \\lVert V^T \\delta \\rVert^2) / \\sigma^2` (the residual of ViM, Wang et al.,
    2022), is what separates most far-away images; Mahalanobis in a PCA space
    drops it. Scoring costs d(r + K) multiply-adds per image (float32
    products); the state is d(r + K) float32 and 2d float64 values.

    **knn** (Sun et al., 2022): :math:`s(x) = \\lVert \\hat x - \\hat x_{(k)}
    \\rVert` with :math:`\\hat x = x / \\lVert x \\rVert` and
    :math:`\\hat x_{(k)}` the k-th nearest reference; m references cost m d
    per image and m d float32 values of state.

    **Threshold.** The training rows are split into ``cv`` folds; each fold is
    scored by a detector fitted on the others, and ``threshold_`` is the
    :math:`\\lceil (n+1) \\cdot accept \\rceil`-th smallest of these n
    held-out scores, so a new in-distribution image is accepted with
    probability about ``accept`` (slightly more: the final fit uses all rows).

    **Measured** (``benchmarks/ood.py``, ``benchmarks/results/ood.json``;
    AUROC, OOD positive). Fit on clothing10 train (1,435) or 5,000 CIFAR-10
    training images; held-out in-distribution: clothing10 val or 2,000
    CIFAR-10 test images. "near": unseen classes of the same set (8 of 10
    clothing10 classes, 6 of 10 CIFAR-10; mean of 5 splits).

    ============================  ============  ============  ======  ======
    features, in -> out           mahalanobis   PCA-Mahal.    knn     knn
                                  (r=64)        (r=128)       k=1     k=5
    ============================  ============  ============  ======  ======
    photo, clothing10 -> CIFAR    1.000         0.968         1.000   1.000
    photo, CIFAR -> clothing10    1.000         1.000         1.000   1.000
    photo, near clothing10        0.721         0.719         0.754   0.729
    photo, near CIFAR-10          0.699         0.674         0.737   0.740
    hog,color, clothing10->CIFAR  0.886         0.765         0.816   0.759
    hog,color, CIFAR->clothing10  0.639         0.704         0.689   0.698
    ============================  ============  ============  ======  ======

    The default is "mahalanobis": it meets the target (AUROC >= 0.95 with the
    photo recipe, 1.000 on both far pairs; FPR at 95% TPR 0.000), beats
    Mahalanobis in a PCA space (no residual term) and k-NN on hand-crafted
    clothing10 -> CIFAR, and its state (0.75 MB for hog,color, 1.3 MB for
    photo) and cost (0.02-0.07 ms per image, a few percent of even the
    hog,color pipeline's time) do not grow with the training set. k-NN
    (1,000 references) is better on unseen classes of the same domain (+0.03
    to +0.09 AUROC) but keeps 10-17 MB (40-60 times the linear model) and
    costs m d per image. No method recognises unseen classes of the same
    domain well (AUROC 0.70-0.76): ``unknown`` flags images unlike the
    training set, not new classes of the same kind.

    References
    ----------
    .. [1] Lee, K., Lee, K., Lee, H. and Shin, J. (2018). A Simple Unified
           Framework for Detecting Out-of-Distribution Samples and Adversarial
           Attacks. NeurIPS 2018. arXiv:1807.03888.
    .. [2] Tipping, M. E. and Bishop, C. M. (1999). Probabilistic Principal
           Component Analysis. JRSS B 61(3):611-622. doi:10.1111/1467-9868.00196.
    .. [3] Wang, H., Li, Z., Feng, L. and Zhang, W. (2022). ViM:
           Out-Of-Distribution with Virtual-logit Matching. CVPR 2022.
           arXiv:2203.10807.
    .. [4] Sun, Y., Ming, Y., Zhu, X. and Li, Y. (2022). Out-of-Distribution
           Detection with Deep Nearest Neighbors. ICML 2022. arXiv:2204.06507.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(600, 20)), rng.integers(0, 3, 600)
    >>> ood = OODDetector(n_components=5).fit(X, y)
    >>> ood.predict(np.vstack([rng.normal(size=(1, 20)), 6 + rng.normal(size=(1, 20))]))
    array([False,  True])
    """

    def __init__(self, method: str = "mahalanobis", *, n_components: int = 64,
                 n_neighbors: int = 1, max_reference: int = 1000, accept: float = 0.95,
                 cv: int = 5, max_samples="auto", random_state: int = 0):
        self.method = method
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.max_reference = max_reference
        self.accept = accept
        self.cv = cv
        self.max_samples = max_samples
        self.random_state = random_state

    def __setstate__(self, state):
        # Detectors saved before ``max_samples`` existed fitted on all rows.
        state.setdefault("max_samples", "auto")
        super().__setstate__(state)

    def _check_params(self) -> None:
        """Raise ValueError, in scikit-learn's message shape, on a bad parameter."""
        def is_int(v, low):
            return isinstance(v, Integral) and not isinstance(v, bool) and v >= low
        checks = [
            ("method", "a str among {'mahalanobis', 'knn'}", self.method in _METHODS),
            ("n_components", "an int >= 1", is_int(self.n_components, 1)),
            ("n_neighbors", "an int >= 1", is_int(self.n_neighbors, 1)),
            ("max_reference", "an int >= 1", is_int(self.max_reference, 1)),
            ("accept", "a float in (0, 1)", isinstance(self.accept, Real)
             and not isinstance(self.accept, bool) and 0 < self.accept < 1),
            ("cv", "an int >= 2", is_int(self.cv, 2)),
            ("max_samples", "'auto' or an int >= 2",
             self.max_samples == "auto" or is_int(self.max_samples, 2)),
            ("random_state", "an int >= 0", is_int(self.random_state, 0)),
        ]
        for name, allowed, ok in checks:
            if not ok:
                raise ValueError(f"The {name!r} parameter of {type(self).__name__} must be "
                                 f"{allowed}. Got {getattr(self, name)!r}.")

    def fit(self, X, y=None):
        """Fit the score on in-distribution features and set ``threshold_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features (as extracted, before any standardization).
        y : array-like of shape (n_samples,), default=None
            Class labels; "mahalanobis" uses one mean per class (one mean in
            all when None), "knn" ignores them.

        Returns
        -------
        self : OODDetector

        Raises
        ------
        ValueError
            A bad parameter, a non-2-D or non-finite X, a y of the wrong
            length, or fewer rows than folds and neighbours need.
        """
        X, y, held_out = self._held_out(X, y)
        for name, value in self._fit_state(X, y, np.arange(len(X))).items():
            setattr(self, name, value)
        rank = min(math.ceil((len(X) + 1) * self.accept - 1e-9), len(X))
        self.threshold_ = float(np.partition(held_out, rank - 1)[rank - 1])
        return self

    def held_out_scores(self, X, y=None) -> np.ndarray:
        """Each row's score under a detector fitted on the other folds (``cv`` of them).

        What ``fit`` sets its threshold from; also how unusual each training
        image is among the others (``l2vision audit``'s ``outlier``), without
        the bias of scoring a row with a detector that saw it. Leaves the
        detector unfitted.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        return self._held_out(X, y)[2]

    def _held_out(self, X, y):
        """``(X, y as class indices, held-out scores)``, the inputs checked."""
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        y = np.zeros(len(X), dtype=np.intp) if y is None else np.asarray(y)
        if y.shape != (len(X),):
            raise ValueError(f"y must be a vector of {len(X)} labels (one per row of X); got "
                             f"shape {y.shape}.")
        y = np.unique(y, return_inverse=True)[1]
        if len(X) < 2 * self.cv or (self.method == "knn" and len(X) < 2 * self.n_neighbors):
            raise ValueError(f"OODDetector needs at least {2 * self.cv} training rows for "
                             f"cv={self.cv} (and 2 x n_neighbors for knn); got n_samples={len(X)}.")
        held_out = np.empty(len(X))
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
        for inside, outside in folds.split(X):
            held_out[outside] = self._score(self._fit_state(X, y, inside), X, outside)
        return X, y, held_out

    def _fit_state(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> dict:
        """The fitted attributes of ``self.method`` from the rows ``rows`` of X (labels
        ``y``, class indices of all of X's rows) as a dict; X is never copied whole."""
        rng = np.random.default_rng(self.random_state)
        if self.method == "knn":
            keep = rng.permutation(len(rows))
            return {"reference_": _normalize(X[rows[np.sort(keep[: self.max_reference])]])}
        mean, scale = _column_moments(X, rows)
        scale[scale <= 1e-12 * max(scale.max(), 1e-300)] = 1.0
        n_classes = int(y.max()) + 1
        means = _class_means(X, y, rows, n_classes, mean, scale)
        class_means = means.astype(np.float32)
        # A class with no row among ``rows`` (a rare class missing from a fold) has no mean.
        present = np.bincount(y[rows], minlength=n_classes) > 0
        # The principal directions from at most max_samples rows, in one float32 copy
        # (within-class residuals of the standardized rows); all of them when they fit.
        limit = self._sample_limit(X.shape[1])
        sample = rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))
        Z = np.empty((len(sample), X.shape[1]), dtype=np.float32)
        for part in _chunks(np.arange(len(sample)), X.shape[1]):
            Z[part] = _standardized(X, sample[part], mean, scale)
            Z[part] -= class_means[y[sample[part]]]
        d = X.shape[1]
        r = max(1, min(self.n_components, d - 1, len(sample) - n_classes - 1))
        _, s, vt = randomized_svd(Z, r, n_iter=4, random_state=self.random_state)
        eig = s.astype(np.float64) ** 2 / len(sample)
        total = float(np.einsum("ij,ij->", Z, Z, dtype=np.float64)) / len(sample)
        del Z
        noise = max((total - eig.sum()) / (d - r), 1e-6 * total / d, 1e-300)
        eig = np.maximum(eig, noise)               # a degenerate direction counts as noise
        return {"mean_": mean, "scale_": scale, "class_means_": class_means[present],
                "components_": vt.astype(np.float32), "explained_variance_": eig,
                "noise_variance_": float(noise), "n_components_": r}

    def _sample_limit(self, n_features: int) -> int:
        """The rows the principal directions are estimated from, at most (``max_samples``)."""
        if self.max_samples == "auto":
            return max(AUTO_VALUES // n_features, 2)
        return self.max_samples

    def _score(self, state: dict, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Scores of the rows ``rows`` of X (default: all) under a state dict (a fold's,
        or the fitted attributes), a few megabytes of rows at a time."""
        rows = np.arange(len(X)) if rows is None else rows
        scores = np.empty(len(rows))
        for part in _chunks(np.arange(len(rows)), X.shape[1]):
            scores[part] = self._score_rows(state, X[rows[part]])
        return scores

    def _score_rows(self, state: dict, X: np.ndarray) -> np.ndarray:
        """:meth:`_score` of a few rows."""
        if self.method == "knn":
            similarity = _normalize(X) @ state["reference_"].T
            k = min(self.n_neighbors, similarity.shape[1])
            kth = -np.partition(-similarity, k - 1, axis=1)[:, k - 1]
            return np.sqrt(np.maximum(2 - 2 * kth.astype(np.float64), 0))
        # float32 products (half the time of float64), float64 sums: |a - b|^2 = |a|^2 -
        # 2ab + |b|^2, weighted by w in the principal subspace
        Z = _standardized(X, slice(None), state["mean_"], state["scale_"])
        means, comps, noise = state["class_means_"], state["components_"], \
            state["noise_variance_"]
        w = 1 / state["explained_variance_"] - 1 / noise    # <= 0: lambda_j >= sigma^2
        P = (Z @ comps.T).astype(np.float64)
        Pm = means.astype(np.float64) @ comps.T.astype(np.float64)
        inside = (P * P) @ w[:, None] - 2 * (P * w) @ Pm.T + ((Pm * Pm) @ w)[None]
        outside = (np.einsum("ij,ij->i", Z, Z).astype(np.float64)[:, None]
                   - 2 * (Z @ means.T) + np.square(means, dtype=np.float64).sum(1)[None])
        return np.maximum(np.min(inside + outside / noise, axis=1), 0)

    def ood_score(self, X) -> np.ndarray:
        """Out-of-distribution scores of shape (n_samples,): higher is more unusual."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        state = {name: getattr(self, name) for name in vars(self) if name.endswith("_")}
        return self._score(state, X)

    def predict(self, X) -> np.ndarray:
        """Boolean (n_samples,): True where the image is out of distribution (unknown)."""
        return self.ood_score(X) > self.threshold_


def _chunks(rows: np.ndarray, n_features: int):
    """``rows`` in consecutive pieces of about ``_CHUNK_BYTES`` of float64 values."""
    step = max(1, _CHUNK_BYTES // (8 * max(n_features, 1)))
    for start in range(0, len(rows), step):
        yield rows[start:start + step]


def _standardized(X: np.ndarray, rows, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(X[rows] - mean) / scale`` in float32."""
    Z = np.asarray(X[rows], dtype=np.float32) - mean.astype(np.float32)
    Z *= (1 / scale).astype(np.float32)
    return Z


def _column_moments(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation over the rows ``rows``, in float64, a
    few megabytes of rows at a time: ``X.std(dtype=np.float64)`` would hold a float64
    copy of X (15 GB at 50,000 x 38,400)."""
    total = np.zeros(X.shape[1])
    for part in _chunks(rows, X.shape[1]):
        total += X[part].sum(axis=0, dtype=np.float64)
    mean = total / len(rows)
    squares = np.zeros(X.shape[1])
    for part in _chunks(rows, X.shape[1]):
        centered = X[part] - mean
        squares += np.einsum("ij,ij->j", centered, centered)
    return mean, np.sqrt(squares / len(rows))


def _class_means(X, y, rows, n_classes: int, mean, scale) -> np.ndarray:
    """Each class's mean of the standardized rows ``rows`` (n_classes, n_features), float64
    (a class without rows there gets the standardized origin: leave it out)."""
    sums = np.zeros((n_classes, X.shape[1]))
    for part in _chunks(rows, X.shape[1]):
        # class by class (np.add.at took 44 ms per 27-row chunk at 38,400 features,
        # 15 times this, and a one-hot matrix is chunk x classes)
        chunk, labels = X[part], y[part]
        for c in np.unique(labels):
            sums[c] += chunk[labels == c].sum(axis=0, dtype=np.float64)
    counts = np.bincount(y[rows], minlength=n_classes)
    return (sums / np.maximum(counts, 1)[:, None] - mean) / scale


def _normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 (a zero row stays zero)."""
    X = check_array(X, dtype=[np.float32, np.float64]).astype(np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
