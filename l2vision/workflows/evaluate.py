"""Classification metrics of a model on labelled images."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from l2vision._validation import check_real
from l2vision.io.decode import image_name
from l2vision.pipelines.build import class_scores, split_pipeline
from l2vision.workflows.report_explanations import report_reasons
from l2vision.workflows.trust_metrics import COVERAGES, trust_metrics

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


def evaluate_images(model, images, *, keep_predictions: bool = False,
                    coverages=COVERAGES) -> dict:
    """Metrics of a fitted l2vision pipeline on a labelled ImageSet, past unreadable images.

    Unreadable images are left out of the metrics and listed under
    ``"failed"`` (``[{"path": ..., "error": ...}]``). With ``keep_predictions``,
    ``"predictions"`` lists every readable image's ``image`` (path or array),
    ``true`` and ``predicted`` class and ``score`` (for the report's gallery;
    its examples get heatmaps, and ``"figures"`` each extractor's part of each
    class's score: :func:`~l2vision.workflows.report_explanations.report_reasons`).
    A model of l2vision 0.2 also gets ``calibration`` (ECE, NLL, Brier before
    and after calibration), ``prediction_sets`` (coverage and mean size at
    each level of ``coverages``), ``ood`` and ``risk_coverage``
    (:func:`~l2vision.workflows.trust_metrics.trust_metrics`); its arrays for
    the report are under ``"figures"``. Images of classes the model does not
    know are left out of the metrics and summarized apart under
    ``"foreign_classes"`` (``{class: {"n_images", "predicted": {label: n}}}``:
    what the model calls them).

    Raises
    ------
    ValueError
        No class of the data is a class of the model, or no image is readable.
    """
    for level in coverages:
        check_real("evaluate_images", "coverage", level, low=0, high=1, low_open=True,
                   high_open=True)
    features, head = split_pipeline(model)
    classes = [str(c) for c in getattr(model, "classes_", sorted(set(images.labels)))]
    labels = np.asarray(images.labels).astype(str)
    given = {str(label) for label in labels}
    foreign = sorted(given - set(classes))
    if len(foreign) == len(given):
        raise ValueError(f"{images.source}: none of its classes {_names(foreign)} is a class "
                         f"of the model {_names(classes)}; evaluate a model on images "
                         "labelled with its classes")
    # Decoded in worker processes (the "isolate" setting): a crashing or hanging
    # decoder costs one image.
    X, errors = features.transform_with_errors(images.images)
    ok = np.array([i for i in range(len(X)) if i not in errors], dtype=np.intp)
    if not len(ok):
        raise ValueError(f"{images.source}: none of the {len(X)} images could be read "
                         f"(first error: {next(iter(errors.values()))})")
    scores = class_scores(head, X[ok])
    predicted = np.asarray(classes, dtype=object)[scores.argmax(axis=1)]
    truth = labels[ok]
    mine = np.isin(truth, classes)
    metrics = classification_metrics(truth[mine], predicted[mine], classes)
    trust, figures = trust_metrics(head, X[ok][mine], truth[mine], classes, coverages)
    metrics.update(trust)
    if figures:
        metrics["figures"] = figures
    if foreign:
        metrics["foreign_classes"] = {
            name: {"n_images": int(np.sum(truth == name)),
                   "predicted": dict(Counter(predicted[truth == name].tolist()).most_common())}
            for name in foreign}
    if keep_predictions:
        metrics["predictions"] = [
            {"image": images.images[i], "true": str(t), "predicted": str(p), "score": float(s)}
            for i, t, p, s, m in zip(ok, truth, predicted, scores.max(axis=1), mine,
                                     strict=True) if m]
        reasons = report_reasons(model, X[ok][mine], predicted[mine], metrics["predictions"])
        metrics.setdefault("figures", {}).update(reasons)
    metrics["failed"] = [{"path": image_name(images.images[i], i), "error": errors[i].reason}
                         for i in sorted(errors)]
    return metrics


def _names(names: list[str], most: int = 8) -> str:
    """``['a', 'b', ...]``: a list of class names cut after ``most``."""
    shown = ", ".join(repr(n) for n in names[:most])
    return f"[{shown}{', ...' if len(names) > most else ''}]"
