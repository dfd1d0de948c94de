"""OOD score: known answers against brute force, the 95% threshold, bounded state, bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.estimator_checks import parametrize_with_checks

from l2vision.trust import OODDetector
from l2vision.trust import ood as ood_module

METHODS = ["mahalanobis", "knn"]


@parametrize_with_checks([OODDetector(n_components=2), OODDetector("knn")])
def test_scikit_learn_api(estimator, check):
    check(estimator)


def blobs(n, d=30, k=4, seed=0):
    """k Gaussian classes with a shared low-rank-plus-noise covariance."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(99).normal(0, 3, (k, d))
    mixing = np.random.default_rng(98).normal(0, 1, (5, d))
    y = rng.integers(0, k, n)
    X = centers[y] + rng.normal(0, 1, (n, 5)) @ mixing + rng.normal(0, 0.5, (n, d))
    return X + 10, y                                   # positive features, as CNN ones are


@pytest.mark.parametrize("method", METHODS)
def test_far_points_score_higher_than_training_points(method):
    X, y = blobs(800)
    ood = OODDetector(method, n_components=5).fit(X, y)
    far = X[:50] + np.random.default_rng(1).normal(0, 6, (50, X.shape[1]))
    assert ood.ood_score(far).min() > np.quantile(ood.ood_score(X), 0.99)
    assert ood.predict(far).all()
    assert ood.predict(X).dtype == bool


@pytest.mark.parametrize("method", METHODS)
def test_threshold_accepts_95_percent_of_held_out_in_distribution(method):
    X, y = blobs(2000)
    held_out, _ = blobs(4000, seed=1)
    ood = OODDetector(method, n_components=5).fit(X, y)
    assert 0.93 <= np.mean(~ood.predict(held_out)) <= 0.975


def test_accept_parameter_moves_the_threshold():
    X, y = blobs(2000)
    held_out, _ = blobs(4000, seed=1)
    ood = OODDetector(n_components=5, accept=0.8).fit(X, y)
    assert 0.77 <= np.mean(~ood.predict(held_out)) <= 0.83


def test_mahalanobis_with_full_rank_is_lee_et_al_pooled_covariance_distance():
    # Fitted in float32: agreement to float32 rounding, not to float64's.
    X, y = load_digits(return_X_y=True)
    X, y = X[:500, [18, 19, 20, 21, 26, 27, 28, 29, 34, 35, 36, 37, 42, 43, 44, 45]], y[:500]
    ood = OODDetector(n_components=X.shape[1] - 1).fit(X, y)
    Z = (X - X.mean(0)) / X.std(0)
    means = np.stack([Z[y == c].mean(0) for c in range(10)])
    residual = Z - means[y]
    precision = np.linalg.inv(residual.T @ residual / len(Z))
    diff = Z[:100, None, :] - means[None]
    expected = np.einsum("nkd,de,nke->nk", diff, precision, diff).min(1)
    np.testing.assert_allclose(ood.ood_score(X[:100]), expected, rtol=1e-4)


def test_mahalanobis_matches_the_low_rank_plus_noise_covariance():
    X, y = blobs(500)
    ood = OODDetector(n_components=4).fit(X, y)
    V, lam, noise = ood.components_, ood.explained_variance_, ood.noise_variance_
    cov = V.T @ np.diag(lam) @ V + noise * (np.eye(X.shape[1]) - V.T @ V)
    diff = ((X[:20] - ood.mean_) / ood.scale_)[:, None, :] - ood.class_means_[None]
    expected = np.einsum("nkd,de,nke->nk", diff, np.linalg.inv(cov), diff).min(1)
    np.testing.assert_allclose(ood.ood_score(X[:20]), expected, rtol=1e-5)
    assert np.all(lam >= noise)


