"""Writing files so that a crash never leaves half of one, and hashing files.

Saved models, cache entries and downloaded networks are all written the same
way: into a temporary file beside the target, flushed to disk, then renamed
over it (or linked, when an existing file must not be replaced). A failure at
any point removes the temporary file and leaves the target as it was.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from l2vision._validation import HintedError

__all__ = ["OutputExistsError", "atomic_write", "file_sha256"]


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


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> _ = target.write_bytes(b"abc")
    >>> file_sha256(target)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
