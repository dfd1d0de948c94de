"""A scoring output written to ``OUT.partial`` and renamed to ``OUT`` when complete.

The partial file is appended and flushed chunk by chunk. A sidecar
``OUT.partial.json`` records what produced it (model checksum, inputs,
options, columns) so that a resume continues only the same job: it keeps the
complete records, cuts a record torn by a crash, and appends the rest.
Nothing is written to ``OUT`` itself except by the final atomic rename, and
an existing ``OUT`` or partial output is never replaced unless asked.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from l2vision._validation import HintedError
from l2vision.io.writing import OutputExistsError
from l2vision.scoring.formats import OutputFormat

__all__ = ["OutputLockedError", "PartialOutput", "ResumeError"]


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
        self.job = {**job, "format": fmt.name, "columns": fmt.columns}
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
            self._file = sys.stdout
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
        """``OUT.partial.lock`` holds the writer's pid; a dead writer's lock is taken over."""
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
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

    def _release_lock(self) -> None:
        if self._locked:
            self.lock.unlink(missing_ok=True)
            self._locked = False

    def _open(self, mode: str):
        """The partial file, opened for text (a method of its own so tests can fail writes)."""
        return open(self.partial, mode, newline="", encoding="utf-8")

    def _open_output(self) -> PartialOutput:
        if self.out.exists() and not self.overwrite:
            raise OutputExistsError("{path}: file exists; use {overwrite} to replace it",
                                    path=self.out, overwrite=True)
        if self.partial.exists() and self.resume:
            self.done, kept = self._recover()
            self._file = self._open("a")
            self.fmt.start(self._file, header=kept == 0)  # a header torn by a crash is redone
            return self
        if self.partial.exists() and not self.overwrite:
            raise OutputExistsError("{path}: an interrupted run left this partial output; use "
                                    "{resume} to continue it or {overwrite} to start over",
                                    path=self.partial, resume=True, overwrite=True)
        self.sidecar.write_text(json.dumps(self.job, indent=1))
        self._file = self._open("w")
        self.fmt.start(self._file, header=True)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self._finish()
            elif self._file is not None and self._file is not sys.stdout \
                    and not self._file.closed:
                try:
                    self._file.close()  # flushes what it can; a full disk fails again
                except OSError:
                    pass
        finally:
            self._release_lock()

    def _finish(self) -> None:
        """fsync, then rename ``OUT.partial`` to ``OUT`` and drop the sidecar."""
        self._file.flush()
        if self.out is None:
            return
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.out)
        self.sidecar.unlink(missing_ok=True)

    def _recover(self) -> tuple[int, int]:
        """Check the job, cut a torn last record: ``(complete records, bytes kept)``."""
        try:
            recorded = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            raise ResumeError(f"{self.sidecar}: missing or unreadable; cannot tell which job "
                              f"wrote {self.partial} (use {{overwrite}} to start over)",
                              overwrite=True) from None
        if recorded != self.job:
            diff = sorted(k for k in set(recorded) | set(self.job)
                          if recorded.get(k) != self.job.get(k))
            raise ResumeError(f"{self.partial}: written by another job (differs in: "
                              f"{', '.join(diff)}); resume with the same model and options, "
                              "or use {overwrite}", overwrite=True)
        keep, rows = 0, 0
        with open(self.partial, "rb") as f:
            for end, record in self._records(f):
                keep, rows = end, rows + (record is not None)
        with open(self.partial, "r+b") as f:
            f.truncate(keep)
        return rows, keep

    def _records(self, f) -> Iterator[tuple[int, tuple | None]]:
        try:
            yield from self.fmt.records(f)
        except (ValueError, KeyError) as exc:
            raise ResumeError(f"{self.partial}: {exc}") from None

    def recorded_rows(self) -> Iterator[tuple[str, str]]:
        """``(path, error)`` of every record of the (recovered) partial output, streaming."""
        with open(self.partial, "rb") as f:
            for _, record in self._records(f):
                if record is not None:
                    yield record

    def write(self, prediction) -> None:
        """Append one record (buffered; see :meth:`flush`)."""
        self.fmt.write(prediction)

    def flush(self) -> None:
        """Push buffered records to the operating system (safe against a killed process)."""
        self._file.flush()
