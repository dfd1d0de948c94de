"""The feature driver: decode each image once, run every extractor, in parallel batches."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from l2vision._validation import check_bool, check_int, check_pair, invalid
from l2vision.config import WORKER_SETTINGS, get_config
from l2vision.distributed import get_client
from l2vision.features._batches import (
    Decoding,
    featurize_batches,
)
from l2vision.features._progress import progress_bar
from l2vision.features.base import ImageExtractor, decode_size, name_extractors, upgrade_state
from l2vision.features.cache import cache_key, config_text, load_cached, save_cached
from l2vision.features.learned import LearnedExtractor, fit_learners
from l2vision.features.views import ViewFeatures, run_views
from l2vision.io.decode import image_sequence
from l2vision.io.errors import ImageReadError

__all__ = ["ImageFeatures"]


class ImageFeatures(TransformerMixin, BaseEstimator):
    """Compute several extractors' features on a sequence of images, efficiently.

    Each image is read and decoded once, optionally resized to a working
    ``size``, then resized once per distinct canonical size the extractors ask
    for; every extractor sees the same decoded pixels. Images are processed in
    batches, in parallel, and the columns of the extractors are concatenated
    in order. How the work runs (workers, batch size, a Dask cluster, the
    feature cache, progress bars, crash isolation, the pixel limit) is not a
    parameter: it comes from :func:`l2vision.config_context`, and the output
    does not depend on it.

    Parameters
    ----------
    extractors : list of extractor or (name, extractor), or "auto"
        The extractors, e.g. ``[HOG(), ColorHistogram()]``. Unnamed ones are
        named after their class in lower case (``"hog"``, ``"colorhistogram"``),
        with ``-1``, ``-2`` suffixes on repeats; names prefix the feature names
        and the nested parameters (``hog__orientations``). ``"auto"`` chooses
        them in ``fit`` from the training images' sizes.
    size : (int, int) or None, default=None
        Working ``(width, height)`` every image is resized to right after
        decoding (extractors with their own ``size`` resize from there). None
        keeps each image's size; set it for large photos.
    reduced_decoding : bool, default=True
        When every extractor works at a known size (a CNN's input, HOG's
        window, the working ``size``), decode JPEGs at the largest of 1/2, 1/4,
        1/8 scale that still covers it (libjpeg's DCT scaling, 3-4x faster on
        12-megapixel photos), once for all extractors; EXIF orientation is
        applied as in a full decode.
    fit_images : int, default=10_000
        Extractors that learn from the images (:mod:`l2vision.features.learned`:
        ``kmeans``, ``bovw``) are fitted in :meth:`fit` on at most this many
        training images, a random subset drawn with ``random_state``.
    random_state : int, default=0
        Seed of that subset.

    Attributes
    ----------
    n_features_out_ : int
        Total number of columns, set by ``fit``.
    extractors_ : list
        With ``extractors="auto"``: the extractors chosen in ``fit``.
    n_fit_images_ : int
        Images the learned extractors were fitted on (0 when none learns).
    features_spec_, features_reason_ : str
        With ``extractors="auto"``: the registry spec chosen (e.g. ``"photo"``) and why.

    See Also
    --------
    sklearn.pipeline.FeatureUnion : the generic version, which would decode
        every image once per extractor.
    l2vision.config_context : workers, batch size, scheduler, cache, isolation.

    Notes
    -----
    With the ``scheduler`` setting, each batch is a Dask task, the extractors
    are sent once per worker, and the rows come back in input order: the
    matrix is the local one exactly. With ``isolate`` (on by default in
    :meth:`transform_with_errors`), images are decoded in worker processes: an
    image whose decoder crashes or runs past ``image_timeout`` gets an error,
    the others their features; isolation does not apply on a cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from l2vision.features import HOG, ColorHistogram
    >>> images = [np.full((32, 32, 3), v, np.uint8) for v in (0, 128, 255)]
    >>> ImageFeatures([HOG(), ColorHistogram()]).fit_transform(images).shape
    (3, 1892)
    """

    def __init__(self, extractors, *, size=None, reduced_decoding=True, fit_images=10_000,
                 random_state=0):
        self.extractors = extractors
        self.size = size
        self.reduced_decoding = reduced_decoding
        self.fit_images = fit_images
        self.random_state = random_state

    #: What l2vision 0.1 stored as parameters and now comes from config_context.
    _runtime_parameters_before = {"n_jobs": None, "batch_size": 256, "progress": False,
                                  "cache_dir": None, "scheduler": None, "isolate": False,
                                  "image_timeout": 30.0, "max_pixels": 100_000_000}

    def __setstate__(self, state):
        super().__setstate__(upgrade_state(type(self), state))

    # -- naming and nested parameters -----------------------------------------
    def _extractor_list(self) -> list:
        """The extractors: as given, or the ones ``"auto"`` chose in ``fit``."""
        if isinstance(self.extractors, str):
            if not hasattr(self, "extractors_"):
                raise NotFittedError("ImageFeatures(extractors='auto') chooses its extractors "
                                     "from the training images: call fit(X) first.")
            return self.extractors_
        return self.extractors

    def _named(self) -> list[tuple[str, ImageExtractor]]:
        """``(name, extractor)`` pairs (:func:`~l2vision.features.base.name_extractors`)."""
        return name_extractors(self._extractor_list())

    def get_params(self, deep=True):
        """Parameters of the driver and, with ``deep``, ``name__param`` of each extractor."""
        params = super().get_params(deep=False)
        if deep and isinstance(self.extractors, (list, tuple)):
            for name, ext in self._named():
                params[name] = ext
                for key, value in ext.get_params(deep=True).items():
                    params[f"{name}__{key}"] = value
        return params

    def set_params(self, **params):
        """Set driver parameters, replace an extractor by name, or set ``name__param``."""
        valid = isinstance(self.extractors, (list, tuple))
        names = [n for n, _ in self._named()] if valid else []
        replace = {k: params.pop(k) for k in list(params) if k in names}
        if replace:
            self.extractors = [
                (name, replace[name]) if name in replace else item
                for (name, _), item in zip(self._named(), self.extractors, strict=True)
            ]
        return super().set_params(**params)

    # -- checks ---------------------------------------------------------------
    def _check_params(self) -> None:
        check_pair(self, "size", self.size, optional=True)
        check_bool(self, "reduced_decoding", self.reduced_decoding)
        check_int(self, "fit_images", self.fit_images, low=1)
        if self.extractors == "auto" and not hasattr(self, "extractors_"):
            return
        if not (isinstance(self.extractors, (list, tuple)) and self.extractors
                or self.extractors == "auto"):
            raise invalid(self, "extractors", "a non-empty list of extractors, e.g. "
                          "[HOG(), ColorHistogram()], or 'auto'", self.extractors)
        named = self._named()
        for _, ext in named:
            if not isinstance(ext, ImageExtractor):
                raise invalid(self, "extractors", "a list of l2vision extractors (subclasses "
                              "of l2vision.features.ImageExtractor, such as HOG, "
                              "ColorHistogram, LBP, CNNEmbedding)", ext)
            ext._check_params()
        if len({n for n, _ in named}) != len(named):
            raise invalid(self, "extractors", "a list of extractors with unique names",
                          [n for n, _ in named], fix="Name repeats with (name, extractor) pairs.")

    # -- scikit-learn API -------------------------------------------------------
    def fit(self, X=None, y=None):
        """Check the parameters, fit the extractors that learn, record the output width.

        Fixed extractors need no data. With ``extractors="auto"``, the
        extractors are chosen from the sizes of (a sample of) the images ``X``
        (:func:`~l2vision.features.auto.choose_features`). Extractors that learn
        (``kmeans``, ``bovw``) are fitted on at most ``fit_images`` of ``X``
        (a seeded random subset), decoded once for all of them; unreadable
        images are left out of that fit (``transform`` raises or reports them).

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            A learned extractor and no readable image to fit it on.
        """
        self._check_params()
        if isinstance(self.extractors, str):
            if X is None:
                raise ValueError("ImageFeatures(extractors='auto') needs the training images "
                                 "in fit(X) to choose the extractors.")
            from l2vision.features.auto import choose_features
            from l2vision.features.registry import parse_features

            self.features_spec_, self.features_reason_ = choose_features(image_sequence(X))
            self.extractors_ = parse_features(self.features_spec_)
            self._check_params()
        learners = [ext for _, ext in self._named() if isinstance(ext, LearnedExtractor)]
        for _, ext in self._named():
            if not isinstance(ext, LearnedExtractor):
                ext.fit()
        self.n_fit_images_ = 0
        if learners:
            self._fit_learners(learners, X)
        self.n_features_out_ = sum(ext._n_features() for _, ext in self._named())
        return self

    def _fit_learners(self, learners, X) -> None:
        """Fit the learned extractors on a seeded subset of X, each image decoded once."""
        if X is None:
            raise ValueError(f"{type(learners[0]).__name__} learns from the training images: "
                             "call fit(X) with them.")
        config = get_config()
        images = image_sequence(X)
        n_jobs = _workers(len(images), config)
        decoding = self._decoding([(None, e) for e in learners], config, "record", n_jobs)
        self.n_fit_images_ = fit_learners(learners, images, decoding, n_jobs=n_jobs,
                                          batch_size=config["batch_size"],
                                          progress=config["progress"],
                                          fit_images=self.fit_images,
                                          random_state=self.random_state)

    def transform(self, X) -> np.ndarray:
        """Features of a sequence of images (arrays, paths or bytes, or an ImageSet).

        With the ``cache_dir`` setting, a second call on the same images (by
        content) with the same extractor parameters and l2vision version loads
        the matrix instead of computing it (:mod:`l2vision.features.cache`).

        Returns
        -------
        features : ndarray of float32, shape (n_images, n_features_out_)

        Raises
        ------
        ImageReadError
            At the first image that cannot be read; training must never drop
            samples silently. Use :meth:`transform_with_errors` to carry on.
        """
        images = image_sequence(X)
        cache_dir, key = get_config()["cache_dir"], None
        if cache_dir is not None:
            check_is_fitted(self)
            self._check_params()
            key = cache_key(images, self._cache_config())
            width = sum(ext._n_features() for _, ext in self._named())
            cached = key and load_cached(cache_dir, key, (len(images), width))
            if cached is not None:
                return cached
        features, _ = self._run(images, on_error="raise")
        if key:
            save_cached(cache_dir, key, features)
        return features

    def _cache_config(self) -> str:
        """Everything that determines the output, as text (part of the cache key)."""
        # Extractor parameters (name__param) and the driver's own size shape the
        # output; the run-time settings of config_context do not. What a learned
        # extractor learned shapes it as much as its parameters.
        params = {k: v for k, v in self.get_params(deep=True).items()
                  if "__" in k or k in ("size", "reduced_decoding")}
        learned = [(name, ext._fitted_digest()) for name, ext in self._named()
                   if isinstance(ext, LearnedExtractor)]
        return config_text(self._named(), params, learned)

    def transform_with_errors(self, X) -> tuple[np.ndarray, dict[int, ImageReadError]]:
        """Like :meth:`transform`, but bad images are reported instead of raised.

        Decoded in isolated worker processes unless the ``isolate`` setting is
        False (see :func:`l2vision.config_context`).

        Returns
        -------
        features : ndarray of float32, shape (n_images, n_features_out_)
            Rows of failed images are zeros.
        errors : dict of int to ImageReadError
            The failed images by position in ``X``.
        """
        return self._run(image_sequence(X), on_error="record")

    def transform_views(self, X, views: Callable, *, reduce: Callable | None = None
                        ) -> ViewFeatures:
        """Features of copies of each image made from its decoded pixels, in one decode loop.

        The hook for corrupted and augmented copies: each image is decoded
        once (resized to the working ``size``), ``views(image, index)``
        returns its copies by key (``{"clean": image, ("blur", 3): blurred}``),
        and every key's copies are featurized in the same batch. Unreadable
        images are reported, not raised. Runs on the workers or the cluster of
        :func:`l2vision.config_context`.

        Parameters
        ----------
        X : sequence of ndarray, path or bytes, or an ImageSet
        views : callable
            ``views(image, index) -> dict``: the copies of the decoded image at
            position ``index`` (keys must be the same for every image). It runs
            in the workers: make it picklable (a module-level function or a
            small class), and derive any randomness from ``index``.
        reduce : callable or None, default=None
            Applied in the worker to each key's feature block of a batch (for
            example a model's prediction), so only its output comes back.

        Returns
        -------
        ViewFeatures

        Raises
        ------
        ValueError
            None of the images could be read.

        Examples
        --------
        >>> import numpy as np
        >>> from l2vision.features import TinyImage
        >>> features = ImageFeatures([TinyImage((4, 4))]).fit()
        >>> images = [np.arange(64, dtype=np.uint8).reshape(8, 8)]
        >>> result = features.transform_views(
        ...     images, lambda image, i: {"clean": image, "flip": image[:, ::-1]})
        >>> result.outputs["flip"].shape, result.positions.tolist()
        ((1, 48), [0])
        """
        check_is_fitted(self)
        self._check_params()
        config = get_config()
        n_jobs = _workers(len(image_sequence(X)), config)
        decoding = self._decoding(self._named(), config, "record", n_jobs)
        return run_views(self._named(), image_sequence(X), views, reduce, decoding, n_jobs)

    def _decoding(self, named, config: dict, on_error: str, n_jobs: int,
                  isolated: bool = False) -> Decoding:
        """How the workers decode, from the parameters and the settings in effect."""
        size = None if self.size is None else tuple(self.size)
        decode_size = self._decode_size(named) if self.reduced_decoding else None
        return Decoding(size, config["max_pixels"], decode_size, on_error, n_jobs > 1,
                        config["image_timeout"] if isolated else None,
                        tuple((name, config[name]) for name in WORKER_SETTINGS), os.getcwd())

    def _run(self, images, on_error):
        check_is_fitted(self)
        for _, ext in self._named():
            if isinstance(ext, LearnedExtractor):
                ext.check_fitted()
        self._check_params()
        config = get_config()
        named = self._named()
        n, batch_size = len(images), config["batch_size"]
        n_jobs = _workers(n, config)
        client = get_client()
        # "auto" isolates where bad images are recorded (scoring, evaluation), True everywhere.
        isolated = client is None and (config["isolate"] is True
                                       or config["isolate"] == "auto" and on_error == "record")
        decoding = self._decoding(named, config, on_error, n_jobs, isolated)
        results = featurize_batches(named, images, batch_size, decoding, n_jobs, client)
        # Rows are copied in as the batches arrive, while the workers go on: a
        # final np.vstack would touch every page of the result after they finish.
        features = np.empty((n, sum(ext._n_features() for _, ext in named)), np.float32)
        errors = {}
        with progress_bar(config["progress"], n) as bar:
            for start, (block, block_errors) in zip(range(0, n, batch_size), results,
                                                    strict=True):
                features[start:start + len(block)] = block
                errors.update(block_errors)
                bar.update(len(block))
        return features, errors

    def _decode_size(self, named) -> tuple | None:
        """What every extractor needs the decoded image to cover; None if one needs it whole."""
        return tuple(self.size) if self.size is not None else decode_size(named)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"<extractor name>__<feature name>"`` for every column."""
        self._check_params()
        return np.asarray([f"{name}__{feat}" for name, ext in self._named()
                           for feat in ext._feature_names()], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = self.extractors == "auto" or (
            isinstance(self.extractors, (list, tuple))
            and any(isinstance(ext, LearnedExtractor) for _, ext in self._named()))
        tags.input_tags.two_d_array = False
        return tags


def _workers(n_images: int, config: dict) -> int:
    """Parallel jobs for ``n_images``: the ``n_jobs`` setting, at most one per batch."""
    return min(effective_n_jobs(config["n_jobs"]), max(-(-n_images // config["batch_size"]), 1))
