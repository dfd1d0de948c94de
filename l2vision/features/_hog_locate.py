"""Where HOG descriptors come from: each pixel's share of the block histograms it votes into."""

from __future__ import annotations

import cv2
import numpy as np

from l2vision.features._hog_compute import hog_descriptors, hog_gradients, hog_tables
from l2vision.features.location import share_gain

__all__ = ["hog_locate"]


def hog_locate(images, weights, offsets, *, cell_size=(4, 4), block_size=(2, 2),
               block_stride=(1, 1), orientations=9, signed=False, gamma_correction=False,
               color="gray"):
    """HOG descriptors and where they come from: ``(features, evidence, support)``.

    Every pixel votes into orientation bins of the cells of the blocks that
    hold it (stage 4 of :func:`hog_descriptors`); L2-Hys then scales and
    clips each block. A feature's contribution ``w h`` is shared among the
    pixels in proportion to their votes into its unnormalized sum ``v``
    (the proportional rule: the block's normalization, and the clipping,
    are not linear). The maps sum to ``weights @ features`` all the same.

    Parameters
    ----------
    images : (N, H, W) or (N, H, W, 3) uint8 ndarray
        As for :func:`hog_descriptors`.
    weights, offsets : (K, n_features) ndarray
        Weights of the features, and the amounts to spread over each
        feature's block (its pixel window, evenly).
    cell_size, block_size, block_stride, orientations, signed, gamma_correction, color :
        As for :func:`hog_descriptors`.

    Returns
    -------
    features : (N, n_features) float32 ndarray
        :func:`hog_descriptors` of the images.
    evidence, support : list of (K, H, W) float64 ndarray
        Per image, ``evidence[i][k].sum() == weights[k] @ features[i]`` and
        ``support[i][k].sum() == offsets[k].sum()``.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.repeat(np.arange(0, 80, 10, dtype=np.uint8)[:, None], 8, axis=1)[None]
    >>> w = np.ones((1, 36))
    >>> f, ev, sup = hog_locate(ramp, w, w)
    >>> round(float(ev[0].sum()), 4) == round(float(f[0].sum()), 4), float(sup[0].sum())
    (True, 36.0)
    """
    options = dict(cell_size=tuple(cell_size), block_size=tuple(block_size),
                   block_stride=tuple(block_stride), orientations=int(orientations),
                   signed=bool(signed), gamma_correction=bool(gamma_correction))
    images = np.asarray(images)
    features = hog_descriptors(images, color=color, **options)
    weights, offsets = np.asarray(weights, np.float64), np.asarray(offsets, np.float64)
    if color == "per-channel":
        size = features.shape[1] // 3
        parts = [hog_locate(np.ascontiguousarray(images[..., c]), weights[:, c * size:
                                                                          (c + 1) * size],
                            offsets[:, c * size:(c + 1) * size], color="gray", **options)
                 for c in range(3)]
        return (features, [sum(maps) for maps in zip(*(p[1] for p in parts), strict=True)],
                [sum(maps) for maps in zip(*(p[2] for p in parts), strict=True)])
    n, height, width = images.shape[:3]
    t = hog_tables(height, width, *(options[k] for k in ("cell_size", "block_size",
                                                          "block_stride", "orientations",
                                                          "signed")))
    (bx, by), (cx, cy), nb = t.blocks, t.cells, t.orientations
    support = _block_support(offsets, t, height, width, cell_size, block_stride)
    evidence = []
    for i in range(n):
        dx, dy = hog_gradients(images[i], t, gamma_correction=gamma_correction, color=color)
        votes = _votes(dx, dy, t)
        raw = np.einsum("ay,yxo,bx->abo", t.wy_t, votes, t.wx_t, optimize=True)
        raw = raw.reshape(by, cy, bx, cx, nb).transpose(2, 0, 3, 1, 4).reshape(-1)
        alpha = (weights * share_gain(features[i], raw)).reshape(len(weights), bx, by, cx, cy,
                                                                   nb)
        alpha = alpha.transpose(0, 2, 4, 1, 3, 5).reshape(len(weights), by * cy, bx * cx, nb)
        per_bin = np.einsum("ay,kabo,bx->kyxo", t.wy_t, alpha, t.wx_t, optimize=True)
        evidence.append(np.einsum("kyxo,yxo->kyx", per_bin, votes))
    return features, evidence, [support] * n


def _votes(dx, dy, t) -> np.ndarray:
    """Each pixel's orientation votes (H, W, bins), float64, split as :func:`_describe` splits."""
    mag, angle = cv2.cartToPolar(dx, dy)
    angle = angle * t.scale - np.float32(0.5)
    lower = np.floor(angle)
    upper_share = (angle - lower).astype(np.float64)
    index = lower.astype(np.intp) + 1
    votes = np.zeros(dx.shape + (t.orientations,))
    rows, cols = np.indices(dx.shape)
    mag = mag.astype(np.float64)
    np.add.at(votes, (rows, cols, np.take(t.bin0, index, mode="clip")), mag * (1 - upper_share))
    np.add.at(votes, (rows, cols, np.take(t.bin1, index, mode="clip")), mag * upper_share)
    return votes


def _block_support(offsets, t, height, width, cell_size, block_stride) -> np.ndarray:
    """(K, H, W): each block's offsets spread evenly over its pixel window."""
    (bx, by), (cx, cy) = t.blocks, t.cells
    per_block = offsets.reshape(len(offsets), bx, by, -1).sum(axis=3)
    windows = []
    for blocks, cells, cell, stride, size in ((by, cy, cell_size[1], block_stride[1], height),
                                              (bx, cx, cell_size[0], block_stride[0], width)):
        window = np.zeros((blocks, size))
        for b in range(blocks):
            start = b * stride * cell
            window[b, start:start + cells * cell] = 1.0 / (cells * cell)
        windows.append(window)
    return np.einsum("kab,by,ax->kyx", per_block, windows[0], windows[1], optimize=True)
