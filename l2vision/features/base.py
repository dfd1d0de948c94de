"""The extractor contract shared by every image feature extractor.

An extractor is a stateless scikit-learn transformer. It declares the image it
wants (``_input_spec``: a canonical size or None, and ``"bgr"`` or ``"gray"``)
and turns a list of such images into a float32 matrix (``_extract``). Reading,
checking, color conversion and resizing happen outside, in one place, so that
:class:`~l2vision.features.ImageFeatures` can decode each image once and hand
the same prepared view to every extractor that asks for it.
"""

from __future__ import annotations

import inspect
from functools import lru_cache

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from l2vision.config import drop_runtime_settings, get_config
from l2vision.io.decode import (
    as_image,
    convert_color,
    image_sequence,
    resize_image,
)

__all__ = ["ImageExtractor", "decode_size", "name_extractors", "pool_output", "prepare_view",
           "upgrade_state"]


def upgrade_state(cls: type, state: dict) -> dict:
    """The pickled ``state`` of an older model of ``cls``, brought to this version.

    Run-time settings that older versions stored as parameters are dropped
    (:func:`~l2vision.config.drop_runtime_settings`); parameters added since
    take the value that reproduces the old behaviour: their default, unless
    the class's ``_values_before_added`` says otherwise.

    Examples
    --------
    >>> from l2vision.features import ImageFeatures
    >>> sorted(upgrade_state(ImageFeatures, {"extractors": [], "n_jobs": None}))
    ['extractors', 'fit_images', 'random_state', 'reduced_decoding', 'size']
    """
    state = drop_runtime_settings(cls.__name__, dict(state),
                                  getattr(cls, "_runtime_parameters_before", {}))
    before = getattr(cls, "_values_before_added", {})
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.default is not param.empty:
            state.setdefault(name, before.get(name, param.default))
    return state


def prepare_view(image: np.ndarray, spec: tuple) -> np.ndarray:
    """Convert a checked image to an extractor's ``(size, color)`` spec."""
    size, color = spec
    return convert_color(resize_image(image, size), color)


