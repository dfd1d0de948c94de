"""``l2vision score --explain DIR [--explain-top N]``: heatmaps of the scored images."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from l2vision.cli import main
from l2vision.datasets import load_image_folder
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import save
from l2vision.scoring.selection import ExplainSelection
from tests.conftest import write_image


@pytest.fixture
def model_file(color_folder, tmp_path):
    """A logistic model on tiny images and color histograms of red/green/blue images."""
    data = load_image_folder(color_folder)
    model = make_pipeline("tiny,color", "logreg", lam=1.0).fit(data.images, data.labels)
    return save(model, tmp_path / "model.joblib")


@pytest.fixture
def inbox(tmp_path):
    """Images of mixed sizes, some clearly one color and some muddled, and one broken file."""
    rng = np.random.default_rng(9)
    folder = tmp_path / "inbox"
    for i in range(9):
        image = rng.integers(0, 120, (12 + 3 * i, 30 - 2 * i, 3), dtype=np.uint8)
        image[:, :, i % 3] += 20 * i  # from muddled (i = 0) to one clear color
        write_image(folder / f"{i:02d}.png", image)
    (folder / "05_broken.png").write_bytes(b"not an image")
    return folder


def _csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_explain_top_n_explains_the_least_confident_rows(model_file, inbox, tmp_path, capsys):
    out, why = tmp_path / "p.csv", tmp_path / "why"
    assert main(["score", str(model_file), str(inbox), "-o", str(out), "--explain", str(why),
                 "--explain-top", "3"]) == 3  # the broken file: an error row, exit 3
    predictions = _csv(out)
    scored = [(float(r["score"]), i) for i, r in enumerate(predictions) if not r["error"]]
    lowest = sorted(i for _, i in sorted(scored)[:3])
    index = _csv(why / "index.csv")
    assert [int(r["index"]) for r in index] == lowest
    for r in index:
        row = predictions[int(r["index"])]
        assert r["path"] == row["path"] and r["label"] == row["label"]
        assert float(r["score"]) == pytest.approx(float(row["score"]), rel=1e-5)
        heatmap = np.load(why / f"{int(r['index']):04d}.npy")
        assert heatmap.shape == cv2.imread(row["path"]).shape[:2]
        assert np.isclose(heatmap.sum(dtype=np.float64), float(r["evidence"]), rtol=1e-4)
        assert (why / f"{int(r['index']):04d}.png").is_file()
    assert len(list(why.iterdir())) == 2 * 3 + 1
    assert "explained 3 images" in capsys.readouterr().err


def test_explain_every_scored_image_to_stdout_run(model_file, inbox, tmp_path, capsys):
    why = tmp_path / "why"
    assert main(["score", str(model_file), str(inbox), "--explain", str(why), "-q"]) == 3
    predictions = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    index = _csv(why / "index.csv")
    assert [r["path"] for r in index] == [r["path"] for r in predictions if not r["error"]]
    assert [r["label"] for r in index] == [r["label"] for r in predictions if not r["error"]]
    assert [int(r["index"]) for r in index] == [i for i, r in enumerate(predictions)
                                                if not r["error"]]


def test_a_folder_of_an_earlier_run_is_refused_before_scoring(model_file, inbox, tmp_path,
                                                              capsys):
    why = tmp_path / "why"
    why.mkdir()
    (why / "0000.png").write_bytes(b"mine")
    out = tmp_path / "p.csv"
    assert main(["score", str(model_file), str(inbox), "-o", str(out), "--explain",
                 str(why)]) == 1
    assert ("holds the files of an earlier run (0000.png...); use --overwrite or another "
            "--explain DIR") in capsys.readouterr().err
    assert not out.exists() and (why / "0000.png").read_bytes() == b"mine"
    assert main(["score", str(model_file), str(inbox), "-o", str(out), "--explain", str(why),
                 "--overwrite", "-q"]) == 3
    assert (why / "0000.png").read_bytes() != b"mine"


def test_a_resumed_run_explains_the_rows_of_the_interrupted_one(model_file, inbox, tmp_path):
    out, why = tmp_path / "p.csv", tmp_path / "why"
    base = ["score", str(model_file), str(inbox), "-o", str(out), "--batch-size", "2", "-q"]
    assert main(base + ["--fail-fast"]) == 1  # stopped at the broken file (row 5)
    assert not why.exists()
    assert main(base + ["--resume", "--explain", str(why)]) == 3
    index = [int(r["index"]) for r in _csv(why / "index.csv")]
    assert index == [i for i, r in enumerate(_csv(out)) if not r["error"]]
    assert index[:5] == [0, 1, 2, 3, 4]  # rows written before the interruption


def test_selection_keeps_the_lowest_scores_in_bounded_memory():
    rng = np.random.default_rng(0)
    scores = rng.random(1000)
    pick = ExplainSelection(top=10)
    for i, s in enumerate(scores):
        pick.add(i, f"{i}.png", None if i % 7 == 0 else float(s))
        assert len(pick._rows) <= 10
    kept = [i for i in np.argsort(scores, kind="stable") if i % 7][:10]
    assert pick.chosen() == [(int(i), f"{i}.png") for i in sorted(kept)]