@pytest.mark.parametrize("k", [1, 3])
def test_knn_is_the_distance_to_the_kth_normalized_reference(k):
    X, y = blobs(300)
    ood = OODDetector("knn", n_neighbors=k).fit(X, y)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    query, _ = blobs(50, seed=3)
    distances, _ = NearestNeighbors(n_neighbors=k).fit(unit).kneighbors(
        query / np.linalg.norm(query, axis=1, keepdims=True))
    np.testing.assert_allclose(ood.ood_score(query), distances[:, -1], atol=1e-5)
    assert ood.ood_score(X[:5]).max() < 1e-3 if k == 1 else True


def test_state_is_bounded():
    X, y = blobs(1500, d=40)
    knn = OODDetector("knn", max_reference=500).fit(X, y)
    assert knn.reference_.shape == (500, 40) and knn.reference_.dtype == np.float32
    maha = OODDetector(n_components=8).fit(X, y)
    assert maha.components_.shape == (8, 40) and maha.class_means_.shape == (4, 40)
    assert len(pickle.dumps(maha)) < 8 * 40 * (8 + 4 + 4) + 2000


def test_components_are_capped_by_the_data():
    X, y = blobs(60, d=30)
    assert OODDetector(n_components=64).fit(X, y).n_components_ == 29
    assert OODDetector(n_components=64).fit(X[:, :5], y).n_components_ == 4


def test_fits_without_labels_and_round_trips():
    X, _ = blobs(400)
    ood = OODDetector(n_components=5).fit(X)
    assert ood.class_means_.shape == (1, X.shape[1])
    again = pickle.loads(pickle.dumps(ood))
    np.testing.assert_array_equal(again.ood_score(X[:10]), ood.ood_score(X[:10]))
    assert clone(ood).get_params() == ood.get_params()
    np.testing.assert_array_equal(clone(ood).fit(X).ood_score(X[:10]), ood.ood_score(X[:10]))


@pytest.mark.parametrize(("params", "match"), [
    ({"method": "lof"}, r"The 'method' parameter of OODDetector must be a str among "
                        r"\{'mahalanobis', 'knn'\}. Got 'lof'."),
    ({"accept": 1.5}, r"The 'accept' parameter of OODDetector must be a float in \(0, 1\). "
                      r"Got 1.5."),
    ({"accept": 0}, r"'accept' .* Got 0."),
    ({"n_components": 0}, r"'n_components' .* an int >= 1. Got 0."),
    ({"n_neighbors": 2.0}, r"'n_neighbors' .* an int >= 1. Got 2.0."),
    ({"max_reference": -5}, r"'max_reference' .* Got -5."),
    ({"cv": 1}, r"'cv' .* an int >= 2. Got 1."),
    ({"max_samples": 1}, r"'max_samples' .* 'auto' or an int >= 2. Got 1."),
    ({"random_state": None}, r"'random_state' .* an int >= 0. Got None."),
])
def test_bad_parameters(params, match):
    X, y = blobs(100)
    with pytest.raises(ValueError, match=match):
        OODDetector(**params).fit(X, y)


def test_bad_data():
    X, y = blobs(100)
    with pytest.raises(ValueError, match="Expected 2D array"):
        OODDetector().fit(X[0])
    with pytest.raises(ValueError, match="vector of 100 labels"):
        OODDetector().fit(X, y[:50])
    with pytest.raises(ValueError, match="at least 10 training rows.*n_samples=8"):
        OODDetector().fit(X[:8], y[:8])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        OODDetector().fit(bad, y)
    ood = OODDetector(n_components=3).fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but OODDetector is expecting 30"):
        ood.ood_score(X[:, :5])
    with pytest.raises(NotFittedError):
        OODDetector().ood_score(X)


