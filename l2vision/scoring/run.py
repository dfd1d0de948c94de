"""A whole scoring job: inputs expanded, predictions written to a resumable output.

:func:`score_files` is the library function behind ``l2vision score``; it
writes what :func:`~l2vision.scoring.predict.predict_chunks` yields, chunk by
chunk (:mod:`l2vision.scoring.chunks`), so memory stays bounded whatever the
number of images, and returns a :class:`ScoreSummary`. :class:`Prediction`,
:func:`predict_chunks` and :func:`predict_paths` live in
:mod:`l2vision.scoring.predict` and are importable from here too.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import io
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from l2vision._validation import check_int
from l2vision.features._isolation import DEFAULT_TIMEOUT
from l2vision.pipelines.build import split_pipeline
from l2vision.scoring.chunks import CHUNK_BATCHES, iter_chunks, resume_point
from l2vision.scoring.formats import FORMATS, format_for
from l2vision.scoring.inputs import check_inputs, count_paths, iter_paths
from l2vision.scoring.partial import PartialOutput, ResumeError
from l2vision.scoring.predict import Prediction, _load, predict_chunks, predict_paths

__all__ = ["FailFastError", "Prediction", "ScoreSummary", "predict_chunks", "predict_paths",
           "score_files"]


class FailFastError(ValueError):
    """``fail_fast=True`` and an image could not be scored (its row is written, the run stops)."""


@dataclass
class ScoreSummary:
    """What :func:`score_files` did.

    Attributes
    ----------
    out : Path or None
        The output file (None: standard output).
    scored, failed : int
        Images scored and images that could not be, in this run.
    resumed, resumed_failed : int
        Rows (and failed rows among them) kept from an interrupted run.
    seconds : float
    """

    out: Path | None
    scored: int
    failed: int
    resumed: int
    resumed_failed: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        """Rate of this run (scored and failed images)."""
        return (self.scored + self.failed) / self.seconds if self.seconds > 0 else 0.0


def _model_sha256(model) -> str:
    """What identifies the model of a job: its file's sha256, or its pickle's."""
    if isinstance(model, (str, os.PathLike)):
        from l2vision._files import file_sha256

        return file_sha256(model)
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def score_files(model, inputs: Iterable, out=None, *, manifests: Iterable = (),
                path_column: str = "path", stdin: Iterable[str] | None = None,
                format: str | None = None, top_k: int = 1, probs: bool = False,
                batch_size: int = 256, n_jobs: int | None = None, resume: bool = False,
                overwrite: bool = False, fail_fast: bool = False, progress: bool = False,
                log: Callable[[str], None] | None = None, trusted: bool = False,
                image_timeout: float | None = DEFAULT_TIMEOUT, scheduler=None) -> ScoreSummary:
    """Score image files with a saved model into a CSV or JSONL output, resumably.

    One row per input image, in input order (see
    :class:`~l2vision.scoring.formats.OutputFormat` for the columns); an
    unreadable image gets an error row and the run goes on. The output is
    written to ``OUT.partial`` and renamed to ``out`` when complete; after an
    interruption (even SIGKILL), ``resume=True`` continues it into exactly the
    file an uninterrupted run writes.

    Parameters
    ----------
    model : str, os.PathLike or Pipeline
        A model file from ``l2vision train`` (or a fitted pipeline).
    inputs : iterable of str
        Image files, folders, glob patterns, and ``"-"`` for ``stdin``
        (:func:`~l2vision.scoring.inputs.iter_paths`).
    out : str, os.PathLike or None, default=None
        The output file; None writes to standard output.
    manifests : iterable of str, default=()
        CSV files whose ``path_column`` lists images.
    path_column : str, default="path"
    stdin : iterable of str or None, default=None
        Lines read for the input ``"-"`` (None: ``sys.stdin``).
    format : {"csv", "jsonl"} or None, default=None
        None: from ``out``'s extension (``.jsonl``, ``.ndjson``), else csv.
    top_k : int, default=1
        With k > 1, add the k best classes and their scores.
    probs : bool, default=False
        Add one score column per class.
    batch_size : int, default=256
        Images per parallel batch.
    n_jobs : int or None, default=None
        Parallel jobs (joblib).
    resume : bool, default=False
        Continue ``OUT.partial`` (same model, inputs and options).
    overwrite : bool, default=False
        Replace an existing output or partial output.
    fail_fast : bool, default=False
        Stop at the first image that cannot be scored (its row is written).
    progress : bool, default=False
        A progress bar on stderr when it is a terminal.
    log : callable or None, default=None
        Called with each log line: failed images, a resume, a kept partial output.
    trusted : bool, default=False
        Load the model file without the allow-list (see :func:`~l2vision.load`).
    image_timeout : float or None, default=30.0
        Images are decoded in worker processes: one whose decoder crashes the
        process or runs longer than this gets an error row ("the decoder
        crashed (signal 11, SIGSEGV)", "timed out after 30 s") and the run goes
        on. None decodes in this process, unguarded.
    scheduler : str, distributed.Client or None, default=None
        Score on a Dask cluster (:func:`l2vision.distributed.get_client`:
        an address, ``"local"``, ``$L2VISION_SCHEDULER`` or a client in
        scope): each chunk is a task; the output is the same file, byte for
        byte, and a worker lost mid-run costs only its chunks' recomputation.
        On the cluster, images are decoded in the workers' processes
        (``image_timeout`` and ``n_jobs`` do not apply).

    Returns
    -------
    ScoreSummary

    Raises
    ------
    FileExistsError
        The output (or a partial output) exists and neither ``overwrite`` nor
        ``resume`` allows touching it.
    ResumeError
        The partial output is another job's, or its rows are not these inputs.
    FailFastError
        With ``fail_fast``, at the first unreadable image.
    InputError
        An input matches no image.
    """
    check_int("score_files", "batch_size", batch_size, low=1)
    check_int("score_files", "top_k", top_k, low=1)
    if resume and out is None:
        raise ValueError("resume=True needs an output file to resume (out).")
    log = log or (lambda message: None)
    fitted = _load(model, trusted)
    from l2vision.distributed import get_client

    client = get_client(scheduler, log=log)
    inputs, manifests = [str(i) for i in inputs], [str(m) for m in manifests]
    check_inputs(inputs, manifests=manifests)
    _, head = split_pipeline(fitted)
    fmt = FORMATS[format_for(format, out)](fitted.classes_, top_k=top_k, probs=probs,
                                           probabilistic=hasattr(head, "predict_proba"))
    job = {"model_sha256": _model_sha256(model), "batch_size": batch_size, "inputs": inputs,
           "manifests": manifests}
    source = {"manifests": manifests, "path_column": path_column}
    start, scored, failed = time.perf_counter(), 0, 0
    with PartialOutput(out, fmt, job, resume=resume, overwrite=overwrite) as output:
        paths = iter_paths(inputs, stdin=stdin, **source)
        chunk_size = batch_size * CHUNK_BATCHES
        first, redo = resume_point(output.done, chunk_size)
        tail, failed_before = _check_resumed_rows(output, paths, redo)
        if output.done:
            log(f"resuming after {output.done} rows already in {output.partial}")
        # The bar's total costs a first pass over the inputs: only when a bar shows.
        shown = progress and sys.stderr.isatty()
        total = count_paths(inputs, **source) if shown and stdin is None else None
        from tqdm.auto import tqdm

        try:
            with tqdm(total=total, initial=output.done, unit="img", disable=not shown,
                      file=sys.stderr) as bar:
                chunks = iter_chunks(itertools.chain(tail, paths), chunk_size,
                                     first_index=first)
                for chunk, predictions in predict_chunks(fitted, chunks, batch_size=batch_size,
                                                         n_jobs=n_jobs, top_k=top_k,
                                                         image_timeout=image_timeout,
                                                         client=client):
                    skip = redo if chunk.index == first else 0
                    for prediction in predictions[skip:]:
                        output.write(prediction)
                        if not prediction.error:
                            scored += 1
                            continue
                        failed += 1
                        log(f"failed: {prediction.path}: {prediction.error}")
                        if fail_fast:
                            raise FailFastError(f"{prediction.path}: {prediction.error} "
                                                "(fail_fast=True; rerun with resume=True to "
                                                "continue)")
                    output.flush()
                    bar.update(len(chunk) - skip)
        except FailFastError:
            raise
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
                raise OSError(exc.errno, f"{output.partial or 'output'}: cannot write "
                              f"({exc.strerror}); every complete row is kept: free space, then "
                              "rerun with resume=True") from exc
            raise
        except BaseException:
            if out is not None:
                log(f"partial output kept in {output.partial}; rerun with resume=True to "
                    "continue")
            raise
        if output.done + scored + failed == 0:
            raise ValueError("no images to score in the given inputs")
    return ScoreSummary(None if out is None else Path(out), scored, failed, output.done,
                        failed_before, time.perf_counter() - start)


def _check_resumed_rows(output: PartialOutput, paths: Iterator, redo: int):
    """Check that the partial output's rows are the first inputs.

    Consumes that many paths; returns the last ``redo`` of them (the start of
    the chunk to predict again) and how many of the rows were errors.
    """
    tail = collections.deque(maxlen=redo)
    failed_before = 0
    if not output.done:
        return tail, 0
    pairs = itertools.zip_longest(itertools.islice(paths, output.done), output.recorded_rows())
    for i, (given, row) in enumerate(pairs):
        recorded, error = row if row is not None else (None, "")
        failed_before += bool(error)
        if given != recorded:
            raise ResumeError(f"{output.partial}: row {i + 1} is {recorded!r} but input {i + 1} "
                              f"is {given!r}; resume with the same inputs, or use overwrite=True")
        tail.append(given)
    return tail, failed_before
