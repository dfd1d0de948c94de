"""Known answers on tiny hand-built images, and agreement with scikit-image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from skimage.feature import hog as skimage_hog
from skimage.feature import local_binary_pattern

from l2vision.features import HOG, LBP, ColorHistogram, TinyImage


def _orientation_energy(features: np.ndarray, orientations: int) -> np.ndarray:
    energy = features.reshape(-1, orientations).sum(axis=0)
    return energy / energy.sum()


def ramp(axis: int, size: int = 64) -> np.ndarray:
    """Intensity rising by 4 per pixel along ``axis`` (1: horizontal gradient)."""
    line = np.arange(size, dtype=np.uint8) * 4
    return np.tile(line, (size, 1)) if axis == 1 else np.tile(line[:, None], (1, size))


def test_hog_horizontal_gradient_lands_on_the_zero_degree_bins():
    # OpenCV's bins are centred at 10, 30, ..., 170 degrees: a 0-degree gradient
    # is split equally between the first and the last bin.
    energy = _orientation_energy(HOG().transform([ramp(axis=1)])[0], 9)
    np.testing.assert_allclose(energy, [0.5, 0, 0, 0, 0, 0, 0, 0, 0.5], atol=1e-5)


def test_hog_vertical_gradient_fills_the_90_degree_bin_like_skimage():
    image = ramp(axis=0)
    ours = _orientation_energy(HOG().transform([image])[0], 9)
    theirs = _orientation_energy(skimage_hog(image, orientations=9, pixels_per_cell=(8, 8),
                                             cells_per_block=(2, 2)), 9)
    np.testing.assert_allclose(ours, np.eye(9)[4], atol=1e-5)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_hog_agrees_with_skimage_on_a_photo_in_distribution():
    image = cv2.resize(skimage.data.camera(), (64, 64), interpolation=cv2.INTER_AREA)
    ours = _orientation_energy(HOG().transform([image])[0], 9)
    theirs = _orientation_energy(skimage_hog(image, orientations=9, pixels_per_cell=(8, 8),
                                             cells_per_block=(2, 2)), 9)
    assert np.corrcoef(ours, theirs)[0, 1] > 0.85


def test_hog_blocks_are_unit_norm_and_channels():
    image = cv2.resize(skimage.data.astronaut()[:, :, ::-1].copy(), (64, 64))
    blocks = HOG().transform([image])[0].reshape(-1, 36)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=1), 1, atol=3e-3)
    assert HOG(color="per-channel").transform([image]).shape == (1, 3 * 1764)
    assert HOG(color="max").transform([image]).shape == (1, 1764)


def test_color_histogram_red_goes_to_the_red_hue_bin():
    red = np.zeros((10, 12, 3), np.uint8)
    red[..., 2] = 255
    features = ColorHistogram().transform([red])[0].reshape(8, 4, 4)
    assert features[0].sum() == pytest.approx(1.0)
    assert features[0, 3, 3] == pytest.approx(1.0)  # saturated, bright


def test_color_histogram_is_normalized_per_cell_and_size_free():
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    large = cv2.resize(small, (64, 64), interpolation=cv2.INTER_NEAREST)
    hist = ColorHistogram(grid=(1, 2))
    f_small, f_large = hist.transform([small, large])
    np.testing.assert_allclose(f_small, f_large, atol=1e-6)
    np.testing.assert_allclose(f_small.reshape(5, 128).sum(axis=1), 1, atol=1e-6)
    per_channel = ColorHistogram(mode="per-channel", bins=4).transform([small])[0]
    np.testing.assert_allclose(per_channel.reshape(3, 4).sum(axis=1), 1 / 3, atol=1e-6)


def test_color_histogram_sqrt_is_hellinger():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    plain = ColorHistogram("lab").transform([image])
    np.testing.assert_allclose(ColorHistogram("lab", sqrt=True).transform([image]),
                               np.sqrt(plain), rtol=1e-6)


def test_lbp_flat_image_is_one_code():
    features = LBP(8, grid=(1, 2)).transform([np.full((16, 16), 77, np.uint8)])[0]
    np.testing.assert_array_equal(features.reshape(5, 10), np.tile(np.eye(10)[8], (5, 1)))


def test_lbp_matches_skimage_inside_the_image():
    gray = cv2.resize(skimage.data.camera(), (48, 48), interpolation=cv2.INTER_AREA)
    codes = local_binary_pattern(gray, 8, 1, "uniform")[2:-2, 2:-2].astype(int)
    ours = LBP()._codes(gray)[2:-2, 2:-2]
    np.testing.assert_array_equal(ours, codes)
    hist = LBP().transform([gray])[0]
    assert hist.shape == (10,) and hist.sum() == pytest.approx(1)


def test_lbp_converts_color_to_gray_first():
    rng = np.random.default_rng(3)
    color = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(LBP().transform([color]),
                                  LBP().transform([cv2.cvtColor(color, cv2.COLOR_BGR2GRAY)]))


def test_tiny_image_is_zero_mean_unit_norm():
    rng = np.random.default_rng(4)
    f = TinyImage().transform([rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)])[0]
    assert f.shape == (768,)
    assert abs(f.mean()) < 1e-6 and np.linalg.norm(f) == pytest.approx(1, rel=1e-5)
    flat = TinyImage().transform([np.full((5, 5), 9, np.uint8)])
    np.testing.assert_array_equal(flat, 0)
    raw = TinyImage((2, 1), color="gray", normalize=False).transform([np.full((3, 4), 255, np.uint8)])
    np.testing.assert_array_equal(raw, [[1, 1]])
