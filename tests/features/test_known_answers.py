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


def ramp(axis: int, size: int = 32) -> np.ndarray:
    """Intensity rising by 8 per pixel along ``axis`` (1: horizontal gradient)."""
    line = np.arange(size, dtype=np.uint8) * 8
    return np.tile(line, (size, 1)) if axis == 1 else np.tile(line[:, None], (1, size))


def test_hog_horizontal_gradient_lands_on_the_zero_degree_bins():
    # OpenCV's bins are centred at 10, 30, ..., 170 degrees: a 0-degree gradient
    # is split equally between the first and the last bin.
    energy = _orientation_energy(HOG().transform([ramp(axis=1)])[0], 9)
    np.testing.assert_allclose(energy, [0.5, 0, 0, 0, 0, 0, 0, 0, 0.5], atol=1e-5)


def test_hog_vertical_gradient_fills_the_90_degree_bin_like_skimage():
    image = ramp(axis=0)
    ours = _orientation_energy(HOG().transform([image])[0], 9)
    theirs = _orientation_energy(skimage_hog(image, orientations=9, pixels_per_cell=(4, 4),
                                             cells_per_block=(2, 2)), 9)
    np.testing.assert_allclose(ours, np.eye(9)[4], atol=1e-5)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_hog_agrees_with_skimage_on_a_photo_in_distribution():
    image = cv2.resize(skimage.data.camera(), (32, 32), interpolation=cv2.INTER_AREA)
    ours = _orientation_energy(HOG().transform([image])[0], 9)
    theirs = _orientation_energy(skimage_hog(image, orientations=9, pixels_per_cell=(4, 4),
                                             cells_per_block=(2, 2)), 9)
    assert np.corrcoef(ours, theirs)[0, 1] > 0.85


def test_hog_blocks_are_unit_norm_and_channels():
    image = cv2.resize(skimage.data.astronaut()[:, :, ::-1].copy(), (64, 64))
    blocks = HOG().transform([image])[0].reshape(-1, 36)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=1), 1, atol=3e-3)
    assert HOG(color="per-channel").transform([image]).shape == (1, 3 * 1764)
    assert HOG(color="max").transform([image]).shape == (1, 1764)


@pytest.mark.skipif(not hasattr(cv2, "HOGDescriptor"),
                    reason=f"OpenCV {cv2.__version__} has no cv2.HOGDescriptor to compare with "
                           "(CI runs this on OpenCV 4)")
@pytest.mark.parametrize("params", [
    {}, {"color": "max"}, {"color": "per-channel"}, {"signed": True, "gamma_correction": True},
    {"size": (40, 24), "cell_size": (4, 4), "block_size": (3, 2), "orientations": 6},
])
def test_hog_of_a_batch_equals_opencv_image_by_image(params):
    # Each row must be exactly what cv2.HOGDescriptor.compute gives for the
    # image alone, whatever the color mode.
    hog = HOG(**params)
    width, height = hog.size
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(37)]
    images[3][:] = 0  # flat: all-zero gradients
    images[5][:, :width // 2] = 255  # a hard edge
    descriptor = hog._descriptor()
    if hog.color == "gray":
        expected = [descriptor.compute(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)) for im in images]
    elif hog.color == "max":
        expected = [descriptor.compute(im) for im in images]
    else:
        expected = [np.concatenate([descriptor.compute(np.ascontiguousarray(im[:, :, c]))
                                    for c in range(3)]) for im in images]
    got = hog.transform(images)
    assert got.shape == (37, hog._n_features())
    np.testing.assert_array_equal(got, np.array(expected))


@pytest.mark.parametrize("params", [
    {}, {"space": "lab", "bins": (4, 5, 6)}, {"space": "rgb", "bins": 3, "grid": (1, 2, 3)},
    {"bins": (7, 3, 2), "grid": (2,), "sqrt": True},
])
def test_joint_color_histogram_equals_opencv_calchist(params):
    # The batched NumPy counting must bin exactly like cv2.calcHist per image and cell.
    hist = ColorHistogram(**params)
    code, top = {"hsv": (cv2.COLOR_BGR2HSV, 180), "lab": (cv2.COLOR_BGR2Lab, 256),
                 "rgb": (cv2.COLOR_BGR2RGB, 256)}[hist.space]
    bins = [hist.bins] * 3 if isinstance(hist.bins, int) else list(hist.bins)
    rng = np.random.default_rng(11)
    images = [rng.integers(0, 256, (13, 17, 3), dtype=np.uint8) for _ in range(9)]
    images.append(np.zeros((13, 17, 3), np.uint8))
    images.append(cv2.resize(skimage.data.astronaut()[:, :, ::-1], (17, 13)))
    expected = []
    for image in images:
        converted = cv2.cvtColor(image, code)
        row = []
        for n in hist.grid:
            ys = np.linspace(0, 13, n + 1).round().astype(int)
            xs = np.linspace(0, 17, n + 1).round().astype(int)
            for r in range(n):
                for c in range(n):
                    cell = np.ascontiguousarray(converted[ys[r]:ys[r + 1], xs[c]:xs[c + 1]])
                    counts = cv2.calcHist([cell], [0, 1, 2], None, bins, [0, top, 0, 256, 0, 256])
                    row.append(counts.ravel() / max(counts.sum(), 1))
        expected.append(np.concatenate(row))
    expected = np.sqrt(expected) if hist.sqrt else np.array(expected)
    together = hist.transform(images)
    np.testing.assert_allclose(together, expected, rtol=1e-6, atol=1e-7)
    # Images of different sizes take the per-image path: the same numbers.
    mixed = hist.transform(images + [cv2.resize(images[0], (26, 34))])
    np.testing.assert_allclose(mixed[:-1], together, rtol=1e-6, atol=1e-7)


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
    white = np.full((3, 4), 255, np.uint8)
    raw = TinyImage((2, 1), color="gray", normalize=False).transform([white])
    np.testing.assert_array_equal(raw, [[1, 1]])
