"""Metrics, figures and the HTML report."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from l2vision.report.html import write_report
from l2vision.workflows.evaluate import classification_metrics


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


def test_gallery_picks_confident_mistakes_and_correct_examples_per_class(tmp_path):
    import base64
    import re

    import cv2

    from l2vision.report.gallery import pick_examples
    from l2vision.report.html import write_report

    rng = np.random.default_rng(0)
    predictions = [{"image": rng.integers(0, 256, (40, 30, 3), dtype=np.uint8), "true": t,
                    "predicted": p, "score": s}
                   for t, p, s in [("a", "a", 0.9), ("a", "b", 0.8), ("a", "b", 0.95),
                                   ("b", "b", 0.7), ("b", "b", 0.99), ("b", "a", 0.6),
                                   ("a", "a", 0.5), ("a", "a", 0.4), ("a", "a", 0.3)]]
    mistakes, correct = pick_examples(predictions, per_class=2)
    assert [(m["true"], m["score"]) for m in mistakes] == [("a", 0.95), ("a", 0.8), ("b", 0.6)]
    assert [(c["true"], c["score"]) for c in correct] == [("b", 0.99), ("a", 0.9), ("b", 0.7),
                                                          ("a", 0.5)]
    metrics = classification_metrics([p["true"] for p in predictions],
                                      [p["predicted"] for p in predictions])
    html = write_report(tmp_path, metrics, predictions=predictions).read_text()
    assert "Most confident mistakes" in html and html.count('class="wrong"') == 3
    images = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)
    decoded = [cv2.imdecode(np.frombuffer(base64.b64decode(d), np.uint8), 1) for d in images]
    assert len(decoded) == 3 + 5 and all(d is not None and max(d.shape[:2]) >= 64
                                         for d in decoded)


def test_class_names_that_look_like_mathtext_do_not_break_the_report(tmp_path, make_folder):
    """A class called $\\foo$ crashed matplotlib after train had saved the model (exit 1,
    no report): labels are drawn as plain text, and a figure that fails never loses the
    model or the metrics."""
    from l2vision.cli import main

    data = make_folder({"$\\foo$": 8, "-=cmd": 8, "plain": 8}, root=tmp_path / "data")
    model = tmp_path / "m.joblib"
    assert main(["train", str(data), "-f", "color", "-m", "ridge", "--cv", "2", "--lambdas",
                 "1,10", "-o", str(model), "-q"]) == 0
    report = tmp_path / "m_report"
    assert model.exists() and (report / "metrics.json").exists()
    assert "$\\foo$" in (report / "report.html").read_text()
    assert (report / "confusion_matrix.png").stat().st_size > 1000


def test_a_figure_that_fails_leaves_a_warning_and_the_rest_of_the_report(tmp_path, monkeypatch):
    from l2vision.report import html as report_html
    from l2vision.report.html import ReportWarning

    def broken(*args, **kwargs):
        raise RuntimeError("no font")

    monkeypatch.setattr(report_html, "plot_confusion_matrix", broken)
    metrics = classification_metrics(["a", "b"], ["a", "a"])
    with pytest.warns(ReportWarning, match="the confusion matrix could not be made "
                                           r"\(RuntimeError: no font\)"):
        page = write_report(tmp_path / "r", metrics)
    assert page.exists() and (tmp_path / "r" / "metrics.json").exists()
