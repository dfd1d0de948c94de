"""Known answers for every corruption, determinism, and the parsers' errors."""

import cv2
import numpy as np
import pytest

from l2vision.corruptions.catalog import CORRUPTIONS, FAMILIES, corrupt, corruption_rng
from l2vision.corruptions.specs import parse_corruptions, parse_severities

RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "motion_blur", "rotate", "crop",
          "occlude"}


def photo(height=32, width=32, seed=0):
    """A smooth colored test image with some structure (not constant)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 220, (4, 4, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def gray(value, shape=(64, 64, 3)):
    return np.full(shape, value, np.uint8)


def test_every_family_member_is_a_corruption_and_every_corruption_has_a_family():
    members = [name for names in FAMILIES.values() for name in names]
    assert sorted(members) == sorted(CORRUPTIONS) and len(CORRUPTIONS) == 15


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("shape", [(32, 32, 3), (20, 28), (240, 320, 3)])
def test_shape_dtype_identity_and_determinism(name, shape):
    image = photo(*shape[:2])
    if len(shape) == 2:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    same = corrupt(image, name, 0, np.random.default_rng(0))
    assert same is not image and np.array_equal(same, image)
    for severity in (1, 3, 5):
        a = corrupt(image, name, severity, corruption_rng(0, 1, name, severity))
        b = corrupt(image, name, severity, corruption_rng(0, 1, name, severity))
        assert a.shape == image.shape and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
    if name in RANDOM and name != "rotate":  # rotate draws only a sign: seeds may agree
        draws = {corrupt(image, name, 3, corruption_rng(s, 1, name, 3)).tobytes()
                 for s in range(4)}
        assert len(draws) > 1
    if name != "saturate" or image.ndim == 3:
        assert not np.array_equal(corrupt(image, name, 5, corruption_rng(0, 1, name, 5)), image)


def test_input_is_not_modified():
    image = photo()
    before = image.copy()
    for name in CORRUPTIONS:
        corrupt(image, name, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(image, before)


def test_brightness_raises_the_value_channel_more_with_severity():
    image = photo()
    values = [cv2.cvtColor(corrupt(image, "brightness", s, None), cv2.COLOR_BGR2HSV)[..., 2].mean()
              for s in range(6)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    # thumbnail table: +0.05 of the range at severity 1, where nothing clips
    assert values[1] - values[0] == pytest.approx(0.05 * 255, abs=1.0)


def test_contrast_keeps_channel_means_and_scales_deviations():
    image = photo(64, 64)
    out = corrupt(image, "contrast", 2, None)  # c = 0.5
    np.testing.assert_allclose(out.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=0.6)
    assert out.std() == pytest.approx(0.5 * image.std(), rel=0.02)


def test_saturate_lowers_then_raises_saturation():
    image = photo()
    s = [cv2.cvtColor(corrupt(image, "saturate", k, None), cv2.COLOR_BGR2HSV)[..., 1].mean()
         for k in (0, 1, 2, 3)]
    assert s[2] < s[1] < s[0] < s[3]
    flat = gray(90, (16, 16))
    np.testing.assert_array_equal(corrupt(flat, "saturate", 5, None), flat)


@pytest.mark.parametrize(("shape", "severity", "quality"),
                         [((32, 32, 3), 1, 80), ((32, 32, 3), 5, 40), ((224, 224, 3), 1, 25),
                          ((300, 400), 3, 15)])
def test_jpeg_equals_opencv_encoding_at_the_table_quality(shape, severity, quality):
    image = photo(*shape[:2])
    if len(shape) == 2:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    expected = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(corrupt(image, "jpeg_compression", severity, None), expected)


def test_gaussian_noise_has_the_table_standard_deviation():
    out = corrupt(gray(128, (256, 256, 3)), "gaussian_noise", 1, np.random.default_rng(0))
    noise = out.astype(float) - 128
    assert abs(noise.mean()) < 0.2
    assert noise.std() == pytest.approx(0.08 * 255, rel=0.02)  # ImageNet table (side 256)


def test_shot_noise_is_poisson_with_the_table_rate():
    x = 128 / 255
    out = corrupt(gray(128, (32, 32, 3)), "shot_noise", 3, np.random.default_rng(0))  # c = 100
    assert out.astype(float).mean() == pytest.approx(128, abs=2.5)
    assert out.astype(float).std() == pytest.approx(np.sqrt(x / 100) * 255, rel=0.1)


def test_impulse_noise_sets_the_table_fraction_to_black_or_white():
    out = corrupt(gray(128, (200, 200, 3)), "impulse_noise", 5, np.random.default_rng(0))
    hit = out != 128
    assert set(np.unique(out[hit])) == {0, 255}
    assert hit.mean() == pytest.approx(0.27, abs=0.01)  # ImageNet table, severity 5
    assert (out[hit] == 255).mean() == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("name", ["defocus_blur", "motion_blur", "gaussian_blur", "pixelate",
                                  "rotate", "crop"])
def test_spatial_corruptions_leave_a_constant_image_constant(name):
    flat = gray(77, (48, 40, 3))
    np.testing.assert_array_equal(corrupt(flat, name, 4, np.random.default_rng(0)), flat)


def test_gaussian_blur_is_opencvs_with_the_scaled_sigma():
    image = photo(448, 448)
    expected = cv2.GaussianBlur(image, (0, 0), sigmaX=3 * 2.0, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_array_equal(corrupt(image, "gaussian_blur", 3, None), expected)


def test_defocus_spreads_a_point_over_a_disk_of_the_table_radius():
    point = np.zeros((224, 224), np.uint8)
    point[112, 112] = 255
    out = corrupt(point, "defocus_blur", 5, None).astype(float)  # radius 10
    spread = np.argwhere(out > 0)
    radius = np.abs(spread - 112).max()
    assert 10 <= radius <= 12
    # flat inside the disk: equal weights near the center
    assert out[112, 107] == pytest.approx(out[112, 112], abs=1)


def test_motion_blur_smears_a_point_along_one_line():
    point = np.zeros((64, 64), np.uint8)
    point[32, 32] = 255
    out = corrupt(point, "motion_blur", 5, np.random.default_rng(3))
    ys, xs = np.nonzero(out)
    assert len(ys) >= 3
    # the smear is a line: the points are collinear (rank one around their mean)
    centered = np.column_stack([ys, xs]) - np.column_stack([ys, xs]).mean(0)
    s = np.linalg.svd(centered.astype(float), compute_uv=False)
    assert s[1] < 0.2 * s[0]


def test_pixelate_makes_blocks():
    image = photo(224, 224)
    out = corrupt(image, "pixelate", 5, None)  # 224 -> 56 -> 224: 4x4 blocks
    np.testing.assert_array_equal(out[::4, ::4].repeat(4, 0).repeat(4, 1), out)


def test_rotate_turns_by_the_table_angle_one_way_or_the_other():
    image = photo(64, 64)
    out = corrupt(image, "rotate", 5, np.random.default_rng(0))
    candidates = [cv2.warpAffine(image, cv2.getRotationMatrix2D((31.5, 31.5), d, 1.0), (64, 64),
                                 borderMode=cv2.BORDER_REFLECT_101) for d in (15, -15)]
    assert any(np.array_equal(out, c) for c in candidates)


def test_crop_zooms_in_on_the_kept_fraction():
    ramp = np.tile(np.arange(0, 250, 2.5).astype(np.uint8), (100, 1))  # column gradient
    out = corrupt(ramp, "crop", 5, np.random.default_rng(1)).astype(float)  # keep 70%
    span = out[:, -1].mean() - out[:, 0].mean()
    assert span == pytest.approx(0.7 * (ramp[0, -1] - ramp[0, 0]), rel=0.05)


def test_flip_mirrors_and_occlude_covers_the_table_area():
    image = photo()
    np.testing.assert_array_equal(corrupt(image, "flip", 3, None), image[:, ::-1])
    dark = gray(10, (100, 100, 3))
    out = corrupt(dark, "occlude", 3, np.random.default_rng(0))  # 10% of the area
    covered = (out == 128).all(axis=2)
    assert covered.sum() == 32 * 32
    rows, cols = np.nonzero(covered)
    assert np.ptp(rows) == np.ptp(cols) == 31


def test_bad_names_severities_and_images_are_refused_with_clear_messages():
    image = photo()
    with pytest.raises(ValueError, match="unknown corruption 'fog'; known: gaussian_noise"):
        corrupt(image, "fog", 1, None)
    for severity in (6, -1, 2.5, True):
        with pytest.raises(ValueError, match="severity must be an int from 0"):
            corrupt(image, "brightness", severity, None)
    with pytest.raises(ValueError, match=r"expected a uint8 image .* float64 \(4, 4, 3\)"):
        corrupt(np.zeros((4, 4, 3)), "brightness", 1, None)


def test_parsers():
    assert parse_corruptions("all") == list(CORRUPTIONS)
    assert parse_corruptions("blur, flip") == [*FAMILIES["blur"], "flip"]
    with pytest.raises(ValueError, match="unknown corruption 'snow'"):
        parse_corruptions("noise,snow")
    with pytest.raises(ValueError, match="no corruption named"):
        parse_corruptions(" , ")
    assert parse_severities("1-5") == [1, 2, 3, 4, 5] and parse_severities([3, 1]) == [1, 3]
    for bad in ("0-2", "6", "a", ""):
        with pytest.raises(ValueError, match="severities"):
            parse_severities(bad)
