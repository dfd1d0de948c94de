"""Images anywhere, under a policy: local paths, ``file://`` URLs, and remote URLs when allowed.

A path with a scheme (``scheme://...``) is a URL. ``file://`` and ``local://``
URLs are local paths and take the local reader's checks (regular files only,
never blocking). Remote URLs are read only when the ``allow_urls`` setting of
:func:`l2vision.config_context` is on (``--allow-urls``): an input list or a
manifest written by someone else otherwise cannot make l2vision fetch
anything. Even then:

- only the protocols of :data:`REMOTE_PROTOCOLS` are read (``http``,
  ``https``, ``s3``, ``gs``/``gcs``, ``az``/``abfs``); chained URLs
  (``simplecache::s3://...``) and every other protocol are refused;
- an ``http(s)`` host must resolve to public addresses only (no loopback,
  private, link-local or reserved address: a cloud's metadata service,
  services on the machine or its network), unless ``allow_private_urls``;
  the connection goes to the checked address and every redirect is checked
  again (:mod:`l2vision.io._http`).

Object stores go through fsspec (part of the ``dask`` extra; ``s3://`` needs
``s3fs``, ``gs://`` ``gcsfs``), by whichever process decodes the image (a
Dask worker reads its own images). A missing or unreadable object is an
:class:`~l2vision.io.errors.ImageReadError` naming it, like a local file.
:func:`read_bytes` is the one entry point for the bytes of an image source.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

from l2vision.config import get_config
from l2vision.io._http import UrlRefused, http_get, resolve_host
from l2vision.io.errors import ImageNotFoundError, ImageReadError
from l2vision.io.files import DEFAULT_MAX_BYTES, is_image_path, read_file_bytes

__all__ = ["LOCAL_PROTOCOLS", "REMOTE_PROTOCOLS", "UrlPolicyError", "check_url", "expand_url",
           "is_url", "local_path", "read_bytes", "read_url_bytes"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INSTALL = "pip install 'l2vision[dask]'"
#: URL schemes that name a local file.
LOCAL_PROTOCOLS = ("file", "local")
#: URL schemes read when remote URLs are allowed.
REMOTE_PROTOCOLS = ("http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")


class UrlPolicyError(ValueError):
    """A URL that the policy refuses: remote URLs not allowed, an unknown protocol, a chain."""


def _chained(url: str) -> bool:
    """``a::b://...``: fsspec's URL chains (``::`` before the first ``://``)."""
    return "::" in url.split("://", 1)[0]


def is_url(path) -> bool:
    """Whether ``path`` is a URL (``scheme://...``, or a chain ``a::b://``), not a local path.

    Examples
    --------
    >>> is_url("s3://bucket/a.jpg"), is_url("photos/a.jpg"), is_url("C:/a.jpg")
    (True, False, False)
    >>> is_url("simplecache::s3://bucket/a.jpg")
    True
    """
    return isinstance(path, str) and (bool(_URL.match(path)) or
                                      ("://" in path and _chained(path)))


def local_path(url: str) -> str | None:
    """The local path of a ``file://`` or ``local://`` URL, else None.

    Examples
    --------
    >>> local_path("file:///tmp/a%20b.jpg"), local_path("local:///dev/zero")
    ('/tmp/a b.jpg', '/dev/zero')
    >>> print(local_path("https://x/a.jpg"))
    None
    """
    if _chained(url):
        return None
    parts = urlsplit(url)
    return unquote(parts.path) if parts.scheme.lower() in LOCAL_PROTOCOLS else None


def check_url(url: str) -> str:
    """The URL's protocol if the policy allows reading it; else :class:`UrlPolicyError`.

    Examples
    --------
    >>> from l2vision import config_context
    >>> with config_context(allow_urls=True):
    ...     check_url("https://example.org/a.jpg")
    'https'
    >>> check_url("https://example.org/a.jpg")
    Traceback (most recent call last):
    l2vision.io.remote.UrlPolicyError: https://example.org/a.jpg: remote URLs are not read
    unless allowed (the allow_urls setting, --allow-urls)
    """
    if _chained(url):
        raise UrlPolicyError(f"{url}: chained URLs are not read")
    protocol = urlsplit(url).scheme.lower()
    if protocol in LOCAL_PROTOCOLS:
        return protocol
    if protocol not in REMOTE_PROTOCOLS:
        raise UrlPolicyError(f"{url}: the protocol {protocol!r} is not read (allowed: "
                             f"{', '.join(REMOTE_PROTOCOLS)})")
    if not get_config()["allow_urls"]:
        raise UrlPolicyError(f"{url}: remote URLs are not read unless allowed (the allow_urls "
                             "setting, --allow-urls)")
    return protocol


def _fsspec():
    try:
        import fsspec
    except ImportError:
        raise ImportError(f"reading URLs needs fsspec, which is not installed: {_INSTALL}") \
            from None
    return fsspec


def read_url_bytes(url: str, max_bytes: int | None) -> bytes:
    """The content of a remote object, at most ``max_bytes`` (ImageReadError otherwise)."""
    try:
        protocol = check_url(url)
        if protocol in ("http", "https"):
            return http_get(url, max_bytes, allow_private=get_config()["allow_private_urls"],
                            not_found=lambda u: FileNotFoundError(u))
        with _fsspec().open(url, "rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except (UrlPolicyError, UrlRefused) as exc:
        raise ImageReadError(url, f"refused: {str(exc).removeprefix(url + ': ')}") from None
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
    """Image URLs under a remote folder (``.../``) or matching a glob, sorted; None: a file.

    Raises
    ------
    UrlPolicyError
        Remote URLs are not allowed, or the protocol is not one of ours.
    """
    if not (url.endswith("/") or set("*?[") & set(url.split("://", 1)[1])):
        return None
    protocol = check_url(url)
    if protocol in ("http", "https"):
        parts = urlsplit(url)
        resolve_host(parts.hostname or "", parts.port or 443,
                     get_config()["allow_private_urls"])
    fs, _, _ = _fsspec().core.get_fs_token_paths(url)

    def full(path: str) -> str:
        return path if is_url(path) else f"{protocol}://{path.lstrip('/')}"

    found = fs.find(url) if url.endswith("/") else fs.glob(url)
    return sorted(full(p) for p in found if is_image_path(p.split("?")[0]))


def read_bytes(source: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an image source: a local path, a ``file://`` URL, or a remote URL.

    Local files go through :func:`~l2vision.io.files.read_file_bytes` (regular
    files only, never blocking); remote ones through :func:`read_url_bytes`,
    under the URL policy of this module.

    Examples
    --------
    >>> read_bytes("local:///dev/zero")
    Traceback (most recent call last):
    l2vision.io.errors.ImageReadError: /dev/zero: is a character device, not an image file
    """
    if is_url(source):
        local = local_path(source)
        if local is None:
            return read_url_bytes(source, max_bytes)
        source = local
    return read_file_bytes(source, max_bytes=max_bytes)
