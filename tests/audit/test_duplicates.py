"""Exact and near duplicates, leaks, the blocked neighbour search and its memory."""

from __future__ import annotations

import time
import tracemalloc

import cv2
import numpy as np
import pytest

from l2vision.audit.duplicates import (
    DuplicatePairs,
    exact_duplicates,
    hamming_distance,
    near_duplicates,
    nearest_neighbors,
    perceptual_hash,
    pixel_hash,
)


def _photo(rng, shape=(96, 128)):
    """A smooth random color image with texture at several scales."""
    h, w = shape
    image = np.zeros((h, w, 3), np.float32)
    for cells, weight in ((4, 120.0), (16, 50.0), (48, 20.0)):
        noise = rng.normal(size=(cells, cells * w // h, 3)).astype(np.float32)
        image += weight * cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(image + 128, 0, 255).astype(np.uint8)


def test_pixel_hash_is_equal_for_equal_pixels_only():
    rng = np.random.default_rng(0)
    a = _photo(rng)
    assert pixel_hash(a) == pixel_hash(a.copy())
    assert pixel_hash(a) == pixel_hash(np.asfortranarray(a))
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert pixel_hash(a) != pixel_hash(b)
    assert pixel_hash(a) != pixel_hash(a.reshape(128, 96, 3))
    assert len(pixel_hash(a)) == 32


def test_exact_duplicates_groups():
    rng = np.random.default_rng(0)
    images = [_photo(rng) for _ in range(4)]
    images += [images[2].copy(), images[0].copy(), images[2].copy()]
    groups = exact_duplicates([pixel_hash(im) for im in images])
    assert [g.tolist() for g in groups] == [[0, 5], [2, 4, 6]]
    assert exact_duplicates([]) == []
    assert exact_duplicates(["a", "b"]) == []


def test_exact_duplicate_features_pair_with_similarity_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 24))
    x[17] = x[5]
    pairs = near_duplicates(x)
    assert isinstance(pairs, DuplicatePairs)
    assert (pairs.first.tolist(), pairs.second.tolist()) == ([5], [17])
    assert pairs.similarity[0] == pytest.approx(1.0, abs=1e-6)


def test_planted_near_duplicate_is_found():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 64))
    x[250] = x[42] + 0.1 * rng.normal(size=64)
    pairs = near_duplicates(x)
    assert list(zip(pairs.first.tolist(), pairs.second.tolist(), strict=True)) == [(42, 250)]
    assert 0.9 < pairs.similarity[0] < 1.0
    assert pairs.first.dtype == np.int64 and pairs.similarity.dtype == np.float32


def test_group_of_copies_reported_in_full_and_sorted():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 32))
    for i in (10, 20, 30):
        x[i] = x[0] + 0.02 * rng.normal(size=32)
    pairs = near_duplicates(x)
    assert sorted(zip(pairs.first.tolist(), pairs.second.tolist(), strict=True)) == [
        (0, 10), (0, 20), (0, 30), (10, 20), (10, 30), (20, 30)]
    assert np.all(np.diff(pairs.similarity) <= 0)


def test_perceptual_hash_as_second_signal():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 32))
    x[150] = x[7] + 0.3 * rng.normal(size=32)
    strict = near_duplicates(x, threshold=0.999)
    assert len(strict.first) == 0
    hashes = rng.integers(0, 2**63, 200, dtype=np.int64).astype(np.uint64)
    hashes[150] = hashes[7] ^ np.uint64(0b111)
    relaxed = near_duplicates(x, threshold=0.999, hashes=hashes)
    sim = relaxed.similarity[0]
    if sim >= 0.899:  # the pHash rule admits pairs down to threshold - 0.1
        assert (relaxed.first.tolist(), relaxed.second.tolist()) == ([7], [150])
    assert len(near_duplicates(x, threshold=0.999, hashes=hashes, max_hamming=2).first) == 0


def test_single_image_has_no_pairs():
    pairs = near_duplicates(np.ones((1, 5)))
    assert pairs.first.shape == pairs.second.shape == pairs.similarity.shape == (0,)


def test_leaks_between_sets():
    rng = np.random.default_rng(4)
    train = rng.normal(size=(500, 48))
    test = rng.normal(size=(100, 48))
    test[[3, 60]] = train[[77, 401]] + 0.05 * rng.normal(size=(2, 48))
    pairs = near_duplicates(test, train)
    assert list(zip(pairs.first.tolist(), pairs.second.tolist(), strict=True)) in (
        [(3, 77), (60, 401)], [(60, 401), (3, 77)])


