"""Tiny images: downsampled raw pixels, the classic baseline."""

from __future__ import annotations

import numpy as np

from l2vision._validation import check_bool, check_option, check_pair, spec_int
from l2vision.features.base import ImageExtractor
from l2vision.features.location import Located

__all__ = ["TinyImage"]


class TinyImage(ImageExtractor):
    """Raw pixels of the image shrunk to a tiny size (Torralba et al.'s baseline).

    Parameters
    ----------
    size : (int, int), default=(16, 16)
        ``(width, height)`` of the tiny image (area interpolation).
    color : {"bgr", "gray"}, default="bgr"
        Keep the three channels or use gray.
    normalize : bool, default=True
        Subtract each image's mean and divide by its L2 norm (zero-mean,
        unit-norm), which removes brightness and contrast. False returns the
        pixels scaled to [0, 1].

    Attributes
    ----------
    n_features_out_ : int
        ``width * height * channels``.

    References
    ----------
    .. [1] A. Torralba, R. Fergus and W. T. Freeman, "80 million tiny images",
       IEEE TPAMI 30(11), 2008. :doi:`10.1109/TPAMI.2008.128`

    Examples
    --------
    >>> import numpy as np
    >>> TinyImage(size=(4, 4), color="gray").fit_transform([np.eye(8, dtype=np.uint8)]).shape
    (1, 16)
    """

    def __init__(self, size=(16, 16), *, color="bgr", normalize=True):
        self.size = size
        self.color = color
        self.normalize = normalize

    def _check_params(self) -> None:
        check_pair(self, "size", self.size)
        check_option(self, "color", self.color, ("bgr", "gray"))
        check_bool(self, "normalize", self.normalize)

    def _input_spec(self) -> tuple:
        return (tuple(self.size), self.color)

    def _n_features(self) -> int:
        return self.size[0] * self.size[1] * (3 if self.color == "bgr" else 1)

    def _feature_names(self) -> list[str]:
        channels = ("b", "g", "r") if self.color == "bgr" else ("gray",)
        return [f"tiny_y{y}_x{x}_{c}" for y in range(self.size[1])
                for x in range(self.size[0]) for c in channels]

    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        out = np.stack([image.reshape(-1) for image in images]).astype(np.float32) / 255
        if self.normalize:
            out -= out.mean(axis=1, keepdims=True)
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.where(norms > 0, norms, 1)
        return out

    def _locate(self, images, weights, offsets) -> Located:
        """Each tiny pixel carries its weights times its value (exact).

        With ``normalize``, ``w · (x - mean(x)) / norm = Σ x_i (w_i - mean(w)) / norm``:
        pixel ``i`` gets ``x_i (w_i - mean(w)) / norm``, the image's norm a constant.
        """
        features = self._extract(images)
        weights, offsets = np.asarray(weights, np.float64), np.asarray(offsets, np.float64)
        shape = (len(weights), self.size[1], self.size[0], -1)
        evidence, support = [], []
        for image in images:
            pixels = image.reshape(-1).astype(np.float64) / 255
            if self.normalize:
                centred = pixels - pixels.mean()
                norm = np.linalg.norm(centred)
                scaled = (weights - weights.mean(axis=1, keepdims=True)) / (norm if norm > 0
                                                                             else np.inf)
            else:
                scaled = weights
            evidence.append((scaled * pixels).reshape(shape).sum(axis=3))
            support.append(offsets.reshape(shape).sum(axis=3))
        return Located(features, evidence, support, "exact")


def from_spec(size: str = "16") -> TinyImage:
    """The image shrunk to SIZE x SIZE pixels (default 16), zero-mean and unit-norm."""
    pixels = spec_int("tiny", "SIZE", size, low=1)
    return TinyImage((pixels, pixels))
