"""Batch prediction of image files: streaming, parallel, one result per path, errors as data."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from l2vision.pipelines.build import split_pipeline, using_params

__all__ = ["CHUNK_BATCHES", "Prediction", "class_scores", "predict_paths"]

#: Batches per chunk. Chunks start at fixed multiples of ``batch_size *
#: CHUNK_BATCHES`` whatever ``n_jobs``, so every image is always predicted
#: within the same group of images: results are bit-for-bit reproducible,
#: which an interrupted-and-resumed scoring run relies on.
CHUNK_BATCHES = 8


@dataclass(frozen=True)
class Prediction:
    """The result for one image.

    Attributes
    ----------
    path : str
    label : str or None
        Predicted class name (None when the image could not be read).
    score : float or None
        Probability of ``label`` for probabilistic models (logistic), the
        decision value for the others (ridge).
    top_k : list of (str, float)
        The ``top_k`` best classes with their scores, best first.
    scores : ndarray of shape (n_classes,) or None
        Every class's probability (or decision value), in ``classes`` order.
    error : str
        Empty when the image was scored; otherwise what went wrong.
    """

    path: str
    label: str | None
    score: float | None
    top_k: list
    scores: np.ndarray | None
    error: str = ""


def class_scores(head, X: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(scores (n, n_classes), is_probability)`` of the model's final steps.

    Probabilities when the model has ``predict_proba``; otherwise decision
    values, with a two-class decision ``d`` spread to ``[-d, d]`` so that the
    predicted class has the larger score.
    """
    if hasattr(head, "predict_proba"):
        return head.predict_proba(X), True
    decision = head.decision_function(X)
    if decision.ndim == 1:
        decision = np.column_stack([-decision, decision])
    return decision, False


def predict_paths(model, paths: Iterable[str | os.PathLike], *, batch_size: int = 256,
                  n_jobs: int | None = None, top_k: int = 1,
                  progress=None) -> Iterator[Prediction]:
    """Predict images lazily, in input order; unreadable images give an error result.

    Paths are consumed in chunks of ``batch_size * CHUNK_BATCHES``: each
    chunk is decoded and featurized in parallel batches, predicted, and
    yielded, so memory stays bounded whatever the number of paths.

    Parameters
    ----------
    model : Pipeline, str or os.PathLike
        A fitted l2vision pipeline, or a model file from ``l2vision train``.
    paths : iterable of str or os.PathLike
        Image files (any iterable, e.g. a generator over millions of paths).
    batch_size : int, default=256
        Images per parallel batch.
    n_jobs : int or None, default=None
        Parallel jobs (joblib).
    top_k : int, default=1
        Classes per result in ``Prediction.top_k``.
    progress : callable or None, default=None
        Called with the number of images done after each chunk.

    Yields
    ------
    Prediction

    Examples
    --------
    >>> import numpy as np, cv2, tempfile, pathlib
    >>> from l2vision.pipelines import make_pipeline
    >>> images = [np.full((8, 8, 3), bgr, np.uint8) for bgr in
    ...           [(255, 0, 0), (200, 10, 0), (0, 0, 255), (0, 20, 200)]]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, ["blue", "blue", "red", "red"])
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = cv2.imwrite(str(folder / "red.png"), images[2])
    >>> results = predict_paths(model, [folder / "red.png", folder / "nope.png"])
    >>> [(p.label, p.error) for p in results]
    [('red', ''), (None, 'file not found')]
    """
    if isinstance(model, (str, os.PathLike)):
        from l2vision.pipelines.persist import load

        model = load(model)
    features, head = split_pipeline(model)
    classes = np.asarray([str(c) for c in model.classes_])
    k = max(1, min(int(top_k), len(classes)))
    chunk_size = batch_size * CHUNK_BATCHES
    iterator = iter(paths)
    with using_params(features, n_jobs=n_jobs, batch_size=batch_size, progress=False,
                      cache_dir=None):
        while chunk := [os.fspath(p) for p in itertools.islice(iterator, chunk_size)]:
            X, errors = features.transform_with_errors(chunk)
            ok = np.array([i for i in range(len(chunk)) if i not in errors], dtype=np.intp)
            scores = class_scores(head, X[ok])[0] if len(ok) else np.empty((0, len(classes)))
            # The top k of every row at once (ties: the earlier class first).
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            top_names = classes[order].tolist()
            top_scores = np.take_along_axis(scores, order, axis=1).tolist()
            row = 0
            for i, path in enumerate(chunk):
                if i in errors:
                    yield Prediction(path, None, None, [], None, errors[i].reason)
                    continue
                names, values = top_names[row], top_scores[row]
                yield Prediction(path, names[0], values[0], list(zip(names, values, strict=True)),
                                 scores[row])
                row += 1
            if progress is not None:
                progress(len(chunk))
