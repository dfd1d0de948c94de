"""hog_descriptors against OpenCV 4's cv2.HOGDescriptor, and known answers without it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from l2vision.features._hog_compute import hog_descriptors

PHOTOS = Path(__file__).resolve().parents[2] / "data" / "clothes" / "train"
TOLERANCE = 1e-5

needs_hog = pytest.mark.skipif(
    not hasattr(cv2, "HOGDescriptor"),
    reason=f"OpenCV {cv2.__version__} has no cv2.HOGDescriptor to compare with "
           "(OpenCV 5 removed it; hog_descriptors replaces it)")

# name: (height, width, hog_descriptors keywords); l2vision's HOG default, hog:64, the 'best'
# set's hog8, hog4 and hog6, then the other options and geometries
CONFIGS = {
    "default": (32, 32, {}),
    "hog64": (64, 64, {"cell_size": (8, 8)}),
    "hog8": (64, 64, {"cell_size": (8, 8), "color": "max"}),
    "hog4": (32, 32, {"color": "max"}),
    "hog6": (48, 48, {"cell_size": (6, 6), "orientations": 12, "signed": True,
                      "color": "max"}),
    "per-channel": (32, 32, {"color": "per-channel"}),
    "gamma": (32, 32, {"gamma_correction": True}),
    "gamma-max": (32, 32, {"gamma_correction": True, "color": "max"}),
    # 42 = 4 * 10 + 2: OpenCV picks the channel of the last 2 columns in its scalar loop
    "max-42-wide": (48, 42, {"cell_size": (6, 6), "color": "max"}),
    "48x32-cell8": (32, 48, {"cell_size": (8, 8)}),
    "stride2": (64, 64, {"cell_size": (8, 8), "block_stride": (2, 2)}),
    "rect-cells-3x2-blocks": (48, 32, {"cell_size": (8, 4), "block_size": (2, 3),
                                        "block_stride": (2, 1)}),
    "signed-18": (32, 32, {"orientations": 18, "signed": True}),
}


def opencv_hog(images: np.ndarray, *, cell_size=(4, 4), block_size=(2, 2), block_stride=(1, 1),
               orientations=9, signed=False, gamma_correction=False, color="gray"):
    """What l2vision's HOG computed with OpenCV 4: HOGDescriptor.compute image by image."""
    height, width = images.shape[1:3]
    block_px = (block_size[0] * cell_size[0], block_size[1] * cell_size[1])
    stride_px = (block_stride[0] * cell_size[0], block_stride[1] * cell_size[1])
    hog = cv2.HOGDescriptor((width, height), block_px, stride_px, tuple(cell_size),
                            orientations, 1, -1.0, cv2.HOGDESCRIPTOR_L2HYS, 0.2,
                            gamma_correction, 64, signed)
    if color == "per-channel":
        return np.stack([np.concatenate([hog.compute(np.ascontiguousarray(image[:, :, c]))
                                         for c in range(3)]) for image in images])
    return np.stack([hog.compute(image) for image in images])


def random_images(height, width, kw, n=64, seed=0, levels=None):
    """uint8 noise of the shape the configuration needs; ``levels`` restricts the values."""
    rng = np.random.default_rng(seed)
    shape = (n, height, width) + ((3,) if kw.get("color", "gray") != "gray" else ())
    if levels is None:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.choice(np.asarray(levels, np.uint8), shape)


def photos(height, width, kw):
    """The clothes photos resized to the configuration's size (gray unless it takes color)."""
    files = sorted(PHOTOS.glob("*/*.jpg"))
    if not files:
        pytest.skip(f"no photos found under {PHOTOS}")
    images = [cv2.resize(cv2.imread(str(f)), (width, height), interpolation=cv2.INTER_AREA)
              for f in files]
    if kw.get("color", "gray") == "gray":
        images = [cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) for image in images]
    return np.stack(images)


def assert_matches_opencv(images, kw):
    ours = hog_descriptors(images, **kw)
    theirs = opencv_hog(images, **kw)
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= TOLERANCE


@needs_hog
@pytest.mark.parametrize("name", CONFIGS)
def test_random_images_match_opencv(name):
    height, width, kw = CONFIGS[name]
    assert_matches_opencv(random_images(height, width, kw), kw)


@needs_hog
@pytest.mark.parametrize("name", CONFIGS)
def test_photos_match_opencv(name):
    height, width, kw = CONFIGS[name]
    assert_matches_opencv(photos(height, width, kw), kw)


@needs_hog
@pytest.mark.parametrize("name", ["default", "hog8", "hog6", "per-channel",
                                  "rect-cells-3x2-blocks"])
@pytest.mark.parametrize("value", [0, 128, 255])
def test_constant_images_match_opencv_with_zero_gradients(name, value):
    height, width, kw = CONFIGS[name]
    images = np.full(random_images(height, width, kw, n=2).shape, value, np.uint8)
    assert_matches_opencv(images, kw)
    assert not hog_descriptors(images, **kw).any()


@needs_hog
@pytest.mark.parametrize("name", ["hog4", "hog6", "gamma-max", "max-42-wide"])
def test_tied_channel_magnitudes_pick_opencvs_channel(name):
    # two levels: the channels' gradients are often equally strong in different
    # directions ((100, 0) against (0, 100)), so the tie-breaking rule shows
    height, width, kw = CONFIGS[name]
    assert_matches_opencv(random_images(height, width, kw, levels=(0, 100)), kw)


@needs_hog
def test_batches_larger_than_a_chunk_match_opencv():
    # 300 32x32 images go through several chunks, the last one partial
    height, width, kw = CONFIGS["hog4"]
    assert_matches_opencv(random_images(height, width, kw, n=300, seed=3), kw)


