"""Files planted beside an output are never written through, waited on, or read forever.

Each test mounts one attack of the hardening review against ``l2vision
score`` (and the report and cache writers): a link at ``OUT.partial.json``,
a dangling ``OUT.partial`` link, an ``OUT.partial`` link with
``--overwrite``, a FIFO or ``/dev/zero`` as the lock, a link as the output.
The victim file keeps its content, the run refuses or completes, and nothing
blocks.
"""

from __future__ import annotations

import csv
import io
import os
import time

import cv2
import numpy as np
import pytest

from l2vision.cli import main
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import save

BLUE, RED = np.full((8, 8, 3), (255, 0, 0), np.uint8), np.full((8, 8, 3), (0, 0, 255), np.uint8)


@pytest.fixture
def job(tmp_path):
    model = make_pipeline("color", "ridge", lam=1.0).fit([BLUE, RED, RED // 2], ["a", "b", "b"])
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate([BLUE, RED, RED // 2]):
        cv2.imwrite(str(folder / f"{i}.png"), image)
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's data")
    return save(model, tmp_path / "m.joblib"), folder, victim, tmp_path / "out.csv"


def score(*args) -> int:
    return main(["score", *map(str, args), "-q"])


def test_a_link_planted_at_the_sidecar_is_not_written_through(job):
    model, folder, victim, out = job
    os.symlink(victim, out.with_name("out.csv.partial.json"))
    assert score(model, folder, "-o", out) == 0
    assert victim.read_text() == "the victim's data"
    assert out.read_text().startswith("path,label,score,error")


def test_a_dangling_partial_link_creates_nothing_where_it_points(job, tmp_path, capsys):
    model, folder, _, out = job
    target = tmp_path / "elsewhere" / "created.txt"
    target.parent.mkdir()
    os.symlink(target, out.with_name("out.csv.partial"))
    assert score(model, folder, "-o", out) == 1
    assert "an interrupted run left this partial output" in capsys.readouterr().err
    assert score(model, folder, "-o", out, "--resume") == 1  # not a file l2vision wrote
    assert score(model, folder, "-o", out, "--overwrite") == 0
    assert not target.exists() and out.exists()


def test_overwrite_with_a_partial_link_does_not_truncate_its_target(job):
    model, folder, victim, out = job
    os.symlink(victim, out.with_name("out.csv.partial"))
    assert score(model, folder, "-o", out, "--overwrite") == 0
    assert victim.read_text() == "the victim's data"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_lock_that_is_a_pipe_or_a_device_is_refused_at_once(job, capsys, kind):
    model, folder, _, out = job
    lock = out.with_name("out.csv.partial.lock")
    if kind == "fifo":
        os.mkfifo(lock)
    else:
        os.symlink("/dev/zero", lock)
    start = time.perf_counter()
    assert score(model, folder, "-o", out) == 1
    assert time.perf_counter() - start < 20
    assert "not a regular file" in capsys.readouterr().err


def test_resume_refuses_a_partial_output_that_is_a_link(job, capsys):
    model, folder, victim, out = job
    os.symlink(victim, out.with_name("out.csv.partial"))
    out.with_name("out.csv.partial.json").write_text("{}")
    assert score(model, folder, "-o", out, "--resume") == 1
    assert victim.read_text() == "the victim's data"


def test_an_output_that_is_a_link_is_replaced_not_written_through(job):
    model, folder, victim, out = job
    os.symlink(victim, out)
    assert score(model, folder, "-o", out) == 1  # it exists (through the link): refused
    assert score(model, folder, "-o", out, "--overwrite") == 0
    assert victim.read_text() == "the victim's data" and not out.is_symlink()


def test_report_files_planted_as_links_are_replaced_not_written_through(tmp_path, make_folder):
    data = make_folder({"a": 8, "b": 8}, root=tmp_path / "data")
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's data")
    report = tmp_path / "model_report"
    report.mkdir()
    for name in ("metrics.json", "report.html", "confusion_matrix.png", "lambda_curve.png"):
        os.symlink(victim, report / name)
    assert main(["train", str(data), "-f", "color", "-m", "ridge", "--cv", "2", "-q",
                 "--lambdas", "1,10", "-o", str(tmp_path / "model.joblib"), "--overwrite"]) == 0
    assert victim.read_text() == "the victim's data"
    assert not (report / "metrics.json").is_symlink()


def test_a_cache_entry_planted_as_a_link_to_a_device_is_recomputed(tmp_path):
    from l2vision.config import config_context
    from l2vision.features import HOG, ImageFeatures
    from l2vision.features.cache import FeatureCacheWarning

    images = [BLUE, RED]
    cache = tmp_path / "cache"
    with config_context(cache_dir=cache):
        first = ImageFeatures([HOG()]).transform(images)
        entry = next(cache.glob("*.npy"))
        entry.unlink()
        os.symlink("/dev/zero", entry)
        start = time.perf_counter()
        with pytest.warns(FeatureCacheWarning, match="corrupt feature cache entry"):
            again = ImageFeatures([HOG()]).transform(images)
    assert time.perf_counter() - start < 20
    np.testing.assert_array_equal(again, first)


def test_file_names_that_are_not_utf8_or_hold_a_carriage_return_round_trip(job, tmp_path):
    model, folder, _, out = job
    raw = os.fsencode(folder) + b"/caf\xe9.png"
    with open(raw, "wb") as f:
        f.write(cv2.imencode(".png", RED)[1].tobytes())
    cv2.imwrite(str(folder / "a\rother.png"), BLUE)
    (folder / "b_broken.png").write_bytes(b"\x89PNG not really")
    assert score(model, folder, "-o", out) == 3
    data = out.read_bytes()
    assert b"caf\xe9.png" in data  # the name's own bytes, written back losslessly
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline="")))
    assert [r[0].rsplit("/", 1)[-1] for r in rows[1:]] == \
        ["0.png", "1.png", "2.png", "a\rother.png", "b_broken.png", "caf\udce9.png"]
    assert rows[4][1] == "a" and rows[6][1] == "b"
    # Stopped after the broken file, then resumed over both names: the same file.
    again = tmp_path / "again.csv"
    assert score(model, folder, "-o", again, "--fail-fast") == 1
    assert again.with_name("again.csv.partial").exists()
    assert score(model, folder, "-o", again, "--resume") == 3
    assert again.read_bytes() == data


def test_spreadsheet_safe_output_defuses_formulas_and_resumes(tmp_path):
    from l2vision.scoring.formats import CsvFormat
    from l2vision.scoring.predict import Prediction

    fmt = CsvFormat(["=cmd|' /C calc'!A0", "cat"], probs=True, safe=True)
    buffer = io.StringIO()
    fmt.start(buffer, header=True)
    fmt.write(Prediction("@evil.png", "=cmd|' /C calc'!A0", 0.9,
                         [("=cmd|' /C calc'!A0", 0.9)], [0.9, 0.1]))
    text = buffer.getvalue()
    for row in csv.reader(io.StringIO(text)):
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    records = list(fmt.records(io.BytesIO(text.encode())))
    assert records[1][1] == ("@evil.png", "", 0.9)