def test_mahalanobis_fit_holds_one_float32_copy_of_x_and_small_work():
    """At CIFAR-10 x kmeans scale (50,000 x 38,400, 7.7 GB) a float64 copy of X, or of
    its class means per row, ran a 24 GB machine out of memory after the λ search."""
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.random((20000, 500), dtype=np.float32)
    y = rng.integers(0, 10, len(X))
    expected = np.std(X, axis=0, dtype=np.float64)
    tracemalloc.start()
    try:
        detector = OODDetector("mahalanobis").fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * X.nbytes  # one float32 copy, the SVD's n x 74 float64 work
    np.testing.assert_allclose(detector.scale_, expected, rtol=1e-10)
    np.testing.assert_allclose(detector.mean_, X.mean(axis=0, dtype=np.float64), rtol=1e-12)


def test_mahalanobis_on_many_rows_takes_its_directions_from_a_bounded_sample(monkeypatch):
    """At 50,000 x 38,400 (CIFAR-10 k-means) a float32 copy of all rows was 7.7 GB beside
    X: past ``AUTO_VALUES`` the directions come from a subsample, the rest from all rows."""
    import tracemalloc

    X, y = blobs(8000, d=200)
    X = X.astype(np.float32)
    held_out, _ = blobs(4000, d=200, seed=1)
    full = OODDetector(n_components=5).fit(X, y)
    monkeypatch.setattr(ood_module, "AUTO_VALUES", 500 * 200)
    monkeypatch.setattr(ood_module, "_CHUNK_BYTES", 100 * 200 * 8)
    tracemalloc.start()
    try:
        sampled = OODDetector(n_components=5).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 4  # 500 rows copied (0.4 MB), not 8,000 (6.4 MB)
    # The standardization and the class means are still those of all rows ...
    np.testing.assert_allclose(sampled.mean_, full.mean_, rtol=1e-10)
    np.testing.assert_allclose(sampled.scale_, full.scale_, rtol=1e-10)
    np.testing.assert_allclose(sampled.class_means_, full.class_means_, atol=1e-5)
    # ... the principal subspace is nearly the same (its 5 directions are the signal) ...
    cosines = np.linalg.svd(sampled.components_ @ full.components_.T, compute_uv=False)
    assert cosines.min() > 0.99
    np.testing.assert_allclose(sampled.noise_variance_, full.noise_variance_, rtol=0.05)
    # ... and so are the scores and the 95% acceptance.
    assert np.corrcoef(sampled.ood_score(held_out), full.ood_score(held_out))[0, 1] > 0.99
    assert 0.93 <= np.mean(~sampled.predict(held_out)) <= 0.975
    # An int max_samples is the same cap, whatever AUTO_VALUES.
    monkeypatch.setattr(ood_module, "AUTO_VALUES", 2**28)
    explicit = OODDetector(n_components=5, max_samples=500).fit(X, y)
    np.testing.assert_array_equal(explicit.components_, sampled.components_)


def test_a_detector_saved_before_max_samples_loads_with_its_default():
    X, y = blobs(200)
    ood = OODDetector(n_components=3).fit(X, y)
    state = ood.__getstate__()
    del state["max_samples"]
    old = OODDetector.__new__(OODDetector)
    old.__setstate__(state)
    assert old.get_params()["max_samples"] == "auto"
    np.testing.assert_array_equal(old.ood_score(X[:5]), ood.ood_score(X[:5]))


def test_a_class_missing_from_a_fold_has_no_mean_there():
    # A class with fewer rows than folds is absent from some folds' training rows:
    # those folds' detectors score with the classes they saw, not a spurious mean at
    # the origin that would accept blank (all-zero) images.
    X, y = blobs(400)
    y = y.copy()
    y[:2] = 7                                          # a class of two rows
    detector = OODDetector(n_components=3)
    state = detector._fit_state(X, np.unique(y, return_inverse=True)[1], np.arange(2, 400))
    assert state["class_means_"].shape == (4, X.shape[1])
    assert np.isfinite(state["class_means_"]).all()
    blank = np.zeros((1, X.shape[1]))
    assert detector._score(state, blank)[0] > np.quantile(detector._score(state, X), 0.99)
    assert OODDetector(n_components=3).fit(X, y).class_means_.shape == (5, X.shape[1])