class ImageExtractor(TransformerMixin, BaseEstimator):
    """Base class of the image feature extractors (stateless transformers).

    Subclasses implement ``_check_params``, ``_input_spec``, ``_n_features``,
    ``_feature_names`` and ``_extract``, and may implement ``_locate`` (where
    the features come from in the image, :mod:`~l2vision.features.location`;
    without it, explanations measure the extractor by occlusion). ``transform``
    accepts a sequence of images: ``uint8`` arrays in BGR order (``(H, W, 3)``)
    or gray (``(H, W)``), paths, or encoded bytes, and returns float32
    ``(n_images, n_features)``.
    """

    # -- the contract subclasses fill in ------------------------------------
    def _check_params(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        raise NotImplementedError

    def _input_spec(self) -> tuple:
        """``(size, color)``: canonical ``(width, height)`` or None, and the color."""
        raise NotImplementedError

    def _n_features(self) -> int:
        """Length of one feature vector."""
        raise NotImplementedError

    def _feature_names(self) -> list[str]:
        """One name per output column."""
        raise NotImplementedError

    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        """Features of prepared images (already at ``_input_spec``), float32."""
        raise NotImplementedError

    def _locate(self, images: list[np.ndarray], weights: np.ndarray, offsets: np.ndarray):
        """Where the features of prepared images come from; None if the extractor can't say.

        ``weights`` and ``offsets`` are (K, n_features). Returns a
        :class:`~l2vision.features.location.Located`: the features, and per
        image K evidence maps at the view's size (each sums to ``weights[k] @
        features``) and K support maps (``offsets[k]`` spread over the pixels
        of each feature). The default, None, makes
        :func:`~l2vision.features.locate.locate_images` fall back to occlusion.
        """
        return None

    def _decode_size(self) -> tuple | None:
        """The smallest ``(width, height)`` the decoded image must cover; None: full size.

        Lets the driver decode large JPEGs at a reduced scale. By default the
        canonical size of ``_input_spec``; else, for an extractor with a
        ``max_side`` parameter (images shrunk to it first), that side; else
        None (the extractor works at each image's own size).
        """
        size = self._input_spec()[0]
        if size is not None:
            return size
        max_side = getattr(self, "max_side", None)
        return None if max_side is None else (max_side, max_side)

    #: Parameters added with a default that changes what older models computed:
    #: the value that reproduces the old behaviour, for models saved before them.
    _values_before_added: dict = {}
    #: Run-time settings that l2vision 0.1 stored as parameters, with their defaults
    #: (dropped from older model files: :func:`~l2vision.config.drop_runtime_settings`).
    _runtime_parameters_before: dict = {}

    def __setstate__(self, state):
        super().__setstate__(upgrade_state(type(self), state))

    # -- scikit-learn API ----------------------------------------------------
    def fit(self, X=None, y=None):
        """Check the parameters and record the output width; no data is needed.

        Returns
        -------
        self : object
        """
        self._check_params()
        self.n_features_out_ = self._n_features()
        return self

    def transform(self, X) -> np.ndarray:
        """Compute the features of a sequence of images.

        Parameters
        ----------
        X : sequence of ndarray, path or bytes
            The images. An :class:`~l2vision.datasets.ImageSet` is accepted too.

        Returns
        -------
        features : ndarray of float32, shape (n_images, n_features)

        Raises
        ------
        ImageReadError
            An image cannot be read or has the wrong type or shape; the message
            names it (its path, or ``X[i]``).
        """
        check_is_fitted(self)
        self._check_params()
        views = self._prepared_views(X)
        if not views:
            return np.empty((0, self._n_features()), np.float32)
        return self._extract(views)

    def _prepared_views(self, X) -> list[np.ndarray]:
        """Each image of ``X`` read, checked and converted to ``_input_spec`` (bad ones named)."""
        spec, max_pixels = self._input_spec(), get_config()["max_pixels"]
        return [prepare_view(as_image(item, name=f"X[{i}]", max_pixels=max_pixels), spec)
                for i, item in enumerate(image_sequence(X))]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns, as an object array of str."""
        self._check_params()
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags


def name_extractors(items) -> list[tuple[str, ImageExtractor]]:
    """``(name, extractor)`` pairs: given names kept, others the class name in lower case.

    Repeated class names get ``-1``, ``-2`` suffixes, as
    :func:`sklearn.pipeline.make_union` does.

    Examples
    --------
    >>> from l2vision.features import HOG, LBP
    >>> [name for name, _ in name_extractors([HOG(), LBP(), ("mine", LBP())])]
    ['hog', 'lbp', 'mine']
    >>> [name for name, _ in name_extractors([LBP(), LBP()])]
    ['lbp-1', 'lbp-2']
    """
    items = [e if isinstance(e, tuple) else (None, e) for e in items]
    auto = [type(e).__name__.lower() for n, e in items if n is None]
    counts = {name: auto.count(name) for name in auto}
    seen: dict[str, int] = {}
    named = []
    for name, ext in items:
        if name is None:
            name = type(ext).__name__.lower()
            if counts[name] > 1:
                seen[name] = seen.get(name, 0) + 1
                name = f"{name}-{seen[name]}"
        named.append((name, ext))
    return named


def decode_size(named) -> tuple | None:
    """The smallest ``(width, height)`` covering what every extractor needs; None: full size.

    Examples
    --------
    >>> from l2vision.features import HOG, TinyImage
    >>> decode_size([("hog", HOG()), ("tiny", TinyImage((48, 8)))])
    (48, 32)
    """
    sizes = [ext._decode_size() for _, ext in named]
    if not sizes or any(s is None for s in sizes):
        return None
    return max(s[0] for s in sizes), max(s[1] for s in sizes)


def grid_cells(height: int, width: int, grid) -> list[tuple[int, slice, slice]]:
    """Spatial-pyramid cells: for each level ``n`` in ``grid``, ``n * n`` windows.

    Returns ``(level, rows, cols)`` triples in level, row, column order.

    Examples
    --------
    >>> [(n, r.start, r.stop) for n, r, _ in grid_cells(4, 4, (1, 2))]
    [(1, 0, 4), (2, 0, 2), (2, 0, 2), (2, 2, 4), (2, 2, 4)]
    """
    return _grid_cells(height, width, tuple(grid))


@lru_cache(maxsize=256)
def _grid_cells(height: int, width: int, grid: tuple) -> list[tuple[int, slice, slice]]:
    """Cached body of :func:`grid_cells` (the same sizes recur image after image)."""
    cells = []
    for level in grid:
        ys = np.linspace(0, height, level + 1).round().astype(int).tolist()
        xs = np.linspace(0, width, level + 1).round().astype(int).tolist()
        for r in range(level):
            for c in range(level):
                cells.append((level, slice(ys[r], ys[r + 1]), slice(xs[c], xs[c + 1])))
    return cells


def pyramid_histograms(index: np.ndarray, grid, n_bins: int) -> np.ndarray:
    """L1-normalized histograms of a bin-index image over the cells of a spatial pyramid.

    ``index`` holds a bin number per pixel, shape (H, W) or (C, H, W) (all
    channels of a cell counted together). Returns the cell histograms
    concatenated in :func:`grid_cells` order, ``n_cells * n_bins`` values.

    Examples
    --------
    >>> pyramid_histograms(np.array([[0, 1], [1, 1]]), (1,), 2)
    array([0.25, 0.75])
    """
    height, width = index.shape[-2:]
    hists = []
    for _, rows, cols in grid_cells(height, width, grid):
        counts = np.bincount(index[..., rows, cols].ravel(), minlength=n_bins)
        hists.append(counts / max(counts.sum(), 1))
    return np.concatenate(hists)


def grid_cell_names(grid) -> list[str]:
    """Names of the cells returned by :func:`grid_cells`, e.g. ``"g2r0c1"``."""
    return [f"g{n}r{r}c{c}" for n in grid for r in range(n) for c in range(n)]


def pool_output(result: np.ndarray, pooling: str) -> np.ndarray:
    """A layer output as ``(n, length)``: 4-D ``(n, c, h, w)`` maps pooled, others flattened.

    Parameters
    ----------
    result : ndarray
        What ``net.forward`` returned for one layer.
    pooling : {"avg", "pyramid", "flatten"}
        ``"avg"``: the mean of each channel; ``"pyramid"``: the means over the
        whole map, then over each cell of its 2x2 grid (row by row), channels
        innermost; ``"flatten"``: every value.

    Examples
    --------
    >>> maps = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> pool_output(maps, "avg")
    array([[7.5]], dtype=float32)
    >>> pool_output(maps, "pyramid")
    array([[ 7.5,  2.5,  4.5, 10.5, 12.5]], dtype=float32)
    """
    n = result.shape[0]
    if result.ndim != 4 or pooling == "flatten":
        return result.reshape(n, -1)
    if pooling == "avg":
        return result.mean(axis=(2, 3))
    height, width = result.shape[2:]
    return np.hstack([result[:, :, rows, cols].mean(axis=(2, 3))
                      for _, rows, cols in grid_cells(height, width, (1, 2))])
