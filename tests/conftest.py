"""Shared fixtures: the ../shared folder (skipped with a reason when absent) and small images."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(os.environ.get("L2VISION_SHARED",
                             Path(__file__).resolve().parents[1] / ".." / "shared"))
CIFAR = SHARED / "data" / "cifar10"
MODELS = SHARED / "models"


@pytest.fixture(autouse=True)
def _run_in_a_temporary_folder(tmp_path, monkeypatch):
    """Every test runs in its own empty folder: files in the user's current folder
    (a model.joblib from the quickstart, say) neither change a test's outcome nor
    get overwritten by a command run with its default output names."""
    monkeypatch.chdir(tmp_path)


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path.resolve()} (../shared is absent in a fresh "
                    "clone; CI provides it)")
    return path


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The CIFAR-10 JPEG folders (train/ and test/), or skip."""
    return _need(CIFAR, "CIFAR-10 images")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The small pretrained CNN files, or skip."""
    return _need(MODELS, "pretrained model files")


def cifar_subset(root: Path, split: str, per_class: int) -> tuple[list[str], list[str]]:
    """The first ``per_class`` files of each class of a CIFAR-10 split."""
    paths, labels = [], []
    for class_dir in sorted((root / split).iterdir()):
        files = sorted(class_dir.iterdir())[:per_class]
        paths += [str(f) for f in files]
        labels += [class_dir.name] * len(files)
    return paths, labels


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def write_image(path: Path, image: np.ndarray) -> Path:
    """Encode with OpenCV (extension picks the format) and write; returns the path."""
    ok, buf = cv2.imencode(path.suffix, image)
    assert ok, path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return path


@pytest.fixture
def make_folder(tmp_path, rng):
    """Build an ImageFolder tree of random images: ``make_folder({"cat": 3, "dog": 2})``."""

    def make(counts: dict, size=(24, 20), root: Path | None = None) -> Path:
        root = root or tmp_path / "images"
        for name, count in counts.items():
            for i in range(count):
                image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                write_image(root / name / f"{i:03d}.png", image)
        return root

    return make


@pytest.fixture
def color_folder(tmp_path):
    """A learnable ImageFolder: noisy red, green and blue images, 12 of each."""
    rng = np.random.default_rng(7)
    root = tmp_path / "colors"
    for channel, name in enumerate(("blue", "green", "red")):
        for i in range(12):
            image = rng.integers(0, 90, (20, 24, 3), dtype=np.uint8)
            image[:, :, channel] += 150
            write_image(root / name / f"{i:02d}.png", image)
    return root
