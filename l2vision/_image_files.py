"""Read the bytes of an image file, safely: regular files only, never blocking, size-limited.

A folder to score can hold anything a file system can: named pipes (opening one
for reading would wait forever for a writer), sockets, devices (``/dev/zero``
never ends), directories, symbolic-link loops, dangling links, files without
read permission, files deleted or truncated between listing and reading. The
file is opened without blocking (``O_NONBLOCK``), then the *open descriptor* is
checked with ``fstat`` (checking the path before opening would race), and at
most ``max_bytes`` bytes are read. Every refusal is an
:class:`~l2vision.images.ImageReadError` naming the file and the reason.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["DEFAULT_MAX_BYTES", "read_file_bytes"]

#: Files larger than this are refused (a 512 MB JPEG is not a photo).
DEFAULT_MAX_BYTES = 512 * 2**20

_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
          | getattr(os, "O_NOCTTY", 0))
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _error(path, reason: str):
    from l2vision.images import ImageReadError  # images imports this module

    return ImageReadError(path, reason)


def _open_error(path, exc: OSError):
    from l2vision.images import ImageNotFoundError, ImageReadError

    if isinstance(exc, FileNotFoundError):
        if os.path.islink(path):
            return ImageReadError(path, "is a dangling symbolic link (its target does not "
                                        "exist)")
        return ImageNotFoundError(path, "file not found")
    if exc.errno == errno.ELOOP:
        return ImageReadError(path, "is a symbolic link loop")
    if exc.errno == errno.ENXIO:
        return ImageReadError(path, "is a socket or a device with nothing behind it, not an "
                                    "image file")
    if isinstance(exc, PermissionError):
        return ImageReadError(path, "cannot be read (permission denied)")
    if isinstance(exc, IsADirectoryError):
        return ImageReadError(path, "is a directory, not an image file")
    return ImageReadError(path, f"cannot be read ({exc.strerror or exc})")


def read_file_bytes(path: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES
                    ) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` bytes.

    A URL (``s3://``, ``https://``...) is read with fsspec
    (:mod:`l2vision._remote`); a ``file://`` URL is the local file.

    Raises
    ------
    ImageNotFoundError
        No such file.
    ImageReadError
        Not a regular file (directory, named pipe, socket, device: said which),
        a link loop or dangling link, no permission, larger than ``max_bytes``,
        or a read error.

    Examples
    --------
    >>> read_file_bytes("/dev/zero")
    Traceback (most recent call last):
    l2vision.images.ImageReadError: /dev/zero: is a character device, not an image file
    """
    if isinstance(path, str) and "://" in path:
        from l2vision._remote import is_url, local_path, read_url_bytes

        if is_url(path):
            local = local_path(path)
            if local is None:
                return read_url_bytes(path, max_bytes)
            path = local
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _error(path, f"is {_kind(info.st_mode)}, not an image file")
        limit = max_bytes if max_bytes is not None else info.st_size
        if info.st_size > limit:
            raise _error(path, f"file is {info.st_size:,} bytes, more than the limit of "
                               f"{limit:,} (raise max_bytes if the file is trusted)")
        # One read of the known size (+1 to see the end): a third of the cost of
        # open().read() for thumbnails, which matters at thousands a second.
        chunks = [os.read(fd, info.st_size + 1)]
        total = len(chunks[0])
        while total > info.st_size and chunks[-1]:  # the file grew since fstat
            if max_bytes is not None and total > max_bytes:
                raise _error(path, f"file grew past the limit of {max_bytes:,} bytes while "
                                   "being read")
            chunks.append(os.read(fd, 1 << 20))
            total += len(chunks[-1])
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as exc:
        raise _open_error(path, exc) from None
    finally:
        os.close(fd)
