"""Robustness, the λ study and augmentation: results that must agree with train and evaluate."""

import json

import cv2
import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from l2vision.cli import main
from l2vision.config import config_context
from l2vision.corruptions.catalog import CORRUPTIONS, corrupt, corruption_rng
from l2vision.corruptions.specs import parse_augmentations
from l2vision.datasets import ImageSet, load_digits_images, load_image_folder
from l2vision.linear.ridge import RidgeClassifierKFoldCV
from l2vision.pipelines.build import split_pipeline
from l2vision.pipelines.persist import save
from l2vision.workflows import train as train_module
from l2vision.workflows.evaluate import evaluate_images
from l2vision.workflows.robustness import CLEAN, ModelHead, corrupted_predictions, robustness
from l2vision.workflows.study import study
from l2vision.workflows.train import train


@pytest.fixture(scope="module")
def digits():
    images = load_digits_images()
    keep = np.sort(np.random.default_rng(0).choice(images.n_images, 600, replace=False))
    return images.subset(keep)


@pytest.fixture(scope="module")
def fitted(digits):
    return train(digits, features="hog,color", model="ridge", test_size=0.25,
                 lambdas=[1, 10, 100, 1000, 10_000])


@pytest.fixture
def folder(tmp_path, digits):
    """The digits as PNG files in class folders, plus one truncated file."""
    root = tmp_path / "digits"
    for i, (image, label) in enumerate(zip(digits.images[:200], digits.labels[:200],
                                           strict=True)):
        (root / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / label / f"{i:04d}.png"), image)
    data = (root / "3" / "0999.png")
    data.write_bytes(cv2.imencode(".png", digits.images[0])[1].tobytes()[:40])
    return root


def test_clean_accuracy_equals_evaluate_and_the_table_is_complete(fitted, folder):
    images = load_image_folder(folder)
    metrics = evaluate_images(fitted.model, images)
    result = robustness(fitted.model, images, corruptions="noise,flip", severities="1,5")
    assert result["clean_accuracy"] == metrics["accuracy"]
    assert result["clean_metrics"]["confusion_matrix"] == metrics["confusion_matrix"]
    assert list(result["accuracy"]) == ["gaussian_noise", "shot_noise", "impulse_noise", "flip"]
    assert all(list(row) == [1, 5] for row in result["accuracy"].values())
    values = [a for row in result["accuracy"].values() for a in row.values()]
    assert result["mean_corruption_accuracy"] == pytest.approx(np.mean(values))
    assert result["relative_robustness"] == pytest.approx(
        result["mean_corruption_accuracy"] / result["clean_accuracy"])
    # severity 5 noise hurts more than severity 1; the unreadable file is a row, not a crash
    noise = result["accuracy"]["gaussian_noise"]
    assert noise[5] < noise[1] <= result["clean_accuracy"] + 0.02
    assert result["n_images"] == metrics["n_samples"] == images.n_images - 1
    assert [f["path"] for f in result["failed"]] == [str(folder / "3" / "0999.png")]


def test_corrupted_copies_do_not_depend_on_workers_or_batches(fitted, digits):
    features, head = split_pipeline(fitted.model)
    conditions = [CLEAN, ("motion_blur", 3), ("occlude", 2)]
    images = digits.images[:120]
    a = corrupted_predictions(features, ModelHead(head), images, conditions, batch_size=50)
    with config_context(n_jobs=2):
        b = corrupted_predictions(features, ModelHead(head), images, conditions, batch_size=32)
    for condition in conditions:
        np.testing.assert_array_equal(a[1][condition], b[1][condition])
    # and the copies are the documented pure function of (seed, position, condition)
    X = features.transform([corrupt(image, "occlude", 2, corruption_rng(0, i, "occlude", 2))
                            for i, image in enumerate(images)])
    np.testing.assert_array_equal(ModelHead(head)(X), a[1][("occlude", 2)])


def test_bad_input_is_refused_with_clear_messages(fitted, digits):
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        robustness(fitted.model, digits, corruptions="fog")
    with pytest.raises(ValueError, match="severities. parameter of robustness must be in 1-5"):
        robustness(fitted.model, digits, severities="0-6")
    other = ImageSet(digits.images[:5], np.array(["cat"] * 5, dtype=object), ("cat",), "pets")
    with pytest.raises(ValueError, match=r"pets: classes \['cat'\] are not classes of the model"):
        robustness(fitted.model, other)


