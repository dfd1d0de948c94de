"""Save and load models with metadata, an integrity check, and atomic writes.

A model file is a joblib container holding a format marker, a metadata dict,
the pickled model bytes and their sha256. ``load`` checks the marker and the
hash before unpickling the model, and warns when the installed library
versions differ from the ones that saved it.

Loading never runs code from the file: both pickles go through an allow-list
of the types an l2vision model holds (:mod:`l2vision.pipelines._safe_pickle`);
anything else is refused unless ``trusted=True``. With the environment
variable ``L2VISION_MODEL_KEY`` set, ``save`` also writes ``MODEL.sig`` (an
HMAC-SHA256 of the file with that key) and ``load`` refuses a file whose
signature is missing or wrong, before any unpickling.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import joblib

from l2vision.io.writing import OutputExistsError, atomic_write
from l2vision.pipelines._safe_pickle import UntrustedModelError, safe_loads

__all__ = ["ModelFileError", "ModelSignatureError", "ModelVersionWarning", "UntrustedModelError",
           "library_versions", "load", "read_metadata", "save"]

#: The environment variable holding the key that signs and verifies model files.
KEY_VARIABLE = "L2VISION_MODEL_KEY"

FORMAT = "l2vision-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A file is not an l2vision model, or is damaged."""


class ModelSignatureError(ModelFileError):
    """A signing key is set and the model file's signature is missing or does not match."""


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


def save(model, path: str | os.PathLike, *, metadata: dict | None = None,
         overwrite: bool = False) -> Path:
    """Save a fitted model atomically, with metadata.

    Parameters
    ----------
    model : object
        Usually a fitted pipeline from :func:`~l2vision.pipelines.train.train`.
    path : str or os.PathLike
        Destination file (``.joblib`` by convention).
    metadata : dict or None, default=None
        Extra metadata (class names, feature configuration, λ, CV curve,
        training-set size and fingerprint...). Library versions and the creation
        time are added.
    overwrite : bool, default=False
        Replace an existing file. Without it an existing file is never touched.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn.dummy import DummyClassifier
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.joblib"
    >>> _ = save(DummyClassifier().fit([[0]], [1]), path, metadata={"classes": ["1"]})
    >>> read_metadata(path)["classes"], type(load(path)).__name__
    (['1'], 'DummyClassifier')
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError("{path}: file exists; use {overwrite} to replace it", path=path,
                                overwrite=True)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    payload = buffer.getvalue()
    meta = {**(metadata or {}), "versions": library_versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    container = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": meta,
                 "sha256": hashlib.sha256(payload).hexdigest(), "model": payload}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: joblib.dump(container, f), overwrite=overwrite)
    key = os.environ.get(KEY_VARIABLE)
    if key:
        signature = _signature(path.read_bytes(), key)
        atomic_write(_signature_path(path), lambda f: f.write(signature.encode()))
    return path


def _signature_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def _signature(data: bytes, key: str) -> str:
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()


def _check_signature(path: Path, data: bytes) -> None:
    """With a key set, refuse an unsigned or mis-signed file (before any unpickling)."""
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        return
    sig = _signature_path(path)
    if not sig.is_file():
        raise ModelSignatureError(f"{path}: unsigned model file ({sig.name} not found) and "
                                  f"{KEY_VARIABLE} is set; save it with the key set to sign it")
    if not hmac.compare_digest(sig.read_text().strip(), _signature(data, key)):
        raise ModelSignatureError(f"{path}: the signature in {sig.name} does not match (signed "
                                  "with another key, or the file changed since); refused")


def _read_container(path: Path, *, trusted: bool = False) -> tuple[dict, bytes]:
    """The container dict of a model file (checked against the signing key first)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found")
    data = path.read_bytes()
    _check_signature(path, data)
    try:
        container = safe_loads(data, str(path), trusted=trusted)
    except UntrustedModelError:
        raise
    except Exception as exc:  # joblib/pickle raise many types on foreign files
        raise ModelFileError(f"{path}: not an l2vision model file ({type(exc).__name__}: "
                             f"{exc}); train one with `l2vision train`") from None
    if not isinstance(container, dict) or container.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an l2vision model file (no l2vision format "
                             "marker); train one with `l2vision train`")
    if container.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: saved by a newer l2vision (format "
                             f"{container['format_version']}); upgrade l2vision to load it")
    return container, data


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a model file, without unpickling the model."""
    return _read_container(Path(path))[0]["metadata"]


def load(path: str | os.PathLike, *, with_metadata: bool = False, trusted: bool = False):
    """Load a model saved by :func:`save`, after checking its integrity.

    Parameters
    ----------
    path : str or os.PathLike
    with_metadata : bool, default=False
        Also return the metadata.
    trusted : bool, default=False
        Unpickle without the allow-list (an older or foreign file you trust).

    Returns
    -------
    model : object
        The model, or ``(model, metadata)`` with ``with_metadata=True``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ModelFileError
        Not an l2vision model file, or its content does not match its sha256.
    UntrustedModelError
        The file needs a type outside the allow-list (and ``trusted`` is False).
    ModelSignatureError
        ``L2VISION_MODEL_KEY`` is set and the file is unsigned or mis-signed.

    Warns
    -----
    ModelVersionWarning
        A library version differs from the one the model was saved with.
    """
    path = Path(path)
    container, _ = _read_container(path, trusted=trusted)
    payload = container.get("model", b"")
    if hashlib.sha256(payload).hexdigest() != container.get("sha256"):
        raise ModelFileError(f"{path}: the model data does not match its sha256 checksum "
                             "(the file is damaged); retrain or restore it from a backup")
    saved = container["metadata"].get("versions", {})
    installed = library_versions()
    drift = {k: (v, installed.get(k)) for k, v in saved.items() if installed.get(k) != v}
    if drift:
        text = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in drift.items())
        warnings.warn(f"{path}: saved with other library versions ({text}); predictions may "
                      "differ. Retrain with the installed versions to be sure.",
                      ModelVersionWarning, stacklevel=2)
    model = safe_loads(payload, str(path), trusted=trusted)
    return (model, container["metadata"]) if with_metadata else model
