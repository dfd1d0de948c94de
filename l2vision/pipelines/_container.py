"""The bytes of a model file: the container, its JSON metadata, its signature, its caps.

A model file (format 2) is a joblib pickle of plain data only: a dict with
the format marker, the format version, the metadata as JSON text, the model
pickle as bytes and their sha256. Reading it names no callable at all
(:func:`~l2vision.pipelines._safe_pickle.strict_loads`); the metadata is
parsed as JSON, never unpickled. Format 1 files (l2vision 0.1) held the
metadata as a pickled dict: it is read with the same strict unpickler, then
copied into plain JSON values within a budget of nodes, so a small file
cannot expand into an exponential structure later.

Every read is capped: the file is a regular file (never a pipe or a device,
refused before opening it for reading) of at most :data:`MAX_MODEL_BYTES`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from pathlib import Path

import numpy as np

from l2vision.io.errors import ImageNotFoundError, ImageReadError
from l2vision.io.files import read_file_bytes
from l2vision.pipelines._safe_pickle import ModelFileError, UntrustedModelError, strict_loads

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_MODEL_BYTES", "ModelSignatureError",
           "container_bytes", "metadata_json", "read_container", "read_file", "sign",
           "signature_path", "verify"]

FORMAT = "l2vision-model"
FORMAT_VERSION = 2
#: The largest model file l2vision reads (a pipeline's arrays: dictionaries,
#: weights; the networks themselves are files of their own).
MAX_MODEL_BYTES = 1 << 30
#: Values a metadata structure may hold, counted through shared references.
_MAX_NODES = 1_000_000
_MAX_SIGNATURE_BYTES = 4096


class ModelSignatureError(ModelFileError):
    """A signing key is set and the model file's signature is missing, malformed or wrong."""


def read_file(path: Path, *, max_bytes: int = MAX_MODEL_BYTES, what: str = "a model file"
              ) -> bytes:
    """The bytes of a regular file, refused before reading if it is a pipe, a device or too big."""
    try:
        return read_file_bytes(path, max_bytes=max_bytes, what=what)
    except ImageNotFoundError:
        raise FileNotFoundError(f"{path}: {what.split(' ', 1)[-1]} not found") from None
    except ImageReadError as exc:
        raise ModelFileError(f"{path}: {exc.reason}") from None


def _json_value(value):
    """NumPy scalars and arrays as plain JSON values (for :func:`metadata_json`)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON")


def metadata_json(metadata: dict) -> str:
    """The metadata as JSON text (NaN and infinities written as null).

    Examples
    --------
    >>> metadata_json({"lambda": np.float64(2.5), "scores": [float("nan")]})
    '{"lambda": 2.5, "scores": [null]}'
    """
    return json.dumps(_finite(json.loads(json.dumps(metadata, default=_json_value))),
                      allow_nan=False)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _plain(value, budget: list, source: str):
    """A copy of ``value`` made of JSON types only, within ``budget[0]`` nodes."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ModelFileError(f"{source}: the metadata holds more than {_MAX_NODES:,} values "
                             "(counting repeats); not a file l2vision wrote")
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, budget, source) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, budget, source) for v in value]
    raise ModelFileError(f"{source}: the metadata holds a {type(value).__name__}")


def container_bytes(payload: bytes, metadata: dict) -> bytes:
    """A format-2 model file's bytes around the model pickle ``payload``."""
    import io

    import joblib

    container = {"format": FORMAT, "format_version": FORMAT_VERSION,
                 "metadata": metadata_json(metadata),
                 "sha256": hashlib.sha256(payload).hexdigest(), "model": payload}
    buffer = io.BytesIO()
    joblib.dump(container, buffer)
    return buffer.getvalue()


def read_container(data: bytes, source: str) -> tuple[dict, bytes]:
    """``(metadata, model pickle)`` of a model file's bytes, checked.

    Raises
    ------
    ModelFileError
        Not an l2vision model file, a newer format, damaged (the sha256 of the
        model does not match), or metadata that is not plain JSON values.
    UntrustedModelError
        The container names a callable (no l2vision file does).
    """
    try:
        container = strict_loads(data, source)
    except UntrustedModelError as exc:  # a pickle of something else (a scikit-learn model...)
        named = str(exc).split("asks for ", 1)[-1].split(", which", 1)[0]
        raise ModelFileError(f"{source}: not an l2vision model file (it holds {named}, "
                             "not an l2vision model); train one with `l2vision train`") from None
    if not isinstance(container, dict) or container.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not an l2vision model file (no l2vision format "
                             "marker); train one with `l2vision train`")
    version = container.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{source}: saved by a newer l2vision (format {version!r}); "
                             "upgrade l2vision to load it")
    payload = container.get("model")
    if not isinstance(payload, bytes) or \
            hashlib.sha256(payload).hexdigest() != container.get("sha256"):
        raise ModelFileError(f"{source}: the model data does not match its sha256 checksum "
                             "(the file is damaged); retrain or restore it from a backup")
    metadata = container.get("metadata")
    if version >= 2:
        try:
            metadata = json.loads(metadata) if isinstance(metadata, str) else None
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise ModelFileError(f"{source}: the metadata is not a JSON object")
    else:
        metadata = _plain(metadata if isinstance(metadata, dict) else {}, [_MAX_NODES], source)
    return metadata, payload


def signature_path(path: Path) -> Path:
    """``MODEL.sig``, beside the model."""
    return path.with_name(path.name + ".sig")


def sign(data: bytes, key: str) -> str:
    """The HMAC-SHA256 of a model file's bytes with ``key``, in hex."""
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()


def verify(path: Path, data: bytes, key: str, variable: str) -> None:
    """Refuse ``data`` (the bytes of ``path``) unless ``path.sig`` holds their signature.

    Raises
    ------
    ModelSignatureError
        The signature file is missing, not a regular small ASCII file, or wrong.
    """
    sig = signature_path(path)
    try:
        text = read_file(sig, max_bytes=_MAX_SIGNATURE_BYTES, what="a signature file")
    except FileNotFoundError:
        raise ModelSignatureError(f"{path}: unsigned model file ({sig.name} not found) and "
                                  f"{variable} is set; save it with the key set to sign it") \
            from None
    except ModelFileError as exc:
        raise ModelSignatureError(f"{path}: the signature file cannot be read ({exc}); "
                                  "refused") from None
    try:
        given = text.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ModelSignatureError(f"{path}: the signature in {sig.name} is not a hex "
                                  "digest (non-ASCII bytes); refused") from None
    if not hmac.compare_digest(given, sign(data, key)):
        raise ModelSignatureError(f"{path}: the signature in {sig.name} does not match (signed "
                                  "with another key, or the file changed since); refused")
