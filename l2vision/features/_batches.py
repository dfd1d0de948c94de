"""One batch of images in a worker: decode each image once, prepare every view, extract.

The unit of work of :class:`~l2vision.features.ImageFeatures`: the same
functions run in the caller's process, in joblib workers, in Dask tasks and in
the isolated decoding workers of :mod:`l2vision.features._isolation`. They take
every setting they need as arguments (:class:`Decoding`): a worker process
does not see the caller's :func:`~l2vision.config_context`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from joblib import delayed

from l2vision._workers import exit_with_parent, worker_pool
from l2vision.config import config_context
from l2vision.features._isolation import capture_stderr, decoder_noise, image_alarm, run_isolated
from l2vision.io.decode import as_image, convert_color, image_name, resize_image
from l2vision.io.errors import ImageReadError

__all__ = ["TASK_IMAGES", "Decoding", "decode_views", "featurize_batch", "featurize_batches",
           "views_batch"]

#: On a Dask cluster, batches are grouped into tasks of about this many images.
TASK_IMAGES = 1024


@dataclass(frozen=True)
class Decoding:
    """How the images of a batch are decoded: what a worker needs to know, sent with the batch.

    Attributes
    ----------
    size : (int, int) or None
        Working size every image is resized to right after decoding.
    max_pixels : int or None
        The decompression-bomb guard.
    decode_size : (int, int) or None
        The smallest size the extractors need (large JPEGs are decoded at a
        reduced scale that still covers it).
    on_error : {"raise", "record"}
        Raise at the first bad image, or record it and go on.
    single_thread : bool
        Limit OpenCV to one thread (the workers already use the cores).
    image_timeout : float or None
        In an isolated worker only: seconds one image may take.
    settings : tuple of (str, object)
        The :data:`~l2vision.config.WORKER_SETTINGS` in effect where the work
        was asked for, set again around the batch in the worker.
    cwd : str or None
        The caller's working folder, made the worker's before the batch: a
        pool's processes keep the folder they started in, and relative paths
        are the caller's (None on a Dask cluster: its machines have their own).
    """

    size: tuple | None
    max_pixels: int | None
    decode_size: tuple | None = None
    on_error: str = "raise"
    single_thread: bool = False
    image_timeout: float | None = None
    settings: tuple = ()
    cwd: str | None = None


def _decode_one(item, index: int, decoding: Decoding) -> np.ndarray:
    """One item decoded, checked and resized to the working size."""
    with image_alarm(decoding.image_timeout):
        image = as_image(item, name=f"X[{index}]", max_pixels=decoding.max_pixels,
                         min_size=decoding.decode_size)
    return resize_image(image, decoding.size)


def _record(errors: dict, index: int, exc: ImageReadError, decoding: Decoding) -> None:
    """Keep a failed image's error (with the C library's complaint when isolated)."""
    if decoding.on_error == "raise":
        raise exc
    noise = decoder_noise() if decoding.image_timeout else ""
    errors[index] = ImageReadError(exc.source, f"{exc.reason} ({noise})") if noise else exc


def _views_of(image: np.ndarray, specs: list, sizes: list) -> list[np.ndarray]:
    """The image prepared for each ``(size, color)`` spec, each size resized once."""
    resized = {s: resize_image(image, s) for s in sizes}
    return [convert_color(resized[s], color) for s, color in specs]


def decode_batch(specs, items, start: int, decoding: Decoding):
    """Decode one batch once: ``(ok_rows, {spec: [views]}, {global index: ImageReadError})``.

    Each item is decoded once (a large JPEG at the reduced scale that still
    covers ``decoding.decode_size``), resized to the working size, then once
    per distinct canonical size of ``specs`` and converted to each spec's
    color. Failed images are left out and reported (``on_error="record"``),
    or the first failure is raised.
    """
    _start_worker(decoding)
    views = {spec: [] for spec in specs}
    sizes = list(dict.fromkeys(spec[0] for spec in specs))
    ok_rows, errors = [], {}
    for j, item in enumerate(items):
        try:
            prepared = _views_of(_decode_one(item, start + j, decoding), specs, sizes)
        except ImageReadError as exc:
            _record(errors, start + j, exc, decoding)
            continue
        ok_rows.append(j)
        for spec, view in zip(specs, prepared, strict=True):
            views[spec].append(view)
    if decoding.image_timeout:
        decoder_noise()  # complaints about images that decoded anyway: dropped
    return ok_rows, views, errors


def _extract(named, views: dict, n_rows: int, ok_rows: list) -> np.ndarray:
    """The extractors' columns for prepared views, zeros in the rows not in ``ok_rows``."""
    widths = [ext._n_features() for _, ext in named]
    out = np.zeros((n_rows, sum(widths)), np.float32)
    if ok_rows:
        # Each extractor's block goes straight into its columns (no hstack copy).
        rows = slice(None) if len(ok_rows) == n_rows else ok_rows
        column = 0
        for (_, ext), width in zip(named, widths, strict=True):
            out[rows, column:column + width] = ext._extract(views[ext._input_spec()])
            column += width
    return out


