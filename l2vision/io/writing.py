"""Writing files so that a crash never leaves half of one, nor writes through a planted link.

Saved models, reports, cache entries and downloaded networks are written the
same way (:func:`atomic_write`): into a new temporary file beside the target
(created exclusively), flushed to disk, then renamed over it (or linked, when
an existing file must not be replaced). A rename replaces a symbolic link
planted at the target, never the file it points to. Files that must be
created in place (a scoring run's partial output, its sidecar and lock) are
created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` (:func:`create_new`), and
existing ones reopened without following links (:func:`open_regular`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from l2vision._validation import HintedError

__all__ = ["NotARegularFileError", "OutputExistsError", "atomic_write", "create_new",
           "file_sha256", "open_regular", "publish", "write_file"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class NotARegularFileError(OSError):
    """A path l2vision would write or reopen is a link, a pipe, a device or a folder."""


class OutputExistsError(HintedError, FileExistsError):
    """An output file exists and the run was not allowed to replace it (nothing was written).

    Examples
    --------
    >>> print(OutputExistsError("{path}: file exists; use {overwrite} to replace it",
    ...                         path="m.joblib", overwrite=True))
    m.joblib: file exists; use overwrite=True to replace it
    """

    def __init__(self, template: str, *, path: str = "", **parameters):
        self.path = path
        super().__init__(template.replace("{path}", str(path)), **parameters)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], *,
                 overwrite: bool = True) -> Path:
    """Create ``path`` from what ``write(file)`` writes, all or nothing.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create; its folder must exist.
    write : callable
        Called with the temporary file open for binary writing. Raising
        inside it (e.g. a failed checksum) discards everything written.
    overwrite : bool, default=True
        Replace an existing ``path``. With False the rename is a hard link,
        which fails with FileExistsError if ``path`` appeared meanwhile.

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> atomic_write(target, lambda f: f.write(b"data")).read_bytes()
    b'data'
    >>> atomic_write(target, lambda f: f.write(b"new"), overwrite=False)
    Traceback (most recent call last):
    FileExistsError: ...
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_file(path: str | os.PathLike, data: bytes | str, *, overwrite: bool = True) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` with :func:`atomic_write`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> write_file(target, "{}").read_text()
    '{}'
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_write(path, lambda f: f.write(payload), overwrite=overwrite)


def create_new(path: str | os.PathLike, mode: int = 0o644) -> int:
    """A new file at ``path``, opened for writing: never an existing file, never through a link.

    Returns the file descriptor (``os.fdopen`` it).

    Raises
    ------
    FileExistsError
        Something (a file, a link, a pipe) is already at ``path``.
    """
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)


def open_regular(path: str | os.PathLike, flags: int = os.O_RDONLY) -> int:
    """An existing regular file, opened without following a link and without blocking.

    Returns the file descriptor (blocking again once checked).

    Raises
    ------
    NotARegularFileError
        ``path`` is a symbolic link, a named pipe, a device, a socket or a folder.
    FileNotFoundError
        Nothing is at ``path``.
    """
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR):
            raise NotARegularFileError(exc.errno, f"{path}: is a symbolic link, a socket or "
                                       "a folder, not a file l2vision wrote; refused") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotARegularFileError(errno.EINVAL, f"{path}: is not a regular file (a named "
                                   "pipe, a device or a folder); refused")
    os.set_blocking(fd, True)
    return fd


def publish(source: str | os.PathLike, target: str | os.PathLike, *, overwrite: bool) -> None:
    """Rename a finished file into place: replacing ``target`` only when ``overwrite``.

    Without ``overwrite`` the rename is a hard link (which fails if ``target``
    appeared meanwhile) followed by removing ``source``; where hard links are
    not supported, a rename after a last check.

    Raises
    ------
    FileExistsError
        ``target`` exists and ``overwrite`` is False.
    """
    if overwrite:
        os.replace(source, target)
        return
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, f"{target}: file exists") from None
        os.rename(source, target)
        return
    os.unlink(source)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Only a regular file is read (a link to one is followed; a pipe or a device
    is refused, never read forever).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> _ = target.write_bytes(b"abc")
    >>> file_sha256(target)[:16]
    'ba7816bf8f01cfea'
    """
    fd = os.open(path, os.O_RDONLY | _CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotARegularFileError(errno.EINVAL, f"{path}: is not a regular file")
    os.set_blocking(fd, True)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
