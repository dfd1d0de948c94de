"""``l2vision explain``: heatmap files, index.csv, and the errors of a batch."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from l2vision.cli import main
from l2vision.pipelines import make_pipeline, save
from tests.conftest import write_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def setup(tmp_path, color_folder):
    from l2vision.datasets import load_image_folder

    data = load_image_folder(color_folder)
    model = make_pipeline("tiny,color", "logreg", lam=1.0).fit(data.images, data.labels)
    model_file = save(model, tmp_path / "model.joblib")
    inputs = tmp_path / "inputs"
    rng = np.random.default_rng(0)
    for i, size in enumerate([(20, 30), (41, 17)]):
        image = rng.integers(0, 90, (*size, 3), dtype=np.uint8)
        image[:, :, i] += 150
        write_image(inputs / f"{i}.png", image)
    (inputs / "z_bad.png").write_bytes(b"not an image at all")
    return model_file, inputs


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_heatmaps_overlays_and_index(setup, tmp_path, capsys):
    model_file, inputs = setup
    out = tmp_path / "why"
    code = main(["explain", str(model_file), str(inputs), "-o", str(out), "-q"])
    assert code == 3  # one unreadable image: an error row, the others explained
    rows = _rows(out / "index.csv")
    assert list(rows[0]) == ["index", "path", "rank", "label", "score", "decision", "evidence",
                             "kind", "error"]
    assert [r["index"] for r in rows] == ["0", "1", "2"]
    assert [r["label"] for r in rows[:2]] == ["blue", "green"] and rows[2]["label"] == ""
    assert "z_bad.png" in rows[2]["error"] and rows[0]["error"] == ""
    assert sorted(p.name for p in out.iterdir()) == ["0000.npy", "0000.png", "0001.npy",
                                                     "0001.png", "index.csv"]
    for i, shape in enumerate([(20, 30), (41, 17)]):
        heat = np.load(out / f"{i:04d}.npy")
        assert heat.dtype == np.float32 and heat.shape == shape
        assert np.isclose(heat.sum(dtype=np.float64), float(rows[i]["evidence"]), rtol=1e-4)
        overlay = cv2.imread(str(out / f"{i:04d}.png"))
        assert overlay.shape == (*shape, 3)
        assert 0 < float(rows[i]["score"]) <= 1 and rows[i]["kind"] == "approximate"
    assert "explained 2 images, 1 failed" in capsys.readouterr().out


def test_top_k_and_given_classes(setup, tmp_path):
    model_file, inputs = setup
    out = tmp_path / "top"
    assert main(["explain", str(model_file), str(inputs / "0.png"), "-o", str(out), "-q",
                 "--top-k", "2"]) == 0
    rows = _rows(out / "index.csv")
    assert [(r["rank"], r["label"]) for r in rows][0] == ("1", "blue") and len(rows) == 2
    assert (out / "0000-2.npy").exists() and (out / "0000-2.png").exists()
    out = tmp_path / "given"
    assert main(["explain", str(model_file), str(inputs / "0.png"), "-o", str(out), "-q",
                 "--class", "red"]) == 0
    assert [r["label"] for r in _rows(out / "index.csv")] == ["red"]


def test_a_class_not_in_the_model_names_the_known_ones(setup, tmp_path, capsys):
    model_file, inputs = setup
    code = main(["explain", str(model_file), str(inputs / "0.png"), "-o", str(tmp_path / "x"),
                 "--class", "purple"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--class must be a class of the model (blue, green, red); got 'purple'" in err
    assert not (tmp_path / "x").exists()
    assert main(["explain", str(model_file), str(inputs / "0.png"), "-o",
                 str(tmp_path / "x"), "--top-k", "0"]) == 2
    assert "--top-k must be an int in [1, 3]" in capsys.readouterr().err


def test_existing_outputs_are_never_overwritten_without_the_flag(setup, tmp_path, capsys):
    model_file, inputs = setup
    out = tmp_path / "why"
    args = ["explain", str(model_file), str(inputs / "0.png"), "-o", str(out), "-q"]
    assert main(args) == 0
    before = (out / "0000.npy").read_bytes()
    assert main(args) == 1
    assert ("holds the files of an earlier run (0000.npy...); use --overwrite or another -o DIR"
            in capsys.readouterr().err)
    (out / "index.csv").unlink()
    assert main(args) == 1
    assert "holds the files of an earlier run (0000.npy...)" in capsys.readouterr().err
    assert (out / "0000.npy").read_bytes() == before
    assert main(args + ["--overwrite"]) == 0 and (out / "index.csv").exists()
    (tmp_path / "file").write_text("x")
    assert main(["explain", str(model_file), str(inputs / "0.png"), "-o",
                 str(tmp_path / "file")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert main(["explain", str(model_file), str(inputs / "0.png"), "-o",
                 str(tmp_path / "no" / "dir")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_a_model_saved_by_l2vision_0_1_is_explained(tmp_path):
    photo = sorted((ROOT / "data" / "clothes" / "val" / "hat").glob("*.jpg"))[0]
    out = tmp_path / "old"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["explain", str(ROOT / "tests" / "data" / "models_v0_1" /
                                    "clothes_photo_logreg.joblib"), str(photo), "-o", str(out),
                     "-q"])
    assert code == 0
    [row] = _rows(out / "index.csv")
    assert row["label"] == "hat" and row["kind"] == "exact"
    assert np.load(out / "0000.npy").shape == cv2.imread(str(photo)).shape[:2]
