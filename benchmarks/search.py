"""λ search speed on CIFAR-10 features: the fast k-fold paths vs one fit vs GridSearchCV.

Run: ``python benchmarks/search.py [--n 50000] [--grid-subset 4]``. Features are
HOG + HSV color histogram (1,892 per image) of the CIFAR-10 training images,
cached in ``--cache`` (default /tmp/l2vision-bench-cache). Prints seconds and
ratios; asserts nothing. Targets: ridge 5-fold x 40-λ search <= 2x one fit and
>= 50x faster than GridSearchCV; logistic 5-fold x 20-λ path <= 6x one fit.

GridSearchCV(RidgeClassifier) over the full 40-value grid would take about
200 fits; it is run on ``--grid-subset`` values of the grid (same 5 folds) and
scaled by 40 / subset, which is exact up to noise because a ridge fit costs the
same whatever λ (one Cholesky solve).

Writes ``benchmarks/results/search.json`` (the parts run: ``--skip-ridge`` and
``--skip-logistic`` leave theirs out).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from _common import cifar_paths, machine, target, timed, write_results
from scipy.linalg import LinAlgWarning
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from l2vision import config_context
from l2vision.features import HOG, ColorHistogram, ImageFeatures
from l2vision.linear import LambdaAtEdgeWarning, LogisticRegressionKFoldCV, RidgeClassifierKFoldCV

MEASURES = ["l2vision/linear/ridge.py", "l2vision/linear/ridge_path.py",
            "l2vision/linear/ridge_modes.py", "l2vision/linear/ridge_blocks.py",
            "l2vision/linear/conjugate_ridge.py",
            "l2vision/linear/kfold.py", "l2vision/linear/logistic.py",
            "l2vision/linear/logistic_path.py"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="training images (default 50000)")
    parser.add_argument("--grid-subset", type=int, default=4,
                        help="λ values actually run by GridSearchCV (scaled to 40)")
    parser.add_argument("--cache", default="/tmp/l2vision-bench-cache", help="feature cache folder")
    parser.add_argument("--skip-logistic", action="store_true")
    parser.add_argument("--skip-ridge", action="store_true")
    parser.add_argument("--logistic-jobs", default="1,2",
                        help="n_jobs values (folds in parallel) for the logistic path")
    args = parser.parse_args()
    warnings.simplefilter("ignore", LambdaAtEdgeWarning)
    warnings.simplefilter("ignore", LinAlgWarning)  # sklearn's Cholesky at the grid's tiny λ
    print(machine())
    paths, labels = cifar_paths("train", args.n)
    features = ImageFeatures([HOG(), ColorHistogram()])
    with config_context(n_jobs=2, cache_dir=args.cache):
        X, seconds = timed(features.fit_transform, paths)
    y = np.asarray(labels)
    print(f"features: {X.shape[0]} x {X.shape[1]} float32 ({seconds:.0f} s, cached afterwards)")
    folds = StratifiedKFold(5, shuffle=True, random_state=0)

    figures = {"n_images": int(X.shape[0]), "n_features": int(X.shape[1]),
               "features_seconds": seconds}
    targets = {}
    if not args.skip_ridge:
        figures["ridge"], ridge_targets = _ridge(X, y, folds, args.grid_subset)
        targets.update(ridge_targets)
    if not args.skip_logistic:
        figures["logistic"], logistic_targets = _logistic(
            X, y, folds, [int(j) for j in args.logistic_jobs.split(",")])
        targets.update(logistic_targets)
    path = write_results("search", figures, targets, measures=MEASURES,
                         notes="" if args.n == 50_000 else f"on {args.n} training images")
    print(f"-> {path}")


def _ridge(X, y, folds, grid_subset) -> tuple[dict, dict]:
    """The ridge path vs one fit vs GridSearchCV: ``(figures, targets)``."""
    ridge = RidgeClassifierKFoldCV(40, cv=folds)
    _, t_search = timed(ridge.fit, X, y)
    pipe = make_pipeline(StandardScaler(), RidgeClassifier(alpha=ridge.lambda_))
    _, t_fit = timed(pipe.fit, X, y)
    subset = ridge.lambdas_[:: max(1, 40 // grid_subset)][:grid_subset]
    grid = GridSearchCV(make_pipeline(StandardScaler(), RidgeClassifier()),
                        {"ridgeclassifier__alpha": subset}, cv=folds, refit=False)
    _, t_grid_subset = timed(grid.fit, X, y)
    t_grid = t_grid_subset * 40 / len(subset)
    print(f"ridge: one fit (StandardScaler + RidgeClassifier, alpha={ridge.lambda_:.4g}): "
          f"{t_fit:.1f} s")
    print(f"ridge: RidgeClassifierKFoldCV 5 folds x 40 λ: {t_search:.1f} s "
          f"(chosen λ {ridge.lambda_:.4g}, CV accuracy {ridge.best_score_:.2%})")
    print(f"ridge: GridSearchCV 5 folds x {len(subset)} λ: {t_grid_subset:.1f} s "
          f"-> 40 λ estimated {t_grid:.0f} s")
    print(f"ratio search / one fit: {t_search / t_fit:.2f}x  (target <= 2x)")
    print(f"ratio GridSearchCV / search: {t_grid / t_search:.0f}x  (target >= 50x)")
    figures = {"one_fit_seconds": t_fit, "search_seconds": t_search,
               "lambda": float(ridge.lambda_), "cv_accuracy": float(ridge.best_score_),
               "grid_search_lambdas_run": len(subset), "grid_search_subset_seconds": t_grid_subset,
               "grid_search_40_seconds_estimated": t_grid,
               "search_vs_one_fit": t_search / t_fit, "grid_search_vs_search": t_grid / t_search}
    return figures, {
        "ridge_search_vs_one_fit": target(round(t_search / t_fit, 3), 2.0, at_least=False,
                                          unit="x"),
        "ridge_grid_search_vs_search": target(round(t_grid / t_search, 1), 50.0, unit="x")}


def _logistic(X, y, folds, jobs) -> tuple[dict, dict]:
    """The logistic path (folds on ``n_jobs`` workers) vs one fit: ``(figures, targets)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        paths = {}
        for n_jobs in jobs:
            logistic = LogisticRegressionKFoldCV(20, cv=folds)
            with config_context(n_jobs=n_jobs):
                _, paths[n_jobs] = timed(logistic.fit, X, y)
            reached = int(np.sum(~np.isnan(logistic.cv_results_["mean_test_score"])))
            print(f"logistic: LogisticRegressionKFoldCV 5 folds x 20 λ, n_jobs={n_jobs}: "
                  f"{paths[n_jobs]:.1f} s (chosen λ {logistic.lambda_:.4g}, CV accuracy "
                  f"{logistic.best_score_:.2%}, {reached} "
                  "λ reached by every fold)", flush=True)
        one = make_pipeline(StandardScaler(), LogisticRegression(C=logistic.C_, max_iter=200))
        _, t_one = timed(one.fit, X, y)
    print(f"logistic: one fit (StandardScaler + LogisticRegression, C={logistic.C_:.4g}, "
          f"{one[-1].n_iter_[0]} iterations): {t_one:.1f} s")
    for n_jobs, t_path in paths.items():
        print(f"ratio path (n_jobs={n_jobs}) / one fit: {t_path / t_one:.2f}x  (target <= 6x)")
    figures = {"path_seconds_by_n_jobs": {str(j): t for j, t in paths.items()},
               "one_fit_seconds": t_one, "one_fit_iterations": int(one[-1].n_iter_[0]),
               "lambda": float(logistic.lambda_), "C": float(logistic.C_),
               "cv_accuracy": float(logistic.best_score_),
               "path_vs_one_fit_by_n_jobs": {str(j): t / t_one for j, t in paths.items()}}
    return figures, {f"logistic_path_vs_one_fit_n_jobs_{j}":
                     target(round(t / t_one, 3), 6.0, at_least=False, unit="x")
                     for j, t in paths.items()}


if __name__ == "__main__":
    main()
