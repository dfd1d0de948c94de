"""Texture: histograms of uniform local binary patterns (scikit-image)."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

from l2vision._validation import (
    check_int,
    check_levels,
    check_option,
    check_pair,
    check_real,
    spec_int,
    spec_real,
)
from l2vision.features.base import (
    ImageExtractor,
    grid_cell_names,
    grid_cells,
    pyramid_histograms,
)
from l2vision.features.location import Located, cell_support, pyramid_evidence
from l2vision.io.decode import limit_side

__all__ = ["LBP"]


class LBP(ImageExtractor):
    """Histograms of local binary patterns over a spatial pyramid of cells.

    Each pixel is coded by comparing it with ``points`` neighbours on a circle
    of ``radius`` pixels (``skimage.feature.local_binary_pattern``); the codes
    are histogrammed per cell and L1-normalized.

    Parameters
    ----------
    points : int, default=8
        Number of circular neighbours P.
    radius : float, default=1.0
        Circle radius R in pixels.
    method : {"uniform", "nri_uniform"}, default="uniform"
        ``"uniform"``: rotation-invariant uniform patterns, ``P + 2`` codes.
        ``"nri_uniform"``: uniform patterns without rotation invariance,
        ``P * (P - 1) + 3`` codes.
    grid : tuple of int, default=(1,)
        Spatial pyramid levels (see :class:`ColorHistogram`).
    size : (int, int) or None, default=None
        Resize to ``(width, height)`` first; None keeps the image's size.
    max_side : int or None, default=None
        Shrink images whose longer side is larger than this first (keeping
        the aspect ratio); None works at each image's own size. Large photos
        then cost about the same as small ones.

    Attributes
    ----------
    n_features_out_ : int
        ``n_cells * n_codes`` with ``n_cells = sum(n * n for n in grid)``.

    Notes
    -----
    Images are converted to uint8 gray before coding: on float images tiny
    rounding differences flip comparisons between equal neighbours and give
    noisy codes (scikit-image issue #2522). A flat region codes as ``P`` (all
    neighbours >= the centre). Pixels outside the image are taken from its edge
    (replication), so image borders do not create spurious edge codes, as
    scikit-image's zero padding would. ``"uniform"`` is invariant to monotonic gray
    changes and to rotation [1]_.

    References
    ----------
    .. [1] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution gray-scale
       and rotation invariant texture classification with local binary
       patterns", IEEE TPAMI 24(7), 2002. :doi:`10.1109/TPAMI.2002.1017623`

    Examples
    --------
    >>> import numpy as np
    >>> f = LBP().fit_transform([np.full((16, 16), 90, np.uint8)])
    >>> f.shape, int(f[0].argmax()), float(f[0].max())
    ((1, 10), 8, 1.0)
    """

    def __init__(self, points=8, *, radius=1.0, method="uniform", grid=(1,), size=None,
                 max_side=None):
        self.points = points
        self.radius = radius
        self.method = method
        self.grid = grid
        self.size = size
        self.max_side = max_side

    def _check_params(self) -> None:
        check_int(self, "points", self.points, low=1)
        check_real(self, "radius", self.radius, low=0, low_open=True)
        check_option(self, "method", self.method, ("uniform", "nri_uniform"))
        check_levels(self, "grid", self.grid)
        check_pair(self, "size", self.size, optional=True)
        check_int(self, "max_side", self.max_side, low=1, optional=True)

    def _input_spec(self) -> tuple:
        return (None if self.size is None else tuple(self.size), "gray")

    def _n_codes(self) -> int:
        p = self.points
        return p + 2 if self.method == "uniform" else p * (p - 1) + 3

    def _n_features(self) -> int:
        return sum(n * n for n in self.grid) * self._n_codes()

    def _feature_names(self) -> list[str]:
        return [f"lbp_{cell}_code{k}" for cell in grid_cell_names(self.grid)
                for k in range(self._n_codes())]

    def _codes(self, image: np.ndarray) -> np.ndarray:
        """LBP codes of a gray image whose border is extended by edge replication."""
        pad = int(np.ceil(self.radius)) + 1
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        codes = local_binary_pattern(padded, self.points, self.radius, self.method)
        return codes[pad:-pad, pad:-pad].astype(np.intp)

    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        if self.max_side is not None:
            images = [limit_side(image, self.max_side) for image in images]
        n_codes = self._n_codes()
        out = np.empty((len(images), self._n_features()), np.float32)
        for i, image in enumerate(images):
            out[i] = pyramid_histograms(self._codes(image), self.grid, n_codes)
        return out

    def _locate(self, images, weights, offsets) -> Located:
        """Each pixel carries its code's weight over its cells' pixel counts (exact)."""
        n_codes, features, evidence, support = self._n_codes(), [], [], []
        offsets = np.asarray(offsets, np.float64).reshape(len(offsets), -1, n_codes).sum(axis=2)
        for image in images:
            shown = limit_side(image, self.max_side) if self.max_side is not None else image
            codes = self._codes(shown)
            features.append(pyramid_histograms(codes, self.grid, n_codes))
            evidence.append(pyramid_evidence(codes, self.grid, n_codes, weights))
            support.append(cell_support(offsets, grid_cells(*codes.shape, self.grid),
                                        codes.shape))
        return Located(np.asarray(features, np.float32).reshape(len(images), -1), evidence,
                       support, "exact")


def from_spec(points: str = "8", radius: str = "1") -> LBP:
    """Uniform local binary patterns of the whole image and its quadrants (50 values at P=8).

    POINTS neighbours (default 8) on a circle of RADIUS pixels (default 1);
    images larger than 256 px are shrunk to 256 px first.
    """
    p = spec_int("lbp", "POINTS", points, low=1)
    r = spec_real("lbp", "RADIUS", radius, low=0, low_open=True)
    return LBP(p, radius=r, grid=(1, 2), max_side=256)
