"""Save and load models: atomic writes, JSON metadata, integrity checks, optional signatures.

A model file is a joblib container of plain data (:mod:`~l2vision.pipelines._container`):
a format marker, the metadata as JSON, the pickled model and its sha256.
``load`` checks the marker and the hash before unpickling the model, warns
when the installed library versions differ from the ones that saved it, and
checks the loaded model's parameters.

Loading never runs code from the file, imports a module the file names,
changes a class, or allocates more than the file can hold: the model pickle
goes through the exact table and the rules of
:mod:`~l2vision.pipelines._safe_pickle`; anything else is refused unless
``trusted=True``. A model never decides where or how it runs: run-time
settings in older files are dropped (:func:`l2vision.config.drop_runtime_settings`).
With the environment variable ``L2VISION_MODEL_KEY`` set, ``save`` also writes
``MODEL.sig`` (an HMAC-SHA256 of the bytes it wrote) and ``load`` refuses a
file whose signature is missing or wrong, before any unpickling.
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from datetime import datetime, timezone
from pathlib import Path

from joblib.numpy_pickle import NumpyPickler

from l2vision.io.writing import OutputExistsError, atomic_write
from l2vision.pipelines._container import (
    MAX_MODEL_BYTES,
    ModelSignatureError,
    container_bytes,
    read_container,
    read_file,
    sign,
    signature_path,
    verify,
)
from l2vision.pipelines._safe_pickle import ModelFileError, UntrustedModelError, safe_loads

__all__ = ["KEY_VARIABLE", "ModelFileError", "ModelSignatureError", "ModelVersionWarning",
           "UntrustedModelError", "library_versions", "load", "read_metadata", "save"]

#: The environment variable holding the key that signs and verifies model files.
KEY_VARIABLE = "L2VISION_MODEL_KEY"

#: The largest side of an image size a model may ask for (a working size, an
#: extractor's canonical size, a network's input): larger is refused on load.
MAX_SIDE = 8192


class ModelVersionWarning(UserWarning):
    """The model was saved with other library versions.

    Like scikit-learn's InconsistentVersionWarning.
    """


def library_versions() -> dict:
    """Versions of l2vision and the libraries whose behaviour a model depends on."""
    import cv2
    import numpy
    import skimage
    import sklearn

    from l2vision._version import __version__

    return {"l2vision": __version__, "scikit-learn": sklearn.__version__,
            "numpy": numpy.__version__, "opencv": cv2.__version__,
            "scikit-image": skimage.__version__}


class _PathsAsText(NumpyPickler):
    """joblib's pickler writing file paths as text: a model file never names ``pathlib``."""

    def reducer_override(self, obj):
        if isinstance(obj, pathlib.PurePath):
            return str, (os.fspath(obj),)
        return NotImplemented


def _model_bytes(model) -> bytes:
    buffer = io.BytesIO()
    _PathsAsText(buffer).dump(model)
    return buffer.getvalue()


def save(model, path: str | os.PathLike, *, metadata: dict | None = None,
         overwrite: bool = False) -> Path:
    """Save a fitted model atomically, with metadata.

    Parameters
    ----------
    model : object
        Usually a fitted pipeline from :func:`~l2vision.workflows.train.train`.
    path : str or os.PathLike
        Destination file (``.joblib`` by convention).
    metadata : dict or None, default=None
        Extra metadata (class names, feature configuration, λ, CV curve,
        training-set size and fingerprint...), stored as JSON: values must be
        JSON types, NumPy scalars or arrays. Library versions and the
        creation time are added.
    overwrite : bool, default=False
        Replace an existing file. Without it an existing file is never touched.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from l2vision.pipelines.build import make_pipeline
    >>> model = make_pipeline("tiny:4", "ridge", lam=1.0)
    >>> model = model.fit([np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)], ["a", "b"])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.joblib"
    >>> _ = save(model, path, metadata={"classes": ["a", "b"]})
    >>> read_metadata(path)["classes"], type(load(path)).__name__
    (['a', 'b'], 'Pipeline')
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError("{path}: file exists; use {overwrite} to replace it", path=path,
                                overwrite=True)
    meta = {**(metadata or {}), "versions": library_versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    data = container_bytes(_model_bytes(model), meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(data), overwrite=overwrite)
    key = os.environ.get(KEY_VARIABLE)
    if key:  # the bytes written, not a re-read of the file
        signature = sign(data, key)
        atomic_write(signature_path(path), lambda f: f.write(signature.encode()))
    return path


def _read(path: Path, max_bytes: int) -> tuple[dict, bytes]:
    """``(metadata, model pickle)`` of a model file, after the signature check."""
    data = read_file(path, max_bytes=max_bytes)
    key = os.environ.get(KEY_VARIABLE)
    if key:
        verify(path, data, key, KEY_VARIABLE)
    return read_container(data, str(path))


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a model file, without unpickling the model.

    Returns
    -------
    dict
        Plain JSON values.
    """
    return _read(Path(path), MAX_MODEL_BYTES)[0]


