"""Local image files: read safely (regular files, never blocking, size-capped), walk folders.

A folder to score can hold anything a file system can: named pipes (opening one
for reading would wait forever for a writer), sockets, devices (``/dev/zero``
never ends), directories, symbolic-link loops, dangling links, files without
read permission, files deleted or truncated between listing and reading. The
file is opened without blocking (``O_NONBLOCK``), then the *open descriptor* is
checked with ``fstat`` (checking the path before opening would race), and at
most ``max_bytes`` bytes are read. Every refusal is an
:class:`~l2vision.io.errors.ImageReadError` naming the file and the reason.

The folder walk (:func:`walk_images`) is the only one in l2vision: training,
auditing and batch scoring see the same files in the same order.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from l2vision.io.errors import ImageNotFoundError, ImageReadError

__all__ = ["DEFAULT_MAX_BYTES", "IMAGE_EXTENSIONS", "is_image_path", "read_file_bytes",
           "walk_images"]

#: File name endings treated as images when scanning folders (lower case).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
     ".gif", ".ppm", ".pgm", ".pbm", ".pnm", ".ras", ".sr", ".avif"}
)

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


def _error(path, reason: str) -> ImageReadError:
    return ImageReadError(path, reason)


def _open_error(path, exc: OSError, what: str = "an image file") -> ImageReadError:
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
        return ImageReadError(path, f"is a directory, not {what}")
    return ImageReadError(path, f"cannot be read ({exc.strerror or exc})")


def read_file_bytes(path: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES,
                    what: str = "an image file") -> bytes:
    """The whole content of a local regular file of at most ``max_bytes`` bytes.

    URLs are read by :func:`l2vision.io.remote.read_bytes`, which calls this
    for local paths. ``what`` names the kind of file in messages (model files
    and signatures are read the same way).

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
    l2vision.io.errors.ImageReadError: /dev/zero: is a character device, not an image file
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        raise _open_error(path, exc, what) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _error(path, f"is {_kind(info.st_mode)}, not {what}")
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
        raise _open_error(path, exc, what) from None
    finally:
        os.close(fd)


def is_image_path(path: str | os.PathLike) -> bool:
    """True when the file name ends with a known image extension.

    Examples
    --------
    >>> is_image_path("a/B.JPG"), is_image_path("notes.txt")
    (True, False)
    """
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def walk_images(folder: str | os.PathLike, *, skipped: list | None = None) -> Iterator[str]:
    """Image files under ``folder``, recursively, in sorted path order, streaming.

    Hidden files and folders (names starting with ``.``) and files without an
    image extension are passed over (and appended to ``skipped`` when given).
    Links to folders are followed, except a link back to a folder being walked
    (a loop). Unreadable folders are passed over; a dangling link with an image
    name is yielded (reading it then reports it). Only one folder's listing is
    in memory at a time.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a/c.jpg", "a.jpg", ".hidden.png", "notes.txt"):
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     _ = (root / name).write_bytes(b"x")
    >>> [str(pathlib.Path(p).relative_to(root)) for p in walk_images(root)]
    ['a.jpg', 'a/c.jpg', 'b.png']
    """
    yield from _walk(os.fspath(folder), skipped, frozenset())


def _walk(folder: str, skipped: list | None, ancestors: frozenset) -> Iterator[str]:
    """One folder of :func:`walk_images`; ``ancestors`` are the (device, inode) pairs above."""
    try:
        info = os.stat(folder)
        with os.scandir(folder) as listing:
            entries = [(e.name, _is_folder(e)) for e in listing]
    except OSError:
        return
    ancestors = ancestors | {(info.st_dev, info.st_ino)}
    # A folder's name sorts with a "/" after it: the same order as sorting whole paths.
    for name, is_dir in sorted(entries, key=lambda e: e[0] + "/" if e[1] else e[0]):
        path = os.path.join(folder, name)
        if _is_hidden(name) or not (is_dir or is_image_path(name)):
            if skipped is not None and not is_dir:
                skipped.append(path)
        elif not is_dir:
            yield path
        else:
            try:
                child = os.stat(path)
            except OSError:
                continue
            if (child.st_dev, child.st_ino) not in ancestors:
                yield from _walk(path, skipped, ancestors)


def _is_folder(entry: os.DirEntry) -> bool:
    """A folder or a link to one; a link loop or an unreadable entry counts as a file
    (reading it then reports why)."""
    try:
        return entry.is_dir()
    except OSError:
        return False
