"""Decode in worker processes so that a crashing or hanging decoder costs one image, not the run.

OpenCV's decoders (libjpeg-turbo, libpng, libtiff, libwebp...) are C code: a
crafted file can crash the process (SIGSEGV, abort) or loop. When isolation is
on, batches run in loky worker processes (joblib's executor, already used for
``n_jobs``), and each image's decoding is bounded by an alarm whose default
action ends the worker. When a worker dies, the batches it was part of are
retried one image at a time in a fresh worker: the image that kills (or
stalls) its worker gets an error ("the decoder crashed (signal 11, SIGSEGV)" /
"timed out after 30 s"), the others their features, in input order.
"""

from __future__ import annotations

import math
import os
import re
import signal

from joblib import cpu_count
from joblib.externals.loky import ProcessPoolExecutor

from l2vision._workers import exit_with_parent

__all__ = ["DEFAULT_TIMEOUT", "capture_stderr", "decoder_noise", "image_alarm", "prestart",
           "run_isolated"]

#: Seconds one image may take to decode and featurize before its worker is stopped.
DEFAULT_TIMEOUT = 30.0


_STDERR_PIPE: int | None = None


def capture_stderr() -> None:
    """In a decoding worker: send file descriptor 2 into a pipe read by :func:`decoder_noise`.

    libjpeg, libpng and libtiff write their complaints straight to fd 2
    ("libpng error: IHDR: CRC error"); in a run over millions of files they
    would flood the terminal. Once per worker process.
    """
    global _STDERR_PIPE
    if _STDERR_PIPE is None:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.dup2(write_end, 2)
        os.close(write_end)
        _STDERR_PIPE = read_end


def decoder_noise() -> str:
    """The first line the C libraries wrote to fd 2 since the last call ("" if none)."""
    if _STDERR_PIPE is None:
        return ""
    chunks = []
    while True:
        try:
            block = os.read(_STDERR_PIPE, 1 << 16)
        except BlockingIOError:
            break
        if not block:
            break
        chunks.append(block)
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    return text.splitlines()[0].strip() if text else ""


#: The process whose SIGALRM was set to its default action (which ends it).
_ALARM_ENDS_PROCESS: list = [None]


class image_alarm:  # noqa: N801 - used as a context manager, like a function
    """Within the block, the process ends (SIGALRM's default action) after ``seconds``."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds

    def __enter__(self):
        if self.seconds:
            if _ALARM_ENDS_PROCESS[0] != os.getpid():  # once per process, not per image
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                _ALARM_ENDS_PROCESS[0] = os.getpid()
            signal.alarm(max(1, math.ceil(self.seconds)))
        return self

    def __exit__(self, *exc):
        if self.seconds:
            signal.alarm(0)


def _reason(exc: BaseException, timeout: float) -> str:
    """Why a worker died, from loky's message ("exit codes of the workers are {SIGSEGV(-11)}")."""
    codes = re.findall(r"([A-Z]+)\((-?\d+)\)", str(exc))
    for name, code in codes:
        if name == "SIGALRM" or int(code) == -signal.SIGALRM:
            return f"timed out after {timeout:g} s (the decoder did not finish)"
    if codes:
        name, code = codes[0]
        return f"the decoder crashed (signal {abs(int(code))}, {name})"
    return f"the decoder's worker process died ({type(exc).__name__})"


#: The isolated decoding's own executor (see :func:`_executor`).
_OWN_EXECUTOR: list = [None]

