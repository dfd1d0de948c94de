"""Class weights and the metric that chooses λ: exact against scikit-learn, on imbalanced digits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from l2vision.cli import main
from l2vision.datasets import ImageSet, load_digits_images
from l2vision.linear import LogisticRegressionKFoldCV, RidgeClassifierKFoldCV
from l2vision.linear.cv_metrics import FoldScorer, class_weights
from l2vision.workflows.train import ImbalanceWarning, train


@pytest.fixture(scope="module")
def imbalanced():
    X, y = make_classification(900, 12, n_informative=6, n_classes=3, weights=[0.8, 0.15, 0.05],
                               random_state=0)
    return X, y


@pytest.mark.parametrize("mode", ["gram", "gram-lowmem"])
def test_weighted_ridge_equals_scikit_learns_weighted_pipeline(imbalanced, mode):
    X, y = imbalanced
    ours = RidgeClassifierKFoldCV(lambdas=[30.0], cv=3, class_weight="balanced",
                                  mode=mode).fit(X, y)
    weights = class_weights(np.unique(y, return_inverse=True)[1], 3)
    theirs = make_pipeline(StandardScaler(), RidgeClassifier(alpha=30.0, class_weight="balanced"))
    theirs.fit(X, y, standardscaler__sample_weight=weights)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X),
                               rtol=1e-6, atol=1e-8)


def test_a_dict_of_weights_and_auto_takes_a_gram_mode_where_it_would_take_the_kernel():
    X, y = make_classification(60, 200, n_informative=10, random_state=1)  # d > n: kernel
    plain = RidgeClassifierKFoldCV(lambdas=[10.0], cv=3).fit(X, y)
    weighted = RidgeClassifierKFoldCV(lambdas=[10.0], cv=3, class_weight={1: 5.0}).fit(X, y)
    assert plain.mode_ == "kernel" and weighted.mode_ == "gram"
    assert (weighted.predict(X) == 1).sum() >= (plain.predict(X) == 1).sum()
    with pytest.raises(ValueError, match="'mode' parameter of RidgeClassifierKFoldCV must be "
                                         "'auto', 'gram' or 'gram-lowmem' with class_weight"):
        RidgeClassifierKFoldCV(lambdas=[10.0], cv=3, class_weight="balanced",
                               mode="kernel").fit(X, y)


def test_fold_scorer_equals_scikit_learns_metrics():
    rng = np.random.default_rng(0)
    decisions = rng.normal(size=(200, 3, 4))  # 200 rows, 3 λ, 4 classes
    labels = rng.integers(0, 4, 200)
    for metric, reference in [
        ("balanced_accuracy", lambda j: balanced_accuracy_score(labels, decisions[:, j].argmax(1))),
        ("f1_macro", lambda j: f1_score(labels, decisions[:, j].argmax(1), average="macro",
                                        labels=range(4))),
        ("log_loss", lambda j: -log_loss(labels, np.exp(decisions[:, j]) /
                                         np.exp(decisions[:, j]).sum(1, keepdims=True),
                                         labels=range(4))),
    ]:
        ours = FoldScorer(metric, 4, False)(decisions, labels)
        np.testing.assert_allclose(ours, [reference(j) for j in range(3)], rtol=1e-9)


def test_log_loss_is_for_the_logistic_model_only(imbalanced):
    X, y = imbalanced
    LogisticRegressionKFoldCV(lambdas=[1.0, 10.0], cv=3, cv_metric="log_loss").fit(X, y)
    with pytest.raises(ValueError, match="log_loss needs the logistic model"):
        RidgeClassifierKFoldCV(lambdas=[1.0], cv_metric="log_loss").fit(X, y)


def _cut_digits() -> ImageSet:
    """The digits with the classes 5-9 cut to 10% of their images."""
    digits = load_digits_images()
    rng = np.random.default_rng(0)
    keep = [i for i, label in enumerate(digits.labels)
            if int(label) < 5 or rng.random() < 0.1]
    return digits.subset(np.array(keep))


@pytest.mark.parametrize("model", ["ridge", "logreg"])
def test_balanced_weights_help_the_small_classes_of_imbalanced_digits(model):
    data = _cut_digits()
    with pytest.warns(ImbalanceWarning, match="Weigh them with"):
        plain = train(data, features="tiny:8", model=model, seed=1, test_size=0.3)
    weighted = train(data, features="tiny:8", model=model, seed=1, test_size=0.3,
                     class_weight="balanced", cv_metric="balanced_accuracy")
    assert weighted.test_metrics["balanced_accuracy"] >= plain.test_metrics["balanced_accuracy"]
    assert weighted.metadata["class_weight"] == "balanced"


def test_the_warning_names_the_flags_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("l2vision.datasets.load_digits_images", _cut_digits)
    assert main(["train", "--features", "tiny:8", "--model", "ridge", "-o",
                 str(tmp_path / "m.joblib"), "--cv", "3"]) == 0
    err = capsys.readouterr().err
    assert "Weigh them with --class-weight balanced (and choose lambda by --cv-metric " \
           "balanced_accuracy)" in err
    assert main(["train", "--features", "tiny:8", "--model", "ridge", "-o",
                 str(tmp_path / "w.joblib"), "--cv", "3", "--class-weight", "balanced",
                 "--cv-metric", "balanced_accuracy"]) == 0
    captured = capsys.readouterr()
    assert "CV balanced accuracy" in captured.out and "Weigh them" not in captured.err


def test_sklearn_digits_known_answer_unchanged_without_weights():
    X, y = load_digits(return_X_y=True)
    model = RidgeClassifierKFoldCV(lambdas=[300.0], cv=3).fit(X, y)
    reference = make_pipeline(StandardScaler(), RidgeClassifier(alpha=300.0)).fit(X, y)
    np.testing.assert_allclose(model.decision_function(X), reference.decision_function(X),
                               rtol=1e-6, atol=1e-8)


def test_solver_warnings_of_the_folds_are_one_l2vision_line_even_from_workers(capfd):
    """The folds' ConvergenceWarnings (in joblib workers with n_jobs=2) come back counted."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from l2vision import config_context

    X, y = make_classification(400, 30, n_informative=10, n_classes=3, random_state=0)
    with warnings.catch_warnings(record=True) as caught, config_context(n_jobs=2):
        warnings.simplefilter("always")
        LogisticRegressionKFoldCV(lambdas=[1e-3, 1e-2], cv=3, max_iter=2).fit(X, y)
    ours = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(ours) == 1
    assert "stopped at their iteration limit" in str(ours[0].message)
    assert "--model ridge" in str(ours[0].message)
    assert "lbfgs failed to converge" not in capfd.readouterr().err  # nothing from the workers
