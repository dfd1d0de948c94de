"""`l2vision audit` on a made-up folder with one planted fault of each kind, and train --exclude."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from l2vision.cli import main
from l2vision.pipelines.persist import read_metadata
from l2vision.workflows.audit import AUDIT_ISSUES, audit
from tests.conftest import write_image

COLORS = {"blue": 0, "green": 1, "red": 2}


def _image(rng, channel: int, size=(96, 96)) -> np.ndarray:
    """A textured image dominated by one BGR channel."""
    image = rng.integers(0, 90, (*size[::-1], 3), dtype=np.uint8)
    image[:, :, channel] += 140
    for _ in range(3):  # sharp edges, as in a photo
        x, y = rng.integers(0, size[0] - 12), rng.integers(0, size[1] - 12)
        image[y:y + rng.integers(6, 30), x:x + rng.integers(6, 30)] //= 2
    return image


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Three color classes of 14 images, with one fault of each kind planted, and a test set."""
    root = tmp_path_factory.mktemp("audit")
    data, test = root / "train", root / "test"
    rng = np.random.default_rng(3)
    for name, channel in COLORS.items():
        for i in range(24):
            write_image(data / name / f"{i:02d}.png", _image(rng, channel))
        for i in range(4):
            write_image(test / name / f"t{i}.png", _image(rng, channel))
    shutil.copy(data / "red" / "00.png", data / "red" / "copy_of_00.png")      # exact
    near = cv2.imread(str(data / "green" / "01.png"))
    near = cv2.resize(cv2.resize(near, (90, 90)), (96, 96))
    cv2.imwrite(str(data / "green" / "resized_01.jpg"), near, [cv2.IMWRITE_JPEG_QUALITY, 90])
    write_image(data / "blue" / "mislabeled.png", _image(rng, COLORS["red"]))  # a red in blue
    write_image(data / "green" / "dark.png", (_image(rng, 1) * 0.06).astype(np.uint8))
    write_image(data / "red" / "blurry.png", cv2.GaussianBlur(_image(rng, 2), (15, 15), 6))
    write_image(data / "green" / "wide.png", _image(rng, 1, size=(480, 60)))
    (data / "blue" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    light = np.clip(_image(rng, 0).astype(int) * 0.1 + 235, 0, 255).astype(np.uint8)
    write_image(data / "blue" / "light.png", light)
    write_image(data / "red" / "gray.png", cv2.cvtColor(_image(rng, 2), cv2.COLOR_BGR2GRAY))
    board = (np.indices((96, 96)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
    write_image(data / "green" / "checkerboard.png", np.dstack([board] * 3))  # unlike any
    shutil.copy(data / "blue" / "03.png", test / "blue" / "leaked_03.png")     # a leak
    return data, test


@pytest.fixture(scope="module")
def found(planted):
    data, test = planted
    result = audit(data, test_data=test, features="color,hog", model="logreg", cv=3)
    return result, {(Path(r["path"]).name, r["issue"]): r for r in result.rows}


def test_each_planted_fault_is_found(found):
    result, rows = found
    assert rows[("copy_of_00.png", "exact_duplicate")]["related_path"].endswith("red/00.png")
    assert rows[("resized_01.jpg", "near_duplicate")]["related_path"].endswith("green/01.png")
    label = rows[("mislabeled.png", "label")]
    assert label["suggested_label"] == "red" and label["score"] > 0.5
    assert ("dark.png", "dark") in rows
    assert ("blurry.png", "blurry") in rows
    assert ("wide.png", "odd_size") in rows
    assert ("light.png", "light") in rows
    assert ("gray.png", "grayscale") in rows
    assert ("checkerboard.png", "outlier") in rows
    assert rows[("broken.png", "unreadable")]["detail"]
    leak = rows[("leaked_03.png", "leak")]
    assert leak["related_path"].endswith("blue/03.png") and leak["score"] == 1.0


def test_rows_are_sorted_scored_and_few_false_alarms(found):
    result, rows = found
    order = [AUDIT_ISSUES.index(r["issue"]) for r in result.rows]
    assert order == sorted(order)
    for issue in set(r["issue"] for r in result.rows):
        scores = [r["score"] for r in result.rows if r["issue"] == issue]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    planted = {"copy_of_00.png", "resized_01.jpg", "mislabeled.png", "dark.png", "blurry.png",
               "wide.png", "broken.png", "leaked_03.png", "00.png", "01.png", "03.png",
               "light.png", "gray.png", "checkerboard.png"}
    others = {Path(r["path"]).name for r in result.rows} - planted
    flagged = [(Path(r["path"]).name, r["issue"]) for r in result.rows
               if Path(r["path"]).name in others]
    assert len(others) <= 4, flagged  # of 92 ordinary images
    assert result.summary["class_balance"] == {"blue": 27, "green": 28, "red": 27}


def test_the_command_writes_csv_json_report_and_train_excludes(planted, tmp_path, capsys):
    data, test = planted
    out = tmp_path / "audit"
    argv = ["audit", str(data), "--test", str(test), "--features", "color,hog", "--cv", "3",
            "-o", str(out), "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "exact_duplicate: 1" in printed and "leak:" in printed
    with open(out / "audit.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["path", "issue", "score", "related_path", "suggested_label",
                              "detail"]
    summary = json.loads((out / "audit.json").read_text())
    assert summary["counts"]["unreadable"] == 1 and "near_duplicate_similarity" in \
        summary["thresholds"]
    page = (out / "report.html").read_text()
    assert "data:image/jpeg;base64," in page and "exact_duplicate (1)" in page
    before = (out / "audit.csv").read_bytes()
    assert main(argv) == 1  # an existing audit is not overwritten
    assert "audit.csv: file exists" in capsys.readouterr().err
    assert (out / "audit.csv").read_bytes() == before

    model = tmp_path / "m.joblib"
    assert main(["train", str(data), "--features", "color", "--cv", "3", "--test-size", "0.25",
                 "--exclude", str(out / "audit.csv"), "-o", str(model), "-q"]) == 0
    printed = capsys.readouterr().out
    excluded = read_metadata(model)["excluded"]
    names = {Path(e["path"]).name for e in excluded}
    assert {"copy_of_00.png", "resized_01.jpg", "mislabeled.png", "broken.png"} <= names
    assert "wide.png" not in names  # quality flags are left out only when named
    assert f"left out {len(excluded)} images flagged in" in printed
    assert "mislabeled.png" in (tmp_path / "m_report" / "report.html").read_text()


@pytest.mark.parametrize("make,message", [
    (lambda root: root / "nope", "nope"),
    (lambda root: _folder(root, ("blue",)), "only one class ('blue')"),
    (lambda root: (root / "empty").mkdir() or root / "empty", "empty"),
])
def test_bad_data_is_one_clear_line(make, message, tmp_path, capsys):
    data = make(tmp_path)
    assert main(["audit", str(data), "--features", "color", "-o", str(tmp_path / "a"),
                 "-q"]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a" / "audit.csv").exists()


def test_a_test_set_with_other_classes_is_refused(planted, tmp_path, capsys):
    data, _ = planted
    other = _folder(tmp_path, ("ants", "blue"))
    assert main(["audit", str(data), "--test", str(other), "--features", "color",
                 "-o", str(tmp_path / "a"), "-q"]) == 1
    assert "classes ['ants'] are not classes of" in capsys.readouterr().err


def _folder(root: Path, classes) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        for i in range(6):
            write_image(root / "set" / name / f"{i}.png", _image(rng, i % 3))
    return root / "set"
