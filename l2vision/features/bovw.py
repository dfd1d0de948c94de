"""Bag of visual words: dense SIFT, a k-means vocabulary, spatial-pyramid histograms or VLAD.

The classic recipe for photos of varied sizes (Lazebnik, Schmid & Ponce
2006): SIFT descriptors computed on a dense grid of keypoints at one or more
scales, a vocabulary learned by k-means on descriptors of the training images,
and each image described by

- ``encoding="hist"``: how many of its descriptors fall to each word (hard
  assignment), over the cells of a spatial pyramid (1x1 + 2x2 + 4x4 by
  default), each cell's histogram L1-normalized then square-rooted (the
  Hellinger map, which makes a linear model compare histograms as the
  Bhattacharyya kernel does);
- ``encoding="vlad"``: the sum of residuals to the nearest word, per word
  (Jégou et al. 2010), power- (signed square root) and L2-normalized.

Descriptors are RootSIFT (L1-normalized, square-rooted; Arandjelović &
Zisserman 2012). It complements :mod:`l2vision.features.kmeans`, which
targets thumbnails.

References
----------
.. [1] S. Lazebnik, C. Schmid and J. Ponce, "Beyond Bags of Features: Spatial
   Pyramid Matching for Recognizing Natural Scene Categories", CVPR 2006.
.. [2] H. Jégou, M. Douze, C. Schmid and P. Pérez, "Aggregating local
   descriptors into a compact image representation", CVPR 2010.
.. [3] R. Arandjelović and A. Zisserman, "Three things everyone should know to
   improve object retrieval", CVPR 2012.
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.cluster import MiniBatchKMeans

from l2vision._validation import (
    check_int,
    check_levels,
    check_option,
    invalid,
    spec_int,
    spec_option,
)
from l2vision.features._bovw_locate import locate_words
from l2vision.features.base import grid_cell_names
from l2vision.features.learned import (
    LearnedExtractor,
    check_enough,
    distinct_rows,
    run_minibatch_kmeans,
)

__all__ = ["BagOfVisualWords", "from_spec"]


class BagOfVisualWords(LearnedExtractor):
    """Dense RootSIFT descriptors encoded on a learned vocabulary (pyramid histograms or VLAD).

    Parameters
    ----------
    n_clusters : int, default=200
        Vocabulary size (Lazebnik et al.'s 200). ``hist`` gives
        ``n_clusters * n_cells`` features (4,200 with the default pyramid),
        ``vlad`` gives ``n_clusters * 128`` (use 16-64 words).
    encoding : {"hist", "vlad"}, default="hist"
    side : int, default=256
        Images are resized (aspect ratio kept) so that their longer side has
        this many pixels before descriptors are computed: large photos are
        shrunk, thumbnails enlarged.
    step : int, default=8
        Spacing of the dense keypoint grid, in pixels.
    scales : tuple of int, default=(16,)
        Widths in pixels of the square each descriptor's 4x4 cells cover
        (Lazebnik et al.'s 16x16 patches); one grid per scale. (OpenCV's
        ``KeyPoint.size`` for it is ``scale / 6``: SIFT's cells are 1.5 sizes wide.)
    grid : tuple of int, default=(1, 2, 4)
        Spatial pyramid levels of ``hist`` (ignored by ``vlad``).
    n_descriptors : int, default=100_000
        Descriptors (a random sample of the training images') the vocabulary
        is learned from.
    max_iter : int, default=10
        Passes of mini-batch k-means over them.
    random_state : int, default=0

    Attributes
    ----------
    vocabulary_ : ndarray of shape (n_clusters, 128)
        The visual words (in RootSIFT space).
    n_descriptors_fit_ : int
    n_features_out_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    >>> bovw = BagOfVisualWords(8, side=64, max_iter=2).fit(images)
    >>> bovw.vocabulary_.shape, bovw.transform(images[:1]).shape
    ((8, 128), (1, 168))
    """

    def __init__(self, n_clusters=200, *, encoding="hist", side=256, step=8, scales=(16,),
                 grid=(1, 2, 4), n_descriptors=100_000, max_iter=10, random_state=0):
        self.n_clusters = n_clusters
        self.encoding = encoding
        self.side = side
        self.step = step
        self.scales = scales
        self.grid = grid
        self.n_descriptors = n_descriptors
        self.max_iter = max_iter
        self.random_state = random_state

    # -- the contract -----------------------------------------------------------
    def _check_params(self) -> None:
        check_int(self, "n_clusters", self.n_clusters, low=2)
        check_option(self, "encoding", self.encoding, ("hist", "vlad"))
        check_int(self, "side", self.side, low=8)
        check_int(self, "step", self.step, low=1)
        check_levels(self, "scales", self.scales, example="(16, 24)")
        check_levels(self, "grid", self.grid)
        if max(self.scales) > self.side:
            raise invalid(self, "scales", f"keypoint sizes of at most side={self.side}",
                          self.scales)
        check_int(self, "n_descriptors", self.n_descriptors, low=1)
        check_int(self, "max_iter", self.max_iter, low=1)

    def _input_spec(self) -> tuple:
        return (None, "gray")

    def _decode_size(self) -> tuple:
        return (self.side, self.side)

    def _n_cells(self) -> int:
        return sum(n * n for n in self.grid)

    def _n_features(self) -> int:
        if self.encoding == "vlad":
            return self.n_clusters * 128
        return self.n_clusters * self._n_cells()

    def _feature_names(self) -> list[str]:
        if self.encoding == "vlad":
            return [f"vlad_w{k}_{j}" for k in range(self.n_clusters) for j in range(128)]
        return [f"{cell}_w{k}" for cell in grid_cell_names(self.grid)
                for k in range(self.n_clusters)]

    # -- descriptors ------------------------------------------------------------
    def _descriptors(self, image: np.ndarray):
        """RootSIFT descriptors of the dense grid, and their relative positions in [0, 1)."""
        desc, points, (h, w) = self._dense_sift(image)
        return desc, np.clip(points[:, :2] / (w, h), 0, 1 - 1e-9)

    def _dense_sift(self, image: np.ndarray):
        """RootSIFT descriptors, their keypoints ``(x, y, width in px)`` and the resized (H, W)."""
        height, width = image.shape[:2]
        ratio = self.side / max(height, width)
        size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
        interpolation = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, size, interpolation=interpolation)
        w, h = size
        keypoints = []
        for scale in self.scales:
            half = scale / 2
            # Keypoints whose support fits in the image; at least the centre one.
            xs = np.arange(half, max(w - half, half) + 1e-9, self.step)
            ys = np.arange(half, max(h - half, half) + 1e-9, self.step)
            size = scale / 6  # cells of 1.5 * size px, 4 across: scale px
            keypoints += [cv2.KeyPoint(float(x), float(y), size) for y in ys for x in xs]
        keypoints, desc = _sift().compute(image, keypoints)
        if desc is None:
            return np.empty((0, 128), np.float32), np.empty((0, 3)), (h, w)
        desc = desc.astype(np.float32)
        desc /= desc.sum(axis=1, keepdims=True) + np.float32(1e-7)
        np.sqrt(desc, out=desc)
        points = np.array([(k.pt[0], k.pt[1], 6 * k.size) for k in keypoints]).reshape(-1, 3)
        return desc, points, (h, w)

    # -- learning ---------------------------------------------------------------
    def _fit(self, images, y=None, progress: bool = False) -> None:
        rng = np.random.default_rng(self.random_state)
        per_image = max(1, -(-self.n_descriptors // len(images)))
        samples = []
        for image in images:
            desc, _ = self._descriptors(image)
            if len(desc) > per_image:
                desc = desc[rng.choice(len(desc), per_image, replace=False)]
            samples.append(desc)
        descriptors = np.concatenate(samples)
        distinct = distinct_rows(descriptors) if len(descriptors) else 0
        check_enough(self, distinct, self.n_clusters,
                     f"{len(images)} image(s) give {distinct} distinct descriptors")
        kmeans = MiniBatchKMeans(self.n_clusters, init="k-means++", n_init=1,
                                 batch_size=max(2048, 2 * self.n_clusters),
                                 random_state=self.random_state, compute_labels=False)
        run_minibatch_kmeans(kmeans, descriptors, self.max_iter, rng, progress,
                             f"visual vocabulary (K={self.n_clusters})")
        self.vocabulary_ = kmeans.cluster_centers_.astype(np.float32)
        self.n_descriptors_fit_ = len(descriptors)

    # -- encoding ---------------------------------------------------------------
    def _extract(self, images) -> np.ndarray:
        words = self.vocabulary_
        word_norms = (words * words).sum(axis=1)
        out = np.zeros((len(images), self._n_features()), np.float32)
        for i, image in enumerate(images):
            desc, where = self._descriptors(image)
            if not len(desc):
                continue
            nearest = np.argmin(word_norms - 2 * desc @ words.T, axis=1)
            out[i] = self._vlad(desc, nearest) if self.encoding == "vlad" \
                else self._pyramid(nearest, where)
        return out

    def _locate(self, images, weights, offsets):
        """Histograms: each descriptor's words' shares on its square (approximate: square root);
        VLAD: None (occlusion). See :func:`~l2vision.features._bovw_locate.locate_words`."""
        if self.encoding == "vlad":
            return None
        words = self.vocabulary_
        word_norms = (words * words).sum(axis=1)

        def described(image):
            desc, points, shape = self._dense_sift(image)
            nearest = np.argmin(word_norms - 2 * desc @ words.T, axis=1) if len(desc) else \
                np.empty(0, int)
            return nearest, points, shape

        return locate_words(images, weights, offsets, described=described, grid=self.grid,
                            n_words=self.n_clusters)

    def _pyramid(self, nearest, where) -> np.ndarray:
        k = self.n_clusters
        hists = []
        for n in self.grid:
            cell = (where[:, 1] * n).astype(int) * n + (where[:, 0] * n).astype(int)
            counts = np.bincount(cell * k + nearest, minlength=n * n * k).reshape(n * n, k)
            hists.append(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1))
        return np.sqrt(np.concatenate(hists).ravel())

    def _vlad(self, desc, nearest) -> np.ndarray:
        residuals = np.zeros_like(self.vocabulary_)
        np.add.at(residuals, nearest, desc - self.vocabulary_[nearest])
        v = np.sign(residuals) * np.sqrt(np.abs(residuals))
        norm = np.linalg.norm(v)
        return (v / norm if norm > 0 else v).ravel()


def _sift():
    """One SIFT object per process (cv2 objects are not picklable; created on first use)."""
    global _SIFT
    if _SIFT is None:
        _SIFT = cv2.SIFT_create()
    return _SIFT


_SIFT = None


def from_spec(clusters: str = "200", encoding: str = "hist") -> BagOfVisualWords:
    """Bag of visual words: dense RootSIFT, a K-word vocabulary (default 200), pyramid histograms.

    Images resized to 256 px (longer side), SIFT every 8 px at 16 px, words
    counted over the 1x1, 2x2 and 4x4 grids and Hellinger-mapped (21 K
    values); ENCODING ``vlad`` gives residual vectors instead (128 K values).
    """
    k = spec_int("bovw", "CLUSTERS", clusters, low=2)
    spec_option("bovw", "ENCODING", encoding, ("hist", "vlad"))
    return BagOfVisualWords(k, encoding=encoding)