def test_study_chosen_row_is_trains_held_out_model_and_the_path_is_exact(digits):
    lambdas = [1, 10, 100, 1000, 10_000]
    trained = train(digits, features="hog", model="ridge", lambdas=lambdas, test_size=0.25)
    result = study(digits, features="hog", model="ridge", lambdas=lambdas, test_size=0.25,
                   corruptions="gaussian_blur,brightness", severities="2",
                   penalties=["l2", "none", "l1"], penalty_points=2, penalty_max_iter=20)
    assert result["chosen_lambda"] == trained.search["lambda"]
    assert result["chosen"]["clean_accuracy"] == trained.test_metrics["accuracy"]
    assert [r["lambda"] for r in result["l2_path"]] == lambdas
    assert [r["cv_accuracy"] for r in result["l2_path"]] == pytest.approx(
        trained.search["cv_results"]["mean_test_score"])
    # another row: the ridge refit at that λ on the training split, scored on clean images
    train_set, test_set = train_module.split_images(digits, 0.25, 0)
    features = trained.model.named_steps["features"]
    X, X_test = features.transform(train_set.images), features.transform(test_set.images)
    other = RidgeClassifierKFoldCV(lambdas=[10_000]).fit(X, train_set.labels)
    expected = np.mean(other.predict(X_test) == np.asarray(test_set.labels))
    assert result["l2_path"][-1]["clean_accuracy"] == pytest.approx(expected, abs=1 / 150)
    assert set(result["penalties"]) == {"none", "l1"}
    assert [r["lambda"] for r in result["penalties"]["l1"]] == [1, 10_000]
    assert result["penalties"]["none"][0]["lambda"] == 0.0
    for row in result["l2_path"]:
        assert row["corrupted_accuracy"] == pytest.approx(np.mean(list(
            row["per_corruption"].values())))
    with pytest.raises(ValueError, match="unknown penalties"):
        study(digits, features="hog", penalties=["l3"])


def test_augmented_copies_stay_in_one_fold(digits, monkeypatch):
    seen = {}
    fit = RidgeClassifierKFoldCV.fit

    def spy(self, X, y, groups=None):
        seen.update(X=X, y=y, groups=groups, folds=self._folds(X, y, groups))
        return fit(self, X, y, groups=groups)

    monkeypatch.setattr(RidgeClassifierKFoldCV, "fit", spy)
    result = train(digits, features="hog", model="ridge", augment="flip,crop:2",
                   lambdas=[10, 100, 1000], test_size=0.25)
    n = result.metadata["n_train"]
    assert seen["X"].shape[0] == 3 * n == result.metadata["n_train_rows"]
    assert result.metadata["augment"] == ["flip:1", "crop:2"]
    np.testing.assert_array_equal(seen["groups"], np.tile(np.arange(n), 3))
    everything = np.arange(3 * n)
    for test in seen["folds"]:
        train_rows = np.setdiff1d(everything, test)
        assert not set(seen["groups"][test]) & set(seen["groups"][train_rows])
    # the copies are features of the corrupted images, not of the originals
    features = result.model.named_steps["features"]
    train_set, _ = train_module.split_images(digits, 0.25, 0)
    first = corrupt(np.asarray(train_set.images[0]), "flip", 1, corruption_rng(0, 0, "flip", 1))
    np.testing.assert_array_equal(seen["X"][n], features.transform([first])[0])
    # without groups, plain stratified folds would have split the copies
    plain = [t for _, t in StratifiedKFold(5, shuffle=True, random_state=0).split(
        seen["X"], seen["y"])]
    assert any(set(seen["groups"][t]) & set(seen["groups"][np.setdiff1d(everything, t)])
               for t in plain)
    with pytest.raises(ValueError, match="unknown corruption 'zoom'"):
        parse_augmentations("flip,zoom")


def test_cli_robustness_writes_the_report_and_refuses_to_overwrite(fitted, folder, tmp_path,
                                                                  capsys):
    model = tmp_path / "model.joblib"
    save(fitted.model, model, metadata=fitted.metadata)
    report = tmp_path / "rob"
    argv = ["robustness", str(model), str(folder), "-c", "blur,occlude", "-s", "2,4",
            "--report", str(report), "-o", str(tmp_path / "r.json"), "-q"]
    assert main(argv) == 3  # the truncated file
    out = capsys.readouterr().out
    assert "clean accuracy:" in out and "occlude" in out
    for name in ("robustness.json", "robustness_heatmap.png", "robustness_severity.png",
                 "report.html", "metrics.json"):
        assert (report / name).stat().st_size > 0
    saved = json.loads((tmp_path / "r.json").read_text())
    assert set(saved["accuracy"]) == {"defocus_blur", "motion_blur", "gaussian_blur", "occlude"}
    assert "Robustness to corruptions" in (report / "report.html").read_text()
    before = (tmp_path / "r.json").read_bytes()
    assert main(argv) == 1
    assert "file exists; use --overwrite" in capsys.readouterr().err
    assert (tmp_path / "r.json").read_bytes() == before
    assert main(["robustness", str(model), str(folder), "-s", "7"]) == 2
    assert "--severities must be in 1-5" in capsys.readouterr().err


def test_cli_study_writes_json_and_figure(tmp_path, capsys):
    out = tmp_path / "st"
    argv = ["study", "--features", "hog", "--lambdas", "1:100:3",  # logreg, the default
            "-c", "flip,contrast", "-s", "3", "--penalties", "l2,none", "-o", str(out), "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "<- chosen by CV" in printed and "none lambda 0" in printed
    result = json.loads((out / "study.json").read_text())
    assert len(result["l2_path"]) == 3 and result["corruptions"] == ["flip", "contrast"]
    trained = train(features="hog", lambdas=[1, 10, 100])
    assert result["chosen"]["clean_accuracy"] == trained.test_metrics["accuracy"]
    assert (out / "study.png").stat().st_size > 10_000
    assert main(argv) == 1  # study.json exists


def test_every_corruption_runs_through_the_engine(fitted, digits):
    result = robustness(fitted.model, digits.subset(np.arange(40)), severities="3")
    assert list(result["accuracy"]) == list(CORRUPTIONS)
