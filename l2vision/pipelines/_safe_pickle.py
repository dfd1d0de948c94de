"""Unpickle a joblib model file through an allow-list: loading never runs code from the file.

A pickle names the callables that rebuild its objects (``module.name``) and the
unpickler looks them up in ``find_class``; a crafted file can name ``os.system``
or ``builtins.eval`` and have it called. This is Python's "restricting globals"
technique (the ``pickle`` documentation's section of that name), applied to
joblib's unpickler, which also routes the object arrays it stores through it
(joblib >= 1.6). Only what an l2vision model holds is allowed:

- NumPy's array and scalar reconstruction, dtypes, and joblib's array wrapper;
- classes (never functions) of scikit-learn that are estimators or CV splitters;
- estimator classes of l2vision, and extractor classes of installed l2vision
  feature plugins (packages of the ``l2vision.features`` entry-point group);
- a few inert builtins (``set``, ``frozenset``, ``slice``, ``complex``,
  ``bytearray``, ``object``), ``copyreg._reconstructor`` and ``pathlib`` paths.

Anything else is refused by name before it is imported or built, with
:class:`UntrustedModelError`. This stops code from running at load time; it
does not make a model's predictions trustworthy (a file can still hold wrong
weights), and allowed classes run their own ``__setstate__`` as usual.
"""

from __future__ import annotations

import importlib
import io
from importlib.metadata import entry_points

from joblib.numpy_pickle import NumpyUnpickler

from l2vision._validation import HintedError

__all__ = ["UntrustedModelError", "safe_loads"]

_NAMES = {
    "builtins": {"set", "frozenset", "slice", "complex", "bytearray", "object"},
    "copyreg": {"_reconstructor"},
    "collections": {"OrderedDict"},
    "joblib.numpy_pickle": {"NumpyArrayWrapper"},
    "numpy": {"dtype", "ndarray"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "pathlib": {"Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath",
                "PureWindowsPath"},
}


#: Classes that moved since a model file format was written: (old module, name) -> new.
MOVED = {
    ("l2vision.pipelines.search", "RidgeClassifierKFoldCV"):
        ("l2vision.linear.ridge", "RidgeClassifierKFoldCV"),
    ("l2vision.pipelines.search", "LogisticRegressionKFoldCV"):
        ("l2vision.linear.logistic", "LogisticRegressionKFoldCV"),
}


class UntrustedModelError(HintedError, ValueError):
    """A model file asks for a type or function that an l2vision model never holds."""


def _plugin_packages() -> set[str]:
    """Top-level packages of the installed l2vision feature plugins."""
    return {point.value.split(":")[0].split(".")[0]
            for point in entry_points(group="l2vision.features")}


def _allowed(module: str, name: str, plugins: set[str]):
    """The object ``module.name`` if an l2vision model may hold it, else None."""
    if name in _NAMES.get(module, ()):
        return getattr(importlib.import_module(module), name)
    top = module.split(".")[0]
    if module == "numpy" or module.startswith("numpy.dtypes"):
        value = getattr(importlib.import_module(module), name, None)
        import numpy as np

        ok = isinstance(value, type) and issubclass(value, (np.dtype, np.generic))
        return value if ok else None
    if top not in {"sklearn", "l2vision"} | plugins or "__" in name:
        return None  # refused before importing anything
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator

    value = getattr(importlib.import_module(module), name, None)
    if not isinstance(value, type):
        return None
    if top == "sklearn":
        return value if issubclass(value, (BaseEstimator, BaseCrossValidator)) else None
    from l2vision.features.base import ImageExtractor

    base = BaseEstimator if top == "l2vision" else ImageExtractor
    return value if issubclass(value, base) else None


class _AllowListUnpickler(NumpyUnpickler):
    """joblib's unpickler whose ``find_class`` only returns allowed objects."""

    def __init__(self, file_handle, source: str, trusted: bool = False):
        super().__init__(source, file_handle, ensure_native_byte_order=True)
        self._source = source
        self._trusted = trusted
        self._plugins = _plugin_packages()

    def find_class(self, module, name):
        module, name = MOVED.get((module, name), (module, name))
        if self._trusted:
            return super().find_class(module, name)
        value = _allowed(module, name, self._plugins)
        if value is None:
            raise UntrustedModelError(
                f"{self._source}: refused to load: the file asks for {module}.{name}, which "
                "an l2vision model never holds. If you trust this file, use {trusted}.",
                trusted=True)
        return value


def safe_loads(data: bytes, source: str, *, trusted: bool = False):
    """Unpickle joblib bytes through the allow-list (``trusted``: without it).

    Classes that moved since the file was written (:data:`MOVED`) are found
    at their new place either way.

    Raises
    ------
    UntrustedModelError
        The data names something outside the allow-list (nothing was called).
    """
    return _AllowListUnpickler(io.BytesIO(data), source, trusted).load()
