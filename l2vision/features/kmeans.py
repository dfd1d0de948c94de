"""Single-layer k-means features (Coates, Lee & Ng 2011): a dictionary learned from patches.

The recipe, for thumbnails such as CIFAR-10's 32x32 images:

1. Sample random ``p x p`` patches of the training images; normalize each
   (subtract its mean, divide by ``sqrt(variance + normalize_eps)``).
2. ZCA-whiten them: ``(x - m) W`` with ``W = V diag(1 / sqrt(e + whiten_eps)) Vᵀ``
   from the eigendecomposition ``V diag(e) Vᵀ`` of their covariance (the
   regularizer keeps ``W`` finite when the covariance is singular).
3. Learn ``K`` centroids with k-means (scikit-learn's ``MiniBatchKMeans``).
4. Encode every stride-1 patch of an image with the "triangle" activation
   ``f_k(x) = max(0, mean_j(z_j) - z_k)``, ``z_k`` the distance to centroid ``k``.
5. Sum-pool the activations over the cells of a spatial grid (the four
   quadrants by default): ``4 K`` features per image.
6. Average the features of the image and of its mirror image
   (``flip_average``): measured on CIFAR-10 (K = 1,600, ridge, λ by 3-fold
   CV), 76.54% test accuracy instead of 74.12%, for twice the encoding time
   (training on both copies instead: 76.25%).
7. Raise the pooled sums to the power ``power`` (0.5: the square root), the
   power normalization of Perronnin, Sánchez & Mensink [2]_: a sum pooled over
   many patches grows with how often a centroid fires, and the root damps the
   features that fire everywhere. Measured on CIFAR-10 (K = 1,600, ridge, λ
   by 3-fold CV on the 50,000 training images): 76.75% test accuracy (CV
   75.81%) instead of 76.30% (75.38%) with the sums themselves; power 0.25:
   76.11%.

The encoding is the cost: every patch of every image against ``K`` centroids.
It runs as one matrix product per group of images, with the squared norms
folded into the product (the patches carry a column of ones and their own
squared norm, the centroids ``-2c``, ``|c|²`` and one, so the product *is*
the squared distance), the triangle activation as ``mean - min(z, mean)``,
and the pooling as a second small matrix product. A group's distance matrix
is kept under ``max_block_mb``.

References
----------
.. [1] A. Coates, H. Lee and A. Y. Ng, "An Analysis of Single-Layer Networks in
   Unsupervised Feature Learning", AISTATS 2011.
.. [2] F. Perronnin, J. Sánchez and T. Mensink, "Improving the Fisher Kernel for
   Large-Scale Image Classification", ECCV 2010.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.cluster import MiniBatchKMeans

from l2vision._validation import (
    check_bool,
    check_int,
    check_levels,
    check_pair,
    check_real,
    invalid,
)
from l2vision.features.base import grid_cell_names, grid_cells
from l2vision.features.learned import (
    LearnedExtractor,
    check_enough,
    distinct_rows,
    run_minibatch_kmeans,
)

__all__ = ["KMeansFeatures", "from_spec"]


class KMeansFeatures(LearnedExtractor):
    """Coates–Ng single-layer network: whitened patches, k-means, triangle code, pooling.

    An extractor that learns: :meth:`fit` takes training images (the
    :class:`~l2vision.features.ImageFeatures` driver hands it a seeded random
    subset of the training set, decoded once); :meth:`transform` encodes
    images with the learned dictionary.

    Parameters
    ----------
    n_clusters : int, default=1600
        Dictionary size K; the output has ``K * n_cells`` features.
    patch_size : int, default=6
        Side of the square receptive field, in pixels of the working size.
    size : (int, int), default=(32, 32)
        Working ``(width, height)`` every image is resized to (area
        interpolation to shrink, linear to enlarge): the paper's 32x32 for
        thumbnails. Images smaller than the receptive field are enlarged to it.
    n_patches : int, default=400_000
        Random patches the whitening and the dictionary are learned from
        (the paper's figure).
    normalize_eps : float, default=10.0
        Added to each patch's variance before dividing (pixel values 0-255).
    whiten_eps : float, default=0.1
        ZCA regularizer, added to the eigenvalues of the patch covariance.
    grid : tuple of int, default=(2,)
        Pooling grids: ``(2,)`` sums over the four quadrants, ``(1, 2)`` adds
        the whole image (5 cells).
    max_iter : int, default=20
        Passes (epochs) of mini-batch k-means over the patches.
    flip_average : bool, default=True
        Average the features of each image and of its left-right mirror
        (the dictionary is learned from the images as they are).
    power : float, default=0.5
        Exponent applied to the pooled (and flip-averaged) sums: 0.5 is the
        square root (power normalization); 1 keeps the sums of the paper.
    max_block_mb : int, default=16
        Size bound of one group's distance matrix during encoding: small
        enough to stay in the processor's cache between the passes over it
        (measured here: 16 MB encodes 1.7x faster than 150 MB).
    random_state : int, default=0
        Seed of the patch sample and of k-means.

    Attributes
    ----------
    patch_mean_ : ndarray of shape (d,)
        Mean of the normalized patches (``d = 3 * patch_size²``).
    whitening_ : ndarray of shape (d, d)
        The ZCA matrix W.
    centroids_ : ndarray of shape (n_clusters, d)
        The dictionary, in whitened coordinates.
    n_patches_fit_ : int
        Patches the dictionary was learned from.
    n_features_out_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(8)]
    >>> km = KMeansFeatures(16, n_patches=2000, max_iter=2).fit(images)
    >>> km.centroids_.shape, km.transform(images[:2]).shape
    ((16, 108), (2, 64))
    """

    def __init__(self, n_clusters=1600, *, patch_size=6, size=(32, 32), n_patches=400_000,
                 normalize_eps=10.0, whiten_eps=0.1, grid=(2,), max_iter=20,
                 flip_average=True, power=0.5, max_block_mb=16, random_state=0):
        self.n_clusters = n_clusters
        self.patch_size = patch_size
        self.size = size
        self.n_patches = n_patches
        self.normalize_eps = normalize_eps
        self.whiten_eps = whiten_eps
        self.grid = grid
        self.max_iter = max_iter
        self.flip_average = flip_average
        self.power = power
        self.max_block_mb = max_block_mb
        self.random_state = random_state

    # -- the contract -----------------------------------------------------------
    def _check_params(self) -> None:
        check_int(self, "n_clusters", self.n_clusters, low=2)
        check_int(self, "patch_size", self.patch_size, low=1)
        check_pair(self, "size", self.size)
        if self.patch_size > min(self.size):
            raise invalid(self, "patch_size", f"at most the working size {tuple(self.size)}",
                          self.patch_size)
        check_int(self, "n_patches", self.n_patches, low=1)
        check_real(self, "normalize_eps", self.normalize_eps, low=0)
        check_real(self, "whiten_eps", self.whiten_eps, low=0, low_open=True)
        check_levels(self, "grid", self.grid, example="(2,)")
        check_int(self, "max_iter", self.max_iter, low=1)
        check_bool(self, "flip_average", self.flip_average)
        check_real(self, "power", self.power, low=0, low_open=True)
        check_int(self, "max_block_mb", self.max_block_mb, low=1)

    def _input_spec(self) -> tuple:
        return (tuple(self.size), "bgr")

    def _positions(self) -> tuple[int, int]:
        """Rows and columns of stride-1 patch positions."""
        width, height = self.size
        return height - self.patch_size + 1, width - self.patch_size + 1

    def _cells(self):
        return grid_cells(*self._positions(), tuple(self.grid))

    def _n_features(self) -> int:
        return len(self._cells()) * self.n_clusters

    def _feature_names(self) -> list[str]:
        return [f"{cell}_k{k}" for cell in grid_cell_names(self.grid)
                for k in range(self.n_clusters)]

    # Models saved before ``power`` existed encoded the plain sums, not the square root.
    _values_before_added = {"power": 1}

    # -- learning ---------------------------------------------------------------
    def _normalized_patches(self, windows: np.ndarray) -> np.ndarray:
        """Rows of ``windows`` (..., 3, p, p) flattened, brightness/contrast normalized, float32."""
        patches = windows.reshape(-1, int(np.prod(windows.shape[-3:]))).astype(np.float32)
        patches -= patches.mean(axis=1, keepdims=True)
        var = np.einsum("ij,ij->i", patches, patches) / max(patches.shape[1] - 1, 1)
        patches /= np.sqrt(var + np.float32(self.normalize_eps))[:, None]
        return patches

    def _fit(self, images: list[np.ndarray], y=None, progress: bool = False) -> None:
        rng = np.random.default_rng(self.random_state)
        stack = np.stack(images)                                    # (n, H, W, 3)
        n_rows, n_cols = self._positions()
        available = len(images) * n_rows * n_cols
        check_enough(self, available, self.n_clusters,
                     f"{len(images)} image(s) give {available} patches")
        take = min(self.n_patches, available)
        which = rng.integers(0, len(images), take)
        rows, cols = rng.integers(0, n_rows, take), rng.integers(0, n_cols, take)
        windows = sliding_window_view(stack, (self.patch_size, self.patch_size), axis=(1, 2))
        patches = self._normalized_patches(windows[which, rows, cols])  # (take, 3, p, p)
        distinct = distinct_rows(patches)
        check_enough(self, distinct, self.n_clusters,
                     f"only {distinct} of the {take} sampled patches are distinct "
                     "(the images are nearly uniform)")
        mean = patches.mean(axis=0, dtype=np.float64)
        cov = np.cov(patches, rowvar=False, dtype=np.float64)
        e, V = np.linalg.eigh(cov)
        whitening = (V / np.sqrt(np.maximum(e, 0) + self.whiten_eps)) @ V.T
        white = (patches - mean.astype(np.float32)) @ whitening.astype(np.float32)
        kmeans = MiniBatchKMeans(self.n_clusters, init="random", n_init=1,
                                 batch_size=max(4096, 2 * self.n_clusters),
                                 random_state=self.random_state, compute_labels=False)
        run_minibatch_kmeans(kmeans, white, self.max_iter, rng, progress,
                             f"k-means dictionary (K={self.n_clusters})")
        self.patch_mean_ = mean.astype(np.float32)
        self.whitening_ = whitening.astype(np.float32)
        self.centroids_ = kmeans.cluster_centers_.astype(np.float32)
        self.n_patches_fit_ = take

    # -- encoding ---------------------------------------------------------------
    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        out = self._encode(images)
        if self.flip_average:
            out += self._encode([image[:, ::-1] for image in images])
            out *= np.float32(0.5)
        if self.power != 1:
            np.power(out, np.float32(self.power), out=out)
        return out

    def _encode(self, images: list[np.ndarray]) -> np.ndarray:
        """Pooled triangle codes of prepared images, float32 (n, n_features)."""
        n_rows, n_cols = self._positions()
        per_image = n_rows * n_cols
        # Augmented centroids: [x, 1, |x|²] @ [-2c, |c|², 1]ᵀ = |x - c|².
        c = self.centroids_
        augmented = np.vstack([-2 * c.T, (c * c).sum(1)[None], np.ones((1, len(c)), np.float32)])
        pool = np.zeros((len(self._cells()), per_image), np.float32)
        for i, (_, rr, cc) in enumerate(self._cells()):
            pool[i].reshape(n_rows, n_cols)[rr, cc] = 1
        group = max(1, (self.max_block_mb << 20) // (per_image * self.n_clusters * 4))
        out = np.empty((len(images), self._n_features()), np.float32)
        p = self.patch_size
        for start in range(0, len(images), group):
            stack = np.stack(images[start:start + group])
            m = len(stack)
            windows = sliding_window_view(stack, (p, p), axis=(1, 2))   # (m, R, C, 3, p, p)
            patches = self._normalized_patches(windows)
            patches -= self.patch_mean_
            white = np.empty((len(patches), c.shape[1] + 2), np.float32)
            np.matmul(patches, self.whitening_, out=white[:, :-2])
            white[:, -2] = 1
            white[:, -1] = np.einsum("ij,ij->i", white[:, :-2], white[:, :-2])
            dist = white @ augmented                                     # squared distances
            np.maximum(dist, 0, out=dist)
            np.sqrt(dist, out=dist)
            mu = dist.mean(axis=1)
            # Σ_cell max(0, μ - z) = Σ_cell μ - Σ_cell min(z, μ): one pass, no temporary.
            np.minimum(dist, mu[:, None], out=dist)
            dist = dist.reshape(m, per_image, -1)
            pooled = np.matmul(pool, dist)                               # (m, cells, K)
            mu_pooled = mu.reshape(m, per_image) @ pool.T                # (m, cells)
            np.subtract(mu_pooled[:, :, None], pooled, out=pooled)
            np.maximum(pooled, 0, out=pooled)  # rounding: a sum of max(0, .) is never below 0
            out[start:start + m] = pooled.reshape(m, -1)
        return out


def from_spec(clusters: str = "1600") -> KMeansFeatures:
    """Coates–Ng k-means features learned from the training images (K=CLUSTERS, 4K values).

    6x6 patches of the image at 32x32, normalized and ZCA-whitened, a
    K-centroid dictionary (default 1,600), triangle encoding of every patch,
    sums over the four quadrants, square-rooted.
    """
    try:
        k = int(clusters)
    except ValueError:
        raise ValueError(f"CLUSTERS must be an integer; got {clusters!r}") from None
    return KMeansFeatures(k)
