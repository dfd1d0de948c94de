"""The docs' code examples, run so that they cannot rot.

- Python: every ``>>>`` example of every page under ``docs/`` runs as a doctest, in a
  copy of the sample workspace (below); the globals hold ``tmp_path``, a fresh folder.
  A ```` ```python ```` block without ``>>>`` needs ``<!-- test: skip REASON -->``.
- Shell: every ```` ```console ```` block carries a marker on the line before it:
  ``<!-- test: shell -->`` runs its ``$`` commands in a copy of the tiny sample workspace
  (``conftest.py``: ``photos/``, ``test_photos/``, ``new/``, ``model.joblib``);
  ``<!-- test: shell clothes -->`` runs them beside the repository's ``data/``;
  ``<!-- test: skip REASON -->`` skips the block and says why. Each command must exit 0;
  the printed output on the page is not compared (it holds timings).
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from l2vision.cli import main

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_" not in p.parts[-2][:1])

_BLOCK = re.compile(r"(?:<!-- test: ([^>]*?) -->\n)?```console\n(.*?)```", re.DOTALL)
_SHELL_SYNTAX = re.compile(r"[|<>;&`$]")


def _name(page: Path) -> str:
    return str(page.relative_to(DOCS))


def shell_blocks(page: Path) -> list[tuple[str, list[str]]]:
    """``(marker, commands)`` for each console block of a page."""
    blocks = []
    for marker, body in _BLOCK.findall(page.read_text(encoding="utf-8")):
        commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
        blocks.append((marker, commands))
    return blocks


def python_text(page: Path) -> str:
    """The page with everything outside its ```python blocks blanked (line numbers kept)."""
    lines, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```python" if not inside else False
            lines.append("")
        else:
            lines.append(line if inside else "")
    return "\n".join(lines) + "\n"


def run_command(command: str, cwd: Path) -> None:
    """One ``$`` line: ``l2vision ...`` in this process, anything else through bash."""
    words = shlex.split(command)
    if words[0] == "l2vision" and not _SHELL_SYNTAX.search(command):
        code = main(words[1:])
        assert code == 0, f"{command!r} exited with {code}"
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{command!r} exited with {done.returncode}: {done.stderr}"


PYTHON_PAGES = [p for p in PAGES if ">>> " in python_text(p)]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_examples(page, workspace, tmp_path):
    test = doctest.DocTestParser().get_doctest(python_text(page), {"tmp_path": tmp_path},
                                               _name(page), str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} doctest failure(s) in {_name(page)}"


SHELL_PAGES = [p for p in PAGES if shell_blocks(p)]


@pytest.mark.parametrize("page", SHELL_PAGES, ids=_name)
def test_shell_examples(page, request, tmp_path, monkeypatch, capsys):
    blocks = shell_blocks(page)
    unmarked = [cmds[0] for marker, cmds in blocks if not marker]
    assert not unmarked, f"mark these console blocks with <!-- test: ... -->: {unmarked}"
    runnable = [(marker.split(), cmds) for marker, cmds in blocks if marker.startswith("shell")]
    if not runnable:
        pytest.skip("; ".join(m for m, _ in blocks))
    if any(words[1:] == ["clothes"] for words, _ in runnable):
        cwd = tmp_path / "clothes"
        cwd.mkdir()
        (cwd / "data").symlink_to(REPO / "data")
        monkeypatch.chdir(cwd)
    else:
        cwd = request.getfixturevalue("workspace")
    for _, commands in runnable:
        for command in commands:
            run_command(command, cwd)


_PYTHON_BLOCK = re.compile(r"(?:<!-- test: ([^>]*?) -->\n)?```python\n(.*?)```", re.DOTALL)


def test_every_python_block_runs_or_says_why_not():
    """A ```python block is a doctest (``>>>``), or its marker gives the reason it cannot run."""
    for page in PAGES:
        for marker, body in _PYTHON_BLOCK.findall(page.read_text(encoding="utf-8")):
            assert ">>> " in body or marker.startswith("skip "), f"{_name(page)}: {body[:60]!r}"


def test_every_console_block_is_marked():
    """A block without a marker would silently never run."""
    for page in PAGES:
        for marker, commands in shell_blocks(page):
            assert marker.startswith(("shell", "skip ")), f"{_name(page)}: {commands[:1]}"
            assert marker.split()[1:] in ([], ["clothes"]) or marker.startswith("skip ")
