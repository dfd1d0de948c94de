"""Image quality statistics and flags: known answers on made-up images, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from l2vision.audit.quality import ISSUES, STATS, QualityIssues, flag_quality, image_stats


def _photo(rng, shape=(192, 256)):
    """A made-up photo: a smooth random background and a dozen sharp-edged shapes."""
    h, w = shape
    image = np.zeros((h, w, 3), np.float32)
    for cells, weight in ((4, 60.0), (16, 20.0)):
        noise = rng.normal(size=(cells, cells * w // h, 3)).astype(np.float32)
        image += weight * cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + 128, 0, 255).astype(np.uint8)
    for _ in range(12):
        color = rng.integers(0, 256, 3).tolist()
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.circle(image, (x, y), int(rng.integers(5, h // 4)), color, -1)
        else:
            corner = (x + int(rng.integers(5, w // 3)), y + int(rng.integers(5, h // 3)))
            cv2.rectangle(image, (x, y), corner, color, -1)
    return image


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(0)
    return [_photo(rng) for _ in range(30)]


def _flags(images) -> QualityIssues:
    return flag_quality(np.array([image_stats(im) for im in images]))


def _flagged(issues: QualityIssues, row: int) -> list[str]:
    return [name for name, bad in zip(ISSUES, issues.is_issue[row], strict=True) if bad]


def test_stats_known_answers():
    black = dict(zip(STATS, image_stats(np.zeros((8, 16, 3), np.uint8)), strict=True))
    assert (black["height"], black["width"]) == (8, 16)
    assert black["brightness"] == black["entropy"] == black["highlight"] == 0
    assert black["dark_fraction"] == 1 and black["light_fraction"] == 0
    halves = np.zeros((10, 10), np.uint8)
    halves[:, 5:] = 255
    stats = dict(zip(STATS, image_stats(halves), strict=True))
    assert stats["entropy"] == pytest.approx(1.0)
    assert stats["brightness"] == pytest.approx(0.5)
    assert (stats["shadow"], stats["highlight"]) == (0.0, 1.0)
    assert stats["color_range"] == 0.0


def test_stats_shape_and_grayscale(photos):
    stats = image_stats(photos[0])
    assert stats.shape == (len(STATS),) and stats.dtype == np.float64
    gray = cv2.cvtColor(cv2.cvtColor(photos[0], cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert image_stats(gray)[STATS.index("color_range")] == 0
    assert stats[STATS.index("color_range")] > 0.2


def test_clean_set_gets_no_flags(photos):
    issues = _flags(photos)
    assert issues.is_issue.shape == issues.score.shape == (len(photos), len(ISSUES))
    assert not issues.is_issue.any()
    assert issues.score.max() < 0.5


def test_black_image_is_dark(photos):
    issues = _flags(photos + [np.zeros((192, 256, 3), np.uint8)])
    assert _flagged(issues, -1) == ["dark", "low_information"]
    assert issues.score[-1, ISSUES.index("dark")] > 0.7
    assert not issues.is_issue[:-1].any()


def test_darkened_image_is_dark_and_not_blurry(photos):
    issues = _flags(photos + [(photos[0] * 0.2).astype(np.uint8)])
    assert _flagged(issues, -1) == ["dark"]


def test_blurred_image_is_blurry(photos):
    blurred = cv2.GaussianBlur(photos[3], (0, 0), 3)
    issues = _flags(photos + [blurred])
    assert _flagged(issues, -1) == ["blurry"]
    assert not issues.is_issue[:-1].any()


def test_washed_out_image_is_light(photos):
    washed = (photos[5] * 0.2 + 200).astype(np.uint8)
    assert "light" in _flagged(_flags(photos + [washed]), -1)


def test_odd_size(photos):
    strip = cv2.resize(photos[1], (512, 32))
    assert _flagged(_flags(photos + [strip]), -1) == ["odd_size"]
    tiny = cv2.resize(photos[1], (16, 12), interpolation=cv2.INTER_AREA)
    assert "odd_size" in _flagged(_flags(photos + [tiny]), -1)


def test_grayscale_flagged_only_in_a_mostly_color_set(photos):
    gray = [cv2.cvtColor(cv2.cvtColor(p, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            for p in photos[:10]]
    issues = _flags(photos + gray[:1])
    assert _flagged(issues, -1) == ["grayscale"]
    half = _flags(photos[:10] + gray)
    assert not half.is_issue[:, ISSUES.index("grayscale")].any()


def test_single_image_set():
    assert _flagged(_flags([np.zeros((20, 20, 3), np.uint8)]), 0) == ["dark", "low_information"]
    rng = np.random.default_rng(1)
    assert _flagged(_flags([_photo(rng)]), 0) == []


@pytest.mark.parametrize("image", [
    np.zeros((10, 10, 3), np.float32),
    np.zeros((10, 10, 4), np.uint8),
    np.zeros((0, 10, 3), np.uint8),
    np.zeros(10, np.uint8),
])
def test_bad_image(image):
    with pytest.raises(ValueError, match="image_stats: image must be a decoded uint8 array"):
        image_stats(image)


@pytest.mark.parametrize("stats, match", [
    (np.zeros((0, len(STATS))), "non-empty array of shape"),
    (np.zeros((3, 4)), r"shape \(n_images, 10\)"),
    (np.full((2, len(STATS)), np.nan), "finite"),
])
def test_bad_stats(stats, match):
    with pytest.raises(ValueError, match=match):
        flag_quality(stats)
