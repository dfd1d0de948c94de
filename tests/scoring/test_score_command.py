"""Batch scoring: predict_paths and `l2vision score` (bad files, order, inputs, resume)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from l2vision.cli import main
from l2vision.config import config_context
from l2vision.datasets import load_image_folder
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import save
from l2vision.scoring import predict_paths
from tests.conftest import write_image


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A ridge and a logistic model (color histograms) trained on red/green/blue images."""
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(5)
    for channel, name in enumerate(("blue", "green", "red")):
        for i in range(10):
            image = rng.integers(0, 90, (16, 16, 3), dtype=np.uint8)
            image[:, :, channel] += 150
            write_image(root / name / f"{i}.png", image)
    X, y = load_image_folder(root)
    files = {}
    for model in ("ridge", "logreg"):
        pipe = make_pipeline("color", model, lam=1.0).fit(X, y)
        files[model] = save(pipe, root / f"{model}.joblib")
    return files


@pytest.fixture
def mixed(tmp_path):
    """A folder of good images and one bad file of each kind, plus the expected rows."""
    folder = tmp_path / "mixed"
    rng = np.random.default_rng(1)
    expected = {}
    for i, (channel, name) in enumerate([(2, "red"), (1, "green"), (0, "blue")] * 3):
        image = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8)
        image[:, :, channel] = 250
        write_image(folder / f"{i:02d}_{name}.jpg", image)
        expected[f"{i:02d}_{name}.jpg"] = name
    (folder / "10_empty.png").write_bytes(b"")
    (folder / "11_text.jpg").write_text("not an image")
    good = cv2.imencode(".jpg", rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))[1].tobytes()
    (folder / "12_truncated.jpg").write_bytes(good[: len(good) // 2])
    bomb = bytearray(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
    bomb[16:24] = (60_000).to_bytes(4, "big") * 2
    (folder / "13_bomb.png").write_bytes(bytes(bomb))
    (folder / "notes.txt").write_text("skipped: not an image extension")
    errors = {"10_empty.png": "file is empty", "11_text.jpg": "not an image",
              "12_truncated.jpg": "truncated JPEG", "13_bomb.png": "more than the limit"}
    return folder, expected, errors


def score(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["score", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_bad_files_become_error_rows_and_exit_3(model_file, mixed, capsys):
    folder, expected, errors = mixed
    code, out, err = score(capsys, model_file["ridge"], folder)
    rows = rows_of(out)
    assert code == 3
    assert [os.path.basename(r["path"]) for r in rows] == sorted(list(expected) + list(errors))
    for r in rows:
        name = os.path.basename(r["path"])
        if name in errors:
            assert errors[name] in r["error"] and r["label"] == "" and r["score"] == ""
        else:
            assert r["label"] == expected[name] and r["error"] == "" and float(r["score"]) > 0
    assert "scored 9, failed 4" in err and err.count("failed: ") == 4


def test_fail_fast_stops_with_exit_1(model_file, mixed, tmp_path, capsys):
    folder, _, _ = mixed
    code, _, err = score(capsys, model_file["ridge"], folder, "-o", tmp_path / "p.csv",
                         "--fail-fast")
    assert code == 1 and "10_empty.png: file is empty (0 bytes) (--fail-fast" in err
    assert (tmp_path / "p.csv.partial").exists() and not (tmp_path / "p.csv").exists()


def test_parallel_output_is_identical_and_ordered(model_file, mixed, tmp_path, capsys):
    folder, _, _ = mixed
    for jobs, name in (("1", "a.csv"), ("2", "b.csv")):
        score(capsys, model_file["logreg"], folder, "-o", tmp_path / name, "-j", jobs,
              "--batch-size", "2", "--probs", "--top-k", "2")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    header = (tmp_path / "a.csv").read_text().splitlines()[0].split(",")
    assert header == ["path", "label", "score", "top1_label", "top1_score", "top2_label",
                      "top2_score", "prob_blue", "prob_green", "prob_red", "error"]
    row = rows_of((tmp_path / "a.csv").read_text())[0]
    assert row["top1_label"] == row["label"]
    assert float(row["top1_score"]) >= float(row["top2_score"])
    total = sum(float(row[f"prob_{c}"]) for c in ("blue", "green", "red"))
    assert total == pytest.approx(1, abs=1e-4)


def test_stdin_manifest_glob_and_jsonl(model_file, mixed, tmp_path, capsys, monkeypatch):
    folder, expected, _ = mixed
    names = sorted(expected)[:3]
    code, out, _ = score(capsys, model_file["ridge"], "-", stdin="".join(
        f"{folder / n}\n" for n in names), monkeypatch=monkeypatch)
    assert code == 0 and [r["label"] for r in rows_of(out)] == [expected[n] for n in names]
    manifest = tmp_path / "todo.csv"
    manifest.write_text("path,other\n" + "".join(f"mixed/{n},x\n" for n in names))
    code, out, _ = score(capsys, model_file["ridge"], "--manifest", manifest)
    assert code == 0 and [r["path"] for r in rows_of(out)] == [str(folder / n) for n in names]
    code, _, _ = score(capsys, model_file["ridge"], str(folder / "0*_red.jpg"), "-o",
                       tmp_path / "p.jsonl", "--top-k", "3")
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert code == 0 and len(records) == 3 and {r["label"] for r in records} == {"red"}
    assert len(records[0]["top_k"]) == 3 and records[0]["error"] == ""


def test_manifest_paths_and_a_single_pass_without_a_progress_bar(model_file, mixed, tmp_path,
                                                                 capsys, monkeypatch):
    folder, expected, _ = mixed
    names = sorted(expected)[:2]
    manifest = tmp_path / "todo.csv"
    # A relative path, a blank value (skipped), an absolute path, a short row (skipped).
    manifest.write_text(f"other,path\nx,mixed/{names[0]}\ny,  \nz,{folder / names[1]}\nw\n")

    from l2vision.scoring import inputs

    walks, real = [], inputs.iter_manifest
    monkeypatch.setattr(inputs, "iter_manifest", lambda *a, **k: walks.append(1) or real(*a, **k))
    code, out, _ = score(capsys, model_file["ridge"], "--manifest", manifest)
    assert walks == [1]  # the inputs are read once, counted as they stream
    rows = rows_of(out)
    assert code == 0 and [r["path"] for r in rows] == [str(folder / n) for n in names]
    assert [r["label"] for r in rows] == [expected[n] for n in names]


def test_outputs_are_never_overwritten(model_file, mixed, tmp_path, capsys):
    folder, _, _ = mixed
    out = tmp_path / "p.csv"
    out.write_text("precious")
    code, _, err = score(capsys, model_file["ridge"], folder, "-o", out)
    assert code == 1 and "p.csv: file exists; use --overwrite" in err
    assert out.read_text() == "precious"
    assert score(capsys, model_file["ridge"], folder, "-o", out, "--overwrite", "-q")[0] == 3
    assert out.read_text().startswith("path,label,score,error")
    (tmp_path / "q.csv.partial").write_text("path,label,score,error\n")
    code, _, err = score(capsys, model_file["ridge"], folder, "-o", tmp_path / "q.csv")
    assert code == 1 and "use --resume to continue it or --overwrite" in err


def test_clear_errors(model_file, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cases = [
        ((model_file["ridge"], tmp_path / "nothing*.jpg"),
         "no such file, folder, or matching image"),
        ((model_file["ridge"], tmp_path / "empty"), "folder holds no image files"),
        ((tmp_path / "x.joblib", tmp_path), "model file not found"),
    ]
    (tmp_path / "bad.joblib").write_text("x")
    cases.append(((tmp_path / "bad.joblib", tmp_path), "not an l2vision model file"))
    for argv, message in cases:
        code, _, err = score(capsys, *argv)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert score(capsys, model_file["ridge"])[0] == 2


def test_resume_refuses_another_job(model_file, mixed, tmp_path, capsys):
    folder, _, _ = mixed
    out = tmp_path / "p.csv"
    score(capsys, model_file["ridge"], folder, "-o", out, "--fail-fast")
    code, _, err = score(capsys, model_file["logreg"], folder, "-o", out, "--resume")
    assert code == 1 and "written by another job (differs in: model_sha256)" in err


def test_predict_paths_streams_lazily(model_file, mixed):
    folder, expected, _ = mixed
    first = sorted(expected)[0]

    def endless():
        while True:
            yield folder / first

    with config_context(batch_size=2):
        results = predict_paths(model_file["ridge"], endless())
    got = [next(results) for _ in range(40)]
    assert {p.label for p in got} == {expected[first]} and got[0].path == str(folder / first)


def _count_rows(path):
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_killed_runs_resume_to_the_same_file(model_file, tmp_path):
    """SIGKILL at several points, resume each time: the final file equals an uninterrupted run."""
    folder = tmp_path / "many"
    rng = np.random.default_rng(2)
    for i in range(1200):
        write_image(folder / f"{i:04d}.png", rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    (folder / "0500.png").write_bytes(b"broken")
    command = [sys.executable, "-m", "l2vision", "score", str(model_file["logreg"]), str(folder),
               "--batch-size", "8", "--probs", "-q"]
    reference = tmp_path / "reference.csv"
    assert subprocess.run(command + ["-o", str(reference)], timeout=300).returncode == 3

    out = tmp_path / "resumed.csv"
    partial = tmp_path / "resumed.csv.partial"
    killed_at = []
    for target_rows in (0, 150, 501, 900):  # 0: killed before the first row
        proc = subprocess.Popen(command + ["-o", str(out), "--resume"])
        deadline = time.monotonic() + 120
        while _count_rows(partial) <= target_rows and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at.append(_count_rows(partial))
    assert not out.exists()
    assert len(set(killed_at)) >= 3, killed_at  # really interrupted at different points
    assert subprocess.run(command + ["-o", str(out), "--resume"], timeout=300).returncode == 3
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists() and not (tmp_path / "resumed.csv.partial.json").exists()
