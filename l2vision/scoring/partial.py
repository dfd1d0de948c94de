"""A scoring output written to ``OUT.partial`` and renamed to ``OUT`` when complete.

The partial file is appended and flushed chunk by chunk. A sidecar
``OUT.partial.json`` records what produced it (model checksum, inputs,
options, columns) so that a resume continues only the same job: it keeps the
complete records, cuts a record torn by a crash, and appends the rest.
Nothing is written to ``OUT`` itself except by the final atomic rename, and
an existing ``OUT`` or partial output is never replaced unless asked.

In a shared folder, someone else may plant files beside the output: every
file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``, reopened only if it
is a regular file (never through a link), and the lock and sidecar are read
with a bounded, non-blocking read; the final rename never replaces a file
that appeared meanwhile (without ``overwrite``). Output text is UTF-8 with
``surrogateescape``: a file name that is not valid UTF-8 (a Linux path is
bytes) is written back as its own bytes, and read back the same way.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from l2vision._validation import HintedError
from l2vision.io.errors import ImageReadError
from l2vision.io.files import read_file_bytes
from l2vision.io.writing import (
    NotARegularFileError,
    OutputExistsError,
    create_new,
    open_regular,
    publish,
)
from l2vision.scoring.formats import OutputFormat

__all__ = ["OutputLockedError", "PartialOutput", "ResumeError"]

#: A lock holds a pid: at most this many bytes of it are read.
_LOCK_BYTES = 64
#: A sidecar holds the job (inputs, options): at most this many bytes are read.
_SIDECAR_BYTES = 16 << 20


class ResumeError(HintedError, ValueError):
    """A partial output cannot be resumed with these inputs or options."""


class OutputLockedError(FileExistsError):
    """Another live process is writing the same output."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stdout():
    """Standard output as text that writes any file name back as its bytes (surrogateescape)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        return sys.stdout
    return io.TextIOWrapper(buffer, encoding="utf-8", errors="surrogateescape", newline="",
                            write_through=True)


class PartialOutput:
    """The output of one scoring job, as a context manager.

    On entry the output is opened: a new ``OUT.partial`` with its header, or,
    with ``resume``, the existing one after its job was checked and its torn
    last record cut (:attr:`done` complete records are kept). On a normal exit
    the file is synced to disk and renamed to ``OUT``; on an exception it is
    closed and kept for a resume. With ``out=None`` records go to standard output.

    Parameters
    ----------
    out : path or None
        The final output file.
    fmt : OutputFormat
        Writes and reads back the records.
    job : dict
        What identifies the job (JSON-serializable); a resume must match it.
    resume : bool, default=False
        Continue an existing partial output.
    overwrite : bool, default=False
        Replace an existing output or partial output.

    Attributes
    ----------
    done : int
        Records already in the partial output when it was opened.
    partial, sidecar : Path or None

    Raises
    ------
    FileExistsError
        (on entry) The output exists, or a partial output exists and neither
        ``resume`` nor ``overwrite`` was given.
    ResumeError
        (on entry) The partial output belongs to another job.
    """

    def __init__(self, out, fmt: OutputFormat, job: dict, *, resume: bool = False,
                 overwrite: bool = False):
        self.out = Path(out) if out is not None else None
        self.fmt = fmt
        self.job = {**job, "format": fmt.name, "columns": fmt.columns, **fmt.options}
        self.resume = resume
        self.overwrite = overwrite
        self.partial = self.out.with_name(self.out.name + ".partial") if self.out else None
        self.sidecar = self.out.with_name(self.out.name + ".partial.json") if self.out else None
        self.lock = self.out.with_name(self.out.name + ".partial.lock") if self.out else None
        self._locked = False
        self.done = 0
        self._file = None

    def __enter__(self) -> PartialOutput:
        if self.out is None:
            self._file = _stdout()
            self.fmt.start(self._file, header=True)
            return self
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            return self._open_output()
        except BaseException:
            self._release_lock()
            raise

    def _take_lock(self) -> None:
        """``OUT.partial.lock`` holds the writer's pid; a dead writer's lock is taken over.

        The lock is created exclusively, never through a link; an existing one
        is read only if it is a small regular file (a named pipe planted there
        would otherwise block the run, ``/dev/zero`` exhaust its memory).
        """
        for _ in range(2):
            try:
                fd = create_new(self.lock)
            except FileExistsError:
                pid = self._lock_owner()
                if pid and pid != os.getpid() and _alive(pid):
                    raise OutputLockedError(
                        f"{self.out}: another l2vision run (pid {pid}) is writing it (lock "
                        f"{self.lock}); wait for it to finish, or use another output") from None
                self.lock.unlink(missing_ok=True)  # a stale lock: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self._locked = True
            return
        raise OutputLockedError(f"{self.out}: cannot take the lock {self.lock}")

    def _lock_owner(self) -> int:
        """The pid in an existing lock file (0 if none can be read)."""
        try:
            fd = open_regular(self.lock)
        except NotARegularFileError:
            raise OutputLockedError(f"{self.lock}: the lock beside the output is not a regular "
                                    "file (a link, a pipe or a device someone put there); "
                                    "remove it, or use another output") from None
        except OSError:
            return 0
        with os.fdopen(fd, "rb") as f:
            text = f.read(_LOCK_BYTES)
        try:
            return int(text.decode("ascii").strip() or 0)
        except ValueError:
            return 0

    def _release_lock(self) -> None:
        if self._locked:
            self.lock.unlink(missing_ok=True)
            self._locked = False

    def _open(self, mode: str):
        """The partial file as text: created new (``"w"``) or reopened to append (``"a"``).

        Never through a link: a link or a pipe planted at ``OUT.partial`` is
        refused (``"a"``) or removed first (``"w"``, only with ``overwrite``).
        A method of its own so tests can fail writes.
        """
        fd = create_new(self.partial) if mode == "w" else \
            open_regular(self.partial, os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, mode, newline="", encoding="utf-8", errors="surrogateescape")

    def _open_output(self) -> PartialOutput:
        if self.out.exists() and not self.overwrite:
            raise OutputExistsError("{path}: file exists; use {overwrite} to replace it",
                                    path=self.out, overwrite=True)
        present = os.path.lexists(self.partial)
        if present and self.resume:
            self.done, kept = self._recover()
            self._file = self._open("a")
            self.fmt.start(self._file, header=kept == 0)  # a header torn by a crash is redone
            return self
        if present and not self.overwrite:
            raise OutputExistsError("{path}: an interrupted run left this partial output; use "
                                    "{resume} to continue it or {overwrite} to start over",
                                    path=self.partial, resume=True, overwrite=True)
        for path in (self.partial, self.sidecar):  # with overwrite: whatever is there goes
            path.unlink(missing_ok=True)
        with os.fdopen(create_new(self.sidecar), "w", encoding="utf-8") as f:
            f.write(json.dumps(self.job, indent=1))
        self._file = self._open("w")
        self.fmt.start(self._file, header=True)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self._finish()
            elif self.out is None and self._file is not None:
                self._release_stdout()
            elif self._file is not None and not self._file.closed:
                try:
                    self._file.close()  # flushes what it can; a full disk fails again
                except OSError:
                    pass
        finally:
            self._release_lock()

    def _release_stdout(self) -> None:
        """Flush standard output and let go of it (closing our wrapper would close it)."""
        self._file.flush()
        if self._file is not sys.stdout:
            self._file.detach()

    def _finish(self) -> None:
        """fsync, then rename ``OUT.partial`` to ``OUT`` and drop the sidecar."""
        self._file.flush()
        if self.out is None:
            self._release_stdout()
            return
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            publish(self.partial, self.out, overwrite=self.overwrite)
        except FileExistsError:
            raise OutputExistsError("{path}: appeared while the run wrote; the complete output "
                                    f"is kept in {self.partial} (rename it, or use "
                                    "{overwrite})", path=self.out, overwrite=True) from None
        self.sidecar.unlink(missing_ok=True)

    def _recover(self) -> tuple[int, int]:
        """Check the job, cut a torn last record: ``(complete records, bytes kept)``."""
        try:
            recorded = json.loads(read_file_bytes(self.sidecar, max_bytes=_SIDECAR_BYTES,
                                                  what="a sidecar file"))
        except (ImageReadError, ValueError):
            raise ResumeError(f"{self.sidecar}: missing, unreadable or not a regular file; "
                              f"cannot tell which job wrote {self.partial} (use {{overwrite}} "
                              "to start over)", overwrite=True) from None
        if recorded != self.job:
            diff = sorted(k for k in set(recorded) | set(self.job)
                          if recorded.get(k) != self.job.get(k)) \
                if isinstance(recorded, dict) else ["everything"]
            raise ResumeError(f"{self.partial}: written by another job (differs in: "
                              f"{', '.join(diff)}); resume with the same model and options, "
                              "or use {overwrite}", overwrite=True)
        keep, rows = 0, 0
        fd = self._regular_partial(os.O_RDWR)
        with os.fdopen(fd, "r+b") as f:
            for end, record in self._records(f):
                keep, rows = end, rows + (record is not None)
            f.truncate(keep)
        return rows, keep

    def _regular_partial(self, flags: int) -> int:
        try:
            return open_regular(self.partial, flags)
        except NotARegularFileError as exc:
            raise ResumeError(f"{exc.strerror}; use {{overwrite}} to start over",
                              overwrite=True) from None

    def _records(self, f) -> Iterator[tuple[int, tuple | None]]:
        try:
            yield from self.fmt.records(f)
        except (ValueError, KeyError) as exc:
            raise ResumeError(f"{self.partial}: {exc}") from None

    def recorded_rows(self) -> Iterator[tuple[str, str, float | None]]:
        """``(path, error, score)`` of every record of the (recovered) partial output, streaming."""
        with os.fdopen(self._regular_partial(os.O_RDONLY), "rb") as f:
            for _, record in self._records(f):
                if record is not None:
                    yield record

    def write(self, prediction) -> None:
        """Append one record (buffered; see :meth:`flush`)."""
        self.fmt.write(prediction)

    def flush(self) -> None:
        """Push buffered records to the operating system (safe against a killed process)."""
        self._file.flush()
