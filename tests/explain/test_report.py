"""The reports' reasons: heatmaps beside the gallery's images, and evidence bars per extractor."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from l2vision.datasets import load_image_folder
from l2vision.explain import explain_images
from l2vision.explain.split import extractor_split
from l2vision.pipelines import make_pipeline
from l2vision.report.html import ReportWarning, write_report
from l2vision.workflows.evaluate import evaluate_images
from l2vision.workflows.report_explanations import explain_examples


@pytest.fixture
def fitted(color_folder):
    data = load_image_folder(color_folder)
    model = make_pipeline("tiny,color,hog", "logreg", lam=1.0).fit(data.images, data.labels)
    return model, data


def test_the_split_per_extractor_is_the_heatmaps_sums(fitted):
    model, data = fitted
    images = data.images[::7]
    names, split = extractor_split(model, model[0].transform(images))
    assert names == ["tinyimage", "colorhistogram", "hog"]
    assert split.shape == (len(images), 3, 3)
    for i, e in enumerate(explain_images(model, images, top_k=3)):
        for c in e.classes:
            k = list(model.classes_).index(c.label)
            assert [c.split[name] for name in names] == pytest.approx(split[i, :, k], rel=1e-5,
                                                                      abs=1e-9)
            assert split[i, :, k].sum() == pytest.approx(c.score - c.baseline, rel=1e-6)


def test_mistakes_get_the_two_best_classes_maps_and_correct_images_one(fitted):
    model, data = fitted
    images = data.images[:2] + data.images[12:14]  # two blue, two green images
    truth = ["red", "red", "green", "green"]  # the blue ones filed as red: two mistakes
    predicted = model.predict(images)
    predictions = [{"image": images[i], "true": truth[i], "predicted": predicted[i],
                    "score": 0.9 - i / 10} for i in range(4)]
    assert [p["predicted"] for p in predictions] == ["blue", "blue", "green", "green"]
    assert explain_examples(model, predictions) == 4
    for p in predictions:
        labels = [label for label, _ in p["overlays"]]
        if p["predicted"] == p["true"]:
            assert labels == ["green"]
        else:  # "why blue, not red": the predicted class first, then the runner-up
            assert len(labels) == 2 and labels[0] == p["predicted"]
            assert all(isinstance(data, str) and len(data) > 100 for _, data in p["overlays"])


def test_evaluate_report_shows_heatmaps_and_bars(fitted, tmp_path):
    model, data = fitted
    metrics = evaluate_images(model, data, keep_predictions=True)
    split = metrics["figures"]["evidence_split"]
    assert split["extractors"] == ["tinyimage", "colorhistogram", "hog"]
    assert np.asarray(split["mean"]).shape == (3, 3)
    predictions = metrics.pop("predictions")
    report = write_report(tmp_path / "r", metrics, predictions=predictions,
                          figures=metrics.pop("figures"))
    page = report.read_text()
    assert (tmp_path / "r" / "evidence_split.png").stat().st_size > 1000
    assert page.count('class="explained"') == 9  # 3 correct images per class, each explained
    assert len(re.findall(r'alt="why (blue|green|red)"', page)) == 9
    assert "evidence_split" not in json.loads((tmp_path / "r" / "metrics.json").read_text())


def test_a_part_that_cannot_be_explained_leaves_a_warning_not_a_failure(fitted, monkeypatch):
    model, data = fitted
    import l2vision.workflows.report_explanations as reasons

    def broken(*args, **kwargs):
        raise RuntimeError("no maps here")

    monkeypatch.setattr(reasons, "extractor_split", broken)
    monkeypatch.setattr(reasons, "iter_explanations", broken)
    with pytest.warns(ReportWarning) as caught:
        metrics = evaluate_images(model, data, keep_predictions=True)
    assert [str(w.message).split(" could")[0] for w in caught] == [
        "report: the evidence bars", "report: the gallery heatmaps"]
    assert metrics["accuracy"] == 1.0 and "evidence_split" not in metrics["figures"]
    assert not any("overlays" in p for p in metrics["predictions"])
