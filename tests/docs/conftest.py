"""Fixtures of the docs tests: a tiny labelled image folder that the shell examples run on.

The pages' examples use ``photos/`` (two classes, ``circle`` and ``square``),
``test_photos/`` (the same classes, other images), ``new/`` (unlabelled images) and
``model.joblib`` (trained on ``photos/`` with ``hog,color`` and ridge).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def _image(rng: np.random.Generator, shape: str, size: int = 64) -> np.ndarray:
    """A noisy background with a circle or a square in a random place and color."""
    image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
    color = tuple(int(c) for c in rng.integers(120, 256, 3))
    centre = rng.integers(20, size - 20, 2)
    radius = int(rng.integers(10, 16))
    if shape == "circle":
        cv2.circle(image, (int(centre[0]), int(centre[1])), radius, color, -1)
    else:
        cv2.rectangle(image, (int(centre[0] - radius), int(centre[1] - radius)),
                      (int(centre[0] + radius), int(centre[1] + radius)), color, -1)
    return image


def make_image_folders(root: Path, seed: int = 0) -> None:
    """``photos/`` (15 per class), ``test_photos/`` (6 per class), ``new/`` (5 images)."""
    rng = np.random.default_rng(seed)
    for folder, count in (("photos", 15), ("test_photos", 6)):
        for shape in ("circle", "square"):
            (root / folder / shape).mkdir(parents=True)
            for i in range(count):
                cv2.imwrite(str(root / folder / shape / f"{i:02d}.png"), _image(rng, shape))
    (root / "new").mkdir()
    for i in range(5):
        cv2.imwrite(str(root / "new" / f"img{i}.png"), _image(rng, ("circle", "square")[i % 2]))


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """One BLAS thread: on a busy 2-core machine, OpenBLAS's threads oversubscribe the cores
    and a λ search on the digits takes 20 s instead of 1 s."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory) -> Path:
    """The image folders and ``model.joblib``, made once; copy it before writing into it."""
    from l2vision.cli import main

    root = tmp_path_factory.mktemp("docs_sample")
    make_image_folders(root)
    code = main(["train", str(root / "photos"), "--features", "hog,color", "--model", "ridge",
                 "--cv", "3", "-o", str(root / "model.joblib"), "-q"])
    assert code == 0
    shutil.rmtree(root / "model_report")
    return root


@pytest.fixture()
def workspace(sample_workspace, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the sample workspace, as the current folder."""
    work = tmp_path / "work"
    shutil.copytree(sample_workspace, work)
    monkeypatch.chdir(work)
    return work
