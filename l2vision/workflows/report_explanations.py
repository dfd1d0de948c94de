"""What a report shows of the model's reasons: heatmaps in its gallery, and bars per extractor.

For the gallery's images (:func:`~l2vision.report.gallery.pick_examples`),
:func:`explain_examples` attaches overlay thumbnails: the two best classes'
maps beside each confident mistake ("why shoes, not hat"), the predicted
class's beside each correct example. :func:`evidence_figure` averages each
extractor's part of the score over the images predicted as each class
(:mod:`l2vision.explain.split`). Both run on the model that made the
predictions, before ``train`` refits it on the held-out images too.
"""

from __future__ import annotations

import numpy as np

from l2vision.explain.drawing import overlay
from l2vision.explain.explain import iter_explanations
from l2vision.explain.split import class_split, extractor_split
from l2vision.report.gallery import pick_examples, thumbnail

__all__ = ["evidence_figure", "explain_examples", "report_reasons"]


def explain_examples(model, predictions: list[dict]) -> int:
    """Attach ``"overlays"`` (``[(class, base64 JPEG thumbnail)]``) to the gallery's predictions.

    Only the images the gallery shows are explained (at most 3 mistakes and
    3 correct images per class); their thumbnails are made at once, so no
    full-size image stays in memory. An image that cannot be explained keeps
    its plain thumbnail. Returns how many images got overlays.

    Examples
    --------
    >>> from l2vision.pipelines import make_pipeline
    >>> images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 50, 200, 250)]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, list("aabb"))
    >>> predictions = [{"image": images[0], "true": "a", "predicted": "a", "score": 1.0},
    ...                {"image": images[1], "true": "b", "predicted": "a", "score": 0.8}]
    >>> explain_examples(model, predictions), [c for c, _ in predictions[1]["overlays"]]
    (2, ['a', 'b'])
    """
    mistakes, correct = pick_examples(predictions)
    done = 0
    for items, top_k in ((mistakes, 2), (correct, 1)):
        top_k = min(top_k, len(model.classes_))
        explained = iter_explanations(model, [p["image"] for p in items], top_k=top_k)
        for p, e in zip(items, explained, strict=True):
            if e.error is not None:
                continue
            pictures = [(str(c.label), thumbnail(overlay(e.image, c.heatmap)))
                        for c in e.classes]
            p["overlays"] = [(label, data) for label, data in pictures if data is not None]
            done += 1
    return done


def evidence_figure(model, X: np.ndarray, predicted) -> dict:
    """The report's bars: each extractor's average part of each class's score.

    ``X``: the model's features of the evaluated images; ``predicted``: their
    predicted classes. See :func:`~l2vision.explain.split.class_split`.
    """
    names, split = extractor_split(model, X)
    classes = [str(c) for c in model.classes_]
    position = {c: i for i, c in enumerate(classes)}
    index = np.asarray([position[str(p)] for p in predicted], dtype=np.intp)
    return class_split(names, split, index, classes)


def report_reasons(model, X: np.ndarray, predicted, predictions: list[dict]) -> dict:
    """Both of the above for a report: ``{"evidence_split": ...}``, overlays attached.

    A part that fails (a plugin extractor that cannot be explained, say)
    leaves a warning and the report without it: the measured metrics are
    never lost to a picture.
    """
    from l2vision.report.html import report_part

    figures = {}
    split = report_part("evidence bars", evidence_figure, model, X, predicted)
    if split is not None:
        figures["evidence_split"] = split
    report_part("gallery heatmaps", explain_examples, model, predictions)
    return figures