def test_nearest_neighbors_matches_brute_force():
    rng = np.random.default_rng(5)
    q = rng.normal(size=(130, 16)).astype(np.float32)
    r = rng.normal(size=(70, 16)).astype(np.float32)
    idx, sim = nearest_neighbors(q, r, k=3, block_size=32)
    full = q @ r.T
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1)[:, :3])
    np.testing.assert_allclose(sim, np.sort(full, axis=1)[:, ::-1][:, :3], rtol=1e-5)
    self_idx, _ = nearest_neighbors(q, k=2, block_size=50)
    assert not np.any(self_idx == np.arange(130)[:, None])


def test_neighbour_search_memory_is_bounded():
    n, d, block = 20_000, 128, 256
    rng = np.random.default_rng(6)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    tracemalloc.start()
    start = time.perf_counter()
    idx, sim = nearest_neighbors(x, k=2, block_size=block)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert idx.shape == (n, 2)
    # n x n float32 would be 1.6 GB; one block is 20 MB. Measured on 2 loaded cores:
    # 4.1 s wall (2.0 s CPU), 39.5 MiB peak.
    assert peak < 0.05 * n * n * 4
    assert seconds < 30


def test_perceptual_hash_survives_reencoding_and_resizing():
    rng = np.random.default_rng(7)
    a, b = _photo(rng, (240, 320)), _photo(rng, (240, 320))
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(a, (160, 120), interpolation=cv2.INTER_AREA),
                            [cv2.IMWRITE_JPEG_QUALITY, 60])
    copy = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    ha, hb, hc = perceptual_hash(a), perceptual_hash(b), perceptual_hash(copy)
    assert isinstance(ha, np.uint64)
    assert hamming_distance(ha, hc) <= 6
    assert hamming_distance(ha, hb) >= 16
    assert perceptual_hash(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)) == ha


def test_hamming_distance_known_answer():
    a = np.array([0, 2**64 - 1, 0b1010], dtype=np.uint64)
    np.testing.assert_array_equal(hamming_distance(a, np.uint64(0)), [0, 64, 2])
    assert hamming_distance(a[:, None], a[None]).shape == (3, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": 2}, r"The 'threshold' parameter of near_duplicates must be a float in "
                       r"\(0, 1\]. Got 2."),
    ({"threshold": 0.0}, r"'threshold' parameter .* Got 0.0."),
    ({"threshold": True}, r"'threshold' parameter .* Got True."),
    ({"k": 0}, r"The 'k' parameter of near_duplicates must be an int >= 1. Got 0."),
    ({"n_components": 1.5}, r"'n_components' parameter .* an int >= 1. Got 1.5."),
    ({"block_size": -1}, r"'block_size' parameter .* Got -1."),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        near_duplicates(np.ones((3, 2)), **kwargs)


@pytest.mark.parametrize("features, match", [
    (np.zeros((0, 4)), "non-empty 2D array"),
    (np.zeros(5), "non-empty 2D array"),
    (np.array([[1.0, np.inf]]), "finite"),
    (np.array([["a", "b"]]), "finite"),
])
def test_bad_features(features, match):
    with pytest.raises(ValueError, match=match):
        near_duplicates(features)


def test_bad_sets_hashes_and_images():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="features have 3 columns and reference 2"):
        near_duplicates(x, np.ones((4, 2)))
    with pytest.raises(ValueError, match="both hashes and reference_hashes"):
        near_duplicates(x, x, hashes=np.zeros(4, np.uint64))
    with pytest.raises(ValueError, match=r"hashes must be .* one per image \(5\)"):
        near_duplicates(x, np.ones((5, 3)), hashes=np.zeros(4, np.uint64),
                        reference_hashes=np.zeros(4, np.uint64))
    with pytest.raises(ValueError, match="hashes must be a 1D integer array"):
        near_duplicates(x, hashes=np.zeros(3, np.uint64))
    with pytest.raises(ValueError, match="same width"):
        nearest_neighbors(x, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"The 'k' parameter of nearest_neighbors"):
        nearest_neighbors(x, k=0)
    with pytest.raises(ValueError, match="decoded uint8 array"):
        pixel_hash(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="decoded uint8 array"):
        perceptual_hash(np.zeros((0, 4, 3), np.uint8))
