"""explain_images: heatmaps that sum to the score minus the baseline, the split per
extractor, the classes explained, every kind of head, old models, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from l2vision import ParameterError
from l2vision.explain import LinearHead, explain_images, iter_explanations, linear_head
from l2vision.features import ColorHistogram, ImageFeatures, TinyImage
from l2vision.pipelines import make_pipeline
from l2vision.pipelines.build import split_pipeline
from l2vision.pipelines.persist import ModelVersionWarning, load, save

ROOT = Path(__file__).resolve().parents[2]
OLD = ROOT / "tests" / "data" / "models_v0_1"
CLOTHES_VAL = ROOT / "data" / "clothes" / "val"


@pytest.fixture(scope="module")
def colors():
    """Noisy red, green and blue images of varied sizes, and their labels."""
    rng = np.random.default_rng(7)
    images, labels = [], []
    for channel, name in enumerate(("blue", "green", "red")):
        for i in range(8):
            image = rng.integers(0, 90, (20 + i, 24 + 2 * i, 3), dtype=np.uint8)
            image[:, :, channel] += 150
            images.append(image)
            labels.append(name)
    return images, labels


def _check_sums(explanations, model):
    features, head = split_pipeline(model)
    for e in explanations:
        assert e.error is None
        decision = np.atleast_1d(model.decision_function([e.image])[0])
        if decision.size == 1:
            decision = np.array([-decision[0], decision[0]])
        for c in e.classes:
            index = list(model.classes_).index(c.label)
            assert np.isclose(c.score, decision[index], rtol=1e-5, atol=1e-6)
            assert c.heatmap.dtype == np.float32 and c.heatmap.shape == e.image.shape[:2]
            target = c.score - c.baseline
            total = float(c.heatmap.sum(dtype=np.float64))
            assert abs(total - target) <= 1e-4 * max(1.0, abs(target)), (total, target)
            assert np.isclose(sum(c.split.values()), target, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model_name", ["ridge", "logreg"])
def test_maps_sum_to_the_score_minus_the_average_images_score(colors, model_name):
    images, labels = colors
    model = make_pipeline("tiny,lbp,color", model_name, lambdas=4, cv=2).fit(images, labels)
    explained = explain_images(model, images[::5], top_k=3)
    _check_sums(explained, model)
    first = explained[0].classes
    assert [c.label for c in first][0] == model.predict([explained[0].image])[0]
    assert [c.score for c in first] == sorted((c.score for c in first), reverse=True)
    assert set(first[0].split) == {"tinyimage", "lbp", "colorhistogram"}
    assert first[0].kinds == {"tinyimage": "exact", "lbp": "exact", "colorhistogram": "approximate"}
    assert first[0].kind == "approximate"
    clf = split_pipeline(model)[1]
    row = list(model.classes_).index(first[0].label)
    assert np.isclose(first[0].baseline, clf.intercept_[row] + clf.coef_[row] @ clf.mean_)
    if model_name == "logreg":
        assert np.isclose(first[0].probability, model.predict_proba([explained[0].image])[0,
                                                                                           row])


def test_baseline_zero_sums_to_decision_minus_intercept(colors):
    images, labels = colors
    model = make_pipeline("tiny", "ridge", lambdas=3, cv=2).fit(images, labels)
    [e] = explain_images(model, images[:1], classes="green", baseline="zero")
    c = e.classes[0]
    clf = split_pipeline(model)[1]
    x = model.named_steps["features"].transform(images[:1])[0].astype(np.float64)
    assert np.isclose(c.baseline, clf.intercept_[1])
    assert np.isclose(c.heatmap.sum(dtype=np.float64), clf.coef_[1] @ x, rtol=1e-4)


def test_a_normalize_step_divides_the_maps_by_the_feature_norm(colors):
    images, labels = colors
    model = make_pipeline("tiny,color", "logreg", lambdas=3, cv=2, normalize="l2").fit(
        images, labels)
    assert linear_head(split_pipeline(model)[1]).normalize
    _check_sums(explain_images(model, images[::7], top_k=2), model)


def test_fixed_lambda_pipelines_and_two_classes(colors):
    images, labels = colors
    two = [lab if lab == "red" else "other" for lab in labels]
    for model in (make_pipeline("tiny,color", "ridge", lam=1.0).fit(images, two),
                  make_pipeline("tiny", "logreg", lam=1.0, normalize="l2").fit(images, labels),
                  make_pipeline("tiny,color", "logreg", lambdas=3, cv=2).fit(images, two)):
        explained = explain_images(model, images[::6], top_k=2)
        _check_sums(explained, model)
    a, b = explained[0].classes  # two classes: one map is the other's negative
    np.testing.assert_allclose(a.heatmap, -b.heatmap, atol=1e-6)


def test_explaining_given_classes_and_unknown_ones(colors):
    images, labels = colors
    model = make_pipeline("color", "ridge", lam=1.0).fit(images, labels)
    [e] = explain_images(model, images[:1], classes=["red", "blue"])
    assert [c.label for c in e.classes] == ["red", "blue"]
    with pytest.raises(ParameterError, match=r"'classes' parameter of explain must be a class "
                       r"of the model \(blue, green, red\)\. Got 'cat'"):
        explain_images(model, images[:1], classes="cat")
    with pytest.raises(ParameterError, match=r"'top_k' .* an int in \[1, 3\]"):
        explain_images(model, images[:1], top_k=4)
    with pytest.raises(ParameterError, match="'baseline'"):
        explain_images(model, images[:1], baseline="median")


def test_unreadable_images_get_an_error_and_the_rest_go_on(colors, tmp_path):
    images, labels = colors
    model = make_pipeline("color", "ridge", lam=1.0).fit(images, labels)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    explained = list(iter_explanations(model, [images[0], str(bad), images[1]]))
    assert [e.error is None for e in explained] == [True, False, True]
    assert "bad.png" in explained[1].error and explained[1].classes == []
    assert [e.index for e in explained] == [0, 1, 2]


def test_models_that_are_not_linear_are_refused(colors):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    images, labels = colors
    features = ImageFeatures([TinyImage()])
    model = Pipeline([("features", features), ("pca", PCA(3)),
                      ("clf", LogisticRegression())]).fit(images, labels)
    with pytest.raises(ValueError, match="step 'pca'"):
        explain_images(model, images[:1])
    with pytest.raises(ValueError, match="an l2vision pipeline"):
        explain_images(LogisticRegression(), images[:1])


def test_linear_head_matches_the_model():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.repeat(["a", "b", "c", "d"], 10)
    model = make_pipeline(ColorHistogram(), "logreg", lam=0.5, normalize="l2")
    head = Pipeline(model.steps[1:]).fit(X, y)
    linear = linear_head(head)
    np.testing.assert_allclose(linear.decision(X), head.decision_function(X), rtol=1e-6)
    assert isinstance(linear, LinearHead) and linear.mean.shape == (5,)


@pytest.mark.parametrize("name", ["digits_hog_color_ridge", "digits_lbp_tiny_logreg",
                                  "digits_kmeans_ridge", "clothes_photo_logreg"])
def test_models_saved_by_l2vision_0_1_are_explained(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelVersionWarning)
        model = load(OLD / f"{name}.joblib")
    paths = sorted(str(p) for p in CLOTHES_VAL.glob("*/*.jpg"))[::7]
    explained = explain_images(model, paths)
    _check_sums(explained, model)
    if name == "clothes_photo_logreg":  # the photo recipe: MobileNet V2, exact maps
        assert {c.kind for e in explained for c in e.classes} == {"exact"}
        assert [e.classes[0].label for e in explained] == list(model.predict(paths))


def test_a_saved_and_loaded_model_explains_the_same(colors, tmp_path):
    images, labels = colors
    model = make_pipeline("hog,color", "ridge", lambdas=3, cv=2).fit(images, labels)
    again = load(save(model, tmp_path / "m.joblib"))
    [a] = explain_images(model, images[:1])
    [b] = explain_images(again, images[:1])
    np.testing.assert_array_equal(a.classes[0].heatmap, b.classes[0].heatmap)
