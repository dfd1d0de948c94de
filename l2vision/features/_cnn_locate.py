"""Where a CNN embedding comes from: class activation maps of pooled layers, in one forward pass.

A pooled layer's feature is the mean of a channel over the map (``avg``),
over the map and its 2x2 cells (``pyramid``), or one position (``flatten``),
so ``w · features`` is a sum over map positions of ``w · activations`` divided
by the cells' sizes: the class activation map of Zhou et al. (2016), exact.
An embedding that is the global average of a layer (MobileNet's
``embedding``) is read from that layer's maps in the same pass. Flip
averaging averages the map of the image and the mirrored map of its mirror
image; ``l2_normalize`` divides by the embedding's norm, a constant of the
image. The maps are returned on the finest layer's grid, covering the part
of the view the network sees (:func:`crop_box`).

References
----------
.. [1] B. Zhou, A. Khosla, A. Lapedriza, A. Oliva and A. Torralba, "Learning
   Deep Features for Discriminative Localization", CVPR 2016.
   :doi:`10.1109/CVPR.2016.319`
"""

from __future__ import annotations

import numpy as np

from l2vision.features._preprocess import make_blob
from l2vision.features.base import grid_cells, pool_output
from l2vision.features.location import Located, cell_support, resample_map

__all__ = ["crop_box", "locate_cnn"]


def locate_cnn(net, names, pre, images, weights, offsets, *, pooling: str,
               flip_average: bool, l2_normalize: bool, batch_size: int,
               threads: int | None) -> Located | None:
    """Features and maps of :class:`~l2vision.features.CNNEmbedding` outputs ``names``.

    Returns None when an output is neither a 4-D map nor the global average
    of one (a fully connected layer, say): its features have no location.

    Examples
    --------
    >>> from l2vision.features import CNNEmbedding
    >>> embed = CNNEmbedding("mobilenet_v1_0.25", crop=1.0).fit()  # doctest: +SKIP
    >>> w = np.ones((1, 256))
    >>> located = embed._locate([np.zeros((224, 224, 3), np.uint8)], w, w)  # doctest: +SKIP
    >>> located.evidence[0].shape, located.boxes  # doctest: +SKIP
    ((1, 7, 7), [(0, 0, 224, 224)])
    """
    sources = [net.average_source(name) for name in names]
    requested = [source or name for source, name in zip(sources, names, strict=True)]
    views = list(images) + ([image[:, ::-1] for image in images] if flip_average else [])
    maps = [[] for _ in requested]
    for start in range(0, len(views), batch_size):
        results = net.forward(make_blob(views[start:start + batch_size], pre), requested,
                              threads)
        for parts, result in zip(maps, results, strict=True):
            if np.ndim(result) != 4:
                return None
            parts.append(np.asarray(result, np.float32))
    maps = [np.concatenate(parts) for parts in maps]
    weights, offsets = np.asarray(weights, np.float64), np.asarray(offsets, np.float64)
    located = [_one_view([m[i] for m in maps], sources, weights, offsets, pooling)
               for i in range(len(views))]
    n = len(images)
    features = np.stack([f for f, _, _ in located[:n]])
    evidence = [e for _, e, _ in located[:n]]
    support = [s for _, _, s in located[:n]]
    if flip_average:  # the mirror's maps, mirrored back (its crop box to a pixel)
        features = (features + np.stack([f for f, _, _ in located[n:]])) / 2
        evidence = [(e + f[..., ::-1]) / 2 for e, (_, f, _) in zip(evidence, located[n:],
                                                                    strict=True)]
        support = [(s + f[..., ::-1]) / 2 for s, (_, _, f) in zip(support, located[n:],
                                                                  strict=True)]
    if l2_normalize:
        norms = np.linalg.norm(features, axis=1)
        norms = np.where(norms > 0, norms, 1)
        features = features / norms[:, None]
        evidence = [e / norm for e, norm in zip(evidence, norms, strict=True)]
    return Located(features.astype(np.float32), evidence, support, "exact",
                   [crop_box(image, pre) for image in images])


def _one_view(results, sources, weights, offsets, pooling):
    """``(features, evidence, support)`` of one view from its layers' maps (c, h, w).

    The maps of every layer are brought to the finest layer's grid (sums kept).
    """
    features, parts, column = [], [], 0
    for maps, source in zip(results, sources, strict=True):
        how = "avg" if source is not None else pooling
        pooled = maps.mean(axis=(1, 2)) if source is not None else \
            pool_output(maps[None], pooling)[0]
        width = len(pooled)
        parts.append(_layer_maps(maps, how, weights[:, column:column + width],
                                 offsets[:, column:column + width]))
        column += width
        features.append(pooled)
    grid = (max(e.shape[1] for e, _ in parts), max(e.shape[2] for e, _ in parts))
    return (np.concatenate(features), sum(resample_map(e, grid) for e, _ in parts),
            sum(resample_map(s, grid) for _, s in parts))


def _layer_maps(maps, how, weights, offsets):
    """Evidence and support (K, h, w) of one layer's maps (c, h, w) pooled by ``how``."""
    channels, height, width = maps.shape
    if how == "flatten":
        evidence = np.einsum("kchw,chw->khw", weights.reshape(-1, channels, height, width),
                             maps)
        return evidence, offsets.reshape(-1, channels, height, width).sum(axis=1)
    levels = (1,) if how == "avg" else (1, 2)
    cells = grid_cells(height, width, levels)
    evidence = np.zeros((len(weights), height, width))
    for i, (_, rows, cols) in enumerate(cells):
        part = maps[:, rows, cols]
        if part.size:
            evidence[:, rows, cols] += np.einsum(
                "kc,chw->khw", weights[:, i * channels:(i + 1) * channels], part) / (
                part.shape[1] * part.shape[2])
    per_cell = offsets.reshape(len(offsets), len(cells), channels).sum(axis=2)
    return evidence, cell_support(per_cell, cells, (height, width))


def crop_box(view, pre) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)``: the part of the view the network sees (its central crop,
    as :meth:`~l2vision.features._preprocess.Preprocessing.crop_image` takes it).

    Examples
    --------
    >>> from l2vision.features._preprocess import Preprocessing
    >>> pre = Preprocessing((224, 224), (0.0,) * 3, 1.0, None, False, 0.5)
    >>> crop_box(np.zeros((100, 60, 3), np.uint8), pre)
    (25, 15, 75, 45)
    """
    height, width = view.shape[:2]
    if pre.crop in (None, 1, 1.0):
        return 0, 0, height, width
    ch, cw = max(1, int(round(height * pre.crop))), max(1, int(round(width * pre.crop)))
    y0, x0 = (height - ch) // 2, (width - cw) // 2
    return y0, x0, y0 + ch, x0 + cw
