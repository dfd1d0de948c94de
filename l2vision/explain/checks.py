"""Checks that heatmaps mean something: deletion, and randomized weights (Adebayo et al.).

- :func:`deletion_check`: mask the tiles with the most evidence per pixel
  and see the explained class's probability fall further than when as many
  random tiles are masked.
- :func:`sanity_check`: explain with the linear weights randomized; maps
  that barely change would show the image, not the model.

References
----------
.. [1] V. Petsiuk, A. Das and K. Saenko, "RISE: Randomized Input Sampling for
   Explanation of Black-box Models", BMVC 2018.
.. [2] J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt and B. Kim,
   "Sanity Checks for Saliency Maps", NeurIPS 2018.
"""

from __future__ import annotations

import numpy as np

from l2vision.explain.explain import explain_features
from l2vision.explain.linear import LinearHead, linear_head
from l2vision.features.location import resample_map
from l2vision.io.decode import image_sequence
from l2vision.pipelines.build import class_scores, split_pipeline

__all__ = ["deletion_check", "mask_tiles", "sanity_check", "tile_boxes"]


def tile_boxes(height: int, width: int, tiles: int = 8) -> list[tuple[slice, slice]]:
    """Square tiles of side ``short side // tiles`` covering the image (edge tiles cut).

    Examples
    --------
    >>> len(tile_boxes(32, 32)), len(tile_boxes(400, 533))
    (64, 88)
    """
    side = max(1, min(height, width) // tiles)
    return [(slice(y, y + side), slice(x, x + side))
            for y in range(0, height, side) for x in range(0, width, side)]


def mask_tiles(image: np.ndarray, boxes, chosen) -> np.ndarray:
    """A copy of ``image`` with the ``chosen`` tiles filled with the image's mean color.

    Examples
    --------
    >>> image = np.arange(4, dtype=np.uint8).reshape(2, 2)
    >>> mask_tiles(image, tile_boxes(2, 2, 2), [0]).tolist()
    [[2, 1], [2, 3]]
    """
    fill = np.round(image.reshape(image.shape[0] * image.shape[1], -1).mean(axis=0))
    out = image.copy()
    for k in chosen:
        out[boxes[k]] = fill.astype(image.dtype).reshape(image.shape[2:])
    return out


def deletion_check(model, images, *, fraction: float = 0.2, tiles: int = 8,
                   repeats: int = 5, seed: int = 0, baseline: str = "mean",
                   chunk: int = 16, ranking=None) -> dict:
    """How often masking the most-evidence tiles lowers the class's probability more than random.

    For each readable image, its predicted class is explained; the image's
    tiles (:func:`tile_boxes`) are ranked by evidence per pixel; the top
    ``fraction`` of them are masked with the image's mean color, and so are
    ``repeats`` random draws of as many tiles. The image counts as a success
    when the class's probability (the model's calibrated one, else its
    decision value) after the top tiles are masked is below its mean after
    the random ones. ``ranking(explanation, boxes) -> scores``, when given,
    ranks the tiles instead (another map to compare with, such as occlusion).

    Returns
    -------
    dict
        ``n_images``, ``success_rate``, ``mean_drop_top`` and
        ``mean_drop_random`` (the class's probability before minus after),
        and ``per_image`` (source, label, the three probabilities).

    Examples
    --------
    >>> from l2vision.pipelines import make_pipeline
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(6)]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, list("ababab"))
    >>> deletion_check(model, images[:2], repeats=2)["n_images"]
    2
    """
    features, head = split_pipeline(model)
    linear = linear_head(head)
    classes = [str(c) for c in linear.classes]
    rng = np.random.default_rng(seed)
    rows, pending = [], []

    def flush():
        copies = [c for _, _, group in pending for c in group]
        scores = class_scores(head, features.transform(copies))
        at = 0
        for source, label, group in pending:
            p = scores[at:at + len(group), classes.index(str(label))]
            at += len(group)
            rows.append({"source": source, "label": str(label), "original": float(p[0]),
                         "top": float(p[1]), "random": float(p[2:].mean())})
        pending.clear()

    for e in explain_features(features, linear, images, baseline=baseline):
        if e.error is not None:
            continue
        heat, image = e.classes[0].heatmap, e.image
        boxes = tile_boxes(*image.shape[:2], tiles)
        per_pixel = np.array([heat[b].sum() / heat[b].size for b in boxes]) \
            if ranking is None else np.asarray(ranking(e, boxes))
        n_mask = max(1, int(round(fraction * len(boxes))))
        group = [image, mask_tiles(image, boxes, np.argsort(-per_pixel, kind="stable")[:n_mask])]
        group += [mask_tiles(image, boxes, rng.choice(len(boxes), n_mask, replace=False))
                  for _ in range(repeats)]
        pending.append((e.source, e.classes[0].label, group))
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()
    success = [r["top"] < r["random"] for r in rows]
    return {"n_images": len(rows), "fraction": fraction, "tiles": tiles, "repeats": repeats,
            "success_rate": float(np.mean(success)) if rows else float("nan"),
            "mean_drop_top": float(np.mean([r["original"] - r["top"] for r in rows]))
            if rows else float("nan"),
            "mean_drop_random": float(np.mean([r["original"] - r["random"] for r in rows]))
            if rows else float("nan"),
            "per_image": rows}


def _rank_correlation(a: np.ndarray, b: np.ndarray, side: int) -> float:
    """Spearman's rank correlation of two maps, each brought to at most ``side`` a side."""
    from scipy.stats import spearmanr

    shape = (min(side, a.shape[0]), min(side, a.shape[1]))
    a, b = resample_map(a.astype(np.float64), shape), resample_map(b.astype(np.float64), shape)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a.ravel(), b.ravel())[0])


def sanity_check(model, images, *, seed: int = 0, side: int = 64,
                 baseline: str = "mean") -> dict:
    """Rank correlation between each image's map and its map under randomized linear weights.

    The weights (``coef``) are replaced by Gaussian ones with each class's
    standard deviation (the intercept and the mean kept); the predicted
    class of each image is explained by both. Maps at most ``side`` pixels a
    side are compared (sums kept by :func:`~l2vision.features.location.resample_map`).

    Returns
    -------
    dict
        ``n_images``, ``mean_correlation``, ``median_correlation``,
        ``max_correlation`` and ``per_image``.

    Examples
    --------
    >>> from l2vision.pipelines import make_pipeline
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(6)]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, list("ababab"))
    >>> sanity_check(model, images[:2])["n_images"]
    2
    """
    features, head = split_pipeline(model)
    linear = linear_head(head)
    rng = np.random.default_rng(seed)
    spread = linear.coef.std(axis=1, keepdims=True)
    randomized = LinearHead(linear.classes, rng.normal(size=linear.coef.shape) * spread,
                            linear.intercept, linear.mean, linear.normalize)
    found = {}
    for e in explain_features(features, linear, images, baseline=baseline):
        if e.error is None:
            found[e.index] = e.classes[0]
    correlations = []
    for index, explained in found.items():
        [other] = explain_features(features, randomized, [image_sequence(images)[index]],
                                   classes=[explained.label], baseline=baseline)
        correlations.append(_rank_correlation(explained.heatmap, other.classes[0].heatmap, side))
    values = np.asarray(correlations)
    return {"n_images": len(values),
            "mean_correlation": float(values.mean()) if len(values) else float("nan"),
            "median_correlation": float(np.median(values)) if len(values) else float("nan"),
            "max_correlation": float(values.max()) if len(values) else float("nan"),
            "per_image": [float(v) for v in values]}
