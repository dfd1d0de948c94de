"""Where k-means features come from: each patch's code, in the cells that pool it.

A pooled feature is a sum over the patches of a cell of one code, so
``w · features`` is a sum over patches (exact); with flip averaging, the
average of the image's and its mirror's patch maps (the mirror's mirrored
back); with ``power`` != 1, each pooled sum's contribution ``w s^p`` is shared
among its patches in proportion to their codes (the proportional rule:
approximate). A patch's value is spread evenly over its ``p x p`` pixels.
"""

from __future__ import annotations

import numpy as np

from l2vision.features.base import grid_cells
from l2vision.features.location import Located, cell_support, share_gain

__all__ = ["box_spread", "locate_codes"]


def box_spread(values: np.ndarray, patch: int) -> np.ndarray:
    """Maps (K, R, C) of patch positions to pixels (K, R + p - 1, C + p - 1), sums kept.

    Examples
    --------
    >>> box_spread(np.ones((1, 1, 1)), 2)[0].tolist()
    [[0.25, 0.25], [0.25, 0.25]]
    """
    k, rows, cols = values.shape
    out = np.zeros((k, rows + patch - 1, cols + patch - 1))
    share = values / (patch * patch)
    for dy in range(patch):
        for dx in range(patch):
            out[:, dy:dy + rows, dx:dx + cols] += share
    return out


def locate_codes(images, weights, offsets, *, codes, grid, patch: int,
                 flip_average: bool, power: float) -> Located:
    """Features and maps of sum-pooled patch codes (``codes(image) -> (R, C, n_codes)``).

    Examples
    --------
    >>> images = [np.zeros((3, 3, 3), np.uint8)]
    >>> located = locate_codes(images, np.ones((1, 1)), np.ones((1, 1)), grid=(1,),
    ...                        codes=lambda image: np.ones((2, 2, 1)), patch=2,
    ...                        flip_average=False, power=1.0)
    >>> located.features.tolist(), float(located.evidence[0].sum())
    ([[4.0]], 4.0)
    """
    weights, offsets = np.asarray(weights, np.float64), np.asarray(offsets, np.float64)
    features, evidence, support = [], [], []
    for image in images:
        coded = [codes(image)] + ([codes(image[:, ::-1])] if flip_average else [])
        rows, cols, n_codes = coded[0].shape
        cells = grid_cells(rows, cols, tuple(grid))
        sums = sum(_pooled(c, cells) for c in coded) / len(coded)
        pooled = sums ** power if power != 1 else sums
        gain = share_gain(pooled, sums) if power != 1 else 1.0
        alpha = (weights * gain.reshape(-1) if power != 1 else weights).reshape(
            len(weights), len(cells), n_codes)
        per_cell = offsets.reshape(len(offsets), len(cells), n_codes).sum(axis=2)
        maps, spread = [], box_spread(cell_support(per_cell, cells, (rows, cols)), patch)
        for c in coded:
            patch_map = np.zeros((len(weights), rows, cols))
            for i, (_, rr, cc) in enumerate(cells):
                patch_map[:, rr, cc] += np.einsum("rcn,kn->krc", c[rr, cc], alpha[:, i])
            maps.append(box_spread(patch_map, patch) / len(coded))
        if flip_average:
            maps[1] = maps[1][..., ::-1]
            spread = (spread + spread[..., ::-1]) / 2
        features.append(pooled.reshape(-1))
        evidence.append(sum(maps))
        support.append(spread)
    return Located(np.asarray(features, np.float32), evidence, support,
                   "exact" if power == 1 else "approximate")


def _pooled(codes: np.ndarray, cells) -> np.ndarray:
    """Sums (n_cells, n_codes) of patch codes (R, C, n_codes) over the cells."""
    return np.stack([codes[rr, cc].sum(axis=(0, 1)) for _, rr, cc in cells])
