"""The README's real-photo walk-through, run as written: train, evaluate, score on data/clothes.

Needs nothing but the repository (the photos in data/ and the bundled MobileNet V2).
"""

from __future__ import annotations

import base64
import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from l2vision.cli import main
from l2vision.pipelines.persist import read_metadata

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "clothes"


def images_in(html: str) -> list[np.ndarray]:
    """Every embedded image of a report, decoded (None where it does not decode)."""
    return [cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
            for data in re.findall(r'src="data:image/(?:png|jpeg);base64,([^"]+)"', html)]


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    """``l2vision train data/clothes/train``, then evaluate with a report, then score."""
    folder = tmp_path_factory.mktemp("walkthrough")
    runs = {}
    import os

    here = os.getcwd()
    os.chdir(folder)
    try:
        runs["train"] = main(["train", str(SAMPLE / "train"), "-o", "clothes.joblib", "-q"])
        runs["evaluate"] = main(["evaluate", "clothes.joblib", str(SAMPLE / "val"),
                                 "--report", "val_report", "-q"])
        runs["score"] = main(["score", "clothes.joblib", str(SAMPLE / "val"),
                              "-o", "predictions.csv", "-q"])
    finally:
        os.chdir(here)
    return folder, runs


def test_the_walkthrough_runs_offline_and_is_accurate(walkthrough):
    folder, runs = walkthrough
    assert runs == {"train": 0, "evaluate": 0, "score": 0}
    meta = read_metadata(folder / "clothes.joblib")
    assert meta["features_spec"] == "photo" and meta["classes"] == ["hat", "pants", "shoes",
                                                                     "t-shirt"]
    assert meta["n_train"] + meta["n_test"] == 60 and meta["refit_on_all"]
    rows = list(csv.DictReader((folder / "predictions.csv").open()))
    assert len(rows) == 20 and all(r["error"] == "" for r in rows)
    right = sum(Path(r["path"]).parent.name == r["label"] for r in rows)
    assert right >= 18  # 4 well-separated classes: the bundled network gets nearly all


@pytest.mark.parametrize("report", ["clothes_report", "val_report"])
def test_reports_show_the_images_and_the_whole_lambda_curve(walkthrough, report):
    folder, _ = walkthrough
    html = (folder / report / "report.html").read_text()
    assert (folder / report / "report.html").stat().st_size < 5_000_000
    pictures = images_in(html)
    assert len(pictures) >= 3 and all(p is not None and p.size for p in pictures)
    assert "Correct examples" in html and html.count("<figure") >= 4
    thumbs = [p for p in pictures if max(p.shape[:2]) <= 128]
    overlays = html.count('alt="why ')  # the heatmaps beside each image: 2 for a mistake
    assert html.count("<figure") <= overlays <= 2 * html.count("<figure")
    assert len(thumbs) == html.count("<figure") + overlays  # every gallery image decodes
    metrics = (folder / report / "metrics.json").read_text()
    assert "predictions" not in metrics
    import json

    search = json.loads(metrics).get("search")
    grid = np.asarray(search["cv_results"]["mean_test_score"], dtype=float)
    assert not np.isnan(grid).any() and len(grid) >= 20  # the whole grid: both ends
