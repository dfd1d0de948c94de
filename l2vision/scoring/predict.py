"""Predictions of image files, chunk by chunk: the streaming half of batch scoring.

:func:`predict_paths` is the streaming API (an iterator of :class:`Prediction`);
:func:`predict_chunks` predicts each chunk (:mod:`l2vision.scoring.chunks`) in
order, here (decoding in parallel, crash-isolated workers) or as one Dask task
per chunk. :func:`~l2vision.scoring.run.score_files` writes what it yields.
"""

from __future__ import annotations

import contextvars
import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from l2vision.config import config_context, get_config, iterate_in_context
from l2vision.distributed import get_client
from l2vision.pipelines.build import class_scores, ood_scores, split_pipeline
from l2vision.scoring.chunks import CHUNK_BATCHES, Chunk, iter_chunks
from l2vision.scoring.decisions import UNKNOWN, Decider, TrustOptions, check_trust

__all__ = ["Prediction", "predict_chunks", "predict_paths"]


@dataclass(frozen=True)
class Prediction:
    """The result for one image.

    Attributes
    ----------
    path : str
    label : str or None
        Predicted class name (None when the image could not be read).
    score : float or None
        The calibrated probability of the top class (models of l2vision 0.2),
        or its decision value (``raw_scores``, or a model without probabilities).
    top_k : list of (str, float)
        The ``top_k`` best classes with their scores, best first.
    scores : ndarray of shape (n_classes,) or None
        Every class's probability (or decision value), in ``classes`` order.
    error : str
        Empty when the image was scored; otherwise what went wrong.
    ood : float or None
        How unusual the image is next to the training images (higher: more
        unusual); None for a model without a detector.
    label_set : tuple of str
        The prediction set (with a coverage option), most probable class first.
    unknown : str
        Why ``label`` is ``"unknown"`` (``"ood"``, ``"low_confidence"``), or ``""``.
    """

    path: str
    label: str | None
    score: float | None
    top_k: list
    scores: np.ndarray | None
    error: str = ""
    ood: float | None = None
    label_set: tuple = ()
    unknown: str = ""


def load_model(model, trusted: bool = False):
    """A fitted pipeline, or the model file's (see :func:`~l2vision.pipelines.persist.load`)."""
    if isinstance(model, (str, os.PathLike)):
        from l2vision.pipelines.persist import load

        return load(model, trusted=trusted)
    return model


def predict_chunks(model, chunks: Iterable[Chunk], *, top_k: int = 1,
                   trust: TrustOptions | None = None
                   ) -> Iterator[tuple[Chunk, list[Prediction]]]:
    """Each chunk with its predictions, in order: decoded and featurized in parallel batches.

    ``model`` is a fitted l2vision pipeline or a model file. Workers, batches,
    crash isolation and the scheduler come from
    :func:`l2vision.config_context`. Isolated decoding (the default) runs in
    worker processes: an image whose decoder crashes or runs past
    ``image_timeout`` gets an error, the others are predicted. On a Dask
    cluster, each chunk is one task (the model sent once per worker; decoding
    in the worker's process, without isolation; the worker sends back the
    chunk's score matrix and read errors, the predictions are built here),
    the results in input order with a bounded number of chunks in flight
    (:func:`l2vision.distributed.ordered_results`). ``trust``: prediction
    sets, ``unknown`` and raw scores (:class:`~l2vision.scoring.decisions.TrustOptions`).
    """
    model = load_model(model)
    trust = trust or TrustOptions()
    check_trust(model, trust)
    decider = Decider(model, trust)
    classes = np.asarray([str(c) for c in model.classes_])
    client = get_client()
    if client is not None:
        from l2vision.distributed import Shared, ordered_results

        config = get_config()
        source, ahead = itertools.tee(chunks)
        results = ordered_results(client, _predict_chunk, (list(c.paths) for c in ahead),
                                  Shared(model), config["batch_size"], config["max_pixels"],
                                  trust)
        for chunk in source:
            try:
                scored = next(results)
            except Exception as exc:
                raise RuntimeError(
                    f"chunk {chunk.index} (inputs {chunk.start + 1}-{chunk.start + len(chunk)}: "
                    f"{chunk.paths[0]} ... {chunk.paths[-1]}) failed on the cluster: "
                    f"{type(exc).__name__}: {exc}") from exc
            yield chunk, _chunk_predictions(chunk, scored, classes, top_k, decider)
        return
    features, head = split_pipeline(model)
    for chunk, (X, errors) in _featurized_ahead(features, chunks):
        scored = _chunk_scores(len(chunk), X, errors, head, len(classes), trust)
        yield chunk, _chunk_predictions(chunk, scored, classes, top_k, decider)


@dataclass(frozen=True)
class _Scored:
    """A chunk's results: what a Dask worker sends back (arrays and a small dict).

    Cheap to pickle (a list of :class:`Prediction` objects costs 20-50 ms per
    chunk). ``proba``: calibrated probabilities when the scores are raw and a
    decision needs them; ``ood``: None for a model without a detector.
    """

    scores: np.ndarray
    reasons: dict
    proba: np.ndarray | None = None
    ood: np.ndarray | None = None


