"""Write the benchmarks page and the README's headline figures from benchmarks/results/*.json.

Run: ``python benchmarks/render.py`` writes ``docs/benchmarks.md`` and the text
between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in README.md
(nothing else in the README). ``--check`` writes nothing and exits 1, with a
diff naming the file, when either differs from what it would write (CI runs
it). A README without the markers is left alone, with a message. A result
whose measured files changed since it ran is marked on the page (see
``_freshness.py``); what each benchmark measures and which figures are key is
in ``_keyfigures.py``.

Exit codes: 0 the files match (or were written), 1 ``--check`` found a
difference, 2 a results file or the README's markers could not be read.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT  # noqa: E402
from _freshness import freshness  # noqa: E402
from _page import page, readme_block  # noqa: E402

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


class RenderError(Exception):
    """A results file or the README cannot be used; the message says which and why."""


def load_results(folder: Path) -> dict:
    """``{name: record}`` of every ``*.json`` in ``folder``."""
    records = {}
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RenderError(f"{path}: not a readable JSON results file ({exc})") from exc
        if not isinstance(record, dict):
            raise RenderError(f"{path}: expected a JSON object, got {type(record).__name__}")
        records[path.stem] = record
    return records


def script_summary(record: dict, root: Path) -> str:
    """First line of the docstring of the script in the record's command, or ""."""
    words = str(record.get("command", "")).split()
    script = next((w for w in words if w.endswith(".py")), None)
    try:
        doc = ast.get_docstring(ast.parse((root / script).read_text())) if script else None
    except (OSError, SyntaxError, ValueError):
        doc = None
    return doc.splitlines()[0] if doc else ""


def with_block(readme: str, block: str, path: Path) -> str | None:
    """``readme`` with ``block`` between the markers; None when it has neither marker."""
    begin, end = readme.find(BEGIN), readme.find(END)
    if begin < 0 and end < 0:
        return None
    if begin < 0 or end < 0 or end < begin or readme.count(BEGIN) > 1 or readme.count(END) > 1:
        raise RenderError(f"{path}: needs exactly one {BEGIN} followed by one {END}")
    return readme[:begin + len(BEGIN)] + "\n" + block + readme[end:]


def outputs(results: Path, root: Path, page_path: Path, readme: Path) -> dict:
    """``{path: text it should hold}``; prints why the README is left out if it is."""
    records = load_results(results)
    fresh = {name: freshness(record, root) for name, record in records.items()}
    docstrings = {name: script_summary(record, root) for name, record in records.items()}
    wanted = {page_path: page(records, fresh, docstrings)}
    text = readme.read_text() if readme.exists() else None
    new = with_block(text, readme_block(records, fresh), readme) if text is not None else None
    if new is None:
        print(f"{readme}: no {BEGIN} / {END} markers; rendered {page_path} only",
              file=sys.stderr)
    else:
        wanted[readme] = new
    return wanted


def differences(wanted: dict) -> list[str]:
    """A unified diff (at most 40 lines) for each file that differs from what it should hold."""
    out = []
    for path, text in wanted.items():
        current = path.read_text() if path.exists() else ""
        if current != text:
            diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(),
                                             f"{path} (now)", f"{path} (rendered)", lineterm=""))
            out += [f"{path} differs from what the results say:", *diff[:40]]
            out += [f"... {len(diff) - 40} more lines"] if len(diff) > 40 else []
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a page differs from the results")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the repository whose files the results measure")
    args = parser.parse_args(argv)
    try:
        wanted = outputs(args.results, args.root, args.page, args.readme)
    except RenderError as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    if args.check:
        diff = differences(wanted)
        print("\n".join(diff) + "\nRun `python benchmarks/render.py` to regenerate."
              if diff else "render.py --check: pages match the results", file=sys.stderr)
        return 1 if diff else 0
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
