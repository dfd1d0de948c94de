"""Metrics, figures and the HTML report."""

from __future__ import annotations

import json

import cv2
import numpy as np

from l2vision.pipelines.evaluate import classification_metrics
from l2vision.report import write_report


def test_metrics_values_and_json():
    m = classification_metrics(["a", "a", "b", "c"], ["a", "b", "b", "c"], ["a", "b", "c"])
    assert m["accuracy"] == 0.75 and m["balanced_accuracy"] == (0.5 + 1 + 1) / 3
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert m["per_class"]["b"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert json.loads(json.dumps(m)) == m


def test_report_folder(tmp_path):
    metrics = classification_metrics(["a", "b", "b"], ["a", "b", "a"])
    lambdas = np.logspace(-2, 2, 9)
    search = {"lambda": 1.0, "model": "ridge",
              "cv_results": {"lambda": lambdas, "mean_test_score": np.linspace(0.5, 0.9, 9),
                             "std_test_score": np.full(9, 0.02)}}
    report = write_report(tmp_path / "r", metrics, search=search, details={"data": "x"})
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == ["confusion_matrix.png", "lambda_curve.png", "metrics.json", "report.html"]
    for png in ("confusion_matrix.png", "lambda_curve.png"):
        image = cv2.imread(str(tmp_path / "r" / png))
        assert image is not None and image.shape[0] > 200 and image.std() > 10
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 2 and "66.67%" in page
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["metrics"]["accuracy"] == metrics["accuracy"]
    assert saved["search"]["lambda"] == 1.0