def _chunk_scores(n_paths: int, X, errors, head, n_classes: int,
                  trust: TrustOptions) -> _Scored:
    """The class scores of a chunk's readable images, and each unreadable one's reason."""
    ok = np.array([i for i in range(n_paths) if i not in errors], dtype=np.intp)
    reasons = {i: error.reason for i, error in errors.items()}
    if not len(ok):
        return _Scored(np.empty((0, n_classes)), reasons)
    # One BLAS thread: a multi-threaded product sums in another order, and the
    # output must not depend on where the chunk ran (a Dask worker has one thread).
    with threadpool_limits(1, user_api="blas"):
        scores = class_scores(head, X[ok], raw=trust.raw_scores)
        proba = class_scores(head, X[ok]) if trust.raw_scores and trust.needs_proba else None
        ood = ood_scores(head, X[ok])
    return _Scored(scores, reasons, proba, ood)


def _chunk_predictions(chunk: Chunk, scored: _Scored, classes, top_k: int,
                       decider: Decider) -> list[Prediction]:
    """One Prediction per path of the chunk from its readable images' scores."""
    scores, reasons = scored.scores, scored.reasons
    proba = scored.proba if scored.proba is not None else scores
    label_sets = decider.label_sets(proba)
    unknown = decider.unknown(proba, scored.ood)
    k = max(1, min(int(top_k), len(classes)))
    # The top k of every row at once (ties: the earlier class first).
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top_names = classes[order].tolist()
    top_scores = np.take_along_axis(scores, order, axis=1).tolist()
    predictions, row = [], 0
    for i, path in enumerate(chunk.paths):
        if i in reasons:
            predictions.append(Prediction(path, None, None, [], None, reasons[i]))
            continue
        names, values = top_names[row], top_scores[row]
        predictions.append(Prediction(
            path, UNKNOWN if unknown[row] else names[0], values[0],
            list(zip(names, values, strict=True)), scores[row],
            ood=None if scored.ood is None else float(scored.ood[row]),
            label_set=label_sets[row], unknown=unknown[row]))
        row += 1
    return predictions


def _predict_chunk(paths: list, model, batch_size: int, max_pixels,
                   trust: TrustOptions) -> _Scored:
    """One chunk on a Dask worker: read, extract (this process, serially) and score."""
    features, head = split_pipeline(model)
    # The settings of this task only (the worker's threads share the model, not the context).
    with config_context(n_jobs=1, batch_size=batch_size, max_pixels=max_pixels, progress=False,
                        cache_dir=None, isolate=False, scheduler=None):
        X, errors = features.transform_with_errors(paths)
    return _chunk_scores(len(paths), X, errors, head, len(model.classes_), trust)


def _chunk_features(features, paths: list):
    """A chunk's features and read errors: no progress bar (the caller counts rows), no cache."""
    with config_context(progress=False, cache_dir=None):
        return features.transform_with_errors(paths)


def _featurized_ahead(features, chunks: Iterable[Chunk], ahead: int = 2):
    """``(chunk, (X, errors))`` in order, the next chunks' features computed meanwhile.

    Threads extract the next ``ahead`` chunks (waiting on the decoding
    workers, without the GIL) while the caller predicts and writes chunk k,
    so the workers are not idle at chunk boundaries: with two chunks in
    flight, the next chunk's batches are already queued when the current
    one's last batch ends. The threads run in a copy of the caller's
    :mod:`contextvars` context, so they see the same settings.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    iterator = iter(chunks)
    with ThreadPoolExecutor(ahead) as pool:
        def submit(chunk):
            return chunk, pool.submit(contextvars.copy_context().run, _chunk_features,
                                      features, list(chunk.paths))

        pending = deque(submit(chunk) for chunk in itertools.islice(iterator, ahead))
        while pending:
            chunk, future = pending.popleft()
            result = future.result()
            upcoming = next(iterator, None)
            if upcoming is not None:
                pending.append(submit(upcoming))
            yield chunk, result


def predict_paths(model, paths: Iterable[str | os.PathLike], *, top_k: int = 1,
                  progress=None, trust: TrustOptions | None = None) -> Iterator[Prediction]:
    """Predict images lazily, in input order; unreadable images give an error result.

    Paths are consumed in chunks of ``batch_size * CHUNK_BATCHES`` (the
    ``batch_size`` setting of :func:`l2vision.config_context`): each chunk is
    decoded and featurized in parallel batches, predicted, and yielded, so
    memory stays bounded whatever the number of paths. Workers, crash
    isolation (on by default) and the scheduler are settings too.

    Parameters
    ----------
    model : Pipeline, str or os.PathLike
        A fitted l2vision pipeline, or a model file from ``l2vision train``.
    paths : iterable of str or os.PathLike
        Image files (any iterable, e.g. a generator over millions of paths).
    top_k : int, default=1
        Classes per result in ``Prediction.top_k``.
    progress : callable or None, default=None
        Called with the number of images done after each chunk.
    trust : TrustOptions or None, default=None
        Prediction sets, ``unknown`` and raw scores
        (:class:`~l2vision.scoring.decisions.TrustOptions`).

    Returns
    -------
    iterator of Prediction
        Lazy; it runs with the settings of :func:`l2vision.config_context` in
        effect when ``predict_paths`` was called.

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
    # The settings in effect now, not where the iterator is consumed.
    return iterate_in_context(_predict_paths(model, paths, top_k, progress, trust))


def _predict_paths(model, paths, top_k, progress, trust) -> Iterator[Prediction]:
    chunks = iter_chunks(paths, get_config()["batch_size"] * CHUNK_BATCHES)
    for chunk, predictions in predict_chunks(model, chunks, top_k=top_k, trust=trust):
        yield from predictions
        if progress is not None:
            progress(len(chunk))
