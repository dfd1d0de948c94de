"""Models saved by l2vision 0.1 load and predict as they did; their run-time settings are dropped.

The files in tests/data/models_v0_1 were written by l2vision 0.1 (the commit
before the structure change): the λ searches lived in ``l2vision.pipelines.search``
and ImageFeatures / CNNEmbedding carried run-time parameters (n_jobs,
batch_size, scheduler, cache_dir, threads...).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from l2vision.config import RuntimeSettingWarning
from l2vision.datasets import load_image_folder
from l2vision.pipelines.persist import ModelVersionWarning, load

DATA = Path(__file__).resolve().parents[1] / "data" / "models_v0_1"
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = json.loads((DATA / "expected.json").read_text())
RUNTIME = {"n_jobs", "batch_size", "progress", "cache_dir", "scheduler", "isolate",
           "image_timeout", "max_pixels", "threads"}


def _load(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelVersionWarning)
        return load(DATA / f"{name}.joblib")


@pytest.mark.parametrize("name", ["digits_hog_color_ridge", "digits_lbp_tiny_logreg",
                                  "digits_kmeans_ridge"])
def test_digits_models_of_0_1_predict_as_they_did(name):
    model = _load(name)
    probe = list(np.load(DATA / "probe_digits.npy"))
    got = model.predict_proba(probe) if "logreg" in name else model.decision_function(probe)
    np.testing.assert_allclose(got, EXPECTED[name], rtol=1e-5, atol=1e-6)
    params = model.get_params(deep=True)
    assert not RUNTIME & {key.split("__")[-1] for key in params}
    assert type(model[-1]).__module__.startswith("l2vision.linear.")


def test_the_photo_model_of_0_1_predicts_as_it_did():
    model = _load("clothes_photo_logreg")
    val = load_image_folder(ROOT / "data" / "clothes" / "val")
    np.testing.assert_allclose(model.predict_proba(val.images[:8]),
                               EXPECTED["clothes_photo_logreg"], atol=1e-4)
    assert not RUNTIME & {key.split("__")[-1] for key in model.get_params(deep=True)}


def test_run_time_settings_in_a_0_1_file_are_dropped_with_a_warning(tmp_path):
    # This file's ImageFeatures was saved with scheduler="tcp://127.0.0.1:9",
    # n_jobs=2, cache_dir, progress and batch_size set: 0.1 would connect there.
    with pytest.warns(RuntimeSettingWarning, match="ImageFeatures: the model file sets "
                      "batch_size, cache_dir, n_jobs, progress, scheduler, which decide how "
                      "work runs"):
        model = load(DATA / "digits_color_runtime_settings.joblib")
    features = model.named_steps["features"]
    assert not RUNTIME & set(vars(features))
    probe = list(np.load(DATA / "probe_digits.npy"))
    np.testing.assert_allclose(model.decision_function(probe),
                               EXPECTED["digits_color_runtime_settings"], rtol=1e-5, atol=1e-6)
    assert not Path("/tmp/l2v_planted_cache").exists()
