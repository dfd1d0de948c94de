"""Integration on real photos: 1,000 CIFAR-10 images (needs ../shared)."""

from __future__ import annotations

import numpy as np

from l2vision.features import HOG, LBP, ColorHistogram, ImageFeatures
from tests.conftest import cifar_subset


def test_hog_color_lbp_on_1000_cifar_images(cifar_dir):
    paths, labels = cifar_subset(cifar_dir, "train", per_class=100)
    assert len(paths) == 1000 and len(set(labels)) == 10
    features = ImageFeatures([HOG(), ColorHistogram(grid=(1, 2)), LBP(grid=(1, 2))], n_jobs=2)
    X = features.fit_transform(paths)
    assert X.shape == (1000, 1764 + 5 * 128 + 5 * 10)
    assert X.dtype == np.float32 and np.isfinite(X).all()
    # Real content: no all-zero rows, and the features separate at least some images.
    assert (np.abs(X).sum(axis=1) > 0).all()
    assert np.unique(X.round(4), axis=0).shape[0] > 990
