"""Corrupted copies of images, made inside the feature driver's decode loop.

:class:`CorruptionViews` is the ``views`` function of
:meth:`ImageFeatures.transform_views <l2vision.features.ImageFeatures.transform_views>`
for a list of (corruption, severity) conditions: the robustness measurement
and the λ study score every condition's copy of each decoded image, and
training augmentation (:func:`augmented_rows`, ``train --augment``) adds
each augmentation's copy as extra rows. A copy depends only on the seed, the
image's position and the condition (:func:`~l2vision.corruptions.catalog.corruption_rng`).
"""

from __future__ import annotations

import numpy as np

from l2vision.corruptions.catalog import corrupt, corruption_rng

__all__ = ["CLEAN", "CorruptionViews", "augmented_rows"]

#: The uncorrupted condition.
CLEAN = ("clean", 0)


class CorruptionViews:
    """``views(image, index)``: each condition's copy of a decoded image, by condition.

    Parameters
    ----------
    conditions : list of (str, int)
        ``(corruption name, severity)``; severity 0 (as in :data:`CLEAN`) is
        the image itself.
    seed : int, default=0
        Seed of the corruptions' randomness.

    Examples
    --------
    >>> image = np.zeros((4, 4, 3), np.uint8)
    >>> copies = CorruptionViews([CLEAN, ("flip", 1)])(image, 0)
    >>> list(copies), copies[CLEAN] is image
    ([('clean', 0), ('flip', 1)], True)
    """

    def __init__(self, conditions, seed: int = 0):
        self.conditions = [tuple(c) for c in conditions]
        self.seed = seed

    def __call__(self, image: np.ndarray, index: int) -> dict:
        return {(name, severity): image if severity == 0 else
                corrupt(image, name, severity, corruption_rng(self.seed, index, name, severity))
                for name, severity in self.conditions}


def augmented_rows(features, images, X: np.ndarray, labels, augmentations, *, seed: int = 0):
    """The rows of the training images followed by those of each augmentation's copies.

    Parameters
    ----------
    features : ImageFeatures
        Fitted; ``X`` is its ``transform(images)``.
    images : sequence
        The training images (paths, bytes or arrays).
    X : ndarray of shape (n_images, n_features)
    labels : array-like of shape (n_images,)
    augmentations : list of (str, int)
        ``(corruption name, severity)`` from
        :func:`~l2vision.corruptions.specs.parse_augmentations`.
    seed : int, default=0

    Returns
    -------
    X_all : ndarray of shape (n_images * (1 + n_augmentations), n_features)
    y_all : ndarray
        The labels, repeated.
    groups : ndarray of int
        The image each row comes from (so that the λ search keeps an image's
        copies in one fold).
    """
    copies = features.transform_views(images, CorruptionViews(augmentations, seed)).outputs
    blocks = [X] + [copies[tuple(a)] for a in augmentations]
    repeat = len(blocks)
    return (np.vstack(blocks), np.tile(np.asarray(labels), repeat),
            np.tile(np.arange(len(X)), repeat))
