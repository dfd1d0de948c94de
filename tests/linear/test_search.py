"""λ search: the fast paths against brute-force cross-validation, and no leakage."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from l2vision.linear.kfold import LambdaAtEdgeWarning
from l2vision.linear.logistic import LogisticRegressionKFoldCV
from l2vision.linear.ridge import RidgeClassifierKFoldCV

pytestmark = pytest.mark.filterwarnings("ignore::l2vision.linear.kfold.LambdaAtEdgeWarning")

FOLDS = StratifiedKFold(5, shuffle=True, random_state=3)
GRID = np.logspace(-2, 4, 13)


def _grid_search(X, y, lambdas=GRID, cv=FOLDS):
    pipe = make_pipeline(StandardScaler(), RidgeClassifier())
    # Descending: GridSearchCV takes the first of tied bests, we take the largest λ.
    return GridSearchCV(pipe, {"ridgeclassifier__alpha": lambdas[::-1]}, cv=cv).fit(X, y)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.mark.parametrize("mode", ["gram", "gram-lowmem", "kernel", "blocks"])
@pytest.mark.parametrize("binary", [False, True])
def test_ridge_path_equals_grid_search(digits, binary, mode):
    X, y = digits
    y = (y > 4).astype(int) if binary else y
    ours = RidgeClassifierKFoldCV(GRID, cv=FOLDS, mode=mode).fit(X, y)
    assert ours.mode_ == mode
    brute = _grid_search(X, y)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               brute.cv_results_["mean_test_score"][::-1], atol=1e-12)
    for k in range(5):
        np.testing.assert_allclose(ours.cv_results_[f"split{k}_test_score"],
                                   brute.cv_results_[f"split{k}_test_score"][::-1], atol=1e-12)
    np.testing.assert_array_equal(ours.cv_results_["rank_test_score"],
                                  brute.cv_results_["rank_test_score"][::-1])
    assert ours.lambda_ == ours.alpha_ == brute.best_params_["ridgeclassifier__alpha"]
    # The refit model is the same as the brute-force refit, in original units.
    np.testing.assert_allclose(ours.decision_function(X), brute.decision_function(X), atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), brute.predict(X))


def test_more_features_than_samples_takes_the_kernel_form():
    # 120 samples of 400 features (a few photos of many CNN features): "auto"
    # picks the n x n kernel; same scores, choice and model as brute force,
    # constant columns included (StandardScaler's scale of 1).
    X, y = make_classification(120, 400, n_informative=20, n_classes=3, random_state=0)
    X[:, :3] = 5.0
    lambdas = np.logspace(-1, 4, 11)
    ours = RidgeClassifierKFoldCV(lambdas, cv=FOLDS).fit(X, y)
    assert ours.mode_ == "kernel"
    brute = _grid_search(X, y, lambdas)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               brute.cv_results_["mean_test_score"][::-1], atol=1e-12)
    assert ours.lambda_ == brute.best_params_["ridgeclassifier__alpha"]
    np.testing.assert_allclose(ours.decision_function(X), brute.decision_function(X), atol=1e-8)
    primal = RidgeClassifierKFoldCV(lambdas, cv=FOLDS, mode="gram").fit(X, y)
    np.testing.assert_allclose(primal.coef_, ours.coef_, atol=1e-8)


def test_auto_mode_keeps_the_fold_grams_only_while_they_fit_in_memory():
    from l2vision.linear.ridge_modes import choose_mode

    assert choose_mode(50_000, 6_400, 5) == "gram"           # 1.6 GB of Grams
    assert choose_mode(50_000, 16_000, 5) == "gram-lowmem"   # 10 GB: one fold at a time
    assert choose_mode(1_000, 16_000, 5) == "kernel"
    with pytest.raises(ValueError, match="mode"):
        RidgeClassifierKFoldCV(mode="svd").fit(*load_digits(return_X_y=True))


def test_blocks_mode_with_several_blocks_equals_grid_search(digits, monkeypatch):
    # Four blocks of 16 features: the preconditioner is no longer the exact
    # inverse and the conjugate gradients do the rest (to 1e-10 in float64).
    from l2vision.linear import conjugate_ridge

    monkeypatch.setattr(conjugate_ridge, "MAX_BLOCK", 16)
    assert len(conjugate_ridge.feature_blocks(64)) == 4
    X, y = digits
    ours = RidgeClassifierKFoldCV(GRID, cv=FOLDS, mode="blocks").fit(X, y)
    brute = _grid_search(X, y)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               brute.cv_results_["mean_test_score"][::-1], atol=1e-12)
    assert ours.lambda_ == brute.best_params_["ridgeclassifier__alpha"]
    np.testing.assert_allclose(ours.decision_function(X), brute.decision_function(X), atol=1e-7)
    # float32 features: converged to 1e-3 (the float32 tolerance), the exact path's choices.
    single = RidgeClassifierKFoldCV(GRID, cv=FOLDS, mode="blocks").fit(X.astype(np.float32), y)
    np.testing.assert_allclose(single.cv_results_["mean_test_score"],
                               ours.cv_results_["mean_test_score"], atol=2e-3)
    assert (single.predict(X.astype(np.float32)) == ours.predict(X)).mean() > 0.995
    # The products use X uncentred (Z P = X Q - 1 cᵀ): an offset of 1,000 (200 deviations)
    # in float32 leaves the scores where they were.
    offset = RidgeClassifierKFoldCV(GRID, cv=FOLDS, mode="blocks").fit(
        (X + 1000).astype(np.float32), y)
    np.testing.assert_allclose(offset.cv_results_["mean_test_score"],
                               ours.cv_results_["mean_test_score"], atol=2e-3)


def test_blocks_gram_product_is_the_standardized_fold_scatter_times_p():
    # Z_Tᵀ Z_T P for the rows of a fold (not contiguous, 3,000 rows: two slices of X)
    # without forming Z: against the explicitly standardized rows.
    from l2vision.linear.conjugate_ridge import StandardizedRows

    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 2.0, size=(3000, 7)) * rng.uniform(0.5, 3.0, 7)
    Y = np.eye(3)[rng.integers(0, 3, 3000)]
    rows = np.sort(rng.choice(3000, 2000, replace=False))
    data = StandardizedRows(X, rows, Y)
    Z = (X[rows] - X[rows].mean(axis=0)) / X[rows].std(axis=0)
    P = rng.normal(size=(7, 4))
    np.testing.assert_allclose(data.gram_product(P), Z.T @ (Z @ P), rtol=1e-10)


def test_blocks_mode_decomposes_once_and_solves_each_fold_once(digits, monkeypatch):
    # Several blocks: the blocks are decomposed once for the whole search (the
    # folds share the preconditioner of all the rows, the final model uses it
    # as its own), and the calibration's out-of-fold decisions are the search's:
    # the folds' λ groups, all folds together in each (one pass over the rows
    # per product for all), then one solve on all the rows at the chosen λ.
    from l2vision.linear import conjugate_ridge
    from l2vision.linear import ridge_blocks as _ridge_blocks

    monkeypatch.setattr(conjugate_ridge, "MAX_BLOCK", 16)
    decomposed, solved, final = [], [], []
    rows = conjugate_ridge.StandardizedRows
    eigen, joint = rows.block_eigen, _ridge_blocks.joint_ridge_columns
    columns = _ridge_blocks.ridge_columns
    monkeypatch.setattr(rows, "block_eigen",
                        lambda self, blocks: decomposed.append(len(self.rows))
                        or eigen(self, blocks))
    monkeypatch.setattr(_ridge_blocks, "joint_ridge_columns",
                        lambda parts, lambdas, *args: solved.append(
                            ([len(part.rows) for part in parts], len(lambdas)))
                        or joint(parts, lambdas, *args))
    monkeypatch.setattr(_ridge_blocks, "ridge_columns",
                        lambda data, lambdas, eigen, start: final.append(
                            (len(data.rows), len(lambdas), start is not None))
                        or columns(data, lambdas, eigen, start))
    X, y = digits
    model = RidgeClassifierKFoldCV(GRID, cv=FOLDS, mode="blocks").fit(X, y)
    groups = -(-len(GRID) // _ridge_blocks.LAMBDA_GROUP)
    assert decomposed == [len(X)]
    # The final model starts from the folds' mean weights at the chosen λ.
    assert len(solved) == groups and final == [(len(X), 1, True)]
    assert all(len(sizes) == FOLDS.get_n_splits() and max(sizes) < len(X)
               for sizes, _ in solved)
    assert model.oof_decision_.shape == (len(X), 10)


@pytest.mark.parametrize("preconditioner", ["own", "shared"])
def test_blocks_folds_solved_together_equal_each_fold_alone(digits, monkeypatch, preconditioner):
    # One pass over the rows for all folds (each column masked to its fold's rows,
    # standardized by its fold's statistics) gives each fold's own solution, with
    # each fold's own preconditioner or with the search's (all rows' eigenvectors,
    # shared by the folds: their products shared too, eigenvalues scaled per fold).
    from l2vision.linear import conjugate_ridge
    from l2vision.linear.conjugate_ridge import (
        StandardizedRows,
        feature_blocks,
        joint_ridge_columns,
        ridge_columns,
    )

    monkeypatch.setattr(conjugate_ridge, "MAX_BLOCK", 16)

    X, y = digits
    X = X + np.random.default_rng(0).normal(0, 0.1, X.shape)   # no constant columns
    Y = np.eye(10)[y]
    folds = [test for _, test in FOLDS.split(X, y)][:3]
    parts = [StandardizedRows(X, np.setdiff1d(np.arange(len(X)), test), Y) for test in folds]
    blocks = feature_blocks(X.shape[1])
    if preconditioner == "own":
        eigens = [part.block_eigen(blocks) for part in parts]
    else:
        everything = StandardizedRows(X, np.arange(len(X)), Y).block_eigen(blocks)
        eigens = [[(e * len(part.rows) / len(X), V) for e, V in everything] for part in parts]
    # The preconditioner (its value does not change the solution, only the
    # iterations): block by block, each column with its fold's eigenvalues and λ.
    rng = np.random.default_rng(1)
    R, shifts = rng.normal(size=(X.shape[1], 6)), np.array([1.0, 5.0, 2.0, 7.0, 3.0, 9.0])
    owner = np.array([0, 0, 1, 1, 2, 2])
    applied = conjugate_ridge._precondition(eigens, blocks, R, shifts, owner)
    for j in range(6):
        for (e, V), block in zip(eigens[owner[j]], blocks, strict=True):
            S = (V * e) @ V.T + shifts[j] * np.eye(len(e))
            np.testing.assert_allclose(applied[block, j], np.linalg.solve(S, R[block, j]),
                                       rtol=1e-8)
    together = joint_ridge_columns(parts, [30.0, 3.0], eigens, tol=1e-12)
    for part, eigen, W in zip(parts, eigens, together, strict=True):
        alone = ridge_columns(part, [30.0, 3.0], eigen, tol=1e-12)
        np.testing.assert_allclose(W, alone, rtol=1e-7, atol=1e-9)
        Z = (X[part.rows] - part.mean) / part.scale
        direct = np.linalg.solve(Z.T @ Z + 3.0 * np.eye(X.shape[1]), Z.T @ (Y[part.rows]
                                                                            - part.ybar))
        np.testing.assert_allclose(W[:, 10:], direct, rtol=1e-6, atol=1e-8)


def test_blocks_mode_walks_coarse_then_fine_and_stops_each_fold_past_its_best(digits,
                                                                              monkeypatch):
    # Large X (more than 5 million values): every 3rd λ from the largest down, each
    # fold stopping one of them (3 grid values) past its best, then the grid values
    # between the best coarse value (mean over the folds) and its neighbours. What
    # a fold did not solve is NaN, and the choice is the full grid's. Several blocks
    # (with one, each fold walks alone: its own exact preconditioner).
    from l2vision.linear import conjugate_ridge
    from l2vision.linear import ridge as search
    from l2vision.linear import ridge_blocks as _ridge_blocks

    monkeypatch.setattr(search, "WHOLE_GRID_SIZE", 0)
    monkeypatch.setattr(conjugate_ridge, "MAX_BLOCK", 16)
    X, y = digits
    grid = np.logspace(-3, 4, 22)
    full = RidgeClassifierKFoldCV(grid, cv=FOLDS, mode="gram").fit(X, y)
    calls = []
    solve = _ridge_blocks.joint_ridge_columns
    monkeypatch.setattr(_ridge_blocks, "joint_ridge_columns",
                        lambda parts, lambdas, *a: calls.append(lambdas)
                        or solve(parts, lambdas, *a))
    ours = RidgeClassifierKFoldCV(grid, cv=FOLDS, mode="blocks").fit(X, y)
    assert ours.lambda_ == full.lambda_
    coarse = list(range(len(grid) - 1, -1, -3))                    # 21, 18, ..., 0
    splits = [ours.cv_results_[f"split{k}_test_score"] for k in range(5)]
    reached_coarse = [[j for j in coarse if not np.isnan(split[j])] for split in splits]
    centre_mean = [np.mean([split[j] for split in splits]) for j in coarse]
    centre = coarse[int(np.nanargmax(centre_mean))]
    fine = {centre - 2, centre - 1, centre + 1, centre + 2} & set(range(len(grid)))
    for k, split in enumerate(splits):
        reached = np.flatnonzero(~np.isnan(split))
        np.testing.assert_allclose(split[reached],
                                   full.cv_results_[f"split{k}_test_score"][reached], atol=1e-12)
        # The coarse values from the largest down, none skipped, then the fine ones.
        assert reached_coarse[k] == coarse[:len(reached_coarse[k])]
        assert set(reached) == set(reached_coarse[k]) | fine
        # A fold that stopped did so at least one coarse value past its best.
        if len(reached_coarse[k]) < len(coarse):
            assert int(np.argmax(split[reached_coarse[k]])) < len(reached_coarse[k]) - 1
    assert ours.lambda_ == grid[int(np.nanargmax(ours.cv_results_["mean_test_score"]))]
    assert all(len(group) <= _ridge_blocks.LAMBDA_GROUP for group in calls)
    assert calls[0].tolist() == grid[coarse[:4]].tolist()
    assert sorted(calls[-1].tolist()) == sorted(grid[sorted(fine)].tolist())


def test_blocks_mode_warns_when_small_lambdas_do_not_converge(digits, monkeypatch):
    from sklearn.exceptions import ConvergenceWarning

    from l2vision.linear import conjugate_ridge

    monkeypatch.setattr(conjugate_ridge, "MAX_BLOCK", 16)
    monkeypatch.setattr(conjugate_ridge, "MAX_ITER", 3)
    with pytest.warns(ConvergenceWarning, match=r"λ values \(up to .*\) not converged to "
                                                 r"1e-10 after 3 iterations"):
        RidgeClassifierKFoldCV([1e-3, 1e4], cv=3, mode="blocks").fit(*digits)


def test_auto_mode_goes_to_blocks_when_the_gram_search_does_not_fit(digits, monkeypatch):
    from l2vision.linear import ridge_modes as _ridge_modes

    gib = 2**30
    monkeypatch.setattr(_ridge_modes, "physical_memory", lambda: 24 * gib)
    # kmeans:4000's 32,000 soft-threshold features: about 27 GiB the Gram way.
    assert _ridge_modes.choose_mode(50_000, 32_000, 3, 50_000 * 32_000 * 4) == "blocks"
    assert _ridge_modes.choose_mode(50_000, 19_200, 3, 50_000 * 19_200 * 4) == "gram-lowmem"
    assert _ridge_modes.choose_mode(50_000, 6_400, 5, 50_000 * 6_400 * 4) == "gram"
    # On a machine too small for the Grams, the fit itself takes the blocks mode.
    X, y = digits
    exact = RidgeClassifierKFoldCV(GRID, cv=FOLDS, mode="gram").fit(X, y)
    monkeypatch.setattr(_ridge_modes, "fits", lambda n, d, k, mode, *args: mode == "blocks")
    model = RidgeClassifierKFoldCV(GRID, cv=FOLDS).fit(X, y)
    assert model.mode_ == "blocks"
    assert model.lambda_ == exact.lambda_
    np.testing.assert_allclose(model.coef_, exact.coef_, atol=1e-7)


@pytest.mark.parametrize("mode,n,d", [("gram", 3000, 800), ("gram-lowmem", 3000, 800),
                                      ("kernel", 400, 1500), ("blocks", 3000, 800)])
def test_memory_estimate_bounds_what_the_search_allocates(mode, n, d):
    # The estimate check_memory compares with the machine's memory is an upper
    # bound of the search's NumPy allocations (the in-place downdate and
    # scatter keep it there), and not a wild one.
    import tracemalloc

    from l2vision.linear.ridge_modes import search_bytes

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, 3, n)
    tracemalloc.start()
    try:
        RidgeClassifierKFoldCV(10, cv=3, mode=mode).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = search_bytes(n, d, 3, mode)
    # The blocks mode's estimate allows for 600 columns (λ values x classes);
    # this search has 15 x 3.
    assert (estimate / 2 if mode != "blocks" else estimate / 20) < peak <= estimate


def test_a_search_larger_than_the_machine_is_refused_before_it_starts(monkeypatch, digits):
    from l2vision.linear import ridge_modes as _ridge_modes
    from l2vision.linear import ridge_path as _ridge_path

    def no_pass(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr(_ridge_modes, "physical_memory", lambda: 100 << 10)  # 100 KiB
    monkeypatch.setattr(_ridge_path, "fold_sums", no_pass)
    with pytest.raises(MemoryError, match=r"1797 rows of 64 features \('blocks' mode\) needs "
                                          r"about .* MiB .* more than this machine's 0.1 MiB: "
                                          r"use fewer features"):
        RidgeClassifierKFoldCV(cv=3).fit(*digits)
    with pytest.raises(MemoryError, match=r"\('gram' mode\) .* mode='blocks'"):
        RidgeClassifierKFoldCV(cv=3, mode="gram").fit(*digits)
    # 32,000 features (kmeans:4000's soft threshold) need more than 24 GiB.
    assert _ridge_modes.search_bytes(50_000, 32_000, 3, "gram-lowmem") > 24 * 2**30
    assert _ridge_modes.search_bytes(50_000, 19_200, 3, "gram-lowmem") < 12 * 2**30


def test_ties_go_to_the_largest_lambda():
    # Perfectly separable: every small λ scores 100%, the largest of them wins.
    # At λ = 1e9 only the intercept is left: the majority class, 75%.
    X = np.repeat([[0.0, 0.0], [10.0, 10.0]], [30, 10], axis=0) + np.linspace(0, 0.1, 40)[:, None]
    y = np.repeat([0, 1], [30, 10])
    model = RidgeClassifierKFoldCV([0.01, 0.1, 1.0, 1e9], cv=FOLDS).fit(X, y)
    assert model.cv_results_["mean_test_score"].tolist() == [1.0, 1.0, 1.0, 0.75]
    assert model.lambda_ == 1.0


def test_ridge_path_in_float32_agrees_with_float64(digits):
    X, y = digits
    exact = RidgeClassifierKFoldCV(GRID, cv=FOLDS).fit(X, y)
    single = RidgeClassifierKFoldCV(GRID, cv=FOLDS).fit(X.astype(np.float32), y)
    np.testing.assert_allclose(single.cv_results_["mean_test_score"],
                               exact.cv_results_["mean_test_score"], atol=2e-3)
    assert (single.predict(X.astype(np.float32)) == exact.predict(X)).mean() > 0.995


def test_intercept_is_not_penalized():
    # Shifting every feature by a constant changes nothing; a large shift of the
    # classes' balance is absorbed by the intercept even at huge λ.
    X, y = make_classification(300, 8, weights=[0.8], random_state=0)
    model = RidgeClassifierKFoldCV([1e9], cv=3).fit(X, y)
    assert model.predict(X).tolist() == [0] * 300  # the majority, through the intercept
    shifted = RidgeClassifierKFoldCV(GRID, cv=FOLDS).fit(X + 1000, y)
    plain = RidgeClassifierKFoldCV(GRID, cv=FOLDS).fit(X, y)
    np.testing.assert_allclose(shifted.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-9)


def _manual_fold_scores(X, y, lambdas, cv, leak: bool):
    """Brute-force CV; with ``leak`` the scaler sees all rows (the mistake we avoid)."""
    scores = []
    for train, test in cv.split(X, y):
        scaler = StandardScaler().fit(X if leak else X[train])
        row = [RidgeClassifier(alpha=lam).fit(scaler.transform(X[train]), y[train])
               .score(scaler.transform(X[test]), y[test]) for lam in lambdas]
        scores.append(row)
    return np.array(scores)


def test_standardization_is_fit_on_the_training_folds_only():
    # One feature has a huge outlier in a single row: a scaler fit on all rows
    # sees it in every fold, one fit on the training rows sees it in 4 of 5.
    rng = np.random.default_rng(0)
    X, y = make_classification(200, 6, n_informative=4, random_state=1)
    X[rng.integers(0, 200), 0] = 500.0
    lambdas = [0.1, 10.0, 300.0]
    ours = RidgeClassifierKFoldCV(lambdas, cv=FOLDS).fit(X, y)
    honest = _manual_fold_scores(X, y, lambdas, FOLDS, leak=False)
    leaky = _manual_fold_scores(X, y, lambdas, FOLDS, leak=True)
    ours_table = np.array([ours.cv_results_[f"split{k}_test_score"] for k in range(5)])
    np.testing.assert_allclose(ours_table, honest, atol=1e-12)
    assert np.abs(honest - leaky).max() > 0  # the test can tell the two apart


def test_logistic_path_equals_independent_fits_per_fold(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    lambdas = [3.0, 30.0, 300.0]
    ours = LogisticRegressionKFoldCV(lambdas, cv=FOLDS, tol=1e-8, path_tol=1e-8,
                                     max_iter=5000).fit(X, y)
    for k, (train, test) in enumerate(FOLDS.split(X, y)):
        scaler = StandardScaler().fit(X[train])
        expected = [LogisticRegression(C=1 / lam, tol=1e-8, max_iter=5000)
                    .fit(scaler.transform(X[train]), y[train])
                    .score(scaler.transform(X[test]), y[test]) for lam in lambdas]
        np.testing.assert_allclose(ours.cv_results_[f"split{k}_test_score"], expected, atol=0.01)
    assert ours.C_ == 1 / ours.lambda_
    final = make_pipeline(StandardScaler(), LogisticRegression(C=ours.C_, tol=1e-8, max_iter=5000))
    final.fit(X, y)
    # The model's own probabilities: the calibrated ones at T = 1.
    own = softmax(ours.decision_function(X), axis=1)
    np.testing.assert_allclose(own, final.predict_proba(X), atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X),
                               softmax(ours.decision_function(X) / ours.temperature_, axis=1))
    np.testing.assert_allclose(ours.predict_proba(X).sum(axis=1), 1)


def test_final_logistic_fit_starts_from_the_folds_solution(digits):
    X, y = digits
    ours = LogisticRegressionKFoldCV(np.logspace(-1, 3, 9), cv=FOLDS, max_iter=1000,
                                     tol=1e-6).fit(X, y)
    cold = make_pipeline(StandardScaler(), LogisticRegression(C=ours.C_, max_iter=1000, tol=1e-6))
    cold.fit(X, y)
    # The same optimum (to the solver's tolerance) in fewer L-BFGS iterations.
    assert ours.n_iter_ < cold[-1].n_iter_[0]
    np.testing.assert_allclose(softmax(ours.decision_function(X), axis=1), cold.predict_proba(X),
                               atol=1e-3)


def test_logistic_path_stops_early_on_the_weak_end(digits):
    X, y = digits
    X, y = X[:500], y[:500]
    # Far too strong at the top, then good, then needlessly weak: the path
    # walks down from 1e6 and stops 2 steps after the best.
    lambdas = [1e-6, 1e-5, 1e-4, 1e-3, 1.0, 30.0, 1e6]
    stopped = LogisticRegressionKFoldCV(lambdas, cv=FOLDS, patience=2, max_iter=2000).fit(X, y)
    full = LogisticRegressionKFoldCV(lambdas, cv=FOLDS, patience=None, max_iter=2000).fit(X, y)
    mean = stopped.cv_results_["mean_test_score"]
    assert np.isnan(mean[0]) and not np.isnan(full.cv_results_["mean_test_score"]).any()
    evaluated = ~np.isnan(mean)
    np.testing.assert_allclose(mean[evaluated], full.cv_results_["mean_test_score"][evaluated])
    assert stopped.lambda_ in (1.0, 30.0) and stopped.cv_results_["rank_test_score"][0] == 7
    with pytest.raises(ValueError, match="The 'patience' parameter"):
        LogisticRegressionKFoldCV(patience=0).fit(X, y)
    with pytest.raises(ValueError, match="The 'path_tol' parameter of LogisticRegressionKFoldCV "
                                         "must be a float > 0. Got 0."):
        LogisticRegressionKFoldCV(path_tol=0).fit(X, y)


def test_default_grid_scales_with_n_and_is_ascending(digits):
    X, y = digits
    model = RidgeClassifierKFoldCV().fit(X, y)
    assert len(model.lambdas_) == 40 and np.all(np.diff(model.lambdas_) > 0)
    np.testing.assert_allclose(model.lambdas_[[0, -1]], [1e-6 * len(X), 10 * len(X)])
    assert len(LogisticRegressionKFoldCV().set_params(max_iter=50).fit(X[:300], y[:300])
               .lambdas_) == 20


@pytest.mark.filterwarnings("default::l2vision.linear.kfold.LambdaAtEdgeWarning")
def test_edge_of_grid_warns(digits):
    X, y = digits
    with pytest.warns(LambdaAtEdgeWarning, match="the best lambda 1e-06 is the smallest"):
        RidgeClassifierKFoldCV([1e-6, 1e9]).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LambdaAtEdgeWarning)
        RidgeClassifierKFoldCV([1e-3, 100, 1e9]).fit(X, y)


@pytest.mark.parametrize("Estimator", [RidgeClassifierKFoldCV, LogisticRegressionKFoldCV])
def test_errors(Estimator):
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match=r"needs at least 2 classes .* got 1 class, 'cat'"):
        Estimator().fit(X, ["cat"] * 10)
    with pytest.raises(ValueError, match=f"The 'lambdas' parameter of {Estimator.__name__} "
                                         "must be an int >= 1 or an array of positive floats"):
        Estimator([1.0, -2.0]).fit(X, [0, 1] * 5)
    with pytest.raises(ValueError, match="The 'cv' parameter"):
        Estimator(cv=1).fit(X, [0, 1] * 5)


@parametrize_with_checks([RidgeClassifierKFoldCV(lambdas=5, cv=3),
                          LogisticRegressionKFoldCV(lambdas=3, cv=3)],
                         expected_failed_checks=lambda est: {
                             "check_sample_weight_equivalence_on_dense_data":
                                 "no sample_weight support",
                         })
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LambdaAtEdgeWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", [RidgeClassifierKFoldCV(6), LogisticRegressionKFoldCV(6)])
def test_a_default_grid_is_extended_once_past_its_edge(estimator, monkeypatch):
    # Many noisy features, few rows: strong regularization wins, so a default
    # grid made to stop far too low has its best λ on its upper edge.
    X, y = make_classification(60, 200, n_informative=5, random_state=0)
    monkeypatch.setattr(type(estimator), "_default_range", (1e-9, 1e-6))
    model = clone(estimator).fit(X, y)
    grid = model._grid(60)
    assert model.grid_extended_ and len(model.lambdas_) == 6 + 3
    np.testing.assert_allclose(model.lambdas_[:6], grid)
    step = grid[1] / grid[0]
    np.testing.assert_allclose(model.lambdas_[6:], grid[-1] * step ** np.arange(1, 4))
    assert len(model.cv_results_["mean_test_score"]) == 9
    assert model.best_index_ >= 5  # the extension found a better (or as good) λ
    explicit = clone(estimator).set_params(lambdas=grid)
    with pytest.warns(LambdaAtEdgeWarning, match="is the largest of the grid"):
        explicit.fit(X, y)
    assert not explicit.grid_extended_ and len(explicit.lambdas_) == 6


@pytest.mark.parametrize("mode", ["gram", "kernel", "blocks"])
def test_the_ridge_search_scores_its_possible_extension_in_the_same_pass(mode, monkeypatch):
    """Each fold is decomposed once: the extension's λ come from the first pass
    (in the blocks mode, where every λ costs iterations, only when needed)."""
    from l2vision.linear import ridge_blocks as _ridge_blocks
    from l2vision.linear import ridge_path as _ridge_path

    X, y = make_classification(60, 200, n_informative=5, random_state=0)
    monkeypatch.setattr(RidgeClassifierKFoldCV, "_default_range", (1e-9, 1e-6))
    passes = []
    for name in ("fold_scores", "kernel_fold_scores", "block_fold_scores"):
        original = getattr(_ridge_blocks if name == "block_fold_scores" else _ridge_path, name)

        def counting(*args, original=original, **kwargs):
            passes.append(len(args[4]))  # the λ values scored
            return original(*args, **kwargs)

        monkeypatch.setattr(_ridge_blocks if name == "block_fold_scores" else _ridge_path,
                            name, counting)
    model = RidgeClassifierKFoldCV(6, cv=3, mode=mode).fit(X, y)
    assert model.grid_extended_ and passes == ([6, 3] if mode == "blocks" else [3 + 6 + 3])
    # The same scores as a search over the explicit grid of the 9 values.
    explicit = RidgeClassifierKFoldCV(model.lambdas_, cv=3, mode=mode).fit(X, y)
    np.testing.assert_array_equal(model.cv_results_["mean_test_score"],
                                  explicit.cv_results_["mean_test_score"])
    assert model.lambda_ == explicit.lambda_


@pytest.mark.parametrize("estimator", [RidgeClassifierKFoldCV([3.0]),
                                       LogisticRegressionKFoldCV([3.0], tol=1e-8, max_iter=2000)])
def test_refit_on_other_rows_equals_a_fit_on_them(estimator, digits):
    X, y = digits
    part = clone(estimator).fit(X[:1000], y[:1000])
    cv_results = {k: np.copy(v) for k, v in part.cv_results_.items()}
    part.refit_on(X, y)
    full = clone(estimator).fit(X, y)
    np.testing.assert_allclose(part.coef_, full.coef_, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(part.intercept_, full.intercept_, rtol=1e-3, atol=1e-4)
    for key, value in cv_results.items():  # the CV results are those of the first fit
        np.testing.assert_array_equal(part.cv_results_[key], value)
    with pytest.raises(ValueError, match="refit_on needs the classes the model was fitted with"):
        part.refit_on(X[y < 5], y[y < 5])


@pytest.mark.parametrize("estimator", [RidgeClassifierKFoldCV(12),
                                       LogisticRegressionKFoldCV(12)])
def test_the_one_standard_error_rule(estimator, digits):
    X, y = digits
    best = clone(estimator).fit(X, y)
    mean = best.cv_results_["mean_test_score"]
    std = best.cv_results_["std_test_score"]
    top = int(np.nanargmax(mean[::-1]))  # ties: the largest λ
    top = len(mean) - 1 - top
    within = mean >= mean[top] - std[top] / np.sqrt(5) - 1e-12
    expected = best.lambdas_[np.flatnonzero(within)[-1]]
    assert best.lambda_ == best.lambda_best_ == best.lambdas_[top]
    assert best.lambda_1se_ == expected >= best.lambda_best_
    simple = clone(estimator).set_params(lambda_rule="1se").fit(X, y)
    assert simple.lambda_ == expected and simple.best_score_ == mean[simple.best_index_]
    with pytest.raises(ValueError, match="The 'lambda_rule' parameter of"):
        clone(estimator).set_params(lambda_rule="2se").fit(X, y)


def test_a_cheap_logistic_path_covers_the_whole_grid(digits):
    X, y = digits  # 1,797 x 64: cheap
    model = LogisticRegressionKFoldCV(10).fit(X, y)
    assert not np.isnan(model.cv_results_["mean_test_score"]).any()
    stopped = LogisticRegressionKFoldCV(10, patience=1).fit(X, y)
    assert np.isnan(stopped.cv_results_["mean_test_score"]).any()
