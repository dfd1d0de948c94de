"""Where an extractor's features come from in the image: the ``_locate`` contract and its tools.

An extractor that can say how its features map to image locations implements
``_locate(images, weights, offsets)`` (see
:meth:`~l2vision.features.ImageExtractor._locate`) and returns a
:class:`Located`: its features of the prepared views, and for each view and
each row ``w`` of ``weights`` an *evidence* map whose sum is ``w · features``,
plus a *support* map per row of ``offsets``, whose sum is that row's sum: the
offsets (a baseline such as ``w * mean``) spread evenly over the pixels each
feature is computed from. Maps may be at any resolution (an extractor's
working size, a network's feature grid): they cover the view, or a box of
it, evenly, and are resampled (sums kept) only for the rows that are shown.

Two kinds of maps:

- ``"exact"``: the feature is a sum over locations (a histogram count, a
  pooled activation, a pixel) divided by constants of the image (its pixel
  count, its norm): each location gets exactly what it adds to the score.
- ``"approximate"``: the feature is a non-linear function ``g(s)`` of such a
  sum (a square root, a clipped and normalized HOG block, a power): its
  contribution ``w g(s)`` is shared among the locations in proportion to
  their share of ``s``. The maps still sum to the score; only the split
  between locations is a choice.

The tools here resample maps without changing their sum and spread values
over the cells of a spatial pyramid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from l2vision.features.base import grid_cells

__all__ = ["KINDS", "Located", "cell_support", "one_blas_thread", "pyramid_evidence",
           "resample_map", "share_gain", "spread_matrix"]

#: How a map was made, best first: a linear split, proportional shares, masked copies.
KINDS = ("exact", "approximate", "occlusion")


@dataclass
class Located:
    """What an extractor's ``_locate`` returns for a batch of prepared views.

    Attributes
    ----------
    features : ndarray of float32, shape (n_images, n_features)
        The features, as ``_extract`` computes them (to float rounding).
    evidence : list of ndarray, each (K, h, w)
        Per view, one map per row of ``weights``, covering the view (or its
        box) evenly at any resolution: ``evidence[i][k].sum() == weights[k] @ features[i]``.
    support : list of ndarray, each (K, h, w)
        Per view, each row of ``offsets`` spread over its features' pixels:
        ``support[i][k].sum() == offsets[k].sum()``.
    kind : {"exact", "approximate"}
        See the module's docstring.
    boxes : list of (int, int, int, int) or None, default=None
        Per view, ``(top, left, bottom, right)`` in the view's pixels: the
        part the maps cover (a network's central crop); None: the whole view.

    Examples
    --------
    >>> one = np.ones((1, 2, 2))
    >>> Located(np.ones((1, 1), np.float32), [one], [one], "exact").kind
    'exact'
    """

    features: np.ndarray
    evidence: list
    support: list
    kind: str
    boxes: list | None = None


@lru_cache(maxsize=1)
def _controller():
    """The process's thread pools, found once (after NumPy, OpenCV and ONNX Runtime loaded)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread():
    """A context in which BLAS runs on one thread.

    Locating makes many small matrix products; a BLAS thread pool on them
    mostly waits for its threads on a busy machine (measured here: 75 ms
    instead of 0.5 ms for one map resampled to 224 x 224).

    Examples
    --------
    >>> with one_blas_thread():
    ...     float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2))
    4.0
    """
    return _controller().limit(limits=1, user_api="blas")


@lru_cache(maxsize=256)
def spread_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64: how the mass of each of ``n_in`` cells spreads over ``n_out``.

    OpenCV's interpolation weights (linear to enlarge, area to shrink), each
    column scaled to sum to 1, so ``M @ v`` keeps ``v.sum()``.

    Examples
    --------
    >>> m = spread_matrix(2, 4)
    >>> m.sum(axis=0).tolist(), m.shape
    ([1.0, 1.0], (4, 2))
    """
    interpolation = cv2.INTER_LINEAR if n_out >= n_in else cv2.INTER_AREA
    weights = cv2.resize(np.eye(n_in, dtype=np.float64), (n_in, n_out),
                         interpolation=interpolation)
    weights = np.maximum(weights, 0)
    weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-300)
    weights.flags.writeable = False
    return weights


def resample_map(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Maps ``(..., h, w)`` resampled to ``shape = (H, W)``, each map's sum unchanged.

    Enlarging spreads each value smoothly (linear interpolation weights);
    shrinking adds up the values that fall in each output pixel (area
    weights). That is ``M_y @ map @ M_x.T`` with the matrices of
    :func:`spread_matrix`, computed as OpenCV resizes (one axis at a time)
    of the map divided by the weights' column sums: O(H W), not O(H W w).

    Examples
    --------
    >>> m = np.arange(4.0).reshape(2, 2)
    >>> big = resample_map(m, (4, 6))
    >>> big.shape, float(big.sum())
    ((4, 6), 6.0)
    """
    h, w = maps.shape[-2:]
    height, width = shape
    if (h, w) == (height, width):
        return maps
    lead = maps.shape[:-2]
    planes = np.asarray(maps, np.float64).reshape(-1, h, w)
    planes = planes / np.outer(_totals(h, height), _totals(w, width))
    stacked = np.ascontiguousarray(planes.transpose(1, 2, 0))   # (h, w, n): channels for cv2
    out = np.empty((height, width, len(planes)))
    for start in range(0, len(planes), _CHANNELS):
        part = stacked[:, :, start:start + _CHANNELS]
        if h != height:
            part = _resize(part, (part.shape[1], height), h < height)
        if w != width:
            part = _resize(part, (width, height), w < width)
        out[:, :, start:start + _CHANNELS] = part.reshape(height, width, -1)
    return out.transpose(2, 0, 1).reshape(*lead, height, width)


#: Maps resized per OpenCV call (its channel limit is 512).
_CHANNELS = 256


def _resize(part: np.ndarray, size: tuple[int, int], enlarge: bool) -> np.ndarray:
    """OpenCV's resize of (h, w, n) float64 planes along one axis, as :func:`spread_matrix`."""
    interpolation = cv2.INTER_LINEAR if enlarge else cv2.INTER_AREA
    return cv2.resize(part, size, interpolation=interpolation).reshape(size[1], size[0], -1)


@lru_cache(maxsize=256)
def _totals(n_in: int, n_out: int) -> np.ndarray:
    """Column sums of OpenCV's interpolation weights from ``n_in`` to ``n_out`` cells."""
    if n_in == n_out:
        return np.ones(n_in)
    interpolation = cv2.INTER_LINEAR if n_out >= n_in else cv2.INTER_AREA
    weights = cv2.resize(np.eye(n_in, dtype=np.float64), (n_in, n_out),
                         interpolation=interpolation)
    totals = weights.sum(axis=0)
    return np.where(totals > 0, totals, 1.0)


def share_gain(features: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``features / sums`` where ``sums > 0``, else 0: the proportional rule's factor.

    A feature ``g(s)`` of a sum ``s = Σ c_p`` gives location ``p`` the share
    ``w g(s) c_p / s``; weighting each location's ``c_p`` by ``w * gain``
    does that.

    Examples
    --------
    >>> share_gain(np.sqrt([0.25, 0.0]), np.array([0.25, 0.0])).tolist()
    [2.0, 0.0]
    """
    sums = np.asarray(sums, np.float64)
    positive = sums > 0
    return np.where(positive, np.asarray(features, np.float64) / np.where(positive, sums, 1), 0)


def pyramid_evidence(index: np.ndarray, grid, n_bins: int, weights: np.ndarray) -> np.ndarray:
    """Evidence ``(K, H, W)`` of L1-normalized pyramid histograms of a bin-index image.

    ``index`` is (H, W) or (C, H, W), as for
    :func:`~l2vision.features.base.pyramid_histograms`; ``weights`` (K,
    n_cells * n_bins) are the (effective) weights of the histogram bins. Each
    pixel gets, in every cell holding it, its bin's weight divided by the
    cell's count (the pixels of all channels).

    Examples
    --------
    >>> index = np.array([[0, 1], [1, 1]])
    >>> pyramid_evidence(index, (1,), 2, np.array([[4.0, 8.0]]))[0].tolist()
    [[1.0, 2.0], [2.0, 2.0]]
    """
    weights = np.asarray(weights, np.float64)
    height, width = index.shape[-2:]
    out = np.zeros((len(weights), height, width))
    for i, (_, rows, cols) in enumerate(grid_cells(height, width, grid)):
        part = index[..., rows, cols]
        if part.size == 0:
            continue
        cell = weights[:, i * n_bins:(i + 1) * n_bins] / part.size
        values = cell[:, part]                                  # (K, [C,] h, w)
        out[:, rows, cols] += values.sum(axis=1) if part.ndim == 3 else values
    return out


def cell_support(offsets: np.ndarray, cells: list, shape: tuple[int, int]) -> np.ndarray:
    """``offsets`` (K, n_cells) spread evenly over their cells' pixels: (K, H, W).

    ``cells`` are ``(level, rows, cols)`` triples (:func:`~l2vision.features.base.grid_cells`).
    An empty cell's share is spread over the whole map (its sum is kept).

    Examples
    --------
    >>> from l2vision.features.base import grid_cells
    >>> cell_support(np.array([[4.0]]), grid_cells(2, 2, (1,)), (2, 2))[0].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    offsets = np.asarray(offsets, np.float64)
    out = np.zeros((len(offsets), *shape))
    for i, (_, rows, cols) in enumerate(cells):
        area = len(range(*rows.indices(shape[0]))) * len(range(*cols.indices(shape[1])))
        if area:
            out[:, rows, cols] += (offsets[:, i] / area)[:, None, None]
        else:
            out += (offsets[:, i] / (shape[0] * shape[1]))[:, None, None]
    return out