def test_one_image_equals_its_row_in_a_batch():
    images = random_images(32, 32, {"color": "max"}, n=300, seed=4)
    batch = hog_descriptors(images, color="max")
    for i in (0, 31, 32, 299):
        np.testing.assert_array_equal(hog_descriptors(images[i:i + 1], color="max")[0], batch[i])


def ramp(axis: int, size: int = 8, step: int = 10, reverse: bool = False) -> np.ndarray:
    """A (1, size, size) image whose intensity grows by ``step`` along ``axis`` (0: down)."""
    line = np.arange(size, dtype=np.uint8) * step
    line = line[::-1] if reverse else line
    image = np.repeat(line[:, None], size, axis=1) if axis == 0 else np.tile(line, (size, 1))
    return image[None]


def test_vertical_gradient_fills_bin_4_of_each_cell():
    # 90 degrees is the centre of bin 4 (bins centred on 10, 30, ..., 170); the
    # block's four equal values are clipped to 0.2, then divided by 4 * 0.2**2 ** 0.5 + 1e-3
    cells = hog_descriptors(ramp(axis=0)).reshape(4, 9)
    expected = np.zeros((4, 9), np.float32)
    expected[:, 4] = 0.2 / (0.4 + 1e-3)
    np.testing.assert_allclose(cells, expected, atol=1e-6)


def test_horizontal_gradient_splits_between_the_first_and_last_bins():
    # 0 degrees lies halfway between the bins centred on 170 and 10 degrees
    cells = hog_descriptors(ramp(axis=1)).reshape(4, 9)
    expected = np.zeros((4, 9), np.float32)
    expected[:, [0, 8]] = 0.2 / (8 ** 0.5 * 0.2 + 1e-3)
    np.testing.assert_allclose(cells, expected, atol=1e-6)


@pytest.mark.parametrize("reverse, signed_bin", [(False, 4), (True, 13)])
def test_signed_bins_tell_up_from_down(reverse, signed_bin):
    # 18 signed bins of 20 degrees: 90 degrees -> bin 4, 270 degrees -> bin 13;
    # unsigned, both are 90 degrees -> bin 4 of 9
    image = ramp(axis=0, reverse=reverse)
    signed = hog_descriptors(image, orientations=18, signed=True).reshape(4, 18)
    unsigned = hog_descriptors(image).reshape(4, 9)
    assert (signed.argmax(axis=1) == signed_bin).all()
    assert (unsigned.argmax(axis=1) == 4).all()


def test_constant_image_has_no_gradient():
    assert not hog_descriptors(np.full((3, 32, 32), 77, np.uint8)).any()


@pytest.mark.parametrize("height, width, kw, n_features", [
    (32, 32, {}, 7 * 7 * 4 * 9),
    (32, 48, {"cell_size": (8, 8)}, 5 * 3 * 4 * 9),  # 48 wide: 5 blocks across, 3 down
    (32, 48, {"cell_size": (8, 8), "color": "per-channel"}, 3 * 5 * 3 * 4 * 9),
    (64, 64, {"cell_size": (8, 8), "block_stride": (2, 2)}, 4 * 4 * 4 * 9),
    (48, 48, {"cell_size": (6, 6), "orientations": 12, "color": "max"}, 7 * 7 * 4 * 12),
])
def test_float32_and_the_documented_length(height, width, kw, n_features):
    images = random_images(height, width, kw, n=5)
    out = hog_descriptors(images, **kw)
    assert out.dtype == np.float32
    assert out.shape == (5, n_features)
    assert hog_descriptors(images[:0], **kw).shape == (0, n_features)


@pytest.mark.parametrize("images, kw, match", [
    (np.zeros((2, 32, 32), np.float32), {}, "uint8 array of shape \\(N, H, W\\)"),
    (np.zeros((32, 32), np.uint8), {}, "uint8 array of shape \\(N, H, W\\)"),
    (np.zeros((2, 32, 32), np.uint8), {"color": "max"}, "\\(N, H, W, 3\\) for color='max'"),
    (np.zeros((2, 32, 32, 3), np.uint8), {"color": "hsv"}, "color must be one of"),
    (np.zeros((2, 30, 32), np.uint8), {}, "image height 30 must be at least the block's 8 px"),
    (np.zeros((2, 32, 32), np.uint8), {"orientations": 0}, "orientations must be >= 1"),
])
def test_bad_input_is_refused(images, kw, match):
    with pytest.raises(ValueError, match=match):
        hog_descriptors(images, **kw)


def test_the_hog_extractor_uses_this_where_opencv_has_no_hogdescriptor(monkeypatch):
    """OpenCV 5 has no HOGDescriptor: the extractor's features stay the same."""
    from l2vision.features import HOG

    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (40, 36, 3), dtype=np.uint8) for _ in range(6)]
    extractors = [HOG(), HOG(size=(64, 64), cell_size=(8, 8), color="max"),
                  HOG(12, size=(48, 48), cell_size=(6, 6), color="max", signed=True),
                  HOG(color="per-channel", gamma_correction=True)]
    before = [h.fit().transform(images) for h in extractors] \
        if hasattr(cv2, "HOGDescriptor") else None
    monkeypatch.delattr(cv2, "HOGDescriptor", raising=False)
    after = [h.fit().transform(images) for h in extractors]
    for features, extractor in zip(after, extractors, strict=True):
        assert features.shape == (6, extractor._n_features()) and features.dtype == np.float32
    if before is not None:
        for a, b in zip(before, after, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
