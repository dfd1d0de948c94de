"""How work runs: workers, batches, scheduler, cache, progress, isolation, limits.

These settings never change a result, only where and how it is computed, so
they are not estimator parameters and never travel in a model file: they are
read from a :mod:`contextvars` context, like scikit-learn's
:func:`sklearn.config_context` and joblib's :func:`joblib.parallel_config`.
The command line sets them from its flags around the command's work; in
Python, wrap the work in :func:`config_context` or call :func:`set_config`.

A context follows the code that runs in it (and tasks run through
:func:`contextvars.copy_context`), not other threads or processes: the batch
engine hands workers the values they need explicitly.

Settings
--------
n_jobs : int or None, default=None
    Parallel worker processes for extraction, the logistic λ search's folds
    and scoring (joblib semantics: None is 1 unless inside a
    ``joblib.parallel_config`` context, -1 is every core).
batch_size : int, default=256
    Images per batch: the unit of parallel work and of memory.
scheduler : str, distributed.Client or None, default=None
    Run the heavy work on a Dask cluster: an address (``tcp://HOST:8786``),
    ``"local"``, or a client (:mod:`l2vision.distributed`). None uses
    ``$L2VISION_SCHEDULER`` or a client already created in the program, else joblib.
cache_dir : str, os.PathLike or None, default=None
    Cache feature matrices there (:mod:`l2vision.features.cache`).
progress : bool, default=False
    Progress bars on stderr (only when it is a terminal).
isolate : bool or "auto", default="auto"
    Decode images in worker processes so that a decoder that crashes or hangs
    costs one image, not the run. ``"auto"``: where bad images are recorded
    rather than raised (batch scoring, evaluation, extraction with errors).
image_timeout : float, default=30.0
    Seconds one image may take to decode when isolated.
max_pixels : int or None, default=100_000_000
    Decompression-bomb guard: images with more pixels are refused.
inference_batch_size : int, default=64
    Images per forward pass of a network (:class:`~l2vision.features.CNNEmbedding`).
providers : sequence of str or None, default=None
    ONNX Runtime's execution providers for networks, in order of preference
    (``["CUDAExecutionProvider", "CPUExecutionProvider"]`` with
    ``onnxruntime-gpu``); None is the CPU.
allow_urls : bool, default=False
    Read remote URLs (``https://``, ``s3://``...) given as inputs, in
    manifests or on standard input; off, an input list written by someone
    else cannot make l2vision fetch anything (:mod:`l2vision.io.remote`).
allow_unchecked_formats : bool, default=False
    Decode an image whose size cannot be read from its header (an unknown
    format, a TIFF repeating its width tag); off, it is refused before
    decoding, so that no file can make a decoder allocate unchecked.
allow_private_urls : bool, default=False
    With ``allow_urls``: also hosts that resolve to loopback, private or
    link-local addresses (services of this machine or its network).
inference_threads : int or None, default=None
    A network's inference threads (``cv2.setNumThreads`` during a pass, or
    ONNX Runtime's intra-op threads); None uses OpenCV's setting (every core,
    one in the driver's parallel workers).

Examples
--------
>>> from l2vision import config_context, get_config
>>> with config_context(n_jobs=2, progress=True):
...     get_config()["n_jobs"]
2
>>> print(get_config()["n_jobs"])
None
"""

from __future__ import annotations

import contextvars
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import MappingProxyType

from l2vision._validation import check_bool, check_int, check_real, invalid

__all__ = ["DEFAULTS", "RuntimeSettingWarning", "WORKER_SETTINGS", "config_context",
           "drop_runtime_settings", "get_config", "iterate_in_context", "set_config"]

#: Every setting and its default.
DEFAULTS = MappingProxyType({
    "n_jobs": None,
    "batch_size": 256,
    "scheduler": None,
    "cache_dir": None,
    "progress": False,
    "isolate": "auto",
    "image_timeout": 30.0,
    "max_pixels": 100_000_000,
    "inference_batch_size": 64,
    "inference_threads": None,
    "providers": None,
    "allow_urls": False,
    "allow_private_urls": False,
    "allow_unchecked_formats": False,
})

#: The settings the feature workers need: sent with every batch (a worker process
#: does not see the caller's context).
WORKER_SETTINGS = ("max_pixels", "inference_batch_size", "inference_threads", "providers",
                   "allow_urls", "allow_private_urls", "allow_unchecked_formats")

_CONFIG: contextvars.ContextVar = contextvars.ContextVar("l2vision_config", default=DEFAULTS)


