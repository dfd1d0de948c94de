"""Accuracy of a model under common corruptions: each image decoded once, streamed in batches.

:func:`corrupted_predictions` is the engine shared by :func:`robustness` and
the λ study (:mod:`l2vision.pipelines.study`): a worker decodes a batch of
images once (as :class:`~l2vision.features.ImageFeatures` would), applies
every (corruption, severity) condition to the decoded pixels, extracts the
features of each corrupted copy and hands them to a small picklable
``predict`` callable, so only class indices travel back: memory stays bounded
whatever the number of images and conditions. The corrupted images depend only
on the seed, the image's position and the condition
(:func:`~l2vision.corruptions.corruption_rng`), not on batches or workers.
"""

from __future__ import annotations

import cv2
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from l2vision.corruption_specs import parse_corruptions, parse_severities
from l2vision.corruptions import corrupt, corruption_rng
from l2vision.distributed import Shared, get_client, ordered_results
from l2vision.features._batches import _featurize_batch
from l2vision.images import ImageReadError, as_image, image_name, resize_image

__all__ = ["CLEAN", "LinearHeads", "ModelHead", "StackedHeads", "check_model_classes",
           "corrupted_predictions", "features_only", "robustness"]

#: The uncorrupted condition.
CLEAN = ("clean", 0)


class ModelHead:
    """``predict(X)``: class indices (n, 1) from a fitted pipeline's steps after ``features``."""

    def __init__(self, head):
        self.head = head

    def __call__(self, X: np.ndarray) -> np.ndarray:
        from l2vision.pipelines.evaluate import class_scores

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


def features_only(X: np.ndarray) -> np.ndarray:
    """``predict`` that keeps the features themselves (training augmentation)."""
    return X


def _corrupted_batch(features, predict, items, start, conditions, seed, single_thread):
    """One batch in a worker: ``(positions read, {condition: predictions}, errors)``."""
    if single_thread:
        cv2.setNumThreads(1)
    named = features._named()
    size = None if features.size is None else tuple(features.size)
    decode_size = features._decode_size(named) if features.reduced_decoding else None
    positions, decoded, errors = [], [], {}
    for j, item in enumerate(items):
        try:  # the decoding of ImageFeatures' batches: the same pixels as evaluate's
            image = as_image(item, name=f"X[{start + j}]", max_pixels=features.max_pixels,
                             min_size=decode_size)
            decoded.append(resize_image(image, size))
            positions.append(start + j)
        except ImageReadError as exc:
            errors[start + j] = exc
    predictions = {}
    for name, severity in conditions:
        if not decoded:
            break
        images = decoded if severity == 0 else [
            corrupt(image, name, severity, corruption_rng(seed, i, name, severity))
            for i, image in zip(positions, decoded, strict=True)]
        X, _ = _featurize_batch(named, images, 0, size, features.max_pixels, "raise", False)
        predictions[(name, severity)] = predict(X)
    return positions, predictions, errors


def _corrupted_task(batch, shared, conditions, seed):
    """One batch ``(start, items)`` as a Dask task (one thread per worker)."""
    (start, items), (features, predict) = batch, shared
    return _corrupted_batch(features, predict, items, start, conditions, seed, True)


def corrupted_predictions(features, predict, images, conditions, *, seed: int = 0,
                          n_jobs=None, batch_size: int | None = None, progress: bool = False,
                          scheduler=None):
    """Predictions of ``predict`` on every condition's copy of every readable image.

    Parameters
    ----------
    features : ImageFeatures
        Fitted.
    predict : callable
        ``predict(X)`` -> array whose first axis is the images (picklable:
        :class:`ModelHead`, :class:`LinearHeads`, :class:`StackedHeads`,
        :func:`features_only`).
    images : sequence
        Paths, bytes or arrays.
    conditions : list of (str, int)
        ``(corruption name, severity)``; :data:`CLEAN` for the images as they are.
    seed : int, default=0
        Seed of the corruptions.
    n_jobs, batch_size :
        Parallel workers (joblib) and images per task (default: the features').
    progress : bool, default=False
        A tqdm bar over images.
    scheduler : str, distributed.Client or None, default=None
        Run the batches as Dask tasks (:func:`l2vision.distributed.get_client`;
        the features and ``predict`` sent once per worker). Same results.

    Returns
    -------
    positions : ndarray of int
        The readable images' positions in ``images``.
    predictions : dict
        ``{condition: predict's output for the readable images, stacked}``.
    errors : dict of int to ImageReadError
    """
    from tqdm.auto import tqdm

    batch_size = batch_size or features.batch_size
    starts = range(0, len(images), batch_size)
    n_jobs = min(effective_n_jobs(n_jobs), max(len(starts), 1))
    client = get_client(scheduler)
    if client is not None:
        results = ordered_results(client, _corrupted_task,
                                  ((s, list(images[s:s + batch_size])) for s in starts),
                                  Shared([features, predict]), conditions, seed)
    else:
        batches = ((features, predict, list(images[s:s + batch_size]), s, conditions, seed,
                    n_jobs > 1) for s in starts)
        results = (_corrupted_batch(*args) for args in batches) if n_jobs == 1 else \
            Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(_corrupted_batch)(*args) for args in batches)
    positions, parts, errors = [], {c: [] for c in conditions}, {}
    with tqdm(total=len(images), unit="img", desc="corrupted copies", leave=False,
              disable=not progress or None) as bar:
        for start, (read, predicted, failed) in zip(starts, results, strict=True):
            positions.extend(read)
            for condition, values in predicted.items():
                parts[condition].append(values)
            errors.update(failed)
            bar.update(min(batch_size, len(images) - start))
    if not positions:
        first = next(iter(errors.values()), "no images")
        raise ValueError(f"none of the {len(images)} images could be read (first error: {first})")
    return (np.asarray(positions), {c: np.concatenate(p) for c, p in parts.items()},
            errors)


def check_model_classes(model_classes, labels, source: str) -> None:
    """Raise ValueError when the data hold classes the model does not know."""
    known = {str(c) for c in model_classes}
    unknown = sorted({str(label) for label in labels} - known)
    if unknown:
        raise ValueError(f"{source}: classes {unknown[:5]}{' ...' if len(unknown) > 5 else ''} "
                         f"are not classes of the model ({sorted(known)[:10]}); evaluate a "
                         "model on data labelled with its classes")


def robustness(model, images, *, corruptions="all", severities="1-5", seed: int = 0,
               n_jobs=None, progress: bool = False, scheduler=None) -> dict:
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
    n_jobs : int or None, default=None
    progress : bool, default=False
    scheduler : str, distributed.Client or None, default=None
        Run on a Dask cluster (:mod:`l2vision.distributed`).

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
    from l2vision.pipelines.build import split_pipeline
    from l2vision.pipelines.evaluate import classification_metrics

    names = parse_corruptions(corruptions)
    levels = parse_severities(severities)
    if images.labels is None:
        raise ValueError(f"{images.source}: no labels; robustness needs labelled images")
    classes = np.asarray([str(c) for c in model.classes_], dtype=object)
    check_model_classes(classes, images.labels, images.source)
    features, head = split_pipeline(model)
    conditions = [CLEAN] + [(name, s) for name in names for s in levels]
    positions, predictions, errors = corrupted_predictions(
        features, ModelHead(head), images.images, conditions, seed=seed, n_jobs=n_jobs,
        progress=progress, scheduler=scheduler)
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
