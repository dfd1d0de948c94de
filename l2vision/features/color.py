"""Color histograms (HSV, Lab or RGB), joint or per channel, over a spatial pyramid."""

from __future__ import annotations

from numbers import Integral

import cv2
import numpy as np

from l2vision._validation import (
    check_bool,
    check_int,
    check_levels,
    check_option,
    check_pair,
    invalid,
    spec_option,
)
from l2vision.features.base import (
    ImageExtractor,
    grid_cell_names,
    grid_cells,
    pyramid_histograms,
)
from l2vision.features.location import (
    Located,
    cell_support,
    pyramid_evidence,
    share_gain,
)
from l2vision.io.decode import limit_side

__all__ = ["ColorHistogram"]

# OpenCV conversion, channel names and value range of each channel for uint8.
_SPACES = {
    "hsv": (cv2.COLOR_BGR2HSV, ("h", "s", "v"), (180, 256, 256)),
    "lab": (cv2.COLOR_BGR2LAB, ("L", "a", "b"), (256, 256, 256)),
    "rgb": (cv2.COLOR_BGR2RGB, ("r", "g", "b"), (256, 256, 256)),
}


class ColorHistogram(ImageExtractor):
    """Normalized color histograms, optionally over a spatial pyramid of cells.

    Parameters
    ----------
    space : {"hsv", "lab", "rgb"}, default="hsv"
        Color space (OpenCV's 8-bit conventions: hue is 0-179).
    bins : int or (int, int, int), default=(8, 4, 4)
        Bins per channel.
    mode : {"joint", "per-channel"}, default="joint"
        ``"joint"``: one 3-D histogram with ``b0 * b1 * b2`` bins per cell.
        ``"per-channel"``: three 1-D histograms, ``b0 + b1 + b2`` bins per cell.
    grid : tuple of int, default=(1,)
        Spatial pyramid levels: level ``n`` splits the image into ``n x n``
        cells, e.g. ``(1, 2)`` gives the whole image plus four quadrants.
    sqrt : bool, default=False
        Take the square root of each normalized bin (the Hellinger / RootSIFT
        mapping), which makes Euclidean distances behave like the Bhattacharyya
        kernel and usually helps linear models.
    size : (int, int) or None, default=None
        Resize to ``(width, height)`` first; None keeps the image's size.
    max_side : int or None, default=None
        Shrink images whose longer side is larger than this first (keeping
        the aspect ratio); None works at each image's own size. Large photos
        then cost about the same as small ones.

    Attributes
    ----------
    n_features_out_ : int
        ``n_cells * bins_per_cell`` with ``n_cells = sum(n * n for n in grid)``.

    Notes
    -----
    Each cell's histogram is L1-normalized (divided by its pixel count, and by
    3 in ``"per-channel"`` mode), so features do not depend on image size. Hue
    is circular: pure red (hue 0) and magenta-red (hue 179) fall in the first
    and last hue bins.

    Examples
    --------
    >>> import numpy as np
    >>> red = np.zeros((8, 8, 3), np.uint8); red[..., 2] = 255
    >>> f = ColorHistogram(bins=(4, 2, 2)).fit_transform([red])
    >>> f.shape, float(f[0, 3])  # h0, s1, v1: the red hue bin, saturated, bright
    ((1, 16), 1.0)
    """

    def __init__(self, space="hsv", *, bins=(8, 4, 4), mode="joint", grid=(1,),
                 sqrt=False, size=None, max_side=None):
        self.space = space
        self.bins = bins
        self.mode = mode
        self.grid = grid
        self.sqrt = sqrt
        self.size = size
        self.max_side = max_side

    def _bins3(self) -> tuple:
        return (self.bins,) * 3 if isinstance(self.bins, Integral) else tuple(self.bins)

    def _check_params(self) -> None:
        check_option(self, "space", self.space, tuple(_SPACES))
        sequence = isinstance(self.bins, (tuple, list))
        bins = self.bins if sequence else (self.bins,)
        if len(bins) != (3 if sequence else 1) or not all(
                isinstance(b, Integral) and not isinstance(b, bool) and 1 <= b <= 256
                for b in bins):
            raise invalid(self, "bins", "an int or three ints in [1, 256]", self.bins)
        check_option(self, "mode", self.mode, ("joint", "per-channel"))
        check_levels(self, "grid", self.grid)
        check_bool(self, "sqrt", self.sqrt)
        check_pair(self, "size", self.size, optional=True)
        check_int(self, "max_side", self.max_side, low=1, optional=True)

    def _input_spec(self) -> tuple:
        return (None if self.size is None else tuple(self.size), "bgr")

    def _bins_per_cell(self) -> int:
        b = self._bins3()
        return b[0] * b[1] * b[2] if self.mode == "joint" else sum(b)

    def _n_features(self) -> int:
        return sum(n * n for n in self.grid) * self._bins_per_cell()

    def _feature_names(self) -> list[str]:
        names = _SPACES[self.space][1]
        b = self._bins3()
        if self.mode == "joint":
            bins = [f"{names[0]}{i}_{names[1]}{j}_{names[2]}{k}"
                    for i in range(b[0]) for j in range(b[1]) for k in range(b[2])]
        else:
            bins = [f"{names[c]}{i}" for c in range(3) for i in range(b[c])]
        return [f"{self.space}_{cell}_{name}" for cell in grid_cell_names(self.grid)
                for name in bins]

    def _bin_tables(self) -> list[np.ndarray]:
        """For each channel, the bin of every 8-bit value (``value * bins // range``)."""
        ranges = _SPACES[self.space][2]
        return [(np.arange(256) * bins) // top
                for bins, top in zip(self._bins3(), ranges, strict=True)]

    def _bin_index(self, image: np.ndarray) -> np.ndarray:
        """Per-channel mode: per-pixel bin index, shape (3, H, W), channels' bins end to end."""
        converted = cv2.cvtColor(image, _SPACES[self.space][0])
        offsets = np.cumsum((0,) + self._bins3()[:2])
        return np.stack([table[converted[:, :, c]] + offsets[c]
                         for c, table in enumerate(self._bin_tables())])

    def _joint_histograms(self, images: np.ndarray) -> np.ndarray:
        """Joint mode for a stack of same-size images ``(n, H, W, 3)``, all at once.

        One color conversion for the stack, per-pixel joint bin indexes from
        lookup tables, and one ``np.bincount`` per grid cell with each image's
        counts offset into its own row.
        """
        n, height, width = images.shape[:3]
        converted = cv2.cvtColor(images.reshape(n * height, width, 3), _SPACES[self.space][0])
        b = self._bins3()
        n_bins = b[0] * b[1] * b[2]
        # Bin of each value, already multiplied by its channel's place in the joint index.
        depth = np.uint8 if n_bins <= 256 else np.uint16 if n_bins <= 65536 else np.int32
        planes = [cv2.LUT(plane, (table * weight).astype(depth)) for plane, table, weight in
                  zip(cv2.split(converted), self._bin_tables(), (b[1] * b[2], b[2], 1),
                      strict=True)]
        index = cv2.add(cv2.add(planes[0], planes[1]), planes[2]).reshape(n, height, width)
        offsets = (np.arange(n, dtype=np.int32) * n_bins)[:, None, None]
        cells = []
        for _, rows, cols in grid_cells(height, width, self.grid):
            counts = np.bincount((index[:, rows, cols] + offsets).ravel(),
                                 minlength=n * n_bins).reshape(n, n_bins)
            cells.append(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1))
        return np.hstack(cells)

    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        if self.max_side is not None:
            images = [limit_side(image, self.max_side) for image in images]
        n_bins = self._bins_per_cell()
        if self.mode == "joint" and len({image.shape for image in images}) == 1:
            out = self._joint_histograms(np.asarray(images)).astype(np.float32)
        else:
            out = np.empty((len(images), self._n_features()), np.float32)
            for i, image in enumerate(images):
                out[i] = (self._joint_histograms(image[None]) if self.mode == "joint" else
                          pyramid_histograms(self._bin_index(image), self.grid, n_bins))
        return np.sqrt(out) if self.sqrt else out

    def _pixel_bins(self, image: np.ndarray) -> np.ndarray:
        """Each pixel's bin in its cell's histogram: (H, W) joint, (3, H, W) per channel."""
        if self.mode == "per-channel":
            return self._bin_index(image)
        converted = cv2.cvtColor(image, _SPACES[self.space][0])
        b, tables = self._bins3(), self._bin_tables()
        return (tables[0][converted[:, :, 0]] * (b[1] * b[2])
                + tables[1][converted[:, :, 1]] * b[2] + tables[2][converted[:, :, 2]])

    def _locate(self, images, weights, offsets) -> Located:
        """Each pixel carries its bins' weights over its cells' counts (exact without ``sqrt``).

        With ``sqrt``, a bin's contribution ``w sqrt(h)`` is shared equally by
        its pixels (the proportional rule: approximate).
        """
        features = self._extract(images)
        n_bins, evidence, support = self._bins_per_cell(), [], []
        offsets = np.asarray(offsets, np.float64).reshape(len(offsets), -1, n_bins).sum(axis=2)
        for image, row in zip(images, features, strict=True):
            shown = limit_side(image, self.max_side) if self.max_side is not None else image
            index = self._pixel_bins(shown)
            gain = share_gain(row, pyramid_histograms(index, self.grid, n_bins)) \
                if self.sqrt else 1.0
            cells = grid_cells(*shown.shape[:2], self.grid)
            evidence.append(pyramid_evidence(index, self.grid, n_bins, weights * gain))
            support.append(cell_support(offsets, cells, shown.shape[:2]))
        return Located(features, evidence, support, "approximate" if self.sqrt else "exact")


def from_spec(space: str = "hsv") -> ColorHistogram:
    """Color histogram of the whole image and its quadrants, square-rooted (640 values).

    SPACE is hsv (the default), lab or rgb; images larger than 256 px are shrunk
    to 256 px first.
    """
    spec_option("color", "SPACE", space, _SPACES)
    return ColorHistogram(space, grid=(1, 2), sqrt=True, max_side=256)