def _check(changes: dict) -> None:
    """Raise ParameterError for an unknown setting or a bad value."""
    owner = "config_context"
    for name, value in changes.items():
        if name not in DEFAULTS:
            raise invalid(owner, name, "one of the settings " + ", ".join(DEFAULTS), value,
                          fix="(that name is not a setting)")
    if "n_jobs" in changes and changes["n_jobs"] is not None:
        check_int(owner, "n_jobs", changes["n_jobs"])
        if changes["n_jobs"] == 0:
            raise invalid(owner, "n_jobs", "an int other than 0, or None", 0,
                          fix="Use 1 for no parallelism, -1 for every core.")
    if "batch_size" in changes:
        check_int(owner, "batch_size", changes["batch_size"], low=1)
    for name in ("progress", "allow_urls", "allow_private_urls", "allow_unchecked_formats"):
        if name in changes:
            check_bool(owner, name, changes[name])
    if "isolate" in changes and changes["isolate"] != "auto":
        check_bool(owner, "isolate", changes["isolate"])
    if "image_timeout" in changes:
        check_real(owner, "image_timeout", changes["image_timeout"], low=0, low_open=True)
    if "max_pixels" in changes:
        check_int(owner, "max_pixels", changes["max_pixels"], low=1, optional=True)
    if "inference_batch_size" in changes:
        check_int(owner, "inference_batch_size", changes["inference_batch_size"], low=1)
    if "inference_threads" in changes:
        check_int(owner, "inference_threads", changes["inference_threads"], low=1,
                  optional=True)
    providers = changes.get("providers")
    if providers is not None and (isinstance(providers, str) or not isinstance(
            providers, (list, tuple)) or not providers
            or not all(isinstance(p, str) for p in providers)):
        raise invalid(owner, "providers", "a non-empty list of ONNX Runtime execution "
                      "provider names, or None", providers)
    cache = changes.get("cache_dir")
    if cache is not None and not isinstance(cache, (str, os.PathLike)):
        raise invalid(owner, "cache_dir", "a folder path or None", cache)


def get_config() -> dict:
    """The settings in effect here, as a new dict.

    Returns
    -------
    dict
        Every setting of :data:`DEFAULTS` with its current value.
    """
    return dict(_CONFIG.get())


def set_config(**changes) -> None:
    """Change settings for the rest of the current context (thread or task).

    Parameters
    ----------
    **changes
        Settings by name (see the module's documentation).

    Raises
    ------
    ParameterError
        An unknown setting or a bad value.
    """
    _check(changes)
    _CONFIG.set(MappingProxyType({**_CONFIG.get(), **changes}))


@contextmanager
def config_context(**changes) -> Iterator[None]:
    """Settings for a ``with`` block; the previous ones come back when it ends.

    Parameters
    ----------
    **changes
        Settings by name (see the module's documentation); a value of None
        for ``n_jobs``, ``scheduler``, ``cache_dir`` or ``max_pixels`` means
        None, not "unchanged".

    Raises
    ------
    ParameterError
        An unknown setting or a bad value.

    Examples
    --------
    >>> with config_context(batch_size=64):
    ...     with config_context(progress=True):
    ...         get_config()["batch_size"], get_config()["progress"]
    (64, True)
    """
    _check(changes)
    token = _CONFIG.set(MappingProxyType({**_CONFIG.get(), **changes}))
    try:
        yield
    finally:
        _CONFIG.reset(token)


def iterate_in_context(iterator: Iterator) -> Iterator:
    """``iterator``, advanced in a copy of the context in effect now.

    A lazy result (a generator) otherwise runs with the settings of whoever
    consumes it, possibly after the ``with config_context(...)`` block that
    asked for it has ended.

    Examples
    --------
    >>> def settings():
    ...     yield get_config()["batch_size"]
    >>> with config_context(batch_size=8):
    ...     lazy = iterate_in_context(settings())
    >>> next(lazy)
    8
    """
    return _advance_in(contextvars.copy_context(), iterator)


def _advance_in(context: contextvars.Context, iterator: Iterator) -> Iterator:
    while True:
        try:
            item = context.run(next, iterator)
        except StopIteration:
            return
        yield item


class RuntimeSettingWarning(UserWarning):
    """A saved model held a run-time setting (workers, scheduler, cache...): it was ignored."""


def _is_default(value, default) -> bool:
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # an odd object from a file: not a default
        return False


def drop_runtime_settings(owner: str, state: dict, legacy) -> dict:
    """``state`` without the run-time settings an older model file stored in it.

    l2vision 0.1 stored settings such as ``n_jobs``, ``scheduler`` or
    ``cache_dir`` as estimator parameters. A model never decides where or how
    it runs: the settings come from the caller's :func:`config_context` (or
    the command line's flags). Settings at their old defaults (``legacy``:
    name -> default) carry no intent and are dropped quietly; any other value
    (a scheduler address, a cache folder...) is dropped with a
    :class:`RuntimeSettingWarning` naming it.

    Examples
    --------
    >>> drop_runtime_settings("ImageFeatures", {"size": None, "n_jobs": None}, {"n_jobs": None})
    {'size': None}
    """
    dropped = {name: state.pop(name) for name in list(state) if name in legacy}
    odd = sorted(name for name, value in dropped.items() if not _is_default(value, legacy[name]))
    if odd:
        warnings.warn(f"{owner}: the model file sets {', '.join(odd)}, which decide how work "
                      "runs, not what it computes; ignored (set them with config_context or "
                      "the command-line flags)", RuntimeSettingWarning, stacklevel=3)
    return state
