"""A heatmap drawn over its image: evidence for the class in red, against it in blue."""

from __future__ import annotations

import numpy as np

__all__ = ["encode_png", "overlay"]

_FOR = np.array([40.0, 40.0, 255.0])      # BGR: red, evidence for the class
_AGAINST = np.array([255.0, 120.0, 0.0])  # BGR: blue, evidence against it


def overlay(image: np.ndarray, heatmap: np.ndarray, *, strength: float = 0.75,
            percentile: float = 99.0) -> np.ndarray:
    """The image with its heatmap blended in: uint8 BGR (H, W, 3).

    Each pixel is tinted red (positive evidence) or blue (negative) in
    proportion to ``|heatmap|`` over its ``percentile``-th percentile (so a
    few extreme pixels don't wash the rest out), up to ``strength``; the
    image is shown in gray underneath, so its own colors don't read as evidence.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3) or (H, W)
        BGR or gray, as decoded.
    heatmap : ndarray, shape (H, W)
    strength : float, default=0.75
        Opacity of the strongest evidence.
    percentile : float, default=99.0

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)

    Examples
    --------
    >>> heat = np.zeros((2, 2)); heat[0, 0], heat[1, 1] = 1.0, -1.0
    >>> out = overlay(np.full((2, 2), 128, np.uint8), heat)
    >>> out[0, 0].tolist(), out[1, 1].tolist(), out[0, 1].tolist()
    ([62, 62, 223], [223, 122, 32], [128, 128, 128])
    """
    import cv2

    if image.shape[:2] != heatmap.shape:
        raise ValueError(f"the heatmap's shape {heatmap.shape} is not the image's "
                         f"{image.shape[:2]}")
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    base = np.repeat(gray.astype(np.float64)[:, :, None], 3, axis=2)
    heat = np.asarray(heatmap, np.float64)
    top = np.percentile(np.abs(heat), percentile) if heat.size else 0.0
    top = top if top > 0 else max(float(np.abs(heat).max(initial=0.0)), 1e-300)
    amount = (np.clip(np.abs(heat) / top, 0, 1) * strength)[:, :, None]
    color = np.where(heat[:, :, None] >= 0, _FOR, _AGAINST)
    return np.clip(np.round(base * (1 - amount) + color * amount), 0, 255).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image.

    Examples
    --------
    >>> encode_png(np.zeros((2, 2, 3), np.uint8))[:4]
    b'\\x89PNG'
    """
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {image.shape} as PNG")
    return data.tobytes()
