"""Output formats of batch scoring: CSV and JSON lines, behind one interface.

A format knows its columns (from the model's classes and the options), writes
one record per :class:`~l2vision.scoring.run.Prediction`, and reads the
records of a partial output back (for resuming), stopping at a record torn
by a crash. Numbers are written with 6 significant digits.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import BinaryIO, TextIO

__all__ = ["FORMATS", "CsvFormat", "JsonlFormat", "OutputFormat", "format_for",
           "spreadsheet_safe", "spreadsheet_unsafe"]


def _number(value: float) -> str:
    return f"{value:.6g}"


#: A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` that no spreadsheet reads as a formula: a leading ``'`` where it would.

    A cell that already starts with ``'`` gets one more, so that
    :func:`spreadsheet_unsafe` gives every text back exactly.

    Examples
    --------
    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("cat"), spreadsheet_safe("'x")
    ("'=HYPERLINK(1)", 'cat', "''x")
    """
    return "'" + text if text.startswith(_FORMULA_STARTS + ("'",)) else text


def spreadsheet_unsafe(text: str) -> str:
    """The text :func:`spreadsheet_safe` was given.

    Examples
    --------
    >>> spreadsheet_unsafe("'=HYPERLINK(1)"), spreadsheet_unsafe("''x")
    ('=HYPERLINK(1)', "'x")
    """
    return text[1:] if text.startswith("'") else text


class OutputFormat:
    """The columns of a scoring output and how its records are written and read back.

    Parameters
    ----------
    classes : sequence
        The model's classes, in its order.
    top_k : int, default=1
        With ``top_k > 1``, the k best classes and their scores.
    probs : bool, default=False
        One score per class.
    probabilistic : bool, default=True
        Scores are probabilities (``prob_<class>`` columns) rather than
        decision values (``score_<class>``).
    safe : bool, default=False
        CSV: write every text cell (paths, class names, errors, the header) so
        that no spreadsheet reads it as a formula (:func:`spreadsheet_safe`).
    ood : bool, default=False
        An ``ood`` column: how unusual the image is (the model has a detector).
    label_sets : bool, default=False
        A ``label_set`` column: the prediction set, classes joined by ``|``
        (JSON: a list).
    unknown : bool, default=False
        An ``unknown`` column: why the label is ``unknown`` (``ood``,
        ``low_confidence``) or empty.

    Attributes
    ----------
    columns : list of str
        ``path, label, score[, topN_label, topN_score][, prob_<class>][, ood]
        [, label_set][, unknown], error``.
    options : dict
        What, besides the columns, a resumed output must have been written with.
    """

    name = ""

    def __init__(self, classes, *, top_k: int = 1, probs: bool = False,
                 probabilistic: bool = True, safe: bool = False, ood: bool = False,
                 label_sets: bool = False, unknown: bool = False):
        self.classes = [str(c) for c in classes]
        self.top_k = top_k
        self.probs = probs
        self.ood, self.label_sets, self.unknown = ood, label_sets, unknown
        self.safe = safe and self.name == "csv"  # JSON has no formulas
        self.options = {"spreadsheet_safe": True} if self.safe else {}
        self.columns = ["path", "label", "score"]
        for i in range(1, top_k + 1 if top_k > 1 else 1):
            self.columns += [f"top{i}_label", f"top{i}_score"]
        if probs:
            kind = "prob" if probabilistic else "score"
            self.columns += [f"{kind}_{c}" for c in self.classes]
        self.columns += [name for name, wanted in (("ood", ood), ("label_set", label_sets),
                                                   ("unknown", unknown)) if wanted]
        self.columns.append("error")
        self._file: TextIO | None = None

    def start(self, file: TextIO, *, header: bool) -> None:
        """Write to ``file`` from now on; ``header``: begin a new output."""
        self._file = file

    def write(self, p) -> None:
        """Append the record of one prediction (buffered by the file)."""
        raise NotImplementedError

    def records(self, f: BinaryIO) -> Iterator[tuple[int, tuple | None]]:
        """``(end offset, (path, error, score))`` of each complete record of an output, in order.

        ``score`` is the record's score column as a float (None on an error row).

        Stops at a torn last record. A header yields ``(end offset, None)``.

        Raises
        ------
        ValueError
            The output does not have these columns.
        """
        raise NotImplementedError


