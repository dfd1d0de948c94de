"""train(): one extraction, held-out metrics, metadata, clear data errors; the feature cache."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import l2vision.features._batches as _batches
from l2vision.config import config_context
from l2vision.datasets import DatasetError, load_image_folder
from l2vision.features import HOG, ImageFeatures
from l2vision.features.cache import FeatureCacheWarning
from l2vision.workflows.train import train


def test_train_on_a_folder(color_folder):
    result = train(color_folder, features="color", model="ridge", cv=3, lambdas=[0.1, 10, 1000],
                   test_size=0.25)
    assert result.test_metrics["accuracy"] == 1.0 and result.test_metrics["n_samples"] == 9
    meta = result.metadata
    assert meta["classes"] == ["blue", "green", "red"] and meta["n_train"] == 27
    assert meta["lambda"] == result.search["lambda"] == result.model[-1].lambda_
    assert len(meta["cv_results"]["mean_test_score"]) == 3 and len(meta["train_fingerprint"]) == 64
    assert result.model.predict([str(color_folder / "red" / "00.png")]).tolist() == ["red"]


def test_features_are_extracted_once_per_run(color_folder, monkeypatch):
    calls = []
    real = _batches.featurize_batch
    monkeypatch.setattr(_batches, "featurize_batch",
                        lambda named, items, *a: calls.append(len(items)) or real(named, items, *a))
    train(color_folder, features="color", model="logreg", cv=3, lambdas=[1.0, 10.0], test_size=0.25)
    assert sum(calls) == 36  # 27 for training (not once per fold or λ) + 9 held out


@pytest.mark.filterwarnings("ignore::l2vision.linear.kfold.LambdaAtEdgeWarning")
def test_digits_default_run_is_accurate():
    result = train(features="hog,lbp", model="ridge", lambdas=10)
    assert result.test_metrics["accuracy"] >= 0.97 and result.metadata["n_test"] == 360


def test_data_errors(tmp_path, make_folder):
    with pytest.raises(DatasetError, match=r"only one class \('cat'\)"):
        train(make_folder({"cat": 6}), features="color")
    with pytest.raises(DatasetError, match=r"class 'dog' has 2 image\(s\); 5-fold cross-validation "
                                           r"plus a held-out split needs at least 6"):
        train(make_folder({"cat": 8, "dog": 2}, root=tmp_path / "two"), features="color")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        train(tmp_path / "empty")
    with pytest.raises(ValueError, match="Unknown feature 'surf'"):
        train(make_folder({"a": 6, "b": 6}, root=tmp_path / "ab"), features="surf")


def test_feature_cache_skips_extraction_and_rejects_corruption(color_folder, tmp_path, monkeypatch):
    X, _ = load_image_folder(color_folder)
    cache = tmp_path / "cache"
    with config_context(cache_dir=cache):
        first = ImageFeatures([HOG()]).transform(X)
        entries = sorted(p.suffix for p in cache.iterdir())
        assert entries == [".json", ".npy"]

        with monkeypatch.context() as patched:
            patched.setattr(_batches, "featurize_batch", None)  # extraction would now fail
            np.testing.assert_array_equal(ImageFeatures([HOG()]).transform(X), first)

        # Other parameters or other images: another key.
        ImageFeatures([HOG(orientations=6)]).transform(X)
        ImageFeatures([HOG()]).transform(X[:5])
        assert len(list(cache.glob("*.npy"))) == 3

        # A corrupt entry is detected, recomputed and replaced.
        npy = next(p for p in cache.glob("*.npy") if np.load(p).shape == first.shape and
                   np.load(p).shape[1] == 1764)
        data = bytearray(npy.read_bytes())
        data[-4:] = b"\x00\x00\xc0\x7f"
        npy.write_bytes(bytes(data))
        with pytest.warns(FeatureCacheWarning, match="corrupt feature cache entry"):
            again = ImageFeatures([HOG()]).transform(X)
        np.testing.assert_array_equal(again, first)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FeatureCacheWarning)
            ImageFeatures([HOG()]).transform(X)


def test_changed_image_content_misses_the_cache(color_folder, tmp_path):
    X, _ = load_image_folder(color_folder)
    cache = tmp_path / "cache"
    with config_context(cache_dir=cache):
        ImageFeatures([HOG()]).transform(X)
    import shutil

    shutil.copy(X[1], X[0])  # same path, new content
    with config_context(cache_dir=cache):
        ImageFeatures([HOG()]).transform(X)
    assert len(list(cache.glob("*.npy"))) == 2


def test_the_saved_model_is_refit_on_all_images(color_folder):
    options = dict(features="color", model="ridge", cv=3, lambdas=[10.0], test_size=0.25)
    refit, kept = train(color_folder, **options), train(color_folder, refit=False, **options)
    assert refit.test_metrics == kept.test_metrics  # measured before the refit
    assert refit.metadata["refit_on_all"] and not kept.metadata["refit_on_all"]
    full = train(color_folder, features="color", model="ridge", cv=3, lambdas=[10.0],
                 test_size=0)
    # float32 Gram sums in another order: equal to about 1e-4
    np.testing.assert_allclose(refit.model[-1].coef_, full.model[-1].coef_, rtol=2e-3, atol=1e-5)
    assert not np.allclose(kept.model[-1].coef_, full.model[-1].coef_)


def test_a_large_wide_matrix_with_the_logistic_model_gets_one_line_of_advice():
    import l2vision.workflows.train as workflow

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        workflow.warn_wide("logreg", 4160, 1435)  # the photo recipe on clothing10: the default
        workflow.warn_wide("ridge", 16_000, 50_000)  # already the ridge model
    with pytest.warns(workflow.WideFeaturesWarning,
                      match="10,000 images x 6,400 features: the logistic model's λ search"):
        workflow.warn_wide("logreg", 6400, 10_000)  # kmeans on 10,000 CIFAR-10 images


def test_the_advice_names_the_flag_on_the_command_line(tmp_path, capsys, monkeypatch):
    import l2vision.workflows.train as workflow
    from l2vision.cli import main

    monkeypatch.setattr(workflow, "WIDE_FEATURES", 192)  # tiny:8 of the digits: 192 features
    monkeypatch.setattr(workflow, "MANY_IMAGES", 1000)  # 1,437 training images
    args = ["train", "--features", "tiny:8", "--cv", "3", "--lambdas", "1:100:2"]
    assert main([*args, "-o", str(tmp_path / "m.joblib")]) == 0
    assert ("l2vision: warning: 1,437 images x 192 features: the logistic model's λ search fits "
            "every λ of every fold iteratively and is slow at this size; --model ridge "
            "searches the whole λ path exactly") in capsys.readouterr().err
    assert main([*args, "--model", "ridge", "-o", str(tmp_path / "r.joblib")]) == 0
    assert "λ search fits" not in capsys.readouterr().err
