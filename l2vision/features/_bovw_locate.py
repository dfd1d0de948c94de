"""Where bag-of-words histograms come from: each descriptor's share, on the square it describes.

A pyramid histogram counts, per cell, the descriptors nearest to each word,
divided by the cell's descriptors, then square-rooted: a bin's contribution
``w sqrt(h)`` is shared equally by its descriptors (the proportional rule:
approximate), each spreading its share evenly over its square of the image.
"""

from __future__ import annotations

import numpy as np

from l2vision.features.base import grid_cells
from l2vision.features.location import Located, cell_support

__all__ = ["locate_words", "spread_squares"]


def spread_squares(values: np.ndarray, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Maps (K, H, W): value ``values[:, i]`` spread over the square ``points[i] = (x, y, side)``.

    Squares are cut at the border; each value is spread over what remains.

    Examples
    --------
    >>> spread_squares(np.array([[4.0]]), np.array([[1.0, 1.0, 2.0]]), (3, 3))[0].tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    height, width = shape
    out = np.zeros((len(values), height + 1, width + 1))
    half = points[:, 2] / 2
    x0 = np.clip(np.floor(points[:, 0] - half), 0, width - 1).astype(int)
    y0 = np.clip(np.floor(points[:, 1] - half), 0, height - 1).astype(int)
    x1 = np.clip(np.ceil(points[:, 0] + half), x0 + 1, width).astype(int)
    y1 = np.clip(np.ceil(points[:, 1] + half), y0 + 1, height).astype(int)
    share = values / ((y1 - y0) * (x1 - x0))
    for y, x, sign in ((y0, x0, 1), (y0, x1, -1), (y1, x0, -1), (y1, x1, 1)):
        for k in range(len(values)):
            np.add.at(out[k], (y, x), sign * share[k])
    return out.cumsum(axis=1).cumsum(axis=2)[:, :height, :width]


def locate_words(images, weights, offsets, *, described, grid, n_words: int) -> Located:
    """Features and maps of square-rooted pyramid word histograms.

    ``described(image) -> (nearest words (n,), points (n, 3) as (x, y, side), (H, W))``
    gives each descriptor's word and square in the resized image.

    Examples
    --------
    >>> def described(image):
    ...     return np.array([0, 1]), np.array([[1.0, 1.0, 2.0], [3.0, 1.0, 2.0]]), (2, 4)
    >>> loc = locate_words([None], np.ones((1, 2)), np.zeros((1, 2)), described=described,
    ...                    grid=(1,), n_words=2)
    >>> bool(np.isclose(loc.evidence[0].sum(), 2 * np.sqrt(0.5)))
    True
    """
    weights, offsets = np.asarray(weights, np.float64), np.asarray(offsets, np.float64)
    features, evidence, support = [], [], []
    for image in images:
        nearest, points, shape = described(image)
        where = np.clip(points[:, :2] / (shape[1], shape[0]), 0, 1 - 1e-9)
        row, values, start = [], np.zeros((len(weights), len(nearest))), 0
        for n in grid:
            cell = (where[:, 1] * n).astype(int) * n + (where[:, 0] * n).astype(int)
            index = cell * n_words + nearest
            counts = np.bincount(index, minlength=n * n * n_words).astype(np.float64)
            per_cell = counts.reshape(n * n, n_words).sum(axis=1, keepdims=True)
            level = np.sqrt(counts.reshape(n * n, n_words) / np.maximum(per_cell, 1)).ravel()
            if len(nearest):  # each descriptor: w * sqrt(h) of its bin, over the bin's count
                values += weights[:, start + index] * level[index] / counts[index]
            row.append(level)
            start += n * n * n_words
        features.append(np.concatenate(row))
        evidence.append(spread_squares(values, points, shape))
        cells = grid_cells(shape[0], shape[1], tuple(grid))
        support.append(cell_support(offsets.reshape(len(offsets), len(cells), n_words).sum(axis=2),
                                    cells, shape))
    return Located(np.asarray(features, np.float32), evidence, support, "approximate")
