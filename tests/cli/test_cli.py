"""The command line, in process through main([...]) and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from l2vision.cli import main
from l2vision.pipelines.persist import load, read_metadata
from tests.conftest import cifar_subset, write_image


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_evaluate_extract(color_folder, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    code, out, err = run(capsys, "train", color_folder, "--features", "color", "--model", "ridge",
                         "--cv", "3", "--lambdas", "0.1:1000:5", "--test-size", "0.25",
                         "--out", model, "-q")
    assert code == 0, err
    assert "held-out accuracy: 100.00%" in out and "lambda = " in out and err == ""
    report = tmp_path / "m_report"
    assert sorted(p.name for p in report.iterdir()) == [
        "confusion_matrix.png", "evidence_split.png", "lambda_curve.png", "metrics.json",
        "ood_scores.png", "reliability.png", "report.html", "risk_coverage.png"]
    assert read_metadata(model)["classes"] == ["blue", "green", "red"]

    code, out, _ = run(capsys, "evaluate", model, color_folder, "--out", tmp_path / "e.json", "-q")
    assert code == 0 and out.startswith("accuracy: 100.00%")
    assert json.loads((tmp_path / "e.json").read_text())["n_samples"] == 36

    code, out, _ = run(capsys, "extract", color_folder, "--features", "color,lbp",
                       "-o", tmp_path / "f.npz", "-q")
    saved = np.load(tmp_path / "f.npz")
    assert code == 0 and saved["X"].shape == (36, 128 * 5 + 10 * 5)
    assert saved["labels"][0] == "blue" and len(saved["feature_names"]) == saved["X"].shape[1]


def test_evaluate_reports_unreadable_images_and_exits_3(color_folder, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    assert run(capsys, "train", color_folder, "-f", "color", "-m", "ridge", "--cv", "3",
               "--test-size", "0", "-o", model, "-q")[0] == 0
    (color_folder / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, out, err = run(capsys, "evaluate", model, color_folder)
    assert code == 3 and "36 images, 1 unreadable" in out
    assert "broken.png: " in err


def test_existing_outputs_are_refused_before_any_work(color_folder, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    model.write_bytes(b"keep me")
    code, out, err = run(capsys, "train", color_folder, "-o", model)
    assert code == 1 and out == ""
    assert err.strip() == (f"l2vision train: error: {model}: file exists; "
                           "use --overwrite or another --out")
    assert model.read_bytes() == b"keep me"


@pytest.mark.parametrize("setup,args,message", [
    ("empty", ["train", "{tmp}/empty"], "no class folders"),
    ("one_class", ["train", "{tmp}/one"], "only one class ('cat')"),
    (None, ["train", "--features", "hog,sift", "-o", "{tmp}/m.joblib"], "Unknown feature 'sift'"),
    ("bad_model", ["evaluate", "{tmp}/bad.joblib", "{tmp}/one"],
     "bad.joblib: not an l2vision model"),
    (None, ["evaluate", "{tmp}/missing.joblib", "{tmp}"], "missing.joblib: model file not found"),
    (None, ["train", "{tmp}/nowhere"], "nowhere: data not found"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, setup, args, message):
    if setup == "empty":
        (tmp_path / "empty").mkdir()
    if setup in ("one_class", "bad_model"):
        for i in range(6):
            write_image(tmp_path / "one" / "cat" / f"{i}.png", np.zeros((8, 8), np.uint8))
    if setup == "bad_model":
        (tmp_path / "bad.joblib").write_text("hello")
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert message in last and last.startswith("l2vision ") and "error: " in last
    assert "Traceback" not in err and err.count("error:") == 1


def test_a_search_too_large_for_the_machine_is_one_clear_line(color_folder, tmp_path, capsys,
                                                               monkeypatch):
    from l2vision.linear import ridge_modes as _ridge_modes

    monkeypatch.setattr(_ridge_modes, "physical_memory", lambda: 1 << 10)  # 1 KiB
    model = tmp_path / "m.joblib"
    code, out, err = run(capsys, "train", color_folder, "-f", "color", "-m", "ridge", "--cv", "3",
                         "-o", model, "-q")
    assert code == 1 and not model.exists()
    # Neither the kernel form nor the blocks mode (auto's last resort) fits.
    assert ("error: MemoryError: The ridge λ search over 28 rows of 640 features ('blocks' "
            "mode) needs about 43.3 MiB besides the 0.1 MiB feature matrix, more than this "
            "machine's 0.0 MiB") in err
    assert "use fewer features" in err and "unexpected" not in err


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "train", "--lambdas", "abc")[0] == 2
    assert run(capsys, "train", "--size", "64")[0] == 2
    assert run(capsys, "nope")[0] == 2
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "Examples:" in out and "built-in digits" in out


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["evaluate", str(tmp_path / "x.joblib"), str(tmp_path), "--debug"])


def test_subprocess_round_trip_on_real_photos(cifar_dir, tmp_path):
    """train -> evaluate -> load through the installed command on 300 CIFAR-10 images."""
    paths, labels = cifar_subset(cifar_dir, "train", per_class=30)
    manifest = tmp_path / "train.csv"
    rows = "".join(f"{p},{lab}\n" for p, lab in zip(paths, labels, strict=True))
    manifest.write_text("path,label\n" + rows)
    model = tmp_path / "cifar.joblib"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "l2vision", "train", str(manifest),
                           "-f", "hog,color", "-m", "ridge", "--cv", "3", "--out", str(model),
                           "-q"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    held_out = float(done.stdout.split("held-out accuracy: ")[1].split("%")[0])
    assert held_out > 25  # 10 classes: chance is 10%
    test_dir = cifar_dir / "test"
    done = subprocess.run([sys.executable, "-m", "l2vision", "evaluate", str(model), str(test_dir),
                           "-q", "--out", str(tmp_path / "metrics.json")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_samples"] == 10_000 and metrics["accuracy"] > 0.25
    loaded = load(model)
    assert list(loaded.classes_) == sorted(set(labels))
    assert loaded.predict(paths[:5]).shape == (5,)


def test_extract_takes_a_manifest_without_labels(tmp_path):
    import cv2

    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), 90, np.uint8))
    (tmp_path / "m.csv").write_text("path\na.png\nb.png\n")
    assert main(["extract", str(tmp_path / "m.csv"), "-f", "color", "-o",
                 str(tmp_path / "f.npz"), "-q"]) == 0
    saved = np.load(tmp_path / "f.npz")
    assert saved["X"].shape == (2, 640) and "labels" not in saved
