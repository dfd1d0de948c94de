"""make_pipeline / make_features: plain sklearn pipelines that work in GridSearchCV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import GridSearchCV

from l2vision.datasets import load_image_folder
from l2vision.features import ColorHistogram, ImageFeatures
from l2vision.linear.logistic import LogisticRegressionKFoldCV
from l2vision.linear.ridge import RidgeClassifierKFoldCV
from l2vision.pipelines.build import make_features, make_pipeline, split_pipeline


def test_lambda_maps_to_c_and_alpha():
    logreg = make_pipeline("hog", "logreg", lam=4.0)
    ridge = make_pipeline("hog", "ridge", lam=4.0, normalize="l2")
    assert isinstance(logreg[-1], LogisticRegression) and logreg[-1].C == 0.25
    assert isinstance(ridge[-1], RidgeClassifier) and ridge[-1].alpha == 4.0
    assert [n for n, _ in ridge.steps] == ["features", "normalize", "scale", "clf"]
    assert "penalty" not in {k for k, v in logreg[-1].get_params().items()
                             if v != LogisticRegression().get_params()[k]}


def test_cv_pipeline_has_no_separate_scaler():
    pipe = make_pipeline("hog,color", "ridge")
    assert [n for n, _ in pipe.steps] == ["features", "clf"]
    assert isinstance(pipe[-1], RidgeClassifierKFoldCV) and pipe[-1].lambdas == 40
    assert isinstance(make_pipeline("hog")[-1], LogisticRegressionKFoldCV)


def test_grid_search_over_c(color_folder):
    X, y = load_image_folder(color_folder)
    search = GridSearchCV(make_pipeline("color", "logreg", lam=1.0),
                          {"clf__C": [0.001, 1.0], "features__colorhistogram__bins": [4, 8]},
                          cv=3).fit(X, y)
    assert search.best_score_ == 1.0
    assert search.predict(X[:3]).tolist() == list(y[:3])


def test_fitted_pipeline_classifies_colors(color_folder):
    X, y = load_image_folder(color_folder)
    pipe = make_pipeline("color,hog", "ridge", lambdas=[1.0, 100.0], cv=3).fit(X, y)
    assert pipe.score(X, y) == 1.0 and list(pipe.classes_) == ["blue", "green", "red"]


def test_make_features_names_and_errors():
    features = make_features("hog, lbp ,tiny")
    assert [n for n, _ in features._named()] == ["hog", "lbp", "tinyimage"]
    assert len(make_features("best").extractors) == 8
    assert make_features("best").fit().n_features_out_ == 12660
    ready = ImageFeatures([])
    assert make_features(ready) is ready
    (name, cnn), = make_features("cnn:mobilenet_v1_0.25:conv13+conv11").extractors
    assert (name, cnn.model, cnn.output, cnn.pooling) == \
        ("cnn", "mobilenet_v1_0.25", ["conv13", "conv11"], "pyramid")
    (_, cnn), = make_features("cnn:C:\\models\\net.onnx").extractors
    assert (cnn.model, cnn.output) == ("C:\\models\\net.onnx", None)
    (_, cnn), = make_features("cnn:nets/v2:1.onnx").extractors
    assert cnn.model == "nets/v2:1.onnx"
    with pytest.raises(ValueError, match=r"Unknown feature 'sift'; choose from hog, color, lbp"):
        make_features("hog,sift")
    with pytest.raises(ValueError, match="The 'model' parameter of make_pipeline must be one of"):
        make_pipeline("hog", "svm")


def test_split_pipeline():
    pipe = make_pipeline("hog", lam=1.0)
    features, head = split_pipeline(pipe)
    assert features is pipe[0] and [n for n, _ in head.steps] == ["scale", "clf"]
    features, head = split_pipeline(make_pipeline("hog"))
    assert isinstance(head, LogisticRegressionKFoldCV)
    with pytest.raises(ValueError, match="Expected an l2vision pipeline"):
        split_pipeline(np.zeros(3))


def test_make_pipeline_accepts_a_single_extractor(color_folder):
    X, y = load_image_folder(color_folder)
    pipe = make_pipeline(ColorHistogram(), "ridge", lam=1.0).fit(X, y)
    assert [type(e).__name__ for e in pipe[0].extractors] == ["ColorHistogram"]
    assert pipe.score(X, y) == 1.0
