"""`score`'s calibrated scores, ``ood``, ``--coverage``, ``--reject``, ``--raw-scores``;
`evaluate`'s trust metrics and foreign classes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from l2vision.cli import main
from l2vision.datasets import load_dataset
from l2vision.pipelines.persist import load
from tests.conftest import write_image

OLD_MODELS = Path(__file__).resolve().parents[1] / "data" / "models_v0_1"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ridge model of the digits (hog), 12 digit files, 3 noise files and a class-folder set."""
    root = tmp_path_factory.mktemp("trained")
    model = root / "digits.joblib"
    assert main(["train", "--features", "hog", "--model", "ridge", "-q", "-o", str(model),
                 "--report", str(root / "report")]) == 0
    digits = load_dataset(None)
    images = root / "images"
    for i in range(12):
        write_image(images / f"digit{i:02d}.png", digits.images[i])
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(images / f"noise{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    labelled = root / "labelled"
    for i in range(30):
        write_image(labelled / str(digits.labels[i]) / f"{i}.png", digits.images[i])
    for i in range(4):
        write_image(labelled / "letters" / f"{i}.png",
                    rng.integers(0, 256, (8, 8), dtype=np.uint8))
    return model, images, labelled


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_scores_are_calibrated_probabilities_with_an_ood_column(trained, capsys):
    model, images, _ = trained
    code, out, _ = run(capsys, "score", model, images, "--probs")
    assert code == 0
    table = rows(out)
    assert list(table[0]) == ["path", "label", "score"] + [f"prob_{d}" for d in range(10)] \
        + ["ood", "error"]
    for row in table:
        probs = [float(row[f"prob_{d}"]) for d in range(10)]
        assert sum(probs) == pytest.approx(1, abs=1e-4)
        assert float(row["score"]) == pytest.approx(max(probs), abs=1e-5)
    digits = [r for r in table if "digit" in r["path"]]
    noise = [r for r in table if "noise" in r["path"]]
    threshold = load(model)[-1].ood_.threshold_
    assert sum(float(r["ood"]) <= threshold for r in digits) >= 11
    assert all(float(r["ood"]) > threshold for r in noise)


def test_raw_scores_are_the_decision_values(trained, capsys):
    model, images, _ = trained
    code, out, _ = run(capsys, "score", model, images / "digit00.png", "--raw-scores",
                       "--probs")
    assert code == 0
    row = rows(out)[0]
    assert "score_0" in row and "prob_0" not in row
    pipeline = load(model)
    decision = pipeline[-1].decision_function(
        pipeline[0].transform([str(images / "digit00.png")]))[0]
    assert float(row["score"]) == pytest.approx(decision.max(), rel=1e-5)


def test_coverage_writes_label_sets_and_reject_writes_unknown(trained, capsys):
    model, images, _ = trained
    code, out, _ = run(capsys, "score", model, images, "--coverage", "0.9", "--reject",
                       "--min-confidence", "0.5")
    assert code == 0
    table = rows(out)
    assert list(table[0])[-4:] == ["ood", "label_set", "unknown", "error"]
    for row in table:
        members = row["label_set"].split("|")
        assert members and all(m in {str(d) for d in range(10)} for m in members)
        if "noise" in row["path"]:
            assert (row["label"], row["unknown"]) == ("unknown", "ood")
        elif row["unknown"]:
            assert row["label"] == "unknown"
        else:
            assert row["label"] == members[0]  # the most probable class leads its set
    assert sum(r["label"] == "unknown" for r in table if "digit" in r["path"]) <= 1
    code, out, _ = run(capsys, "score", model, images, "--coverage", "0.9", "--format",
                       "jsonl")
    record = json.loads(out.splitlines()[0])
    assert isinstance(record["label_set"], list) and "unknown" not in record


@pytest.mark.parametrize("argv,message", [
    (["--coverage", "1.5"], "--coverage must be a float in (0, 1)"),
    (["--coverage", "0"], "--coverage must be a float in (0, 1)"),
    (["--reject", "--min-confidence", "-0.1"], "--min-confidence must be a float in [0, 1]"),
    (["--min-confidence", "0.5"], "--min-confidence labels images 'unknown' only with --reject"),
])
def test_out_of_range_decision_flags_are_refused_by_name(trained, capsys, argv, message):
    model, images, _ = trained
    code, out, err = run(capsys, "score", model, images, *argv, "-o", "preds.csv")
    assert code in (1, 2) and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not Path("preds.csv").exists() and not Path("preds.csv.partial").exists()


@pytest.mark.parametrize("argv,message", [
    (["--coverage", "0.9"], "has no calibration set for prediction sets (--coverage): it was "
                            "saved without one"),
    (["--reject"], "has no detector of images of no class (--reject)"),
])
def test_a_model_saved_before_02_says_to_retrain(trained, capsys, argv, message):
    _, images, _ = trained
    old = OLD_MODELS / "digits_hog_color_ridge.joblib"
    code, _, err = run(capsys, "score", old, images, *argv)
    assert code == 1 and message in err and "retrain it with l2vision train" in err
    code, out, _ = run(capsys, "score", old, images / "digit00.png")  # still scores
    assert code == 0 and list(rows(out)[0]) == ["path", "label", "score", "error"]


def test_evaluate_reports_calibration_sets_and_foreign_classes_apart(trained, capsys):
    model, _, labelled = trained
    code, out, err = run(capsys, "evaluate", model, labelled, "--coverage", "0.8", "-o",
                         "metrics.json")
    assert code == 0
    assert "calibration: ECE" in out and "prediction sets at 80%" in out
    assert "class 'letters' (4 images) is not a class of the model: left out" in err
    metrics = json.loads(Path("metrics.json").read_text())
    assert metrics["n_samples"] == 30
    assert set(metrics["calibration"]) == {"before", "after", "temperature"}
    assert list(metrics["prediction_sets"]) == ["0.8"]
    assert metrics["foreign_classes"]["letters"]["n_images"] == 4
    assert sum(metrics["foreign_classes"]["letters"]["predicted"].values()) == 4


def test_evaluate_on_classes_the_model_does_not_know_names_them(trained, capsys, tmp_path):
    model, _, labelled = trained
    code, _, err = run(capsys, "evaluate", model, labelled / "letters" / "..", "-o", "m.json")
    assert code == 0
    foreign = tmp_path / "foreign"
    for name in ("ants", "bees"):
        write_image(foreign / name / "a.png", np.zeros((8, 8), np.uint8))
    code, _, err = run(capsys, "evaluate", model, foreign)
    assert code == 1
    assert "none of its classes ['ants', 'bees'] is a class of the model ['0', '1'" in err
    assert "y_true" not in err and err.count("error:") == 1
