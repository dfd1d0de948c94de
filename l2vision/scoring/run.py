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
from typing import TYPE_CHECKING

from l2vision._validation import HintedError, ParameterHint, check_int, invalid
from l2vision.config import config_context, get_config
from l2vision.distributed import get_client
from l2vision.io.writing import file_sha256
from l2vision.pipelines.build import final_estimator, split_pipeline
from l2vision.scoring.chunks import CHUNK_BATCHES, iter_chunks, resume_point
from l2vision.scoring.decisions import TrustOptions, check_trust
from l2vision.scoring.formats import FORMATS, format_for
from l2vision.scoring.inputs import InputPaths
from l2vision.scoring.partial import PartialOutput, ResumeError
from l2vision.scoring.predict import Prediction, load_model, predict_chunks, predict_paths
from l2vision.scoring.selection import ExplainSelection

if TYPE_CHECKING:
    from l2vision.explain.output import ExplainedFolder

__all__ = ["FailFastError", "OutputWriteError", "Prediction", "ScoreSummary", "predict_chunks",
           "predict_paths", "score_files"]


class FailFastError(HintedError, ValueError):
    """``fail_fast=True`` and an image could not be scored (its row is written, the run stops)."""


class OutputWriteError(HintedError, OSError):
    """The output could not be written (disk full, quota, I/O error); complete rows are kept."""


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
        Scoring time (the explanations' excluded).
    explained : ExplainedFolder or None
        With ``explain``: the folder's index and counts
        (:class:`~l2vision.explain.output.ExplainedFolder`).
    """

    out: Path | None
    scored: int
    failed: int
    resumed: int
    resumed_failed: int
    seconds: float
    explained: ExplainedFolder | None = None

    @property
    def images_per_second(self) -> float:
        """Rate of this run (scored and failed images)."""
        return (self.scored + self.failed) / self.seconds if self.seconds > 0 else 0.0


def _model_sha256(model) -> str:
    """What identifies the model of a job: its file's sha256, or its pickle's."""
    if isinstance(model, (str, os.PathLike)):
        return file_sha256(model)
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def score_files(model, inputs: Iterable, out=None, *, manifests: Iterable = (),
                path_column: str = "path", stdin: Iterable[str] | None = None,
                format: str | None = None, top_k: int = 1, probs: bool = False,
                resume: bool = False, overwrite: bool = False, fail_fast: bool = False,
                spreadsheet_safe: bool = False, log: Callable[[str], None] | None = None,
                trusted: bool = False, trust: TrustOptions | None = None,
                explain=None, explain_top: int | None = None) -> ScoreSummary:
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
    resume : bool, default=False
        Continue ``OUT.partial`` (same model, inputs and options).
    overwrite : bool, default=False
        Replace an existing output or partial output.
    fail_fast : bool, default=False
        Stop at the first image that cannot be scored (its row is written).
    spreadsheet_safe : bool, default=False
        CSV: prefix every text cell that a spreadsheet would read as a formula
        (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return;
        and ``'`` itself) with ``'`` (a class name or a file name chosen by
        someone else can otherwise run as a formula when the file is opened).
    log : callable or None, default=None
        Called with each log line: failed images, a resume, a kept partial output.
    trusted : bool, default=False
        Load the model file without the allow-list (see :func:`~l2vision.load`).
    trust : TrustOptions or None, default=None
        Prediction sets (a ``label_set`` column), ``unknown`` labels (an
        ``unknown`` column saying why) and raw decision values instead of
        calibrated probabilities (:class:`~l2vision.scoring.decisions.TrustOptions`).
        A model with a detector of images of no class always gets an ``ood`` column.
    explain : str, os.PathLike or None, default=None
        A folder (created if missing) for heatmaps of where the evidence for
        each image's label lies, written as ``l2vision explain`` writes them
        (:func:`~l2vision.explain.output.write_explanations`; ``NNNN`` is the
        image's row in the output, from 0) once every row is written.
    explain_top : int or None, default=None
        With ``explain``: only the ``explain_top`` images with the lowest
        score (the least confident), instead of every image scored.

    Returns
    -------
    ScoreSummary

    Notes
    -----
    How the job runs comes from :func:`l2vision.config_context`, never from
    the model file: ``batch_size`` (images per batch; recorded with the job,
    so a resume must use the same), ``n_jobs``, ``progress`` (a bar counting
    rows on stderr when it is a terminal), ``isolate`` and ``image_timeout``
    (by default images are decoded in worker processes: one whose decoder
    crashes or runs longer gets an error row, "the decoder crashed (signal 11,
    SIGSEGV)", "timed out after 30 s", and the run goes on), and
    ``scheduler`` (on a Dask cluster each chunk is a task, the output is the
    same file byte for byte, and a worker lost mid-run costs only its chunks'
    recomputation; images are decoded in the workers' processes).

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
    check_int("score_files", "top_k", top_k, low=1)
    if explain_top is not None and explain is None:
        raise invalid("score_files", "explain_top", "None without explain (the folder the "
                      "heatmaps go to)", explain_top)
    selection = ExplainSelection(explain_top) if explain is not None else None
    if explain is not None:
        from l2vision.explain.output import check_explain_folder

        # A resumed job's explanations come from the same model and inputs: it may redo them.
        check_explain_folder(explain, overwrite or resume, option="--explain DIR")
    if resume and out is None:
        raise invalid("score_files", "resume", "False when out is None (standard output "
                      "cannot be resumed)", resume)
    log = log or (lambda message: None)
    fitted = load_model(model, trusted)
    config = get_config()
    batch_size = config["batch_size"]
    client = get_client(log=log)
    inputs, manifests = [str(i) for i in inputs], [str(m) for m in manifests]
    paths = InputPaths(inputs, manifests=manifests, path_column=path_column, stdin=stdin)
    _, head = split_pipeline(fitted)
    trust = trust or TrustOptions()
    check_trust(fitted, trust, str(model) if isinstance(model, (str, os.PathLike)) else "the model")
    fmt = FORMATS[format_for(format, out)](
        fitted.classes_, top_k=top_k, probs=probs,
        probabilistic=hasattr(head, "predict_proba") and not trust.raw_scores,
        safe=spreadsheet_safe, ood=hasattr(final_estimator(head), "ood_"),
        label_sets=trust.coverage is not None, unknown=trust.reject)
    job = {"model_sha256": _model_sha256(model), "batch_size": batch_size, "inputs": inputs,
           "manifests": manifests, **({"trust": trust.columns()} if trust.columns() else {})}
    start, scored, failed = time.perf_counter(), 0, 0
    with PartialOutput(out, fmt, job, resume=resume, overwrite=overwrite) as output:
        chunk_size = batch_size * CHUNK_BATCHES
        first, redo = resume_point(output.done, chunk_size)
        tail, failed_before = _check_resumed_rows(output, paths, redo, selection)
        if output.done:
            log(f"resuming after {output.done} rows already in {output.partial}")
        # The inputs are walked once: the bar counts rows as they come (no total).
        shown = config["progress"] and sys.stderr.isatty()
        from tqdm.auto import tqdm

        try:
            with tqdm(initial=output.done, unit="img", disable=not shown,
                      file=sys.stderr) as bar, config_context(scheduler=client):
                chunks = iter_chunks(itertools.chain(tail, paths), chunk_size,
                                     first_index=first)
                for chunk, predictions in predict_chunks(fitted, chunks, top_k=top_k,
                                                         trust=trust):
                    skip = redo if chunk.index == first else 0
                    for row, prediction in enumerate(predictions[skip:], chunk.start + skip):
                        output.write(prediction)
                        if selection is not None:
                            selection.add(row, prediction.path,
                                          None if prediction.error else prediction.score)
                        if not prediction.error:
                            scored += 1
                            continue
                        failed += 1
                        log(f"failed: {prediction.path}: {prediction.error}")
                        if fail_fast:
                            raise FailFastError(f"{prediction.path}: {prediction.error} "
                                                "({fail_fast}; rerun with {resume} to "
                                                "continue)", fail_fast=True, resume=True)
                    output.flush()
                    bar.update(len(chunk) - skip)
        except FailFastError:
            raise
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
                raise OutputWriteError(f"{output.partial or 'output'}: cannot write "
                                       f"({exc.strerror}); every complete row is kept: free "
                                       "space, then rerun with {resume}", resume=True) from exc
            raise
        except BaseException:
            if out is not None:
                log(ParameterHint(f"partial output kept in {output.partial}; rerun with "
                                  "{resume} to continue", resume=True))
            raise
        if output.done + scored + failed == 0:
            raise ValueError("no images to score in the given inputs")
    seconds = time.perf_counter() - start
    explained = None
    if selection is not None:
        explained = _explain_rows(fitted, selection, explain, overwrite or resume, log)
    return ScoreSummary(None if out is None else Path(out), scored, failed, output.done,
                        failed_before, seconds, explained)


def _explain_rows(model, selection: ExplainSelection, folder, overwrite: bool, log):
    """Explain the selected rows' images into ``folder`` (after the predictions are complete)."""
    from l2vision.explain.output import write_explanations

    rows = selection.chosen()
    log(f"explaining {len(rows)} images into {folder}")
    return write_explanations(model, [path for _, path in rows], folder,
                              indices=[row for row, _ in rows], overwrite=overwrite, log=log)


def _check_resumed_rows(output: PartialOutput, paths: Iterator, redo: int,
                        selection: ExplainSelection | None = None):
    """Check that the partial output's rows are the first inputs.

    Consumes that many paths; returns the last ``redo`` of them (the start of
    the chunk to predict again) and how many of the rows were errors. The
    rows go to ``selection`` too (a resumed job explains them as well).
    """
    tail = collections.deque(maxlen=redo)
    failed_before = 0
    if not output.done:
        return tail, 0
    pairs = itertools.zip_longest(itertools.islice(paths, output.done), output.recorded_rows())
    for i, (given, row) in enumerate(pairs):
        recorded, error, score = row if row is not None else (None, "", None)
        failed_before += bool(error)
        if selection is not None:
            selection.add(i, recorded, None if error else score)
        if given != recorded:
            raise ResumeError(f"{output.partial}: row {i + 1} is {recorded!r} but input {i + 1} "
                              f"is {given!r}; resume with the same inputs, or use {{overwrite}}",
                              overwrite=True)
        tail.append(given)
    return tail, failed_before
