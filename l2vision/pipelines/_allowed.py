"""The exact table of what an l2vision model file may name, checked before anything is imported.

A pickle names the callables that rebuild its objects as ``(module, name)``
pairs. A model file may name only the pairs of :func:`allowed_names`: NumPy's
array and scalar reconstruction, joblib's array wrapper, a few inert
builtins (``set``, ``frozenset``, ``slice``, ``str``; no ``bytearray`` or
other constructor whose argument is a size), the scikit-learn classes an
l2vision pipeline holds, l2vision's own estimators, and the extractor classes
of installed feature plugins.
Everything is looked up in this table, built from the classes themselves (so
the module paths are those of the installed versions); a pair that is not in
it is refused without importing its module. Classes that moved since a file
was written (:data:`MOVED`) are found at their new place.

Which objects may receive state (the pickle BUILD step) is narrower still:
:func:`buildable` accepts instances, never classes, of these types only.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib.metadata import entry_points

__all__ = ["MOVED", "TUPLE_STATE_TYPES", "allowed_names", "buildable", "plugin_classes"]

#: Classes that moved since a model file format was written: (old module, name) -> new.
MOVED = {
    ("l2vision.pipelines.search", "RidgeClassifierKFoldCV"):
        ("l2vision.linear.ridge", "RidgeClassifierKFoldCV"),
    ("l2vision.pipelines.search", "LogisticRegressionKFoldCV"):
        ("l2vision.linear.logistic", "LogisticRegressionKFoldCV"),
}


def _sklearn_classes() -> list[type]:
    """The scikit-learn classes an l2vision pipeline can hold (public imports only)."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.model_selection import (
        GroupKFold,
        KFold,
        RepeatedStratifiedKFold,
        ShuffleSplit,
        StratifiedGroupKFold,
        StratifiedKFold,
        StratifiedShuffleSplit,
    )
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import LabelBinarizer, Normalizer, StandardScaler

    return [Pipeline, StandardScaler, Normalizer, LabelBinarizer, LogisticRegression,
            RidgeClassifier, KFold, StratifiedKFold, GroupKFold, StratifiedGroupKFold,
            ShuffleSplit, StratifiedShuffleSplit, RepeatedStratifiedKFold]


def _l2vision_classes() -> list[type]:
    """l2vision's estimators: the driver, the extractors, the λ searches and their OOD detector."""
    from l2vision.features.bovw import BagOfVisualWords
    from l2vision.features.cnn import CNNEmbedding
    from l2vision.features.color import ColorHistogram
    from l2vision.features.driver import ImageFeatures
    from l2vision.features.hog import HOG
    from l2vision.features.kmeans import KMeansFeatures
    from l2vision.features.texture import LBP
    from l2vision.features.tiny import TinyImage
    from l2vision.linear.logistic import LogisticRegressionKFoldCV
    from l2vision.linear.ridge import RidgeClassifierKFoldCV
    from l2vision.trust.ood import OODDetector

    return [ImageFeatures, HOG, ColorHistogram, LBP, TinyImage, CNNEmbedding, KMeansFeatures,
            BagOfVisualWords, RidgeClassifierKFoldCV, LogisticRegressionKFoldCV, OODDetector]


def plugin_classes() -> list[type]:
    """Extractor classes of the installed feature plugins, in modules they already imported.

    Loading a plugin's entry points imports its factory's module (as the
    feature registry does); the extractor classes found in that plugin's
    already imported modules are allowed. A file never makes l2vision import
    a module.
    """
    from l2vision.features.base import ImageExtractor

    found = []
    for point in entry_points(group="l2vision.features"):
        top = point.value.split(":")[0].split(".")[0]
        try:
            point.load()
        except Exception:  # a broken plugin contributes nothing  # noqa: S112
            continue
        for name, module in list(sys.modules.items()):
            if module is None or not (name == top or name.startswith(top + ".")):
                continue
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, ImageExtractor) \
                        and value.__module__ == name:
                    found.append(value)
    return found


def _numpy_names() -> dict[tuple[str, str], object]:
    import numpy as np
    from joblib.numpy_pickle import NumpyArrayWrapper

    names = {("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray,
             ("joblib.numpy_pickle", "NumpyArrayWrapper"): NumpyArrayWrapper}
    multiarray = sys.modules.get("numpy._core.multiarray") or sys.modules.get(
        "numpy.core.multiarray")
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        names[(module, "_reconstruct")] = multiarray._reconstruct
        names[(module, "scalar")] = multiarray.scalar
    return names


@lru_cache(maxsize=1)
def _builtin_table() -> dict[tuple[str, str], object]:
    from collections import OrderedDict

    # str: file paths are saved as text (persist's pickler), rebuilt by str(text).
    table = {("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
             ("builtins", "slice"): slice, ("builtins", "str"): str,
             ("collections", "OrderedDict"): OrderedDict}
    table.update(_numpy_names())
    for cls in _sklearn_classes() + _l2vision_classes():
        table[(cls.__module__, cls.__qualname__)] = cls
    for old, new in MOVED.items():
        table[old] = table[new]
    return table


def allowed_names() -> dict[tuple[str, str], object]:
    """``{(module, name): object}``: everything a model file may name.

    Examples
    --------
    >>> table = allowed_names()
    >>> ("builtins", "eval") in table, ("sklearn.pipeline", "Pipeline") in table
    (False, True)
    """
    table = dict(_builtin_table())
    for cls in plugin_classes():
        table[(cls.__module__, cls.__qualname__)] = cls
    return table


#: Types whose instances take a tuple state (NumPy's own ``__setstate__``).
def _tuple_state_types() -> tuple[type, ...]:
    import numpy as np

    return (np.ndarray, np.dtype)


TUPLE_STATE_TYPES = _tuple_state_types()


def buildable(target, state, allowed_types: frozenset) -> str | None:
    """Why the BUILD of ``state`` into ``target`` is refused, or None if it may go on.

    A BUILD may only set the state of an *instance* of an allowed class: a
    class object would be changed for the whole process (``Path.exists``
    replaced...). Estimators take a dict of attributes (no slot state, which
    would be applied with ``setattr``); NumPy arrays and dtypes take their own
    tuple state.

    Examples
    --------
    >>> from l2vision.features import HOG
    >>> print(buildable(HOG, {"x": 1}, frozenset({HOG})))
    the state of a class (HOG), which would change it for the whole process
    >>> buildable(HOG(), {"size": (8, 8)}, frozenset({HOG})) is None
    True
    """
    if isinstance(target, type):
        return (f"the state of a class ({target.__name__}), which would change it for the "
                "whole process")
    kind = type(target)
    if kind not in allowed_types and not isinstance(target, TUPLE_STATE_TYPES):
        return f"the state of a {kind.__module__}.{kind.__qualname__}"
    if isinstance(target, TUPLE_STATE_TYPES):
        return None if isinstance(state, tuple) else f"a {type(state).__name__} state for " \
                                                     f"a {kind.__name__}"
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        return f"a {type(state).__name__} state (not a dict of attributes) for a {kind.__name__}"
    if any(k.startswith("__") for k in state):
        return f"special attributes ({', '.join(k for k in state if k.startswith('__'))})"
    return None
