"""Conformal prediction sets: coverage over random splits, adaptivity, known answers, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from l2vision.trust import ConformalPredictionSets


@pytest.fixture(scope="module")
def probabilities():
    """A 10-class problem a LogisticRegression gets about 60% right: sets of 3-4 classes."""
    X, y = make_classification(6000, 20, n_informative=10, n_classes=10,
                               n_clusters_per_class=1, class_sep=1.0, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(X[:2000], y[:2000])
    return model.predict_proba(X[2000:]), y[2000:]


def split_coverages(proba, y, n_splits=20, **params):
    """Coverage, mean set size and per-class coverage on n_splits random halves."""
    coverages, sizes, per_class = [], [], []
    for seed in range(n_splits):
        order = np.random.default_rng(seed).permutation(len(y))
        cal, test = order[: len(y) // 2], order[len(y) // 2:]
        sets = ConformalPredictionSets(**params).fit(proba[cal], y[cal]).predict_sets(
            proba[test])
        hit = sets[np.arange(len(test)), y[test]]
        coverages.append(hit.mean())
        sizes.append(sets.sum(1).mean())
        per_class.append([hit[y[test] == c].mean() for c in range(proba.shape[1])])
    return np.array(coverages), np.array(sizes), np.array(per_class)


@pytest.mark.parametrize("coverage", [0.9, 0.95])
@pytest.mark.parametrize("params", [{"method": "aps"}, {"method": "raps"},
                                    {"method": "raps", "k_reg": 2, "lambda_reg": 0.2},
                                    {"class_conditional": True}, {"allow_empty": True}])
def test_coverage_over_20_random_splits(probabilities, coverage, params):
    coverages, _, _ = split_coverages(*probabilities, coverage=coverage, **params)
    assert coverage - 0.02 <= coverages.mean() <= coverage + 0.04
    assert coverages.min() >= coverage - 0.04


@pytest.mark.parametrize("coverage", [0.9, 0.95])
def test_the_deterministic_sets_are_conservative_and_larger(probabilities, coverage):
    exact, exact_size, _ = split_coverages(*probabilities, coverage=coverage)
    kept, kept_size, _ = split_coverages(*probabilities, coverage=coverage, randomized=False)
    assert kept.mean() >= coverage and kept.mean() > exact.mean()
    assert kept_size.mean() > exact_size.mean()


def test_raps_penalty_gives_smaller_sets(probabilities):
    _, aps, _ = split_coverages(*probabilities, n_splits=5)
    _, raps, _ = split_coverages(*probabilities, n_splits=5, method="raps", lambda_reg=0.5)
    assert raps.mean() < aps.mean()


def test_class_conditional_covers_every_class(probabilities):
    _, _, marginal = split_coverages(*probabilities, coverage=0.9)
    _, _, mondrian = split_coverages(*probabilities, coverage=0.9, class_conditional=True)
    assert mondrian.mean(0).min() >= 0.9 - 0.03
    assert mondrian.mean(0).min() > marginal.mean(0).min()


def test_harder_images_get_larger_sets(probabilities):
    # The lowest true-class probabilities include confidently wrong images, which look
    # easy to the model and get small sets: the trend is monotone on average, not per bin.
    proba, y = probabilities
    sets = ConformalPredictionSets(0.9).fit(proba[:2000], y[:2000]).predict_sets(proba[2000:])
    size = sets.sum(1)
    p_true = proba[2000:][np.arange(2000), y[2000:]]
    assert spearmanr(p_true, size).statistic < -0.3
    quartile = np.searchsorted(np.quantile(p_true, [0.25, 0.5, 0.75]), p_true)
    mean_size = [size[quartile == q].mean() for q in range(4)]
    assert mean_size[3] == min(mean_size) and mean_size[3] < 0.7 * mean_size[1]
    assert size[p_true < np.median(p_true)].mean() > size[p_true >= np.median(p_true)].mean() + 0.5


def test_known_answer_quantile_and_sets():
    # Ranked probabilities 0.5, 0.3, 0.2 (classes 0, 1, 2); with u = 0 the scores of the
    # classes are the mass before them, 0, 0.5 and 0.8, so randomized=False shows the rule.
    calibration = np.tile([0.5, 0.3, 0.2], (9, 1))
    y = np.array([0] * 5 + [1] * 3 + [2])
    cp = ConformalPredictionSets(0.7, randomized=False).fit(calibration, y)
    # ceil(10 * 0.7) = 7th smallest score: five class-0 rows score u * 0.5 < 0.5, then
    # the class-1 rows score 0.5 + u * 0.3, so the quantile lies in [0.5, 0.8].
    assert 0.5 <= cp.quantile_[0] <= 0.8
    np.testing.assert_array_equal(cp.quantile_, cp.quantile_[0])
    np.testing.assert_array_equal(cp.predict_sets([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]),
                                  [[True, True, False], [False, True, True]])


def test_sets_do_not_depend_on_batch_order_and_are_seeded(probabilities):
    proba, y = probabilities
    cp = ConformalPredictionSets(0.9).fit(proba[:2000], y[:2000])
    sets = cp.predict_sets(proba[2000:])
    order = np.random.default_rng(0).permutation(2000)
    np.testing.assert_array_equal(cp.predict_sets(proba[2000:][order]), sets[order])
    np.testing.assert_array_equal(cp.predict_sets(proba[2500:2600]), sets[500:600])
    np.testing.assert_array_equal(cp.predict_sets(proba[2000:2001]), sets[:1])
    noisy = proba[2000:] * (1 + 1e-9 * np.random.default_rng(1).standard_normal(proba[2000:].shape))
    np.testing.assert_array_equal(cp.predict_sets(noisy / noisy.sum(1, keepdims=True)), sets)
    again = clone(cp).fit(proba[:2000], y[:2000])
    np.testing.assert_array_equal(again.quantile_, cp.quantile_)
    other = ConformalPredictionSets(0.9, random_state=1).fit(proba[:2000], y[:2000])
    assert not np.array_equal(other.predict_sets(proba[2000:]), sets)


def test_never_empty_unless_allowed():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.full(3, 0.2), 400)          # confident, mostly right
    y = np.array([rng.choice(3, p=p) for p in proba])
    cp = ConformalPredictionSets(0.8).fit(proba[:200], y[:200])
    assert cp.predict_sets(proba[200:]).sum(1).min() == 1
    loose = ConformalPredictionSets(0.8, allow_empty=True).fit(proba[:200], y[:200])
    assert loose.predict_sets(proba[200:]).sum(1).min() == 0


def test_too_few_calibration_rows_warn_and_give_full_sets():
    proba = np.full((5, 4), 0.25)
    with pytest.warns(UserWarning, match="Too few calibration images"):
        cp = ConformalPredictionSets(0.95).fit(proba, [0, 1, 2, 3, 0])
    assert np.isinf(cp.quantile_).all()
    assert cp.predict_sets(proba[:2]).all()


@pytest.mark.parametrize(("params", "match"), [
    ({"coverage": 1.5}, r"The 'coverage' parameter of ConformalPredictionSets must be a float "
                        r"in \(0, 1\). Got 1.5."),
    ({"coverage": 0}, r"'coverage' .* in \(0, 1\). Got 0."),
    ({"coverage": 1.0}, r"'coverage' .* in \(0, 1\). Got 1.0."),
    ({"coverage": "0.9"}, r"'coverage' .* Got '0.9'."),
    ({"method": "lac"}, r"The 'method' parameter .* among \{'aps', 'raps'\}. Got 'lac'."),
    ({"k_reg": -1}, r"'k_reg' .* an int >= 0. Got -1."),
    ({"lambda_reg": -0.1}, r"'lambda_reg' .* a float >= 0. Got -0.1."),
    ({"randomized": "yes"}, r"'randomized' .* a bool. Got 'yes'."),
    ({"random_state": None}, r"'random_state' .* an int >= 0. Got None."),
])
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        ConformalPredictionSets(**params).fit([[0.5, 0.5]], [0])


@pytest.mark.parametrize(("proba", "y", "match"), [
    ([0.5, 0.5], [0], r"shape \(n_samples, n_classes\)"),
    ([[0.5, 0.4]], [0], "row 0 sums to 0.9"),
    ([[0.5, 0.5]], [2], r"indices in \[0, 1\] .*got 2 at row 0"),
    ([[0.5, 0.5]], [0.0], "integer class indices"),
    ([[0.5, 0.5]], [0, 1], "vector of 1 class indices"),
])
def test_bad_data(proba, y, match):
    with pytest.raises(ValueError, match=match):
        ConformalPredictionSets().fit(proba, y)


def test_predict_needs_fit_and_the_same_classes():
    with pytest.raises(NotFittedError):
        ConformalPredictionSets().predict_sets([[0.5, 0.5]])
    cp = ConformalPredictionSets(0.5).fit(np.full((9, 3), 1 / 3), np.arange(9) % 3)
    with pytest.raises(ValueError, match="fitted with 3 classes"):
        cp.predict_sets([[0.5, 0.5]])
