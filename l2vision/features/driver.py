"""The feature driver: decode each image once, run every extractor, in parallel batches."""

from __future__ import annotations

import inspect

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from l2vision._validation import check_bool, check_int, check_pair, check_real, invalid
from l2vision.features._batches import _decode_views, featurize_batches
from l2vision.features._isolation import DEFAULT_TIMEOUT
from l2vision.features.base import ImageExtractor
from l2vision.features.cache import cache_key, load_cached, save_cached
from l2vision.features.learned import LearnedExtractor
from l2vision.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    image_sequence,
)

__all__ = ["ImageFeatures"]


class ImageFeatures(TransformerMixin, BaseEstimator):
    """Compute several extractors' features on a sequence of images, efficiently.

    Each image is read and decoded once, optionally resized to a working
    ``size``, then resized once per distinct canonical size the extractors ask
    for; every extractor sees the same decoded pixels. Images are processed in
    batches, in parallel with joblib, and the columns of the extractors are
    concatenated in order. The output does not depend on ``n_jobs`` or
    ``batch_size``.

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
    n_jobs : int or None, default=None
        Parallel jobs (joblib semantics: None is 1 unless in a
        ``joblib.parallel_config`` context, -1 is all cores).
    batch_size : int, default=256
        Images per batch (the unit of parallel work and of memory).
    max_pixels : int or None, default=100_000_000
        Decompression-bomb guard passed to :func:`~l2vision.images.read_image`.
    progress : bool, default=False
        Show a tqdm progress bar on stderr.
    cache_dir : str, os.PathLike or None, default=None
        Cache feature matrices there (see :mod:`l2vision.features.cache`): a
        second ``transform`` of the same images (by content) with the same
        extractor parameters and l2vision version loads instead of computing.
    isolate : bool, default=False
        In :meth:`transform_with_errors` (batch scoring, evaluation), decode in
        worker processes: an image whose decoder crashes the process or runs
        past ``image_timeout`` gets an error, and the others their features
        (:mod:`l2vision.features._isolation`). Same features as without.
    image_timeout : float, default=30.0
        Seconds one image may take when ``isolate`` is on.
    fit_images : int, default=10_000
        Extractors that learn from the images (:mod:`l2vision.features.learned`:
        ``kmeans``, ``bovw``) are fitted in :meth:`fit` on at most this many
        training images, a random subset drawn with ``random_state``.
    random_state : int, default=0
        Seed of that subset.
    scheduler : str, distributed.Client or None, default=None
        Run the batches of ``transform`` on a Dask cluster: an address,
        ``"local"``, or a client (:func:`l2vision.distributed.get_client`);
        None uses ``$L2VISION_SCHEDULER`` or a client already created in the
        program, else joblib. Each batch is a task, the extractors are sent
        once per worker, the rows come back in input order, and the matrix is
        the local one exactly. ``isolate`` does not apply on a cluster (the
        workers decode in their own processes).
    reduced_decoding : bool, default=True
        When every extractor works at a known size (a CNN's input, HOG's
        window, the working ``size``), decode JPEGs at the largest of 1/2, 1/4,
        1/8 scale that still covers it (libjpeg's DCT scaling, 3-4x faster on
        12-megapixel photos), once for all extractors; EXIF orientation is
        applied as in a full decode.

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

    Examples
    --------
    >>> import numpy as np
    >>> from l2vision.features import HOG, ColorHistogram
    >>> images = [np.full((32, 32, 3), v, np.uint8) for v in (0, 128, 255)]
    >>> ImageFeatures([HOG(), ColorHistogram()]).fit_transform(images).shape
    (3, 1892)
    """

    def __init__(self, extractors, *, size=None, n_jobs=None, batch_size=256,
                 max_pixels=DEFAULT_MAX_PIXELS, progress=False, cache_dir=None,
                 reduced_decoding=True, isolate=False, image_timeout=DEFAULT_TIMEOUT,
                 fit_images=10_000, random_state=0, scheduler=None):
        self.extractors = extractors
        self.size = size
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.progress = progress
        self.cache_dir = cache_dir
        self.reduced_decoding = reduced_decoding
        self.isolate = isolate
        self.image_timeout = image_timeout
        self.fit_images = fit_images
        self.random_state = random_state
        self.scheduler = scheduler

    def __setstate__(self, state):
        # A model saved by an older l2vision lacks the parameters added since:
        # they take their defaults, which reproduce the old behaviour.
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not param.empty:
                state.setdefault(name, param.default)
        self.__dict__.update(state)

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
        """``(name, extractor)`` pairs, naming unnamed extractors like make_union."""
        items = [e if isinstance(e, tuple) else (None, e) for e in self._extractor_list()]
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
        check_int(self, "batch_size", self.batch_size, low=1)
        check_pair(self, "size", self.size, optional=True)
        check_bool(self, "reduced_decoding", self.reduced_decoding)
        check_bool(self, "isolate", self.isolate)
        check_real(self, "image_timeout", self.image_timeout, low=0, low_open=True)
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
                from l2vision.features.registry import builtin_classes

                raise invalid(self, "extractors", "a list of l2vision extractors (subclasses "
                              "of l2vision.features.ImageExtractor, such as "
                              f"{', '.join(builtin_classes())})", ext)
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
        images = image_sequence(X)
        if len(images) == 0:
            raise ValueError("ImageFeatures.fit got no images to fit "
                             f"{type(learners[0]).__name__} on.")
        if len(images) > self.fit_images:
            rng = np.random.default_rng(self.random_state)
            chosen = np.sort(rng.choice(len(images), self.fit_images, replace=False))
            images = [images[i] for i in chosen]
        specs = list(dict.fromkeys(ext._input_spec() for ext in learners))
        size = None if self.size is None else tuple(self.size)
        n_jobs = min(effective_n_jobs(self.n_jobs), -(-len(images) // self.batch_size))
        decode_size = self._decode_size([(None, e) for e in learners]) \
            if self.reduced_decoding else None
        views = _decode_views(specs, images, size, self.max_pixels, decode_size, n_jobs,
                              self.batch_size)
        if not views[specs[0]]:
            raise ValueError(f"None of the {len(images)} images chosen to fit "
                             f"{type(learners[0]).__name__} could be read.")
        for ext in learners:
            ext._fit_views(views[ext._input_spec()], progress=self.progress)
        self.n_fit_images_ = len(views[specs[0]])

    def transform(self, X) -> np.ndarray:
        """Features of a sequence of images (arrays, paths or bytes, or an ImageSet).

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
        key = None
        if self.cache_dir is not None:
            check_is_fitted(self)
            self._check_params()
            key = cache_key(images, self._config())
            width = sum(ext._n_features() for _, ext in self._named())
            cached = key and load_cached(self.cache_dir, key, (len(images), width))
            if cached is not None:
                return cached
        features, _ = self._run(images, on_error="raise")
        if key:
            save_cached(self.cache_dir, key, features)
        return features

    def _config(self) -> str:
        """Everything that determines the output, as text (part of the cache key)."""
        # Extractor parameters (name__param) and the driver's own size and pixel
        # limit shape the output; n_jobs, batch_size, progress and cache_dir do not.
        params = {k: v for k, v in self.get_params(deep=True).items()
                  if "__" in k or k in ("size", "max_pixels", "reduced_decoding")}
        names = [(name, type(ext).__name__) for name, ext in self._named()]
        # What a learned extractor learned shapes its output as much as its parameters.
        learned = [(name, ext._fitted_digest()) for name, ext in self._named()
                   if isinstance(ext, LearnedExtractor)]
        return repr((names, sorted((k, repr(v)) for k, v in params.items()), learned))

    def transform_with_errors(self, X) -> tuple[np.ndarray, dict[int, ImageReadError]]:
        """Like :meth:`transform`, but bad images are reported instead of raised.

        Returns
        -------
        features : ndarray of float32, shape (n_images, n_features_out_)
            Rows of failed images are zeros.
        errors : dict of int to ImageReadError
            The failed images by position in ``X``.
        """
        return self._run(image_sequence(X), on_error="record")

    def _run(self, images, on_error):
        check_is_fitted(self)
        for _, ext in self._named():
            if isinstance(ext, LearnedExtractor):
                ext.check_fitted()
        self._check_params()
        named = [(name, ext) for name, ext in self._named()]
        size = None if self.size is None else tuple(self.size)
        n = len(images)
        starts = range(0, n, self.batch_size)
        n_jobs = min(effective_n_jobs(self.n_jobs), max(len(starts), 1))
        decode_size = self._decode_size(named) if self.reduced_decoding else None
        from l2vision.distributed import get_client

        client = get_client(self.scheduler)
        isolated = self.isolate and on_error == "record" and client is None
        results = featurize_batches(
            named, images, starts, self.batch_size, size, self.max_pixels, on_error, n_jobs,
            decode_size, self.image_timeout if isolated else None, client)
        # Rows are copied in as the batches arrive, while the workers go on: a
        # final np.vstack would touch every page of the result after they finish.
        features = np.empty((n, sum(ext._n_features() for _, ext in named)), np.float32)
        errors = {}
        with _progress(self.progress, n) as bar:
            for start, (block, block_errors) in zip(starts, results, strict=True):
                features[start:start + len(block)] = block
                errors.update(block_errors)
                bar.update(len(block))
        return features, errors

    def _decode_size(self, named) -> tuple | None:
        """What every extractor needs the decoded image to cover; None if one needs it whole."""
        if self.size is not None:
            return tuple(self.size)
        sizes = [ext._decode_size() for _, ext in named]
        if not sizes or any(s is None for s in sizes):
            return None
        return max(s[0] for s in sizes), max(s[1] for s in sizes)

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


def _progress(enabled: bool, total: int):
    """A tqdm bar on stderr (disabled when not wanted or stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", disable=not enabled or None, leave=False)
