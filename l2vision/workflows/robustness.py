"""Accuracy of a model under common corruptions: each image decoded once, streamed in batches.

:func:`corrupted_predictions` is the engine shared by :func:`robustness` and
the λ study (:mod:`l2vision.workflows.study`): through
:meth:`ImageFeatures.transform_views <l2vision.features.ImageFeatures.transform_views>`,
a worker decodes a batch of images once, makes every (corruption, severity)
copy of the decoded pixels (:class:`~l2vision.corruptions.augment.CorruptionViews`),
extracts the features of each copy and hands them to a small picklable
``predict`` callable, so only class indices travel back: memory stays bounded
whatever the number of images and conditions. The corrupted images depend only
on the seed, the image's position and the condition
(:func:`~l2vision.corruptions.catalog.corruption_rng`), not on batches or workers.
"""

from __future__ import annotations

import numpy as np

from l2vision._validation import check_int
from l2vision.config import config_context
from l2vision.corruptions.augment import CLEAN, CorruptionViews
from l2vision.corruptions.specs import parse_corruptions, parse_severities
from l2vision.io.decode import image_name
from l2vision.pipelines.build import class_scores, split_pipeline
from l2vision.workflows.evaluate import classification_metrics

__all__ = ["CLEAN", "LinearHeads", "ModelHead", "StackedHeads", "check_model_classes",
           "corrupted_predictions", "robustness"]


class ModelHead:
    """``predict(X)``: class indices (n, 1) from a fitted pipeline's steps after ``features``."""

    def __init__(self, head):
        self.head = head

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return class_scores(self.head, X).argmax(axis=1)[:, None].astype(np.int16)


class LinearHeads:
    """``predict(X)``: class indices of many linear models at once, shape (n, n_models).

    ``coef`` (n_models, K, d) and ``intercept`` (n_models, K), in the units of
    X; one column per class, or one for two classes (sign decides).
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        self.coef, self.intercept = coef, intercept

    def __call__(self, X: np.ndarray) -> np.ndarray:
        n_models, n_targets, d = self.coef.shape
        decisions = X @ self.coef.reshape(-1, d).T.astype(X.dtype) + self.intercept.ravel()
        decisions = decisions.reshape(len(X), n_models, n_targets)
        index = (decisions[..., 0] > 0) if n_targets == 1 else decisions.argmax(axis=2)
        return index.astype(np.int16)


class StackedHeads:
    """``predict(X)``: the columns of several predictors side by side."""

    def __init__(self, heads: list):
        self.heads = heads

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.hstack([head(X) for head in self.heads])


def corrupted_predictions(features, predict, images, conditions, *, seed: int = 0,
                          batch_size: int | None = None):
    """Predictions of ``predict`` on every condition's copy of every readable image.

    Parameters
    ----------
    features : ImageFeatures
        Fitted.
    predict : callable
        ``predict(X)`` -> array whose first axis is the images (picklable:
        :class:`ModelHead`, :class:`LinearHeads`, :class:`StackedHeads`).
    images : sequence
        Paths, bytes or arrays.
    conditions : list of (str, int)
        ``(corruption name, severity)``; :data:`CLEAN` for the images as they are.
    seed : int, default=0
        Seed of the corruptions.
    batch_size : int or None, default=None
        Images per task (default: the ``batch_size`` setting). Workers, progress
        and the scheduler come from :func:`l2vision.config_context`.

    Returns
    -------
    positions : ndarray of int
        The readable images' positions in ``images``.
    predictions : dict
        ``{condition: predict's output for the readable images, stacked}``.
    errors : dict of int to ImageReadError
    """
    with config_context(**({"batch_size": batch_size} if batch_size else {})):
        result = features.transform_views(images, CorruptionViews(conditions, seed),
                                          reduce=predict)
    return result.positions, result.outputs, result.errors


def check_model_classes(model_classes, labels, source: str) -> None:
    """Raise ValueError when the data hold classes the model does not know."""
    known = {str(c) for c in model_classes}
    unknown = sorted({str(label) for label in labels} - known)
    if unknown:
        raise ValueError(f"{source}: classes {unknown[:5]}{' ...' if len(unknown) > 5 else ''} "
                         f"are not classes of the model ({sorted(known)[:10]}); evaluate a "
                         "model on data labelled with its classes")


def robustness(model, images, *, corruptions="all", severities="1-5", seed: int = 0) -> dict:
    """Accuracy of a fitted l2vision pipeline on clean and corrupted copies of labelled images.

    Each image is decoded once; every corruption of
    :mod:`l2vision.corruptions` at every severity is applied to the decoded
    pixels, then features are extracted and the model predicts, in parallel
    batches. Clean accuracy is that of
    :func:`~l2vision.pipelines.evaluate.evaluate_images` on the same images.

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline
        A fitted l2vision pipeline (``features`` step first).
    images : ImageSet
        Labelled images.
    corruptions : str or list, default="all"
        Names or families (:func:`~l2vision.corruption_specs.parse_corruptions`).
    severities : str or list, default="1-5"
    seed : int, default=0
        Seed of the corruptions' randomness.

    Returns
    -------
    dict
        ``clean_accuracy``; ``accuracy`` as ``{corruption: {severity: accuracy}}``;
        ``mean_corruption_accuracy`` (over every corruption and severity);
        ``relative_robustness`` (that mean / clean accuracy);
        ``per_corruption`` (mean over severities); ``per_severity`` (mean over
        corruptions); ``n_images``; ``failed`` (unreadable images);
        ``clean_metrics`` (:func:`~l2vision.pipelines.evaluate.classification_metrics`
        of the clean images).

    Raises
    ------
    ValueError
        Unknown corruption, severity outside 1-5, or data labelled with
        classes the model does not know.
    """
    names = parse_corruptions(corruptions)
    levels = parse_severities(severities)
    check_int("robustness", "seed", seed, low=0)
    if images.labels is None:
        raise ValueError(f"{images.source}: no labels; robustness needs labelled images")
    classes = np.asarray([str(c) for c in model.classes_], dtype=object)
    check_model_classes(classes, images.labels, images.source)
    features, head = split_pipeline(model)
    conditions = [CLEAN] + [(name, s) for name in names for s in levels]
    positions, predictions, errors = corrupted_predictions(
        features, ModelHead(head), images.images, conditions, seed=seed)
    truth = np.asarray(images.labels, dtype=object)[positions].astype(str)

    def accuracy(condition) -> float:
        return float(np.mean(classes[predictions[condition][:, 0]] == truth))

    table = {name: {s: accuracy((name, s)) for s in levels} for name in names}
    clean = accuracy(CLEAN)
    mean = float(np.mean([a for row in table.values() for a in row.values()]))
    return {
        "n_images": int(len(positions)), "seed": seed, "clean_accuracy": clean,
        "accuracy": table, "mean_corruption_accuracy": mean,
        "relative_robustness": mean / clean if clean else float("nan"),
        "per_corruption": {name: float(np.mean(list(row.values()))) for name, row in table.items()},
        "per_severity": {s: float(np.mean([table[n][s] for n in names])) for s in levels},
        "clean_metrics": classification_metrics(truth, classes[predictions[CLEAN][:, 0]],
                                                list(classes)),
        "failed": [{"path": image_name(images.images[i], i), "error": errors[i].reason}
                   for i in sorted(errors)],
    }
