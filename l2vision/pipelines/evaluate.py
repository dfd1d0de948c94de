"""Classification metrics of a model on labelled images."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

__all__ = ["classification_metrics", "evaluate_images"]


def classification_metrics(y_true, y_pred, classes=None) -> dict:
    """Accuracy, balanced accuracy, per-class precision/recall/F1 and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted class names.
    classes : sequence of str or None, default=None
        Class order of the per-class table and the confusion matrix (rows: true
        class, columns: predicted). None uses the sorted union of both.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``n_samples``, ``classes``,
        ``per_class`` (``{name: {precision, recall, f1, support}}``) and
        ``confusion_matrix`` (list of lists), all JSON-serializable.

    Examples
    --------
    >>> m = classification_metrics(["a", "a", "b"], ["a", "b", "b"])
    >>> m["accuracy"], m["confusion_matrix"], m["per_class"]["b"]["precision"]
    (0.666..., [[1, 1], [0, 1]], 0.5)
    """
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    labels = [str(c) for c in classes] if classes is not None else \
        sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n_samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "classes": labels,
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f),
                          "support": int(s)}
                      for c, p, r, f, s in zip(labels, precision, recall, f1, support,
                                               strict=True)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def evaluate_images(model, images, *, n_jobs=None, progress: bool = False) -> dict:
    """Metrics of a fitted l2vision pipeline on a labelled ImageSet, past unreadable images.

    Unreadable images are left out of the metrics and listed under
    ``"failed"`` (``[{"path": ..., "error": ...}]``).
    """
    from l2vision.images import image_name
    from l2vision.pipelines.build import split_pipeline, using_params

    features, head = split_pipeline(model)
    with using_params(features, n_jobs=n_jobs, progress=progress):
        X, errors = features.transform_with_errors(images.images)
    ok = np.array([i for i in range(len(X)) if i not in errors], dtype=np.intp)
    if not len(ok):
        raise ValueError(f"{images.source}: none of the {len(X)} images could be read "
                         f"(first error: {next(iter(errors.values()))})")
    classes = [str(c) for c in getattr(model, "classes_", sorted(set(images.labels)))]
    metrics = classification_metrics(np.asarray(images.labels)[ok], head.predict(X[ok]), classes)
    metrics["failed"] = [{"path": image_name(images.images[i], i), "error": errors[i].reason}
                         for i in sorted(errors)]
    return metrics