def _start_worker(decoding: Decoding) -> None:
    exit_with_parent()  # in a worker process: never outlive the run
    if decoding.cwd is not None and os.getcwd() != decoding.cwd:
        os.chdir(decoding.cwd)  # relative paths are the caller's
    if decoding.single_thread:
        cv2.setNumThreads(1)  # joblib already uses the cores; avoid oversubscription
    if decoding.image_timeout:
        capture_stderr()  # an isolated worker: C libraries' complaints go to error rows


def featurize_batch(named, items, start: int, decoding: Decoding):
    """Features of one batch: ``(float32 (n, d), {global index: ImageReadError})``.

    Every extractor sees the view of :func:`decode_batch` it asked for. Rows
    of failed images are zero and reported in the error dict.
    """
    _start_worker(decoding)
    specs = list(dict.fromkeys(ext._input_spec() for _, ext in named))
    with config_context(**dict(decoding.settings)):
        ok_rows, views, errors = decode_batch(specs, items, start, decoding)
        return _extract(named, views, len(items), ok_rows), errors


def views_batch(named, items, start: int, decoding: Decoding, views: Callable,
                reduce: Callable | None):
    """One batch of :meth:`ImageFeatures.transform_views`, in a worker.

    Each image is decoded once; ``views(image, index)`` returns its copies by
    key; each key's copies are featurized together and passed through
    ``reduce`` (when given). Returns ``(positions read, {key: output}, errors)``.
    """
    with config_context(**dict(decoding.settings)):
        return _views_batch(named, items, start, decoding, views, reduce)


def _views_batch(named, items, start, decoding, views, reduce):
    _start_worker(decoding)
    specs = list(dict.fromkeys(ext._input_spec() for _, ext in named))
    sizes = list(dict.fromkeys(spec[0] for spec in specs))
    positions, copies, errors = [], {}, {}
    for j, item in enumerate(items):
        try:
            image = _decode_one(item, start + j, decoding)
        except ImageReadError as exc:
            _record(errors, start + j, exc, decoding)
            continue
        positions.append(start + j)
        for key, copy in views(image, start + j).items():
            copies.setdefault(key, []).append(copy)
    outputs = {}
    for key, images in copies.items():
        prepared = {spec: [] for spec in specs}
        for image in images:
            for spec, view in zip(specs, _views_of(image, specs, sizes), strict=True):
                prepared[spec].append(view)
        X = _extract(named, prepared, len(images), list(range(len(images))))
        outputs[key] = X if reduce is None else reduce(X)
    return positions, outputs, errors


def decode_views(specs, images, decoding: Decoding, n_jobs: int, batch_size: int) -> dict:
    """Decoded views of the readable images for each spec (``{spec: [views]}``), in parallel.

    Unreadable images are left out (``transform`` reports them).
    """
    starts = range(0, len(images), batch_size)
    jobs = ((specs, list(images[s:s + batch_size]), s, decoding) for s in starts)
    if n_jobs == 1:
        parts = [decode_batch(*args) for args in jobs]
    else:
        parts = worker_pool(n_jobs)(delayed(decode_batch)(*args) for args in jobs)
    return {spec: [view for _, views, _ in parts for view in views[spec]] for spec in specs}


def run_batches(function: Callable, named, images, batch_size: int, decoding: Decoding,
                n_jobs: int, client=None, extra: tuple = (), width: int | None = None):
    """``function(named, items, start, decoding, *extra)`` for every batch, in order.

    In this process, joblib workers, isolated decoding workers (when
    ``decoding.image_timeout`` is set) or Dask tasks (``client``). ``width``:
    ``function`` returns ``(features with that many columns, errors)``, which
    isolated workers hand back through shared memory.
    """
    starts = range(0, len(images), batch_size)
    if client is not None:
        from l2vision.distributed import Shared, ordered_results

        # Tasks of about TASK_IMAGES images: Dask's cost per task (scheduling, the
        # result's trip back) is paid once for several batches.
        group = max(1, TASK_IMAGES // batch_size)
        tasks = ([(list(images[s:s + batch_size]), s) for s in starts[i:i + group]]
                 for i in range(0, len(starts), group))
        single = Decoding(decoding.size, decoding.max_pixels, decoding.decode_size,
                          decoding.on_error, True, None, decoding.settings)
        results = ordered_results(client, _on_worker, tasks, Shared([function, named, *extra]),
                                  single)
        return (result for task in results for result in task)
    batches = ((named, list(images[s:s + batch_size]), s, decoding, *extra) for s in starts)
    if decoding.image_timeout:
        return run_isolated(function, list(batches), n_jobs, decoding.image_timeout,
                            lambda i, item, reason: ImageReadError(image_name(item, i), reason),
                            width)
    if n_jobs == 1:
        return (function(*args) for args in batches)
    return worker_pool(n_jobs, return_as="generator")(
        delayed(function)(*args) for args in batches)


def featurize_batches(named, images, batch_size: int, decoding: Decoding, n_jobs: int,
                      client=None):
    """Every batch's ``(features, errors)``, in order (see :func:`run_batches`)."""
    width = sum(ext._n_features() for _, ext in named)
    return run_batches(featurize_batch, named, images, batch_size, decoding, n_jobs, client,
                       width=width)


def _on_worker(batches, shared, decoding: Decoding):
    """Batches ``[(items, start)]`` as one Dask task, one thread."""
    function, named, *extra = shared
    return [function(named, items, start, decoding, *extra) for items, start in batches]
