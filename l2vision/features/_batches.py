"""One batch of images in a worker: decode each image once, prepare every view, extract.

The unit of work of :class:`~l2vision.features.ImageFeatures`: the same
functions run in the caller's process, in joblib workers and in the isolated
decoding workers of :mod:`l2vision.features._isolation`.
"""

from __future__ import annotations

import cv2
import numpy as np
from joblib import Parallel, delayed

from l2vision.features._isolation import (
    apply_test_hook,
    capture_stderr,
    decoder_noise,
    image_alarm,
    run_isolated,
)
from l2vision.images import ImageReadError, as_image, convert_color, image_name, resize_image

__all__ = ["TASK_IMAGES", "_decode_batch", "_decode_views", "_featurize_batch",
           "featurize_batches"]

#: On a Dask cluster, batches are grouped into tasks of about this many images.
TASK_IMAGES = 1024


def _decode_batch(specs, items, start, size, max_pixels, on_error, decode_size=None,
                  image_timeout=None):
    """Decode one batch once: ``(ok_rows, {spec: [views]}, {global index: ImageReadError})``.

    Each item is decoded once (a large JPEG at the reduced scale that still
    covers ``decode_size``), resized to the working ``size``, then once per
    distinct canonical size of ``specs`` and converted to each spec's color.
    Failed images are left out and reported (``on_error="record"``), or the
    first failure is raised (``on_error="raise"``). With ``image_timeout`` (in
    an isolated worker only), each image's decoding ends the process after
    that many seconds.
    """
    views = {spec: [] for spec in specs}
    sizes = list(dict.fromkeys(spec[0] for spec in specs))
    ok_rows, errors = [], {}
    for j, item in enumerate(items):
        try:
            with image_alarm(image_timeout):
                if image_timeout:
                    apply_test_hook(item)
                image = as_image(item, name=f"X[{start + j}]", max_pixels=max_pixels,
                                 min_size=decode_size)
            image = resize_image(image, size)
            resized = {s: resize_image(image, s) for s in sizes}
            prepared = [convert_color(resized[s], color) for s, color in specs]
        except ImageReadError as exc:
            if on_error == "raise":
                raise
            noise = decoder_noise() if image_timeout else ""
            errors[start + j] = ImageReadError(exc.source, f"{exc.reason} ({noise})") \
                if noise else exc
            continue
        ok_rows.append(j)
        for spec, view in zip(specs, prepared, strict=True):
            views[spec].append(view)
    if image_timeout:
        decoder_noise()  # complaints about images that decoded anyway: dropped
    return ok_rows, views, errors


def _featurize_batch(named, items, start, size, max_pixels, on_error, single_thread,
                     decode_size=None, image_timeout=None):
    """Features of one batch: ``(float32 (n, d), {global index: ImageReadError})``.

    Every extractor sees the view of :func:`_decode_batch` it asked for. Rows
    of failed images are zero and reported in the error dict.
    """
    if single_thread:
        cv2.setNumThreads(1)  # joblib already uses the cores; avoid oversubscription
    if image_timeout:
        capture_stderr()  # an isolated worker: C libraries' complaints go to error rows
    specs = list(dict.fromkeys(ext._input_spec() for _, ext in named))
    ok_rows, views, errors = _decode_batch(specs, items, start, size, max_pixels, on_error,
                                           decode_size, image_timeout)
    widths = [ext._n_features() for _, ext in named]
    out = np.zeros((len(items), sum(widths)), np.float32)
    if ok_rows:
        # Each extractor's block goes straight into its columns (no hstack copy).
        rows = slice(None) if len(ok_rows) == len(items) else ok_rows
        column = 0
        for (_, ext), width in zip(named, widths, strict=True):
            out[rows, column:column + width] = ext._extract(views[ext._input_spec()])
            column += width
    return out, errors


def _decode_views(specs, images, size, max_pixels, decode_size, n_jobs, batch_size):
    """Decoded views of the readable images for each spec (``{spec: [views]}``), in parallel.

    Unreadable images are left out (``transform`` reports them).
    """
    starts = range(0, len(images), batch_size)
    jobs = ((specs, list(images[s:s + batch_size]), s, size, max_pixels, "record", decode_size)
            for s in starts)
    if n_jobs == 1:
        parts = [_decode_batch(*args) for args in jobs]
    else:
        parts = Parallel(n_jobs=n_jobs)(delayed(_decode_batch)(*args) for args in jobs)
    return {spec: [view for _, views, _ in parts for view in views[spec]] for spec in specs}


def featurize_batches(named, images, starts, batch_size, size, max_pixels, on_error, n_jobs,
                      decode_size, image_timeout=None, client=None):
    """Every batch's ``(features, errors)``, in order: in this process, joblib workers,
    isolated decoding workers (``image_timeout``) or Dask tasks (``client``)."""
    if client is not None:
        from l2vision.distributed import Shared, ordered_results

        # Tasks of about TASK_IMAGES images: Dask's cost per task (scheduling, the
        # result's trip back) is paid once for several batches.
        group = max(1, TASK_IMAGES // batch_size)
        tasks = ([(list(images[s:s + batch_size]), s) for s in starts[i:i + group]]
                 for i in range(0, len(starts), group))
        results = ordered_results(client, _featurize_on_worker, tasks, Shared(named), size,
                                  max_pixels, on_error, decode_size)
        return (result for task in results for result in task)
    batches = ((named, list(images[s:s + batch_size]), s, size, max_pixels, on_error,
                n_jobs > 1, decode_size, image_timeout) for s in starts)
    if image_timeout:
        return run_isolated(_featurize_batch, list(batches), n_jobs, image_timeout,
                            lambda i, item, reason: ImageReadError(image_name(item, i), reason))
    if n_jobs == 1:
        return (_featurize_batch(*args) for args in batches)
    return Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_featurize_batch)(*args) for args in batches)


def _featurize_on_worker(batches, named, size, max_pixels, on_error, decode_size):
    """Batches ``[(items, start)]`` as one Dask task: :func:`_featurize_batch` each, one thread."""
    return [_featurize_batch(named, items, start, size, max_pixels, on_error, True, decode_size)
            for items, start in batches]
