"""Quality statistics and hashes of every image, computed in the driver's decode loop.

:class:`ImageAuditStats` is an extractor like the others, so the images are
decoded in the crash-isolated workers (or on the Dask cluster) of
:func:`l2vision.config_context`, and unreadable ones are reported rather than
raised. Its "features" are the ten
:func:`~l2vision.audit.image_stats` of the image at its own size, then its
64-bit perceptual hash and the first 64 bits of its pixel hash, each as four
16-bit pieces (exact in float32); :func:`split_stats` takes them apart.
"""

from __future__ import annotations

import numpy as np

from l2vision.audit import STATS, image_stats, perceptual_hash, pixel_hash
from l2vision.features.base import ImageExtractor

__all__ = ["STATS_WIDTH", "ImageAuditStats", "split_stats"]

_PIECES = 4  # 16-bit pieces of a 64-bit hash

#: The columns of :class:`ImageAuditStats`: the statistics, then the two hashes' pieces.
STATS_WIDTH = len(STATS) + 2 * _PIECES


def _pieces(value: int) -> list[int]:
    return [(value >> (16 * k)) & 0xFFFF for k in range(_PIECES)]


def _join(pieces: np.ndarray) -> np.ndarray:
    """64-bit integers from rows of four 16-bit pieces (float32)."""
    out = np.zeros(len(pieces), dtype=np.uint64)
    for k in range(_PIECES):
        out |= pieces[:, k].astype(np.uint64) << np.uint64(16 * k)
    return out


class ImageAuditStats(ImageExtractor):
    """Quality statistics, perceptual hash and pixel hash of each image (18 values).

    The image is taken at its decoded size (no canonical size: the size and
    aspect are statistics), in BGR (a gray image as three equal channels,
    which its color range shows).

    Examples
    --------
    >>> import numpy as np
    >>> stats = ImageAuditStats().fit().transform([np.zeros((6, 9, 3), np.uint8)])
    >>> stats.shape, split_stats(stats)[0][0, :2].tolist()
    ((1, 18), [6.0, 9.0])
    """

    def _check_params(self) -> None:
        pass

    def _input_spec(self) -> tuple:
        return (None, "bgr")

    def _decode_size(self) -> tuple | None:
        return None  # the full size: size and sharpness are measured on it

    def _n_features(self) -> int:
        return STATS_WIDTH

    def _feature_names(self) -> list[str]:
        return list(STATS) + [f"phash{k}" for k in range(_PIECES)] \
            + [f"pixel_hash{k}" for k in range(_PIECES)]

    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        rows = []
        for image in images:
            rows.append([*image_stats(image), *_pieces(int(perceptual_hash(image))),
                         *_pieces(int(pixel_hash(image)[:16], 16))])
        return np.asarray(rows, dtype=np.float64).reshape(len(images), -1).astype(np.float32)


def split_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(stats (n, 10) float64, perceptual hashes (n,) uint64, pixel hashes (n,) uint64)``."""
    n = len(STATS)
    return (X[:, :n].astype(np.float64), _join(X[:, n:n + _PIECES]),
            _join(X[:, n + _PIECES:]))
