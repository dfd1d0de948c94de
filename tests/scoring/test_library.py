"""The scoring package as a library: inputs, chunks, formats, partial outputs, score_files."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest

from l2vision.config import config_context
from l2vision.datasets import load_image_folder
from l2vision.io.files import walk_images
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import save
from l2vision.scoring import (
    FailFastError,
    ResumeError,
    iter_chunks,
    iter_paths,
    score_files,
)
from l2vision.scoring.formats import CsvFormat, JsonlFormat
from l2vision.scoring.partial import PartialOutput
from l2vision.scoring.run import Prediction
from tests.conftest import write_image


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A logistic color model whose classes need quoting and hold underscores."""
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(3)
    for channel, name in enumerate(("blue_ish", "green, light", "red")):
        for i in range(8):
            image = rng.integers(0, 90, (16, 16, 3), dtype=np.uint8)
            image[:, :, channel] += 150
            write_image(root / name / f"{i}.png", image)
    X, y = load_image_folder(root)
    return save(make_pipeline("color", "logreg", lam=1.0).fit(X, y), root / "m.joblib")


@pytest.fixture
def tree(tmp_path, rng):
    """Nested folders where files and sub-folders interleave, a link loop and hidden files."""
    root = tmp_path / "tree"
    for name in ("b.png", "a/c.png", "a.png", "a b.png", "z/y/x.png", ".hidden/d.png",
                 ".e.png"):
        write_image(root / name, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (root / "notes.txt").write_text("not an image")
    os.symlink(root, root / "z" / "loop")  # a link back up: followed once, never in a loop
    os.symlink(root / "a", root / "link_to_a")
    return root


def test_one_walk_sorted_by_path_without_loops(tree):
    found = [os.path.relpath(p, tree) for p in walk_images(tree)]
    assert found == ["a b.png", "a.png", "a/c.png", "b.png", "link_to_a/c.png", "z/y/x.png"]
    assert found == sorted(found)
    skipped = []
    list(walk_images(tree, skipped=skipped))
    assert sorted(os.path.basename(p) for p in skipped) == [".e.png", "notes.txt"]
    assert [os.path.relpath(p, tree) for p in iter_paths([str(tree)])] == found


def test_chunks_sit_at_fixed_positions():
    chunks = list(iter_chunks((f"{i}.png" for i in range(7)), 3))
    assert [(c.index, c.start, len(c)) for c in chunks] == [(0, 0, 3), (1, 3, 3), (2, 6, 1)]
    assert chunks[2].paths == ("6.png",)


def test_formats_write_the_class_names_they_were_given():
    p = Prediction("x,1.jpg", "green, light", 0.5, [("green, light", 0.5), ("red", 0.3)],
                   np.array([0.2, 0.5, 0.3]))
    classes = ["blue_ish", "green, light", "red"]
    out = io.StringIO()
    fmt = CsvFormat(classes, top_k=2, probs=True)
    fmt.start(out, header=True)
    fmt.write(p)
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == fmt.columns and header[-4:-1] == [f"prob_{c}" for c in classes]
    assert row == ["x,1.jpg", "green, light", "0.5", "green, light", "0.5", "red", "0.3",
                   "0.2", "0.5", "0.3", ""]
    out = io.StringIO()
    fmt = JsonlFormat(classes, probs=True, probabilistic=False)
    fmt.start(out, header=True)
    fmt.write(p)
    assert json.loads(out.getvalue())["scores"] == dict(zip(classes, [0.2, 0.5, 0.3],
                                                            strict=True))
    assert fmt.columns[3:6] == [f"score_{c}" for c in classes]


def test_score_files_is_quiet_and_returns_a_summary(model, tree, tmp_path, capsys):
    lines = []
    summary = score_files(model, [tree], tmp_path / "p.jsonl", top_k=2, log=lines.append)
    assert capsys.readouterr() == ("", "")  # the library never prints
    assert (summary.scored, summary.failed, summary.resumed) == (6, 0, 0) and lines == []
    records = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [os.path.relpath(r["path"], tree) for r in records][:2] == ["a b.png", "a.png"]
    assert all(len(r["top_k"]) == 2 and r["error"] == "" for r in records)


def test_fail_fast_keeps_the_rows_and_resume_finishes(model, tree, tmp_path):
    (tree / "a b.png").write_bytes(b"broken")
    lines = []
    with pytest.raises(FailFastError, match=r"a b\.png: .* \(fail_fast=True; rerun with "
                                            r"resume=True to continue\)"):
        score_files(model, [tree], tmp_path / "p.csv", fail_fast=True, log=lines.append)
    assert lines[0].startswith("failed: ") and len(lines) == 1
    partial = tmp_path / "p.csv.partial"
    assert partial.read_text().count("\n") == 2  # header + the failed row
    summary = score_files(model, [tree], tmp_path / "p.csv", resume=True, log=lines.append)
    assert (summary.resumed, summary.resumed_failed, summary.scored) == (1, 1, 5)
    assert lines[-1] == f"resuming after 1 rows already in {partial}"
    assert not partial.exists() and (tmp_path / "p.csv").read_text().count("\n") == 7


def test_resume_with_a_torn_header_writes_it_again(model, tree, tmp_path):
    out = tmp_path / "p.csv"
    fmt = CsvFormat(["x"])
    with PartialOutput(out, fmt, {"job": 1}) as output:
        assert output.done == 0
    reference = out.read_text()
    out.unlink()
    with pytest.raises(KeyboardInterrupt), PartialOutput(out, fmt, {"job": 1}):
        raise KeyboardInterrupt
    partial = tmp_path / "p.csv.partial"
    partial.write_text(reference[:5])  # a crash inside the header
    with PartialOutput(out, fmt, {"job": 1}, resume=True) as output:
        assert output.done == 0
    assert out.read_text() == reference


def test_resume_refuses_other_inputs(model, tree, tmp_path):
    (tree / "b.png").write_bytes(b"broken")
    with pytest.raises(FailFastError):
        score_files(model, [tree], tmp_path / "p.csv", fail_fast=True)
    (tree / "0.png").write_bytes((tree / "a.png").read_bytes())  # the folder changed
    with pytest.raises(ResumeError, match=r"row 1 is '.*a b\.png' but input 1 is '.*0\.png'"):
        score_files(model, [tree], tmp_path / "p.csv", resume=True)
    with pytest.raises(ResumeError, match="written by another job"):
        score_files(model, [tree], tmp_path / "p.csv", resume=True, top_k=2)
    with pytest.raises(ValueError, match="The 'resume' parameter of score_files must be False "
                                         "when out is None"):
        score_files(model, [tree], None, resume=True)
    with pytest.raises(ValueError, match="The 'top_k' parameter of score_files must be an int"):
        score_files(model, [tree], tmp_path / "q.csv", top_k=0)


def test_a_second_run_on_the_same_output_is_refused_and_a_stale_lock_taken_over(model, tree,
                                                                                tmp_path):
    import subprocess
    import sys

    from l2vision.scoring.partial import OutputLockedError

    out = tmp_path / "p.csv"
    lock = tmp_path / "p.csv.partial.lock"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(str(sleeper.pid))  # a live process holds the output
        with pytest.raises(OutputLockedError, match=f"another l2vision run \\(pid {sleeper.pid}\\)"
                                                    " is writing it"):
            score_files(model, [tree], out)
        assert not out.exists() and lock.read_text() == str(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    summary = score_files(model, [tree], out)  # its process is gone: the lock is stale
    assert summary.scored == 6 and not lock.exists()


def test_a_full_disk_keeps_the_complete_rows_and_resume_finishes_identically(
        model, tree, tmp_path, monkeypatch):
    import errno

    reference = tmp_path / "reference.csv"
    with config_context(batch_size=1):
        score_files(model, [tree], reference)
    out = tmp_path / "p.csv"

    class FullDisk(io.TextIOWrapper):
        """Accepts 300 bytes, then fails like a full disk (the last row is torn)."""

        budget = 300

        def write(self, text):
            if len(text) > FullDisk.budget:
                super().write(text[:FullDisk.budget])
                FullDisk.budget = 0
                raise OSError(errno.ENOSPC, "No space left on device")
            FullDisk.budget -= len(text)
            return super().write(text)

    def full_open(self, mode):
        raw = open(self.partial, mode + "b")
        return FullDisk(raw, encoding="utf-8", newline="", write_through=True)

    monkeypatch.setattr(PartialOutput, "_open", full_open)
    with pytest.raises(OSError, match=r"p\.csv\.partial: cannot write \(No space left on device\); "
                                      "every complete row is kept"):
        with config_context(batch_size=1):
            score_files(model, [tree], out)
    partial = tmp_path / "p.csv.partial"
    assert partial.exists() and not out.exists() and 0 < partial.stat().st_size <= 300
    monkeypatch.undo()
    with config_context(batch_size=1):
        score_files(model, [tree], out, resume=True)
    assert out.read_bytes() == reference.read_bytes()
