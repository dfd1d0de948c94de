"""Prediction output files: CSV or JSON lines, written to ``<out>.partial`` and renamed when done.

The partial file is appended and flushed chunk by chunk. A sidecar
``<out>.partial.json`` records what produced it (model checksum, columns,
chunk size) so that ``resume`` continues only the same job: it keeps the
complete rows, cuts a row torn by a crash, and appends the rest. Nothing is
ever written to ``<out>`` itself except by the final atomic rename.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

from l2vision.scoring import Prediction

__all__ = ["PredictionWriter", "ResumeError", "columns_for"]


class ResumeError(ValueError):
    """A partial output cannot be resumed with these inputs or options."""


def columns_for(classes, *, top_k: int, probs: bool, probabilistic: bool) -> list[str]:
    """Output columns: path, label, score, top-k pairs, per-class scores, error."""
    columns = ["path", "label", "score"]
    if top_k > 1:
        for i in range(1, top_k + 1):
            columns += [f"top{i}_label", f"top{i}_score"]
    if probs:
        columns += [f"{'prob' if probabilistic else 'score'}_{c}" for c in classes]
    return columns + ["error"]


def _number(value: float) -> str:
    return f"{value:.6g}"


class PredictionWriter:
    """Write :class:`~l2vision.scoring.Prediction` rows to a file or standard output.

    Parameters
    ----------
    out : Path or None
        Final output file; None writes to standard output (no partial file).
    fmt : {"csv", "jsonl"}
    columns : list of str
        From :func:`columns_for`.
    job : dict
        What identifies the job (model checksum, options); a resume must match it.
    top_k : int
    probs : bool
    """

    def __init__(self, out: Path | None, *, fmt: str, columns: list[str], job: dict,
                 top_k: int, probs: bool):
        self.out = out
        self.fmt = fmt
        self.columns = columns
        self.job = {**job, "format": fmt, "columns": columns}
        self.top_k = top_k
        self.probs = probs
        self.partial = out.with_name(out.name + ".partial") if out else None
        self.sidecar = out.with_name(out.name + ".partial.json") if out else None
        self._file = None
        self._csv = None
        self.rows_written = 0

    # -- opening ---------------------------------------------------------------------
    def open(self, *, resume: bool, overwrite: bool) -> int:
        """Prepare the output; returns the number of rows already written (resume).

        Raises
        ------
        FileExistsError
            The output exists (without overwrite), or a partial output exists
            and neither resume nor overwrite was asked.
        ResumeError
            The partial output belongs to another job.
        """
        if self.out is None:
            self._use(sys.stdout)
            self._write_header()
            return 0
        if self.out.exists() and not overwrite:
            raise FileExistsError(f"{self.out}: file exists; use --overwrite to replace it")
        if self.partial.exists() and resume:
            done = self._recover()
            self._use(open(self.partial, "a", newline="", encoding="utf-8"))
            return done
        if self.partial.exists() and not overwrite:
            raise FileExistsError(f"{self.partial}: an interrupted run left this partial output; "
                                  "use --resume to continue it or --overwrite to start over")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.sidecar.write_text(json.dumps(self.job, indent=1))
        self._use(open(self.partial, "w", newline="", encoding="utf-8"))
        self._write_header()
        return 0

    def _recover(self) -> int:
        """Check the job, cut a torn last row; returns the number of complete rows."""
        try:
            recorded = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            raise ResumeError(f"{self.sidecar}: missing or unreadable; cannot tell which job "
                              f"wrote {self.partial} (use --overwrite to start over)") from None
        if recorded != self.job:
            diff = sorted(k for k in set(recorded) | set(self.job)
                          if recorded.get(k) != self.job.get(k))
            raise ResumeError(f"{self.partial}: written by another job (differs in: "
                              f"{', '.join(diff)}); resume with the same model and options, "
                              "or use --overwrite")
        keep, rows = 0, 0
        with open(self.partial, "rb") as f:
            for end, _ in self._records(f):
                keep, rows = end, rows + 1
        with open(self.partial, "r+b") as f:
            f.truncate(keep)
        return rows - (self.fmt == "csv")  # the header is not a row

    def recorded_rows(self):
        """Yield ``(path, error)`` of every row in the (recovered) partial output, streaming."""
        with open(self.partial, "rb") as f:
            records = self._records(f)
            if self.fmt == "csv":
                next(records, None)  # header
            for _, row in records:
                yield row

    def _records(self, f):
        """``(end offset, (path, error))`` of each complete record; stops at a torn one.

        The CSV header is checked against the expected columns and yielded
        with path None.
        """
        offset, pending, first = 0, b"", self.fmt == "csv"
        for line in f:
            if not line.endswith(b"\n"):
                return
            pending += line
            if self.fmt == "csv" and pending.count(b'"') % 2:
                continue  # a quoted field spans lines
            record, pending = pending, b""
            offset += len(record)
            if self.fmt == "jsonl":
                row = json.loads(record)
                yield offset, (row["path"], row["error"])
                continue
            fields = next(csv.reader(io.StringIO(record.decode("utf-8"))))
            if first:
                first = False
                if fields != self.columns:
                    raise ResumeError(f"{self.partial}: header does not match the columns")
                yield offset, None
            else:
                yield offset, (fields[0], fields[-1])

    # -- writing -----------------------------------------------------------------------
    def _use(self, file) -> None:
        """Write to ``file`` from now on, through one csv.writer."""
        self._file = file
        self._csv = csv.writer(file, lineterminator="\n")

    def _write_header(self) -> None:
        if self.fmt == "csv":
            self._csv.writerow(self.columns)

    def write(self, p: Prediction) -> None:
        """Append one row (buffered; see :meth:`flush`)."""
        ok = not p.error
        top = p.top_k if self.top_k > 1 else []
        if self.fmt == "csv":
            row = [p.path, p.label or "", _number(p.score) if ok else ""]
            for i in range(self.top_k if self.top_k > 1 else 0):
                row += [top[i][0], _number(top[i][1])] if ok and i < len(top) else ["", ""]
            if self.probs:
                n = len(self.columns) - len(row) - 1
                row += [_number(v) for v in p.scores] if ok else [""] * n
            self._csv.writerow(row + [p.error])
        else:
            record = {"path": p.path, "label": p.label,
                      "score": float(_number(p.score)) if ok else None}
            if self.top_k > 1:
                record["top_k"] = [[c, float(_number(s))] for c, s in top]
            if self.probs:
                names = [c.split("_", 1)[1] for c in self.columns
                         if c.startswith(("prob_", "score_"))]
                record["scores"] = ({c: float(_number(v))
                                     for c, v in zip(names, p.scores, strict=True)}
                                    if ok else None)
            record["error"] = p.error
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.rows_written += 1

    def flush(self) -> None:
        """Push buffered rows to the operating system (safe against a killed process)."""
        self._file.flush()

    def finish(self) -> None:
        """Complete the output: fsync and rename ``<out>.partial`` to ``<out>``."""
        self._file.flush()
        if self.out is None:
            return
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.out)
        self.sidecar.unlink(missing_ok=True)

    def close(self) -> None:
        """Leave the partial output in place (after an error or an interruption)."""
        if self._file is not None and self._file is not sys.stdout and not self._file.closed:
            self._file.flush()
            self._file.close()
