"""The files of an audit: ``audit.csv``, ``audit.json`` and a self-contained ``report.html``.

The report shows the counts per issue, the class balance and a gallery per
issue: pairs side by side for duplicates and leaks, the given and suggested
label for ``label``; at most :data:`PER_ISSUE` findings each, the highest
scores first.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path

from l2vision.io.writing import write_file
from l2vision.report.gallery import MAX_GALLERY_BYTES, thumbnail

__all__ = ["COLUMNS", "PER_ISSUE", "audit_csv", "write_audit"]

#: The columns of audit.csv.
COLUMNS = ("path", "issue", "score", "related_path", "suggested_label", "detail")
#: Findings shown per issue in the report.
PER_ISSUE = 12
_PAIRED = ("exact_duplicate", "near_duplicate", "leak")


def audit_csv(rows: list[dict]) -> str:
    """The CSV text of the findings (scores with 4 decimals).

    Examples
    --------
    >>> print(audit_csv([{"path": "a.jpg", "issue": "dark", "score": 0.91234,
    ...                   "related_path": "", "suggested_label": "", "detail": ""}]), end="")
    path,issue,score,related_path,suggested_label,detail
    a.jpg,dark,0.9123,,,
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([f"{row[c]:.4f}" if c == "score" else row[c] for c in COLUMNS])
    return out.getvalue()


def write_audit(directory: str | os.PathLike, result, *, overwrite: bool = False) -> Path:
    """Write ``audit.csv``, ``audit.json`` and ``report.html`` of an :class:`AuditResult`.

    Returns the report's path. Files already there are refused unless ``overwrite``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_file(directory / "audit.csv", audit_csv(result.rows), overwrite=overwrite)
    write_file(directory / "audit.json", json.dumps(result.summary, indent=2),
               overwrite=overwrite)
    report = directory / "report.html"
    write_file(report, _page(result), overwrite=overwrite)
    return report


def _figure(image, caption: str, budget: list) -> str:
    data = thumbnail(image) if image is not None else None
    if data is None or len(data) > budget[0]:
        return f"<figure><figcaption>{caption}</figcaption></figure>"
    budget[0] -= len(data)
    return (f'<figure><img alt="" src="data:image/jpeg;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _gallery(issue: str, rows: list[dict], images: dict, budget: list) -> str:
    cells = []
    for row in rows[:PER_ISSUE]:
        name = html.escape(Path(row["path"]).name)
        caption = f"{name}<br>{row['score']:.2f}"
        if issue == "label":
            caption += f"<br>suggested: {html.escape(row['suggested_label'])}<br>" \
                       f"{html.escape(row['detail'])}"
        elif issue not in _PAIRED:
            caption += f"<br>{html.escape(row['detail'])}"
        image = None if issue == "unreadable" else images.get(row["path"])
        cell = _figure(image, caption, budget)
        if issue in _PAIRED:
            other = html.escape(Path(row["related_path"]).name)
            cell = f'<div class="pair">{cell}' + _figure(
                images.get(row["related_path"]), f"{other}<br>{html.escape(row['detail'])}",
                budget) + "</div>"
        cells.append(cell)
    more = f"<p>... and {len(rows) - PER_ISSUE} more in audit.csv</p>" \
        if len(rows) > PER_ISSUE else ""
    return f'<h2>{html.escape(issue)} ({len(rows)})</h2><div class="gallery">' \
           f'{"".join(cells)}</div>{more}'


def _page(result) -> str:
    summary = result.summary
    counts = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>"
                     for k, v in summary["counts"].items()) or \
        "<tr><td>no findings</td></tr>"
    balance = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{v}</td></tr>"
                      for k, v in summary["class_balance"].items())
    by_issue: dict[str, list] = {}
    for row in result.rows:
        by_issue.setdefault(row["issue"], []).append(row)
    budget = [MAX_GALLERY_BYTES]
    galleries = "".join(_gallery(issue, rows, result.images, budget)
                        for issue, rows in by_issue.items())
    title = f"l2vision audit: {summary['data']}"
    test = f", test set {summary['test_data']} ({summary['n_test_images']} images)" \
        if summary.get("test_data") else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:64em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;
text-align:left}}.gallery{{display:flex;flex-wrap:wrap;gap:.6em}}
figure{{margin:0;width:140px;font-size:.8em}}figure img{{display:block;margin:auto}}
.pair{{display:flex;gap:.2em;border:1px solid #ddd;padding:.2em}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{summary['n_images']} images{html.escape(test)};
features {html.escape(str(summary['features']))},
model {html.escape(str(summary['model']))}. Every finding is in audit.csv; the
thresholds used are in audit.json.</p>
<h2>Findings per issue</h2><table>{counts}</table>
<h2>Class balance</h2><table>{balance}</table>
{galleries}
</body></html>
"""
