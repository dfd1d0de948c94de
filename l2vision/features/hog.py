"""Histograms of oriented gradients: ``cv2.HOGDescriptor``, or the same from OpenCV primitives.

OpenCV 5 has no ``HOGDescriptor``; there :func:`~l2vision.features._hog_compute.hog_descriptors`
computes the same descriptors (equal to ``HOGDescriptor``'s on OpenCV 4 to
2.4e-7, measured by ``benchmarks/hog.py``), so a model keeps its accuracy
across OpenCV versions.
"""

from __future__ import annotations

import cv2
import numpy as np

from l2vision._validation import check_bool, check_int, check_option, check_pair, invalid, spec_int
from l2vision.features._hog_compute import hog_descriptors
from l2vision.features._hog_locate import hog_locate
from l2vision.features.base import ImageExtractor
from l2vision.features.location import Located

__all__ = ["HOG"]

_NORMS = ("L2-Hys",)  # OpenCV implements only L2-Hys (and ignores its threshold argument)
_COLORS = ("gray", "max", "per-channel")


class HOG(ImageExtractor):
    """Histogram of oriented gradients (Dalal & Triggs), computed by OpenCV.

    Each image is resized to ``size``, gradients are binned into
    ``orientations`` histograms per ``cell_size`` cell, and overlapping blocks
    of ``block_size`` cells are normalized and concatenated.

    Parameters
    ----------
    orientations : int, default=9
        Orientation bins over 0-180° (or 0-360° with ``signed=True``). Bin ``k``
        is centred on ``(k + 0.5) * 180 / orientations`` degrees.
    size : (int, int), default=(32, 32)
        Canonical ``(width, height)`` every image is resized to. The default,
        with 4x4-pixel cells, describes an image by an 8x8 grid of cells
        (1,764 features) at the native size of CIFAR-10-like thumbnails; for
        larger photos, ``size=(64, 64), cell_size=(8, 8)`` keeps the same grid
        and length with finer gradients, at about three times the cost.
    cell_size : (int, int), default=(4, 4)
        Cell size in pixels.
    block_size : (int, int), default=(2, 2)
        Block size in cells.
    block_stride : (int, int), default=(1, 1)
        Step between blocks, in cells.
    block_norm : {"L2-Hys"}, default="L2-Hys"
        L2 normalize, clip at 0.2, renormalize: the only block normalization
        OpenCV implements (its threshold argument has no effect in
        opencv-python 4.14, so other thresholds are not offered).
    color : {"gray", "max", "per-channel"}, default="gray"
        ``"gray"``: HOG of the gray image. ``"max"``: at each pixel the channel
        with the largest gradient wins (Dalal & Triggs' color HOG). ``"per-channel"``:
        one HOG per B, G, R channel, concatenated (3x the features).
    signed : bool, default=False
        Use signed gradients (0-360°).
    gamma_correction : bool, default=False
        Take the square root of intensities first (skimage's ``transform_sqrt``).

    Attributes
    ----------
    n_features_out_ : int
        Length of the descriptor, set by ``fit``.

    Returns
    -------
    The output has ``channels * blocks_x * blocks_y * cells_per_block *
    orientations`` columns, with ``blocks_x = (width - block_px) / stride_px + 1``.

    See Also
    --------
    skimage.feature.hog : the scikit-image implementation.

    Notes
    -----
    OpenCV follows Dalal & Triggs [1]_ more closely than ``skimage.feature.hog``:
    votes are interpolated bilinearly between neighbouring orientation bins and
    trilinearly between cells, and a Gaussian window (σ = (block width + block
    height) / 8 pixels) weights each block. scikit-image assigns each gradient
    to one bin and one cell without a window, and orders the output differently.
    The two agree on the distribution of gradient energy over orientations when
    gradients fall on bin centres (tested), not element by element. OpenCV is
    about 20x faster.

    References
    ----------
    .. [1] N. Dalal and B. Triggs, "Histograms of oriented gradients for human
       detection", CVPR 2005. :doi:`10.1109/CVPR.2005.177`

    Examples
    --------
    >>> import numpy as np
    >>> image = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    >>> HOG().fit_transform([image]).shape
    (1, 1764)
    """

    def __init__(self, orientations=9, *, size=(32, 32), cell_size=(4, 4),
                 block_size=(2, 2), block_stride=(1, 1), block_norm="L2-Hys",
                 color="gray", signed=False, gamma_correction=False):
        self.orientations = orientations
        self.size = size
        self.cell_size = cell_size
        self.block_size = block_size
        self.block_stride = block_stride
        self.block_norm = block_norm
        self.color = color
        self.signed = signed
        self.gamma_correction = gamma_correction

    def _check_params(self) -> None:
        check_int(self, "orientations", self.orientations, low=1)
        for name in ("size", "cell_size", "block_size", "block_stride"):
            check_pair(self, name, getattr(self, name))
        check_option(self, "block_norm", self.block_norm, _NORMS)
        check_option(self, "color", self.color, _COLORS)
        check_bool(self, "signed", self.signed)
        check_bool(self, "gamma_correction", self.gamma_correction)
        block_px, stride_px = self._pixels()
        for axis, name in ((0, "width"), (1, "height")):
            extra = self.size[axis] - block_px[axis]
            if extra < 0 or extra % stride_px[axis]:
                raise invalid(
                    self, "size", f"a whole number of blocks: the {name} {self.size[axis]} "
                    f"must be at least the block's {block_px[axis]} px and exceed it by a "
                    f"multiple of the {stride_px[axis]} px stride", self.size)

    def _pixels(self):
        block = (self.block_size[0] * self.cell_size[0], self.block_size[1] * self.cell_size[1])
        stride = (self.block_stride[0] * self.cell_size[0],
                  self.block_stride[1] * self.cell_size[1])
        return block, stride

    def _input_spec(self) -> tuple:
        return (tuple(self.size), "gray" if self.color == "gray" else "bgr")

    def _n_blocks(self) -> int:
        block_px, stride_px = self._pixels()
        return (((self.size[0] - block_px[0]) // stride_px[0] + 1)
                * ((self.size[1] - block_px[1]) // stride_px[1] + 1))

    def _n_channels(self) -> int:
        return 3 if self.color == "per-channel" else 1

    def _n_features(self) -> int:
        cells = self.block_size[0] * self.block_size[1]
        return self._n_channels() * self._n_blocks() * cells * self.orientations

    def _feature_names(self) -> list[str]:
        cells = self.block_size[0] * self.block_size[1]
        channels = ["b", "g", "r"] if self.color == "per-channel" else [""]
        return [f"{ch}block{b}_cell{c}_o{o}" for ch in channels
                for b in range(self._n_blocks()) for c in range(cells)
                for o in range(self.orientations)]

    def _descriptor(self) -> cv2.HOGDescriptor:
        block_px, stride_px = self._pixels()
        return cv2.HOGDescriptor(
            tuple(self.size), block_px, stride_px, tuple(self.cell_size),
            self.orientations, 1, -1.0, cv2.HOGDESCRIPTOR_L2HYS, 0.2,
            bool(self.gamma_correction), 64, bool(self.signed),
        )

    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        if not hasattr(cv2, "HOGDescriptor"):  # OpenCV 5
            return hog_descriptors(np.stack(images), cell_size=tuple(self.cell_size),
                                   block_size=tuple(self.block_size),
                                   block_stride=tuple(self.block_stride),
                                   orientations=self.orientations, signed=self.signed,
                                   gamma_correction=self.gamma_correction, color=self.color)
        hog = self._descriptor()
        out = np.empty((len(images), self._n_features()), np.float32)
        for i, image in enumerate(images):
            if self.color == "per-channel":
                out[i] = np.concatenate([hog.compute(np.ascontiguousarray(image[:, :, c]))
                                         for c in range(3)])
            else:
                out[i] = hog.compute(image)
        return out

    def _locate(self, images, weights, offsets) -> Located:
        """Pixels share each block's features by their votes (approximate: L2-Hys is not linear).

        See :func:`~l2vision.features._hog_locate.hog_locate`; the features
        are the NumPy descriptors (OpenCV 4's to about 1e-7).
        """
        features, evidence, support = hog_locate(
            np.stack(images), weights, offsets, cell_size=tuple(self.cell_size),
            block_size=tuple(self.block_size), block_stride=tuple(self.block_stride),
            orientations=self.orientations, signed=self.signed,
            gamma_correction=self.gamma_correction, color=self.color)
        return Located(features, evidence, support, "approximate")


def from_spec(size: str | None = None) -> HOG:
    """Histograms of oriented gradients of the gray image, an 8x8 grid of cells (1,764 values).

    ``hog`` works at 32x32 pixels (thumbnails); ``hog:64`` at 64x64 with 8x8-pixel
    cells, finer gradients for larger photos. SIZE must be a multiple of 8.
    """
    if size is None:
        return HOG()
    pixels = spec_int("hog", "SIZE", size, low=16)
    if pixels % 8:
        raise invalid("hog", "SIZE", "a multiple of 8 of at least 16 (an 8x8 grid of cells, "
                      "e.g. hog:64)", size)
    return HOG(size=(pixels, pixels), cell_size=(pixels // 8, pixels // 8))