def load(path: str | os.PathLike, *, with_metadata: bool = False, trusted: bool = False,
         max_bytes: int = MAX_MODEL_BYTES):
    """Load a model saved by :func:`save`, after checking its integrity and its parameters.

    Parameters
    ----------
    path : str or os.PathLike
    with_metadata : bool, default=False
        Also return the metadata.
    trusted : bool, default=False
        Unpickle without the table of allowed names (a foreign file you trust;
        loading it can run code).
    max_bytes : int, default=1 GiB
        Refuse larger files.

    Returns
    -------
    model : object
        The model, or ``(model, metadata)`` with ``with_metadata=True``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ModelFileError
        Not an l2vision model file, damaged, over a cap, not a regular file,
        or parameters that no l2vision model has.
    UntrustedModelError
        The file names a type or a state outside the table (and ``trusted`` is False).
    ModelSignatureError
        ``L2VISION_MODEL_KEY`` is set and the file is unsigned or mis-signed.

    Warns
    -----
    ModelVersionWarning
        A library version differs from the one the model was saved with.
    RuntimeSettingWarning
        The file (of l2vision 0.1) held run-time settings; they were ignored.
    """
    path = Path(path)
    metadata, payload = _read(path, max_bytes)
    saved = metadata.get("versions", {}) if isinstance(metadata.get("versions"), dict) else {}
    installed = library_versions()
    drift = {k: (v, installed.get(k)) for k, v in saved.items() if installed.get(k) != v}
    if drift:
        text = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in drift.items())
        warnings.warn(f"{path}: saved with other library versions ({text}); predictions may "
                      "differ. Retrain with the installed versions to be sure.",
                      ModelVersionWarning, stacklevel=2)
    model = safe_loads(payload, str(path), trusted=trusted)
    check_loaded(model, str(path))
    return (model, metadata) if with_metadata else model


def check_loaded(model, source: str) -> None:
    """Check a loaded model's parameters as ``fit`` would, and its image sizes.

    A file can hold any value of an allowed type: a ``size=(20000, 20000)``
    would make scoring one thumbnail allocate gigabytes. Every estimator of a
    pipeline that checks its parameters does so here, and no size may exceed
    :data:`MAX_SIDE` on a side.

    Raises
    ------
    ModelFileError
        A parameter an l2vision model never has (the message names it).
    """
    try:
        steps = [step for _, step in getattr(model, "steps", [])] or [model]
        for step in steps:
            _check_step(step, source)
    except ModelFileError:
        raise
    except Exception as exc:  # a state that no estimator of ours can have
        raise ModelFileError(f"{source}: the model's parameters are not valid "
                             f"({type(exc).__name__}: {exc}); retrain it") from None


def _check_step(step, source: str) -> None:
    """One estimator's sizes (at most MAX_SIDE a side) and its own parameter checks."""
    items = step.get_params(deep=True).items() if hasattr(step, "get_params") else []
    for name, value in items:
        if name.rsplit("__", 1)[-1].endswith("size") and isinstance(value, (tuple, list)) \
                and len(value) == 2 and all(isinstance(v, int) for v in value) \
                and max(value) > MAX_SIDE:
            raise ModelFileError(f"{source}: {type(step).__name__} parameter {name}="
                                 f"{tuple(value)} is larger than any model needs (at most "
                                 f"{MAX_SIDE} px a side); refused")
    check = getattr(step, "_check_params", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            raise ModelFileError(f"{source}: the model's parameters are not valid ({exc}); "
                                 "retrain it") from None
    detector = vars(step).get("ood_") if hasattr(step, "__dict__") else None
    if detector is not None:
        from l2vision.trust.ood import OODDetector

        if type(detector) is not OODDetector:
            raise ModelFileError(f"{source}: the model's ood_ is a {type(detector).__name__}, "
                                 "not an OODDetector; refused")
        _check_step(detector, source)
