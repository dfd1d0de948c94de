"""Exact duplicates (pixel hashes), near duplicates in a set and leaks between two sets.

Near duplicates (a photo re-encoded, resized, slightly cropped) are pairs of
high cosine similarity on a whitened PCA of the features, optionally helped by
a perceptual hash, found by a blocked nearest-neighbour search (never n x n).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np
from sklearn.decomposition import PCA

__all__ = ["DEFAULT_THRESHOLD", "DuplicatePairs", "exact_duplicates", "hamming_distance",
           "near_duplicates", "nearest_neighbors", "perceptual_hash", "pixel_hash"]

#: Cosine similarity from which two images are near duplicates (see near_duplicates).
DEFAULT_THRESHOLD = 0.88
_HASH_MARGIN = 0.1
_MAX_PCA_FIT = 20_000
_POPCOUNT = np.array([bin(b).count("1") for b in range(256)], dtype=np.uint8)


class DuplicatePairs(NamedTuple):
    """Pairs by decreasing similarity: ``first`` and ``second`` (int64 indices, the
    second in ``reference`` when given) and ``similarity`` (float32 cosine, 1: equal)."""

    first: np.ndarray
    second: np.ndarray
    similarity: np.ndarray


def _image(image, owner: str) -> np.ndarray:
    """A decoded uint8 image, (H, W) or (H, W, C), checked."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"{owner}: image must be a decoded uint8 array of shape (H, W) or "
                         f"(H, W, 3); got dtype {array.dtype}, shape {array.shape}.")
    return array


def pixel_hash(image: np.ndarray) -> str:
    """A 128-bit BLAKE2b hash of an image's decoded pixels, shape and dtype.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), uint8
        A decoded image.

    Returns
    -------
    digest : str
        32 hex digits, equal for equal pixels whatever the file's format,
        metadata or compression; group with :func:`exact_duplicates`.

    Raises
    ------
    ValueError
        Not a non-empty uint8 array of 2 or 3 dimensions.

    Examples
    --------
    >>> a = np.zeros((4, 4, 3), np.uint8)
    >>> pixel_hash(a) == pixel_hash(a.copy()), pixel_hash(a) == pixel_hash(a[:2])
    (True, False)
    """
    array = np.ascontiguousarray(_image(image, "pixel_hash"))
    digest = hashlib.blake2b(f"{array.shape}|{array.dtype.str}|".encode(), digest_size=16)
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def exact_duplicates(hashes: Sequence[str]) -> list[np.ndarray]:
    """Groups of two or more images with equal :func:`pixel_hash`, by first index.

    Parameters
    ----------
    hashes : sequence of str
        One hash per image.

    Returns
    -------
    groups : list of ndarray of int64
        Increasing indices of each group of equal images.

    Examples
    --------
    >>> exact_duplicates(["a", "b", "a", "c", "b", "a"])
    [array([0, 2, 5]), array([1, 4])]
    """
    keys = np.asarray([str(h) for h in hashes])
    if keys.size == 0:
        return []
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    groups = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    return sorted((g.astype(np.int64) for g in groups if g.size > 1), key=lambda g: g[0])


def perceptual_hash(image: np.ndarray) -> np.uint64:
    """The 64-bit DCT perceptual hash (pHash) of an image.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, 3), uint8
        A decoded image, BGR when in color.

    Returns
    -------
    bits : numpy.uint64
        Compare with :func:`hamming_distance`.

    Raises
    ------
    ValueError
        Not a non-empty uint8 array of 2 or 3 dimensions.

    Notes
    -----
    Zauner's pHash [1]_: bit ``8 r + c`` (from the most significant) is set
    when DCT coefficient ``(r, c)`` of the gray image shrunk to 32x32 exceeds
    the median of the 8x8 lowest frequencies (DC left out). Copies of
    clothing10 photos (near_duplicates' Notes) differ by 8 bits (median; 14
    at the 95th percentile), other pairs by 10 or fewer 4 times in 100,000.

    References
    ----------
    .. [1] C. Zauner, "Implementation and Benchmarking of Perceptual Image
       Hash Functions", Master's thesis, Upper Austria University of Applied
       Sciences, Hagenberg, 2010.

    Examples
    --------
    >>> ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    >>> int(hamming_distance(perceptual_hash(ramp), perceptual_hash(ramp[::2, ::2])))
    0
    """
    array = _image(image, "perceptual_hash")
    gray = cv2.cvtColor(array, cv2.COLOR_BGR2GRAY) if array.ndim == 3 else array
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].ravel()
    return np.packbits(low > np.median(low[1:])).view(">u8")[0].astype(np.uint64)