class CsvFormat(OutputFormat):
    """Comma-separated values with a header row (RFC 4180 quoting, ``\\n`` line ends).

    Examples
    --------
    >>> import io
    >>> from l2vision.scoring.run import Prediction
    >>> out, fmt = io.StringIO(), CsvFormat(["cat", "dog"])
    >>> fmt.start(out, header=True)
    >>> fmt.write(Prediction("a.jpg", "dog", 0.9, [("dog", 0.9)], None))
    >>> print(out.getvalue(), end="")
    path,label,score,error
    a.jpg,dog,0.9,
    """

    name = "csv"

    def start(self, file: TextIO, *, header: bool) -> None:
        super().start(file, header=header)
        self._csv = csv.writer(file, lineterminator="\n")
        # csv quotes a field with "\n" but not one with a lone "\r" (a file name can
        # hold one): rows with a "\r" are written with every field quoted.
        self._quoted = csv.writer(file, lineterminator="\n", quoting=csv.QUOTE_ALL)
        if header:
            self._row(self.columns)

    def _row(self, row: list) -> None:
        if self.safe:
            row = [spreadsheet_safe(v) if isinstance(v, str) else v for v in row]
        writer = self._quoted if any("\r" in v for v in row if isinstance(v, str)) \
            else self._csv
        writer.writerow(row)

    def write(self, p) -> None:
        ok = not p.error
        row = [p.path, p.label or "", _number(p.score) if ok else ""]
        if self.top_k > 1:
            for i in range(self.top_k):
                row += ([p.top_k[i][0], _number(p.top_k[i][1])] if ok and i < len(p.top_k)
                        else ["", ""])
        if self.probs:
            row += [_number(v) for v in p.scores] if ok else [""] * len(self.classes)
        if self.ood:
            row.append(_number(p.ood) if ok and p.ood is not None else "")
        if self.label_sets:
            row.append("|".join(p.label_set))
        if self.unknown:
            row.append(p.unknown)
        row.append(p.error)
        self._row(row)

    def records(self, f: BinaryIO) -> Iterator[tuple[int, tuple | None]]:
        offset, pending, first = 0, b"", True
        for line in f:
            if not line.endswith(b"\n"):
                return
            pending += line
            if pending.count(b'"') % 2:
                continue  # a quoted field spans lines
            record, pending = pending, b""
            offset += len(record)
            text = record.decode("utf-8", "surrogateescape")
            fields = next(csv.reader(io.StringIO(text, newline="")))
            if self.safe:
                fields = [spreadsheet_unsafe(v) for v in fields]
            if first:
                first = False
                if fields != self.columns:
                    raise ValueError("header does not match the columns")
                yield offset, None
            else:
                yield offset, (fields[0], fields[-1], float(fields[2]) if fields[2] else None)


class JsonlFormat(OutputFormat):
    """One JSON object per line: path, label, score[, top_k][, scores], error.

    Examples
    --------
    >>> import io
    >>> from l2vision.scoring.run import Prediction
    >>> out, fmt = io.StringIO(), JsonlFormat(["cat", "dog"], probs=True)
    >>> fmt.start(out, header=True)
    >>> fmt.write(Prediction("a.jpg", "dog", 0.9, [("dog", 0.9)], [0.1, 0.9]))
    >>> print(out.getvalue(), end="")
    {"path": "a.jpg", "label": "dog", "score": 0.9, "scores": {"cat": 0.1, "dog": 0.9}, "error": ""}
    """

    name = "jsonl"

    def write(self, p) -> None:
        ok = not p.error
        record = {"path": p.path, "label": p.label,
                  "score": float(_number(p.score)) if ok else None}
        if self.top_k > 1:
            record["top_k"] = [[c, float(_number(s))] for c, s in p.top_k]
        if self.probs:
            record["scores"] = ({c: float(_number(v))
                                 for c, v in zip(self.classes, p.scores, strict=True)}
                                if ok else None)
        if self.ood:
            record["ood"] = float(_number(p.ood)) if ok and p.ood is not None else None
        if self.label_sets:
            record["label_set"] = list(p.label_set) if ok else None
        if self.unknown:
            record["unknown"] = p.unknown
        record["error"] = p.error
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def records(self, f: BinaryIO) -> Iterator[tuple[int, tuple | None]]:
        offset = 0
        for line in f:
            if not line.endswith(b"\n"):
                return
            offset += len(line)
            row = json.loads(line.decode("utf-8", "surrogateescape"))
            yield offset, (row["path"], row["error"], row["score"])


#: Output formats by name.
FORMATS = {"csv": CsvFormat, "jsonl": JsonlFormat}


def format_for(name: str | None, out) -> str:
    """The format's name: ``name``, else ``"jsonl"`` for a ``.jsonl``/``.ndjson`` output, else csv.

    Examples
    --------
    >>> format_for(None, "p.ndjson"), format_for(None, None), format_for("jsonl", "p.csv")
    ('jsonl', 'csv', 'jsonl')
    """
    if name is not None:
        if name not in FORMATS:
            raise ValueError(f"The 'format' parameter must be one of {', '.join(FORMATS)}. "
                             f"Got {name!r}.")
        return name
    suffix = str(out).rsplit(".", 1)[-1].lower() if out is not None else ""
    return "jsonl" if suffix in ("jsonl", "ndjson") else "csv"
