"""Extractors that learn from the training images (a dictionary, a vocabulary).

A learned extractor follows the scikit-learn contract of a fitted
transformer: :meth:`~LearnedExtractor.fit` takes images (arrays, paths or
bytes; the :class:`~l2vision.features.ImageFeatures` driver hands it decoded
views of a seeded random subset of the training images), stores what it
learned in attributes ending in ``_``, and ``transform`` refuses to run before
(``NotFittedError``: "call fit first"). ``clone`` drops the learned state.

The learned arrays are part of the feature cache key
(:meth:`LearnedExtractor._fitted_digest`): features cached for one dictionary
are never served for another.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.utils.validation import check_is_fitted

from l2vision.features._batches import decode_views
from l2vision.features.base import ImageExtractor

__all__ = ["LearnedExtractor", "check_enough", "distinct_rows", "fit_learners",
           "run_minibatch_kmeans"]


class LearnedExtractor(ImageExtractor):
    """Base class of extractors fitted on training images.

    Subclasses implement the :class:`~l2vision.features.ImageExtractor`
    contract plus ``_fit(images, y=None, progress=False)``, which learns from
    prepared views (already at ``_input_spec``) and sets attributes ending in ``_``.
    """

    def _fit(self, images: list[np.ndarray], y=None, progress: bool = False) -> None:
        """Learn from prepared images; set the fitted attributes."""
        raise NotImplementedError

    def fit(self, X=None, y=None):
        """Learn from training images.

        Parameters
        ----------
        X : sequence of ndarray, path or bytes
            Training images (all of them are used; the driver passes a subset).
        y : ignored
            The learning is unsupervised.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            No images, or too few for the parameters (the message says which).
        """
        self._check_params()
        if X is None:
            raise ValueError(f"{type(self).__name__} learns from the training images: "
                             "call fit(images).")
        views = self._prepared_views(X)
        if not views:
            raise ValueError(f"{type(self).__name__}.fit got no images.")
        return self._fit_views(views)

    def _fit_views(self, views: list[np.ndarray], progress: bool = False):
        """Fit on prepared views (what the driver calls) and record the output width."""
        self._check_params()  # the driver calls this directly
        self._fit(views, progress=progress)
        self.n_features_out_ = self._n_features()
        return self

    def check_fitted(self) -> None:
        """Raise NotFittedError ("call fit first") unless the extractor has learned."""
        check_is_fitted(self, msg=f"This {type(self).__name__} has not learned from images "
                        "yet: call fit(images) first (ImageFeatures.fit does it).")

    def transform(self, X) -> np.ndarray:
        self.check_fitted()
        return super().transform(X)

    transform.__doc__ = ImageExtractor.transform.__doc__

    def _fitted_digest(self) -> str:
        """sha256 of the learned state (every public attribute ending in ``_``)."""
        h = hashlib.sha256()
        for name in sorted(vars(self)):
            if name.endswith("_") and not name.startswith("_"):
                value = vars(self)[name]
                h.update(name.encode() + b"=")
                if isinstance(value, np.ndarray):
                    h.update(f"{value.dtype}{value.shape}".encode())
                    h.update(np.ascontiguousarray(value).data)
                else:
                    h.update(repr(value).encode())
        return h.hexdigest()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def check_enough(extractor, have: int, need: int, what: str) -> None:
    """Raise ValueError when fewer than ``need`` samples (patches, descriptors) are available."""
    if have < need:
        raise ValueError(f"{type(extractor).__name__}: {what}, fewer than n_clusters="
                         f"{need}; use more (or more varied) training images or a smaller "
                         "dictionary.")


def distinct_rows(X: np.ndarray, decimals: int = 3) -> int:
    """How many different rows X has (values rounded to ``decimals``), up to k-means' needs.

    Examples
    --------
    >>> distinct_rows(np.array([[0.0, 1.0], [0.0, 1.0001], [2.0, 3.0]]))
    2
    """
    rounded = np.ascontiguousarray(X.round(decimals))
    rounded += 0.0  # -0.0 and 0.0 have different bytes
    rows = rounded.view(np.dtype((np.void, rounded.dtype.itemsize * rounded.shape[1])))
    return len(np.unique(rows))


def run_minibatch_kmeans(kmeans: MiniBatchKMeans, X: np.ndarray, epochs: int, rng,
                         progress: bool, label: str) -> None:
    """``epochs`` shuffled passes of ``kmeans.partial_fit`` over X, with a progress bar."""
    from tqdm.auto import tqdm

    batch = kmeans.batch_size
    steps = -(-len(X) // batch)
    with tqdm(total=epochs * steps, desc=label, unit="batch", leave=False,
              disable=not progress or None) as bar:
        for _ in range(epochs):
            order = rng.permutation(len(X))
            for s in range(0, len(X), batch):
                rows = order[s:s + batch]
                if len(rows) < kmeans.n_clusters and not hasattr(kmeans, "cluster_centers_"):
                    rows = order[:max(batch, kmeans.n_clusters)]
                kmeans.partial_fit(X[rows])
                bar.update(1)


def fit_learners(learners: list, images, decoding, *, n_jobs: int, batch_size: int,
                 progress: bool, fit_images: int, random_state) -> int:
    """Fit learned extractors on at most ``fit_images`` of ``images``, each decoded once.

    The subset is drawn with ``random_state``; unreadable images are left
    out. Returns the number of images the extractors learned from.

    Raises
    ------
    ValueError
        No images, or none of the chosen ones could be read.
    """
    if len(images) == 0:
        raise ValueError("ImageFeatures.fit got no images to fit "
                         f"{type(learners[0]).__name__} on.")
    if len(images) > fit_images:
        rng = np.random.default_rng(random_state)
        chosen = np.sort(rng.choice(len(images), fit_images, replace=False))
        images = [images[i] for i in chosen]
    specs = list(dict.fromkeys(ext._input_spec() for ext in learners))
    views = decode_views(specs, images, decoding, n_jobs, batch_size)
    if not views[specs[0]]:
        raise ValueError(f"None of the {len(images)} images chosen to fit "
                         f"{type(learners[0]).__name__} could be read.")
    for ext in learners:
        ext._fit_views(views[ext._input_spec()], progress=progress)
    return len(views[specs[0]])