#: Environment variables bounding a worker's BLAS and OpenMP threads.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _executor(workers: int):
    """A loky process pool of our own, made again when broken, shut down or resized.

    Not loky's reusable executor: ``joblib.Parallel`` shares that one and
    installs reducers that memory-map arrays over 1 MB into a temporary folder
    it removes when its call ends, so a task submitted afterwards (an extractor
    holding a large learned dictionary) failed with "Could not pickle the
    task"; and replacing the shared executor breaks joblib's next call. Idle
    workers exit after a minute. As joblib does for its workers, each worker's
    BLAS and OpenMP get the cores divided by the workers (NumPy's OpenBLAS
    otherwise starts a thread per core in every worker: on 2 cores, encoding
    CIFAR-10 with ``kmeans`` in 2 isolated workers ran at 6-11 images/s
    instead of 85).
    """
    executor = _OWN_EXECUTOR[0]
    if executor is None or executor._flags.broken or executor._flags.shutdown \
            or executor._max_workers != workers:
        if executor is not None:
            executor.shutdown(wait=False, kill_workers=True)
        threads = str(max(1, cpu_count() // workers))
        env = {name: threads for name in _THREAD_VARIABLES}
        executor = _OWN_EXECUTOR[0] = ProcessPoolExecutor(
            max_workers=workers, timeout=60, env=env, initializer=exit_with_parent)
    return executor


def _warm_up() -> None:
    """In a new worker: import what decoding and the usual extractors need (numpy, OpenCV,
    scikit-learn's estimator base), so that the first batch does not wait for it."""
    import l2vision.features.color  # noqa: F401
    import l2vision.features.hog  # noqa: F401


def prestart(workers: int) -> None:
    """Start the isolated decoding workers now, importing what they need, without waiting.

    A worker's imports take a second or two; started while the caller loads
    its model and lists its inputs, they cost nothing when the first batch
    comes. The batches then reuse these workers (:func:`run_isolated` asks for
    the same number).
    """
    _executor(workers).submit(_warm_up)


def _broken_types():
    from concurrent.futures.process import BrokenProcessPool

    from joblib.externals.loky.process_executor import BrokenProcessPool as LokyBroken
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    return (TerminatedWorkerError, LokyBroken, BrokenProcessPool)


def run_isolated(function, batches: list, workers: int, timeout: float, make_error,
                 width: int | None = None):
    """Yield ``function(*args)`` for each ``args`` of ``batches``, in order, in workers.

    ``args[1]`` is the batch's list of items and ``args[2]`` its start index
    (as in :func:`~l2vision.features._batches.featurize_batch`). When a worker dies, the batches
    then in flight are retried one item at a time in a fresh worker, and
    ``make_error(index, item, reason)`` builds the error of the item that
    killed it. Results are ``(features, {index: error})`` pairs. With
    ``width`` (the features' columns), the blocks come back through shared
    memory (:mod:`~l2vision.features._slots`) instead of the pool's pipe.
    """
    if width is None or not batches:
        yield from _run_isolated(function, batches, workers, timeout, make_error, None)
        return
    from l2vision.features._slots import ResultSlots

    rows = max(len(args[1]) for args in batches)
    with ResultSlots(2 * workers, rows=rows, width=width) as slots:
        yield from _run_isolated(function, batches, workers, timeout, make_error, slots)


def _run_isolated(function, batches, workers, timeout, make_error, slots):
    from l2vision.features._slots import write_into_slot

    broken = _broken_types()
    pending = list(batches)
    in_flight: list = []
    executor = _executor(workers)
    while pending or in_flight:
        # Two batches per worker in flight: a worker starts its next batch while
        # this process predicts and writes the previous one.
        while pending and len(in_flight) < 2 * workers:
            args = pending.pop(0)
            if slots is None:
                in_flight.append((args, None, executor.submit(function, *args)))
                continue
            slot = slots.take()
            in_flight.append((args, slot, executor.submit(write_into_slot, function, slot,
                                                          slots.width, *args)))
        args, slot, future = in_flight.pop(0)
        try:
            result = future.result()
        except broken:
            retry = [args] + [a for a, _, _ in in_flight]
            for _, other, _ in [(args, slot, future), *in_flight]:
                if other is not None:
                    slots.release(other)
            in_flight = []
            for batch in retry:
                yield _one_by_one(function, batch, timeout, make_error, broken)
            executor = _executor(workers)
            continue
        if slot is not None:
            rows, errors = result
            result = (slots.read(slot, rows), errors)
        yield result


def _one_by_one(function, args, timeout, make_error, broken):
    """A batch retried one item at a time in a single fresh worker (renewed after a death)."""
    import numpy as np

    items, start = args[1], args[2]
    rows, errors = [], {}
    for j, item in enumerate(items):
        single = (args[0], [item], start + j, *args[3:])
        executor = _executor(1)
        try:
            block, block_errors = executor.submit(function, *single).result(
                timeout=timeout + 60)
        except broken as exc:
            block, block_errors = None, {start + j: make_error(start + j, item,
                                                               _reason(exc, timeout))}
        except TimeoutError:
            executor.shutdown(wait=False, kill_workers=True)
            block, block_errors = None, {start + j: make_error(
                start + j, item, f"timed out after {timeout:g} s (the decoder did not finish)")}
        rows.append(block)
        errors.update(block_errors)
    width = sum(ext._n_features() for _, ext in args[0])  # args[0]: the named extractors
    out = np.zeros((len(items), width), np.float32)
    for j, block in enumerate(rows):
        if block is not None:
            out[j] = block[0]
    return out, errors
