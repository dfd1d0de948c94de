"""Unpickle a model file so that it cannot run code, import, change the process or exhaust memory.

A pickle is a small program: it names callables (``module.name``) and calls
them, and it sets the state of objects (BUILD). This unpickler (joblib's,
which stores arrays as raw bytes after the stream, with these checks):

- resolves names only through the exact table of :mod:`~l2vision.pipelines._allowed`,
  before anything is imported (a file naming ``l2vision.__main__`` imports
  nothing); NumPy's ``_reconstruct`` is given a guard that refuses an array
  larger than the bytes left in the file;
- applies BUILD only to instances of allowed classes, with a dict state
  (NumPy arrays and dtypes: their tuple state), never to a class object;
- reads an array only if the bytes it declares are in the file, and the
  object arrays' nested streams with the same checks;
- counts the opcodes it runs (:data:`MAX_OPCODES`) and the nesting depth.

Any failure while loading becomes one :class:`UntrustedModelError` (a name or
a state the table refuses) or :class:`ModelFileError` (damaged, truncated,
over a cap): never an exception of the pickle machinery, a ``SystemExit``, or
the effect of a callable the file chose. Allowed classes run their own
``__setstate__``, and the model's parameters are checked after loading
(:mod:`~l2vision.pipelines.persist`). This guards the machine from the file;
it does not make the file's predictions trustworthy.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

from l2vision._validation import HintedError
from l2vision.pipelines._allowed import MOVED, allowed_names, buildable

__all__ = ["MAX_OPCODES", "ModelFileError", "UntrustedModelError", "safe_loads",
           "strict_loads"]

#: Opcodes one file may run: a model holds its arrays as raw bytes, so even a
#: large pipeline is a few thousand; a hostile stream is stopped here.
MAX_OPCODES = 5_000_000
#: Nested object arrays (each a stream of its own) one file may hold.
MAX_DEPTH = 8


class ModelFileError(ValueError):
    """A file is not an l2vision model, or is damaged, truncated or over a size cap."""


class UntrustedModelError(HintedError, ValueError):
    """A model file asks for a type, a function or a state that an l2vision model never holds."""


class _Budget:
    """What one file may still spend: opcodes, and the bytes its arrays may declare."""

    def __init__(self, size: int):
        self.size = size
        self.opcodes = 0


def _counted(function):
    def step(unpickler):
        budget = unpickler._budget
        budget.opcodes += 1
        if budget.opcodes > MAX_OPCODES:
            raise ModelFileError(f"{unpickler._source}: more than {MAX_OPCODES:,} pickle "
                                 "operations; not a model file l2vision wrote")
        return function(unpickler)
    return step


class _GuardedUnpickler(NumpyUnpickler):
    """joblib's unpickler with the table, the BUILD rule, the array-size rule and a budget."""

    dispatch = {code: _counted(step) for code, step in NumpyUnpickler.dispatch.items()}

    def __init__(self, handle: io.BytesIO, source: str, names: dict, budget: _Budget,
                 depth: int = 0):
        super().__init__(source, handle, ensure_native_byte_order=True)
        self._source, self._names, self._budget, self._depth = source, names, budget, depth
        # Instances that may receive a dict state: the table's classes but the builtins
        # (NumPy's arrays and dtypes take their own tuple state, see buildable).
        self._types = frozenset(v for v in names.values() if isinstance(v, type)
                                and v.__module__ not in ("builtins", "collections", "numpy"))

    def _refuse(self, what: str):
        return UntrustedModelError(f"{self._source}: refused to load: the file asks for {what}, "
                                   "which an l2vision model never holds. If you trust this "
                                   "file, use {trusted}.", trusted=True)

    def _left(self) -> int:
        return self._budget.size - self.file_handle.tell()

    def find_class(self, module, name):
        module, name = MOVED.get((module, name), (module, name))
        value = self._names.get((module, name))
        if value is None:
            raise self._refuse(f"{module}.{name}")
        if name == "_reconstruct":
            return self._reconstruct
        return value

    def _reconstruct(self, subtype, shape, dtype):
        """NumPy's ``_reconstruct``, for plain arrays no larger than the file's remaining bytes."""
        if subtype is not np.ndarray:
            raise self._refuse(f"an array of type {getattr(subtype, '__name__', subtype)!r}")
        dtype = np.dtype(dtype)
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ModelFileError(f"{self._source}: an array with the shape {shape!r}")
        if int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 1) > self._left():
            raise ModelFileError(f"{self._source}: an array of shape {shape} larger than the "
                                 "file; damaged or hostile")
        return np.ndarray.__new__(np.ndarray, shape, dtype)

    def load_build(self):
        state, target = self.stack[-1], self.stack[-2]
        reason = buildable(target, state, self._types)
        if reason is not None:
            raise self._refuse(reason)
        if isinstance(target, NumpyArrayWrapper):
            self.stack.pop()
            self.stack[-1] = self._read_array(target, state)
            return
        NumpyUnpickler.load_build(self)  # the standard BUILD, checked above

    dispatch[pickle.BUILD[0]] = _counted(load_build)

    def _read_array(self, wrapper: NumpyArrayWrapper, state: dict) -> np.ndarray:
        """The array a wrapper stands for, after checking what it declares against the file."""
        shape, dtype = state.get("shape"), state.get("dtype")
        ok = isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape) \
            and isinstance(dtype, np.dtype) and state.get("subclass") is np.ndarray \
            and state.get("order") in ("C", "F")
        if not ok:
            raise self._refuse("an array wrapper with unexpected fields")
        wrapper.__dict__.update(state)
        if dtype.hasobject:
            if self._depth >= MAX_DEPTH:
                raise ModelFileError(f"{self._source}: object arrays nested too deep")
            nested = _GuardedUnpickler(self.file_handle, self._source, self._names,
                                       self._budget, self._depth + 1)
            array = nested.load()
            if not isinstance(array, np.ndarray) or array.shape != shape:
                raise ModelFileError(f"{self._source}: an object array does not match its "
                                     "declared shape")
            return array
        if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > self._left():
            raise ModelFileError(f"{self._source}: an array of shape {shape} {dtype} larger "
                                 "than what is left of the file; damaged or hostile")
        return wrapper.read_array(self, self.ensure_native_byte_order)


