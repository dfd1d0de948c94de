"""How much of each class's score comes from each extractor: HOG, color, CNN layers...

A model's score is linear in its features, and its features are the
extractors' blocks side by side, so the score (minus the average training
image's) splits exactly into one part per extractor:
``coef[:, block] @ (x[block] - mean[block])``. These are the sums of the
heatmaps per extractor (:attr:`~l2vision.explain.explain.ClassExplanation.split`),
computed from the features alone, without locating anything: cheap enough
for every image of a report.
"""

from __future__ import annotations

import numpy as np

from l2vision.explain.linear import linear_head
from l2vision.pipelines.build import split_pipeline

__all__ = ["class_split", "extractor_split"]


def extractor_split(model, X: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Each extractor's part of each class's score, for feature rows ``X``.

    Parameters
    ----------
    model : Pipeline
        A fitted l2vision pipeline.
    X : ndarray of shape (n_images, n_features)
        Its features of the images (``model[0].transform(images)``; rows
        already L2-normalized are fine, normalizing is idempotent).

    Returns
    -------
    names : list of str
        The extractors, in the model's order.
    split : ndarray of shape (n_images, n_extractors, n_classes)
        Summed over the extractors, each class's decision value minus its
        value at the average training image.

    Examples
    --------
    >>> from l2vision.pipelines import make_pipeline
    >>> images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 50, 200, 250)]
    >>> model = make_pipeline("tiny,color", "ridge", lam=1.0).fit(images, list("aabb"))
    >>> names, split = extractor_split(model, model[0].transform(images))
    >>> names, split.shape
    (['tinyimage', 'colorhistogram'], (4, 2, 2))
    """
    features, head = split_pipeline(model)
    linear = linear_head(head)
    blocks = np.asarray([name.split("__", 1)[0] for name in features.get_feature_names_out()])
    names = list(dict.fromkeys(blocks.tolist()))
    weights, _ = linear.rows()
    centered = linear.scaled(X) - linear.mean
    split = np.stack([centered[:, blocks == name] @ weights[:, blocks == name].T
                      for name in names], axis=1)
    return names, split


def class_split(names: list[str], split: np.ndarray, predicted: np.ndarray,
                classes) -> dict:
    """The average split of each class's score over the images predicted as that class.

    Returns ``{"extractors": names, "classes": [...], "mean": [[...]]}`` with
    ``mean[c][e]`` the average part of extractor ``e`` in class ``c``'s score
    (NaN for a class no image is predicted as): the report's bars.

    Examples
    --------
    >>> split = np.array([[[1.0, -1.0], [2.0, 0.0]], [[3.0, 0.0], [0.0, 5.0]]])
    >>> class_split(["hog", "color"], split, np.array([0, 1]), ["a", "b"])["mean"]
    [[1.0, 2.0], [0.0, 5.0]]
    """
    classes = [str(c) for c in classes]
    mean = np.full((len(classes), len(names)), np.nan)
    for c in range(len(classes)):
        rows = predicted == c
        if rows.any():
            mean[c] = split[rows, :, c].mean(axis=0)
    return {"extractors": list(names), "classes": classes, "mean": mean.tolist()}