def hamming_distance(a, b) -> np.ndarray:
    """Number of differing bits between 64-bit hashes, broadcast like ``a ^ b``.

    Examples
    --------
    >>> hamming_distance(np.uint64(0b1011), np.array([0, 0b1011, 2**64 - 1], dtype=np.uint64))
    array([ 3,  0, 61])
    """
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    return _POPCOUNT[x.reshape(*x.shape, 1).view(np.uint8)].sum(-1, dtype=np.int64)


def _features(features, owner: str, name: str = "features") -> np.ndarray:
    """A finite 2D float matrix with at least one row (float32 stays float32)."""
    array = np.asarray(features)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{owner}: {name} must be a non-empty 2D array (n_images, "
                         f"n_features); got shape {array.shape}.")
    if array.dtype.kind not in "fiub" or not np.isfinite(array).all():
        raise ValueError(f"{owner}: {name} must hold finite numbers.")
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _check(owner: str, threshold=1, hashes=None, n=0, **ints) -> np.ndarray | None:
    """Check the parameters (sklearn's message shape); the hashes as uint64 (or None)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not 0 < threshold <= 1:
        raise ValueError(f"The 'threshold' parameter of {owner} must be a float in (0, 1]. "
                         f"Got {threshold!r}.")
    for name, value in ints.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"The {name!r} parameter of {owner} must be an int >= 1. "
                             f"Got {value!r}.")
    if hashes is None:
        return None
    array = np.asarray(hashes)
    if array.shape != (n,) or array.dtype.kind not in "ui":
        raise ValueError(f"{owner}: hashes must be a 1D integer array of perceptual_hash "
                         f"values, one per image ({n}); got dtype {array.dtype}, shape "
                         f"{array.shape}.")
    return array.astype(np.uint64)


def _embed(blocks: list[np.ndarray], n_components: int, random_state) -> list[np.ndarray]:
    """The rows on a whitened PCA fitted on all blocks (<= 20,000 rows), unit length, float32.

    At most n // 2 components (whitening n points in n - 1 dimensions makes them
    equidistant); below 4 rows, only scaled. 2 power iterations of the randomized
    SVD, not sklearn's 7: half the time on CIFAR-10, the same copies found."""
    n = sum(len(b) for b in blocks)
    d = min(n_components, blocks[0].shape[1], n // 2)
    mean, project = 0.0, None
    if d >= 2:
        rows = np.sort(np.random.default_rng(random_state).permutation(n)[:_MAX_PCA_FIT])
        starts = np.cumsum([0] + [len(b) for b in blocks])
        sample = np.vstack([b[rows[(rows >= lo) & (rows < lo + len(b))] - lo]
                            for b, lo in zip(blocks, starts, strict=False)])
        pca = PCA(d, iterated_power=2, random_state=random_state).fit(sample)
        scale = np.sqrt(np.maximum(pca.explained_variance_, 1e-12 * pca.explained_variance_[0]))
        mean, project = pca.mean_, pca.components_.T / scale
    out = []
    for block in blocks:
        z = np.empty((len(block), block.shape[1] if project is None else d), np.float32)
        for i in range(0, len(block), 4096):  # no centered copy of a whole block
            chunk = block[i:i + 4096] - mean
            z[i:i + 4096] = chunk if project is None else chunk @ project
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        out.append(z / np.where(norms > 0, norms, 1))
    return out


def nearest_neighbors(queries, reference=None, *, k: int = 1, block_size: int = 512,
                      min_similarity: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """The k reference rows of largest dot product with each query row, computed in blocks.

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_dims)
        Rows, usually of unit length (the dot product is then the cosine).
    reference : array-like of shape (n_reference, n_dims), default=None
        Rows to search; ``None``: ``queries`` itself, each row excluded.
    k : int, default=1
        Neighbours per row (fewer when the reference is smaller).
    block_size : int, default=512
        Query rows per product: ``4 * block_size * n_reference`` bytes
        (123 MB for 60,000 references).
    min_similarity : float, default=-inf
        A row's search stops at its first neighbour below it (the rest: -1, -inf).

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
        Reference rows, most similar first.
    similarities : ndarray of shape (n_queries, k), float32
        Their dot products.

    Notes
    -----
    Each block's ``Q_b R^T`` is one BLAS product; the k best per row come from
    k passes of ``argmax`` (each best then set to -inf): cheaper for small k
    than ``argpartition`` and its n-wide index arrays. 20,000 x 20,000 in 128
    dimensions, 256-row blocks: 2.0 s of CPU, 40 MiB peak (n x n: 1.6 GB).

    Examples
    --------
    >>> x = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32)
    >>> idx, sim = nearest_neighbors(x)
    >>> idx.ravel(), sim.ravel().round(2)
    (array([1, 0, 1]), array([0.9, 0.9, 0.1], dtype=float32))
    """
    _check("nearest_neighbors", k=k, block_size=block_size)
    q = np.ascontiguousarray(_features(queries, "nearest_neighbors", "queries"), np.float32)
    self_search = reference is None
    r = q if self_search else np.ascontiguousarray(
        _features(reference, "nearest_neighbors", "reference"), np.float32)
    if r.shape[1] != q.shape[1]:
        raise ValueError(f"nearest_neighbors: queries have {q.shape[1]} columns and "
                         f"reference {r.shape[1]}; they must have the same width.")
    kk = min(k, r.shape[0] - self_search)
    indices = np.full((q.shape[0], kk), -1, dtype=np.int64)
    similarities = np.full((q.shape[0], kk), -np.inf, dtype=np.float32)
    for start in range(0, q.shape[0], block_size):
        block = q[start:start + block_size] @ r.T
        rows = np.arange(block.shape[0])
        if self_search:
            block[rows, rows + start] = -np.inf
        for j in range(kk):
            best = (block if len(rows) == len(block) else block[rows]).argmax(1)
            found = block[rows, best]
            indices[start + rows, j], similarities[start + rows, j] = best, found
            block[rows, best] = -np.inf
            rows, best = rows[found >= min_similarity], best[found >= min_similarity]
            if not len(rows):
                break
    return indices, similarities


def _pairs(first, second, sim, threshold, hashes, reference_hashes,
           max_hamming) -> DuplicatePairs:
    """The candidates at or above the threshold (or passing the pHash rule), sorted."""
    sim = np.clip(sim, -1.0, 1.0)  # unit rows: only float32 rounding goes past 1
    keep = sim >= threshold
    if hashes is not None:
        close = hamming_distance(hashes[first], reference_hashes[second]) <= max_hamming
        keep |= close & (sim >= threshold - _HASH_MARGIN)
    first, second, sim = first[keep], second[keep], sim[keep]
    order = np.lexsort((second, first, -sim))
    return DuplicatePairs(first[order], second[order], sim[order])


def near_duplicates(features, reference=None, *, threshold: float = DEFAULT_THRESHOLD,
                    k: int = 5, hashes=None, reference_hashes=None, max_hamming: int = 10,
                    n_components: int = 128, block_size: int = 512,
                    random_state: int | None = 0) -> DuplicatePairs:
    """Near-duplicate pairs within one set, or between a set and a reference set (leaks).

    Parameters
    ----------
    features : array-like of shape (n_images, n_features)
        One feature vector per image (any features): the set checked.
    reference : array-like of shape (n_reference, n_features), default=None
        A set it must not overlap (leaks: test vs training set); ``None``:
        pairs within ``features``.
    threshold : float, default=0.88
        Smallest cosine similarity of the embeddings reported (Notes).
    k : int, default=5
        Neighbours per image: up to k + 1 copies are paired in full, more as chains.
    hashes, reference_hashes : array-like of shape (n_images,) and (n_reference,), \
default=None
        :func:`perceptual_hash` of the images (of both sets), a second signal: a
        pair also counts when its hashes differ by at most ``max_hamming`` bits
        and its similarity is at least ``threshold - 0.1``.
    max_hamming : int, default=10
        See ``hashes``.
    n_components, block_size, random_state : int, int, int or None, default=128, 512, 0
        Dimensions of the whitened PCA (fitted on both sets, at most n // 2);
        rows per product (:func:`nearest_neighbors`); seed of the PCA.

    Returns
    -------
    pairs : DuplicatePairs
        By decreasing similarity; ``first < second`` within a set, ``first``
        indexing ``features`` and ``second`` ``reference`` between sets.

    Raises
    ------
    ValueError
        Empty or non-finite features, sets of different widths, hashes of the wrong
        shape or for one set only, a parameter out of range.

    Notes
    -----
    (Equal pixels: :func:`exact_duplicates`.) The features are projected on
    their first d principal components, each divided by its standard
    deviation (whitening), rows scaled to unit length; a pair scores the
    cosine ``z_i . z_j``. Whitening keeps the many small components, where two
    views of a photo agree and two photos do not, from being drowned by the
    few large ones that separate classes.

    The threshold was chosen on 200 copies of clothing10 photos (cropped
    0-5% per side, resized 0.5-2x, brightness x0.9-1.1, JPEG quality 50-90)
    among its 1,435 photos, "photo" (MobileNetV2) features: at 0.88, 96% of
    the copies found, 5 other pairs (a photo in the set twice, labeled
    shorts and skirt; garments photographed twice; look-alikes); without
    whitening, 8-9 at 95% recall. With pHash: 99%, 8 other pairs. HOG + color
    histograms: 84% (2 other pairs), 97.5% with pHash. Copies stand out less
    among many thumbnails: CIFAR-10 test vs train (HOG + color), 61% of 200
    planted 32x32 copies found, 0.76% of the test images flagged (88.5% and
    2.1% with pHash); Barz & Denzler [1]_ found 3.3% by inspection.

    References
    ----------
    .. [1] B. Barz and J. Denzler, "Do We Train on Test Data? Purging CIFAR of
       Near-Duplicates", Journal of Imaging 6(6), 41, 2020.
       :doi:`10.3390/jimaging6060041`, arXiv:1902.00423.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train, test = rng.normal(size=(60, 16)), rng.normal(size=(20, 16))
    >>> train[7] = train[3] + 0.01 * rng.normal(size=16)
    >>> test[4] = train[11] + 0.01 * rng.normal(size=16)
    >>> near_duplicates(train)[:2]
    (array([3]), array([7]))
    >>> near_duplicates(test, train)[:2]
    (array([4]), array([11]))
    """
    owner = "near_duplicates"
    x = _features(features, owner)
    within = reference is None
    r = x if within else _features(reference, owner, "reference")
    if r.shape[1] != x.shape[1]:
        raise ValueError(f"{owner}: features have {x.shape[1]} columns and reference "
                         f"{r.shape[1]}; compute both with the same extractors.")
    if not within and (hashes is None) != (reference_hashes is None):
        raise ValueError(f"{owner}: pass both hashes and reference_hashes, or neither.")
    h = _check(owner, threshold, hashes, x.shape[0], k=k, max_hamming=max_hamming,
               n_components=n_components, block_size=block_size)
    hr = h if within else _check(owner, threshold, reference_hashes, r.shape[0])
    z = _embed([x] if within else [x, r], n_components, random_state)
    floor = threshold - (_HASH_MARGIN if h is not None else 0)
    idx, sim = nearest_neighbors(z[0], None if within else z[1], k=k, block_size=block_size,
                                 min_similarity=floor)
    first, second = np.repeat(np.arange(len(x)), idx.shape[1]), idx.ravel()
    first, second, sim = first[second >= 0], second[second >= 0], sim.ravel()[second >= 0]
    if within:
        first, second = np.minimum(first, second), np.maximum(first, second)
    pairs = _pairs(first, second, sim, threshold, h, hr, max_hamming)
    _, unique = np.unique(np.stack([pairs.first, pairs.second]), axis=1, return_index=True)
    return DuplicatePairs(*(a[np.sort(unique)] for a in pairs))
