"""On-disk cache of feature matrices, keyed by image content, extractor parameters and version.

A second training run on the same images skips extraction. An entry is a
``<key>.npy`` matrix plus a ``<key>.json`` record (shape, dtype, sha256 of the
matrix file) written last, so a crash mid-write leaves no valid entry. On
load the checksum and shape are verified; a corrupt entry is reported with a
:class:`FeatureCacheWarning`, recomputed and replaced, never trusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path

import numpy as np

from l2vision.io.errors import ImageReadError
from l2vision.io.files import read_file_bytes
from l2vision.io.writing import atomic_write

__all__ = ["FeatureCacheWarning", "cache_key", "config_text", "load_cached", "save_cached"]


class FeatureCacheWarning(UserWarning):
    """A cache entry was unreadable or corrupt and has been recomputed."""


def _item_digest(item) -> bytes | None:
    """sha256 of one image's content (file bytes, encoded bytes, or array), None if unreadable."""
    if isinstance(item, np.ndarray):
        h = hashlib.sha256(f"{item.shape}{item.dtype}".encode())
        h.update(np.ascontiguousarray(item).data)
        return h.digest()
    if isinstance(item, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(item)).digest()
    try:
        with open(item, "rb") as f:
            return hashlib.file_digest(f, "sha256").digest() if hasattr(hashlib, "file_digest") \
                else hashlib.sha256(f.read()).digest()
    except (OSError, TypeError):
        return None


def config_text(named, params: dict, learned: list) -> str:
    """What determines a feature matrix, as text: extractor names and classes, parameters,
    and the digests of what learned extractors learned.

    Examples
    --------
    >>> from l2vision.features import HOG
    >>> config_text([("hog", HOG())], {"hog__orientations": 9}, [])
    "([('hog', 'HOG')], [('hog__orientations', '9')], [])"
    """
    names = [(name, type(ext).__name__) for name, ext in named]
    return repr((names, sorted((k, repr(v)) for k, v in params.items()), learned))


def cache_key(images, config: str) -> str | None:
    """Key of a feature matrix: the config string plus every image's content hash.

    Returns None when an image cannot be read (extraction will report it).
    """
    from l2vision._version import __version__

    h = hashlib.sha256(f"l2vision {__version__}\n{config}\n{len(images)}\n".encode())
    for item in images:
        digest = _item_digest(item)
        if digest is None:
            return None
        h.update(digest)
    return h.hexdigest()


def load_cached(directory, key: str, shape: tuple) -> np.ndarray | None:
    """The cached matrix, or None when absent; corrupt entries warn and return None."""
    directory = Path(directory)
    record_path, data_path = directory / f"{key}.json", directory / f"{key}.npy"
    if not record_path.exists():
        return None
    try:
        # Regular files only, capped: a link to /dev/zero planted in a shared
        # cache folder is a corrupt entry, never an endless read.
        record = json.loads(read_file_bytes(record_path, max_bytes=1 << 16,
                                            what="a cache record"))
        data = read_file_bytes(data_path, max_bytes=int(np.prod(shape)) * 4 + (1 << 16),
                               what="a cache entry")
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise ValueError("checksum mismatch")
        array = np.load(io.BytesIO(data), allow_pickle=False)
        if array.shape != tuple(shape) or array.dtype != np.float32:
            raise ValueError(f"shape {array.shape} {array.dtype}, expected {tuple(shape)} float32")
    except (OSError, ValueError, KeyError, TypeError, ImageReadError) as exc:
        warnings.warn(f"{data_path}: corrupt feature cache entry ({exc}); recomputing it.",
                      FeatureCacheWarning, stacklevel=3)
        return None
    return array


def save_cached(directory, key: str, array: np.ndarray) -> None:
    """Write an entry atomically: the matrix first, then its record."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    atomic_write(directory / f"{key}.npy", lambda f: f.write(data))
    record = {"sha256": hashlib.sha256(data).hexdigest(), "shape": list(array.shape),
              "dtype": str(array.dtype)}
    atomic_write(directory / f"{key}.json", lambda f: f.write(json.dumps(record).encode()))
