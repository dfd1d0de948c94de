"""Images anywhere: fsspec URLs (``s3://``, ``gs://``, ``https://``, ``file://``) as image paths.

A path with a scheme (``scheme://...``) is read with fsspec, by whichever
process decodes it (a Dask worker reads its own images: the client never
downloads pixels). ``file://`` URLs become local paths and take the local
reader's safety checks. fsspec is part of the ``dask`` extra; ``s3://`` needs
``s3fs`` and ``gs://`` ``gcsfs`` (fsspec names the package when one is missing).
A missing or unreadable object is an :class:`~l2vision.io.errors.ImageReadError`
naming it, like a local file. :func:`read_bytes` is the one entry point for
the bytes of an image source, local or remote.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlparse

from l2vision.io.errors import ImageNotFoundError, ImageReadError
from l2vision.io.files import DEFAULT_MAX_BYTES, is_image_path, read_file_bytes

__all__ = ["expand_url", "is_url", "local_path", "read_bytes", "read_url_bytes"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INSTALL = "pip install 'l2vision[dask]'"


def is_url(path) -> bool:
    """Whether ``path`` is a URL (``scheme://...``), not a local path.

    Examples
    --------
    >>> is_url("s3://bucket/a.jpg"), is_url("photos/a.jpg"), is_url("C:/a.jpg")
    (True, False, False)
    """
    return isinstance(path, str) and bool(_URL.match(path))


def local_path(url: str) -> str | None:
    """The local path of a ``file://`` URL, else None.

    Examples
    --------
    >>> local_path("file:///tmp/a%20b.jpg"), local_path("https://x/a.jpg")
    ('/tmp/a b.jpg', None)
    """
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def _fsspec():
    try:
        import fsspec
    except ImportError:
        raise ImportError(f"reading URLs needs fsspec, which is not installed: {_INSTALL}") \
            from None
    return fsspec


def read_url_bytes(url: str, max_bytes: int | None) -> bytes:
    """The content of a remote object, at most ``max_bytes`` (ImageReadError otherwise)."""
    fsspec = _fsspec()
    try:
        with fsspec.open(url, "rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageNotFoundError(url, "not found (no such remote object)") from None
    except ImportError as exc:  # the protocol's package (s3fs, gcsfs...) is missing
        raise ImageReadError(url, f"cannot be read: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ImageReadError(url, f"cannot be read ({type(exc).__name__}: {exc})") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageReadError(url, f"object is more than the limit of {max_bytes:,} bytes "
                                  "(raise max_bytes if it is trusted)")
    return data


def expand_url(url: str) -> list[str] | None:
    """Image URLs under a remote folder (``.../``) or matching a glob, sorted; None: a file."""
    if not (url.endswith("/") or set("*?[") & set(url.split("://", 1)[1])):
        return None
    fsspec = _fsspec()
    fs, _, _ = fsspec.core.get_fs_token_paths(url)
    protocol = url.split("://", 1)[0]

    def full(path: str) -> str:
        return path if is_url(path) else f"{protocol}://{path.lstrip('/')}" \
            if protocol != "file" else f"file://{path}"

    found = fs.find(url) if url.endswith("/") else fs.glob(url)
    return sorted(full(p) for p in found if is_image_path(p.split("?")[0]))


def read_bytes(source: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an image source: a local path, a ``file://`` URL, or a remote URL.

    Local files go through :func:`~l2vision.io.files.read_file_bytes` (regular
    files only, never blocking); remote objects through fsspec.

    Examples
    --------
    >>> read_bytes("file:///dev/zero")
    Traceback (most recent call last):
    l2vision.io.errors.ImageReadError: /dev/zero: is a character device, not an image file
    """
    if is_url(source):
        local = local_path(source)
        if local is None:
            return read_url_bytes(source, max_bytes)
        source = local
    return read_file_bytes(source, max_bytes=max_bytes)
