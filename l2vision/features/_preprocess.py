"""How uint8 BGR images become a network's input blob (shared by both engines).

:class:`Preprocessing` holds a network's input size, mean, scale, standard
deviation, channel order and central crop; :func:`make_blob` turns a batch of
images into the NCHW float32 blob that ``cv2.dnn`` and ONNX Runtime both take.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Preprocessing", "make_blob"]


@dataclass(frozen=True)
class Preprocessing:
    """How uint8 BGR images become a network's NCHW float32 input.

    ``x = (pixel - mean) * scale / std`` per channel, with ``mean`` and ``std``
    in network channel order (after ``swap_rb``), as OpenCV's
    ``blobFromImages`` takes them; ``crop`` is the central fraction kept
    before resizing to ``size = (width, height)`` (None or 1.0: the whole image).
    """

    size: tuple
    mean: tuple
    scale: float
    std: tuple | None
    swap_rb: bool
    crop: float | None

    def crop_image(self, image: np.ndarray) -> np.ndarray:
        """The central ``crop`` fraction of an image (a view; the image itself without crop)."""
        if self.crop in (None, 1, 1.0):
            return image
        h, w = image.shape[:2]
        ch, cw = max(1, int(round(h * self.crop))), max(1, int(round(w * self.crop)))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return image[y0:y0 + ch, x0:x0 + cw]


def make_blob(images: list[np.ndarray], pre: Preprocessing) -> np.ndarray:
    """The NCHW float32 network input of a batch of uint8 BGR images.

    Examples
    --------
    >>> pre = Preprocessing((4, 2), (127.5,) * 3, 1 / 127.5, None, True, None)
    >>> blob = make_blob([np.full((6, 8, 3), 255, np.uint8)], pre)
    >>> blob.shape, float(blob.max())
    ((1, 3, 2, 4), 1.0)
    """
    # Image by image into one array: each image's float planes are made while its
    # pixels are in cache (blobFromImages on the whole batch makes a batch-sized
    # float copy and passes over it several times: 2.5x slower, same values).
    blob = None
    for i, image in enumerate(images):
        one = cv2.dnn.blobFromImage(pre.crop_image(image), pre.scale, tuple(pre.size), pre.mean,
                                    swapRB=pre.swap_rb, crop=False)
        if blob is None:
            blob = np.empty((len(images), *one.shape[1:]), np.float32)
        blob[i] = one[0]
    if blob is None:
        raise ValueError("make_blob needs at least one image")
    if pre.std is not None:
        blob /= np.asarray(pre.std, np.float32)[None, :, None, None]
    return blob