def _run(data: bytes, source: str, names: dict):
    """Unpickle ``data`` with the guards; every failure becomes one of the two errors."""
    handle = io.BytesIO(data)
    try:
        return _GuardedUnpickler(handle, source, names, _Budget(len(data))).load()
    except (UntrustedModelError, ModelFileError):
        raise
    except KeyboardInterrupt:
        raise
    except RecursionError:
        raise ModelFileError(f"{source}: nested too deep to be a model file") from None
    except MemoryError:
        raise ModelFileError(f"{source}: needs more memory than a model file can") from None
    except BaseException as exc:  # pickle raises many types on damaged data, even SystemExit
        raise ModelFileError(f"{source}: not an l2vision model file ({_damage(exc, data)}); "
                             "train one with `l2vision train`") from None


def _damage(exc: BaseException, data: bytes) -> str:
    """What a failed load says about the file, in the user's words (not pickle's)."""
    if not data:
        return "the file is empty"
    if isinstance(exc, EOFError) or "exhausted" in str(exc) or "truncated" in str(exc):
        return "the file ends before a model does: cut short"
    return "its bytes are not a saved model: another kind of file, or damaged"


def safe_loads(data: bytes, source: str, *, trusted: bool = False):
    """Unpickle joblib bytes through the table of allowed names (``trusted``: without it).

    Classes that moved since the file was written (:data:`~l2vision.pipelines._allowed.MOVED`)
    are found at their new place either way.

    Raises
    ------
    UntrustedModelError
        The data names something outside the table, or a state the BUILD
        rule refuses (nothing it named was called).
    ModelFileError
        Damaged or truncated data, or over a cap.
    """
    if trusted:
        return _trusted_loads(data, source)
    return _run(data, source, allowed_names())


def strict_loads(data: bytes, source: str):
    """Unpickle plain data only (dicts, lists, strings, bytes, numbers): the model container.

    NumPy scalars and dtypes are accepted too (metadata written by l2vision 0.1
    may hold them); nothing else may be named.

    Raises
    ------
    UntrustedModelError
        The data names any other callable or class.
    ModelFileError
        Damaged or truncated data, or over a cap.
    """
    names = {key: value for key, value in allowed_names().items()
             if key[1] in ("scalar", "dtype") and key[0].startswith("numpy")}
    return _run(data, source, names)


def _trusted_loads(data: bytes, source: str):
    """Plain joblib loading (for a file the user vouches for), moved classes found."""

    class _Moved(NumpyUnpickler):
        def find_class(self, module, name):
            return super().find_class(*MOVED.get((module, name), (module, name)))

    try:
        return _Moved(source, io.BytesIO(data), ensure_native_byte_order=True).load()
    except Exception as exc:
        raise ModelFileError(f"{source}: not a readable model file ({type(exc).__name__}: "
                             f"{exc})") from None

