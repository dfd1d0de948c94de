"""A fitted driver with more extractors, sharing its decode of every image.

``l2vision audit`` measures every image's quality and hashes (an extractor at
the decoded size) in the same decode as its features: :func:`with_extractors`
adds such fixed extractors to a fitted :class:`~l2vision.features.ImageFeatures`
without fitting its learned extractors again.
"""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from l2vision.features.base import name_extractors
from l2vision.features.driver import ImageFeatures
from l2vision.features.learned import LearnedExtractor

__all__ = ["with_extractors"]


def with_extractors(features: ImageFeatures, extra: list) -> ImageFeatures:
    """A fitted driver running the fixed extractors ``extra``, then those of ``features``.

    Each image is decoded once for all of them; the extractors of
    ``features`` keep their fitted state (a learned dictionary is not fitted
    again); the columns of ``extra`` come first. ``extra``: extractors that
    do not learn, named as in the :class:`~l2vision.features.ImageFeatures`
    constructor.

    Raises
    ------
    ValueError
        An extractor of ``extra`` learns from images.

    Examples
    --------
    >>> import numpy as np
    >>> from l2vision.features import ColorHistogram, TinyImage
    >>> images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 255)]
    >>> both = with_extractors(ImageFeatures([TinyImage((2, 2))]).fit(), [ColorHistogram()])
    >>> both.transform(images).shape, both.get_feature_names_out()[0]
    ((2, 140), 'colorhistogram__hsv_g1r0c0_h0_s0_v0')
    """
    check_is_fitted(features)
    added = name_extractors(extra)
    for name, ext in added:
        if isinstance(ext, LearnedExtractor):
            raise ValueError(f"with_extractors: {name} learns from images; give extractors "
                             "that do not (or fit a new ImageFeatures)")
        ext.fit()
    current = features.extractors_ if isinstance(features.extractors, str) \
        else features.extractors
    combined = ImageFeatures([*added, *name_extractors(current)], size=features.size,
                             reduced_decoding=features.reduced_decoding,
                             fit_images=features.fit_images, random_state=features.random_state)
    named = name_extractors(combined.extractors)
    if len({name for name, _ in named}) != len(named):
        raise ValueError("with_extractors: the names of extra repeat names of the driver's "
                         "extractors; name them apart")
    combined.n_fit_images_ = features.n_fit_images_
    combined.n_features_out_ = sum(ext._n_features() for _, ext in named)
    return combined
