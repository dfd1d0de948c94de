"""save/load: metadata, integrity, version drift, atomic and non-destructive writes."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from l2vision.pipelines import persist
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import (
    ModelFileError,
    ModelVersionWarning,
    load,
    read_metadata,
    save,
)

BLUE, RED = np.full((8, 8, 3), (255, 0, 0), np.uint8), np.full((8, 8, 3), (0, 0, 255), np.uint8)


@pytest.fixture
def model():
    return make_pipeline("color", "ridge", lam=1.0).fit([BLUE, RED, RED // 2], ["a", "b", "b"])


def test_round_trip_with_metadata(tmp_path, model):
    path = save(model, tmp_path / "m.joblib", metadata={"classes": ["a", "b"], "lambda": 3.0})
    loaded, meta = load(path, with_metadata=True)
    assert loaded.predict([RED]).tolist() == ["b"]
    assert meta["classes"] == ["a", "b"] and meta["lambda"] == 3.0
    assert set(meta["versions"]) == {"l2vision", "scikit-learn", "numpy", "opencv", "scikit-image"}
    assert meta["created"].endswith("+00:00")
    assert read_metadata(path) == meta


def test_existing_file_is_never_overwritten_unless_asked(tmp_path, model):
    path = tmp_path / "m.joblib"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="m.joblib: file exists; use overwrite=True"):
        save(model, path)
    assert path.read_bytes() == b"precious"
    save(model, path, overwrite=True)
    assert load(path).predict([BLUE]).tolist() == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["m.joblib"]  # no temporary file left


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch, model):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persist.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        save(model, tmp_path / "m.joblib")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x80\x04K\x01."])
def test_foreign_files_are_refused(tmp_path, content):
    path = tmp_path / "x.joblib"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=r"x\.joblib: not an l2vision model file"):
        load(path)


def test_a_joblib_file_of_something_else_is_refused(tmp_path, model):
    joblib.dump({"weights": [1, 2]}, tmp_path / "plain.joblib")
    with pytest.raises(ModelFileError, match="no l2vision format marker"):
        load(tmp_path / "plain.joblib")
    # A scikit-learn model pickled by another tool: named, and nothing of it is built.
    joblib.dump(DummyClassifier().fit([[0]], [0]), tmp_path / "sklearn.joblib")
    with pytest.raises(ModelFileError, match=r"sklearn\.joblib: not an l2vision model file \(it "
                       r"holds sklearn\.dummy\.DummyClassifier, not an l2vision model\)"):
        load(tmp_path / "sklearn.joblib")


def test_damaged_payload_fails_the_checksum(tmp_path, model):
    path = save(model, tmp_path / "m.joblib")
    container = joblib.load(path)
    container["model"] = container["model"][:-3] + b"xyz"
    joblib.dump(container, path)
    with pytest.raises(ModelFileError, match="does not match its sha256 checksum"):
        load(path)


def test_version_drift_warns(tmp_path, model):
    path = save(model, tmp_path / "m.joblib")
    container = joblib.load(path)
    metadata = json.loads(container["metadata"])  # JSON text, never a pickle
    metadata["versions"]["scikit-learn"] = "0.1"
    container["metadata"] = json.dumps(metadata)
    joblib.dump(container, path)
    with pytest.warns(ModelVersionWarning, match=r"scikit-learn 0\.1 -> "):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load(tmp_path / "none.joblib")
