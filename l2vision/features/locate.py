"""Locate the features of images: every extractor's maps, brought back to the decoded image.

:func:`locate_images` decodes each image as :class:`~l2vision.features.ImageFeatures`
does (so its features are the ones the model scores), prepares each
extractor's view, and asks the extractor where its features come from
(``_locate``, :mod:`~l2vision.features.location`). An extractor that cannot
say (a plugin, VLAD, a dense layer) is measured by occlusion instead: the
image with each tile of a grid masked by its mean color, all copies
featurized in one batch (:func:`occlusion_maps`). Maps stay at each
extractor's resolution until :meth:`ImageLocations.heatmaps` resamples the
rows asked for to the decoded image, keeping their sums.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import check_is_fitted

from l2vision.config import get_config
from l2vision.features.base import decode_size, name_extractors, prepare_view
from l2vision.features.driver import ImageFeatures
from l2vision.features.learned import LearnedExtractor
from l2vision.features.location import Located, one_blas_thread, resample_map
from l2vision.io.decode import as_image, image_name, image_sequence, resize_image
from l2vision.io.errors import ImageReadError

__all__ = ["ExtractorMaps", "ImageLocations", "locate_images", "occlusion_maps"]

#: Occlusion tiles per side: tiles of 1/8 of the image's short side.
OCCLUSION_TILES = 8
#: Images decoded and located together (at most; the ``inference_batch_size`` setting
#: if smaller): enough for the network's batches, few full-size photos in memory.
LOCATE_CHUNK = 16


@dataclass
class ExtractorMaps:
    """One extractor's maps of one image, at the extractor's own resolution.

    Attributes
    ----------
    evidence, support : ndarray of shape (K, h, w)
        See :class:`~l2vision.features.location.Located`.
    kind : {"exact", "approximate", "occlusion"}
    box : (float, float, float, float), default=(0, 0, 1, 1)
        ``(top, left, bottom, right)``: the part of the image the maps cover,
        in fractions of its height and width.
    """

    evidence: np.ndarray
    support: np.ndarray
    kind: str
    box: tuple = (0.0, 0.0, 1.0, 1.0)


@dataclass
class ImageLocations:
    """Where one image's features come from.

    Attributes
    ----------
    image : ndarray
        The decoded image the maps cover, (H, W, 3) or (H, W).
    features : ndarray of float32, shape (n_features,)
        Its features, the columns of every extractor in order.
    parts : dict of str to ExtractorMaps
        By extractor name.

    Examples
    --------
    >>> one = np.ones((1, 2, 2))
    >>> loc = ImageLocations(np.zeros((4, 4), np.uint8), np.zeros(1, np.float32),
    ...                      {"a": ExtractorMaps(one, 0 * one, "exact")})
    >>> loc.heatmaps([0]).shape, float(loc.heatmaps([0]).sum())
    ((1, 4, 4), 4.0)
    """

    image: np.ndarray
    features: np.ndarray
    parts: dict

    def heatmaps(self, rows, scale: float = 1.0) -> np.ndarray:
        """``Σ scale * evidence - support`` of the given rows at the image's size: (K, H, W).

        ``scale`` multiplies every evidence map (``1 / norm`` for a model that
        L2-normalizes the feature vector); each map's sum is kept.
        """
        rows = list(rows)
        groups: dict = {}
        for part in self.parts.values():
            combined = scale * part.evidence[rows] - part.support[rows]
            key = (combined.shape[1:], part.box)
            groups[key] = groups[key] + combined if key in groups else combined
        height, width = self.image.shape[:2]
        out = np.zeros((len(rows), height, width))
        with one_blas_thread():
            for (_, box), combined in groups.items():
                top, bottom = _span(box[0], box[2], height)
                left, right = _span(box[1], box[3], width)
                out[:, top:bottom, left:right] += resample_map(combined, (bottom - top,
                                                                          right - left))
        return out

    def sums(self, scale: float = 1.0) -> dict:
        """Per extractor, ``scale * evidence - support`` summed: (K,) each."""
        return {name: scale * part.evidence.sum(axis=(1, 2)) - part.support.sum(axis=(1, 2))
                for name, part in self.parts.items()}


def _span(start: float, stop: float, size: int) -> tuple[int, int]:
    """Pixels ``[a, b)`` of the fraction ``[start, stop)`` of ``size`` (never empty)."""
    a = min(max(int(round(start * size)), 0), size - 1)
    return a, max(a + 1, min(int(round(stop * size)), size))


def occlusion_maps(extractor, images: list, weights: np.ndarray, offsets: np.ndarray,
                   tiles: int = OCCLUSION_TILES) -> Located:
    """Maps of an extractor without ``_locate``, by masking tiles (kind ``"occlusion"``).

    Each image is copied once per square tile (side: 1/``tiles`` of its short
    side), the tile filled with the image's mean color; the copies are
    featurized in one batch. A tile's evidence is the score it takes away
    when masked, ``weights @ (f - f_masked)``, spread over its pixels; what
    the tiles do not account for (masking is not additive) is spread evenly,
    so the maps still sum to ``weights @ f``. Offsets are spread evenly.

    Examples
    --------
    >>> from l2vision.features import TinyImage
    >>> tiny = TinyImage((2, 2), color="gray").fit()
    >>> w = np.ones((1, 4))
    >>> loc = occlusion_maps(tiny, [np.eye(8, dtype=np.uint8) * 255], w, w)
    >>> loc.kind, loc.evidence[0].shape
    ('occlusion', (1, 8, 8))
    """
    spec = extractor._input_spec()
    features, evidence, support = [], [], []
    weights, offsets = np.asarray(weights, np.float64), np.asarray(offsets, np.float64)
    for image in images:
        height, width = image.shape[:2]
        side = max(1, min(height, width) // tiles)
        boxes = [(y, x) for y in range(0, height, side) for x in range(0, width, side)]
        fill = np.round(image.reshape(height * width, -1).mean(axis=0)).astype(image.dtype)
        copies = [image]
        for y, x in boxes:
            copy = image.copy()
            copy[y:y + side, x:x + side] = fill.reshape(copy.shape[2:])
            copies.append(copy)
        f = extractor._extract([prepare_view(c, spec) for c in copies]).astype(np.float64)
        drops = (f[0] - f[1:]) @ weights.T                         # (tiles, K)
        maps = np.zeros((len(weights), height, width))
        for (y, x), drop in zip(boxes, drops, strict=True):
            block = maps[:, y:y + side, x:x + side]
            block += (drop / (block.shape[1] * block.shape[2]))[:, None, None]
        maps += ((weights @ f[0] - drops.sum(axis=0)) / (height * width))[:, None, None]
        features.append(f[0])
        evidence.append(maps)
        support.append(np.broadcast_to((offsets.sum(axis=1) / (height * width))[:, None, None],
                                       maps.shape))
    return Located(np.asarray(features, np.float32), evidence, support, "occlusion")


def locate_images(features: ImageFeatures, images, weights: np.ndarray,
                  offsets: np.ndarray | None = None
                  ) -> Iterator[tuple[int, ImageLocations | ImageReadError]]:
    """For each image, in order: ``(index, ImageLocations)``, or ``(index, ImageReadError)``.

    Parameters
    ----------
    features : ImageFeatures
        A fitted driver (a pipeline's first step).
    images : sequence of ndarray, path or bytes, or an ImageSet
    weights : ndarray of shape (K, n_features)
        One row per map wanted (a class's weights, say).
    offsets : ndarray of shape (K, n_features) or None, default=None
        Amounts spread over each feature's pixels (a baseline, ``weights *
        mean``); None: zeros.

    Yields
    ------
    index : int
    located : ImageLocations or ImageReadError
        The image's maps, or why it could not be read.

    Examples
    --------
    >>> from l2vision.features import ColorHistogram
    >>> driver = ImageFeatures([ColorHistogram(bins=2)]).fit()
    >>> [(i, loc.heatmaps([0]).shape) for i, loc in
    ...  locate_images(driver, [np.zeros((6, 4, 3), np.uint8)], np.ones((1, 8)))]
    [(0, (1, 6, 4))]
    """
    check_is_fitted(features)
    items = image_sequence(images)
    named = name_extractors(features.extractors_ if isinstance(features.extractors, str)
                            else features.extractors)
    for _, ext in named:
        if isinstance(ext, LearnedExtractor):
            ext.check_fitted()
    widths = [ext._n_features() for _, ext in named]
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    offsets = np.zeros_like(weights) if offsets is None else \
        np.atleast_2d(np.asarray(offsets, np.float64))
    if weights.shape[1] != sum(widths) or offsets.shape != weights.shape:
        raise ValueError(f"weights and offsets must be (K, {sum(widths)}) arrays, the features' "
                         f"width; got {weights.shape} and {offsets.shape}")
    config = get_config()
    size = None if features.size is None else tuple(features.size)
    minimum = (size or decode_size(named)) if features.reduced_decoding else None
    chunk = max(1, min(config["inference_batch_size"], LOCATE_CHUNK))
    for start in range(0, len(items), chunk):
        stop = min(start + chunk, len(items))
        decoded, working, failed = {}, {}, {}
        for i in range(start, stop):
            try:
                decoded[i] = as_image(items[i], name=image_name(items[i], i),
                                      max_pixels=config["max_pixels"], min_size=minimum)
            except ImageReadError as exc:
                failed[i] = exc
                continue
            working[i] = resize_image(decoded[i], size)
        with one_blas_thread():
            located = _locate_all(named, widths, [working[i] for i in decoded], weights,
                                  offsets) if decoded else {}
        row = {i: j for j, i in enumerate(decoded)}
        for i in range(start, stop):
            if i in failed:
                yield i, failed[i]
                continue
            j = row[i]
            yield i, ImageLocations(
                decoded[i], np.concatenate([loc.features[j] for loc, _ in located.values()]),
                {name: ExtractorMaps(loc.evidence[j], loc.support[j], loc.kind, boxes[j])
                 for name, (loc, boxes) in located.items()})


def _locate_all(named, widths, images, weights, offsets) -> dict:
    """Per extractor, its :class:`Located` for working images (by occlusion when it can't
    say) and each image's box as fractions of the view."""
    located, column = {}, 0
    for (name, ext), width in zip(named, widths, strict=True):
        cols = slice(column, column + width)
        column += width
        views = [prepare_view(image, ext._input_spec()) for image in images]
        found = ext._locate(views, weights[:, cols], offsets[:, cols])
        if found is None:
            found = occlusion_maps(ext, images, weights[:, cols], offsets[:, cols])
        boxes = found.boxes or [None] * len(views)
        located[name] = (found, [
            (0.0, 0.0, 1.0, 1.0) if box is None else
            (box[0] / view.shape[0], box[1] / view.shape[1], box[2] / view.shape[0],
             box[3] / view.shape[1]) for box, view in zip(boxes, views, strict=True)])
    return located
