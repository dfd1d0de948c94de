"""The warm-started L2 logistic path of one cross-validation fold.

The fold's features are standardized on its training rows, then
``LogisticRegression`` is fitted from the largest λ to the smallest, each fit
starting from the straight-line extrapolation (in log λ) of the two previous
solutions. Used by :class:`~l2vision.linear.LogisticRegressionKFoldCV`,
one call per fold (possibly in parallel).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from l2vision._workers import exit_with_parent

__all__ = ["fold_path", "fold_task", "report_convergence"]


def fold_path(X, y, train, test, lambdas, max_iter, tol, patience, scorer=None,
              class_weight=None):
    """Test accuracy along λ (descending fits, warm-started) on one fold; NaN where stopped.

    Each fit starts from the straight-line extrapolation (in log λ) of the two
    previous solutions, which is closer to the next solution than the last
    one alone: about a third fewer L-BFGS iterations along a CIFAR-10 path.
    ``scorer(decisions (n, 1, K), labels)`` scores the test rows
    (:class:`~l2vision.linear.cv_metrics.FoldScorer`; default: accuracy);
    ``class_weight`` is passed to ``LogisticRegression``.
    Also returns each λ's solution in the units of ``X`` (``None`` where not
    fitted), to warm-start the final fit on all rows. With no ``test`` rows,
    the whole path is fitted and the scores are NaN.
    """
    scaler = StandardScaler().fit(X[train])
    X_train = scaler.transform(X[train])
    X_test = scaler.transform(X[test]) if len(test) else None
    model = LogisticRegression(C=1.0, warm_start=True, max_iter=max_iter, tol=tol,
                               class_weight=class_weight)
    scores = np.full(len(lambdas), np.nan)
    solutions = [None] * len(lambdas)
    history = []
    best, worse = -np.inf, 0
    for j in range(len(lambdas) - 1, -1, -1):
        if len(history) >= 2 and _is_log_uniform(lambdas[j:j + 3]):
            (w1, b1), (w2, b2) = history[-1], history[-2]
            model.coef_, model.intercept_ = 2 * w1 - w2, 2 * b1 - b2
        model.set_params(C=1.0 / lambdas[j]).fit(X_train, y[train])
        history = [*history[-1:], (model.coef_.copy(), model.intercept_.copy())]
        coef = model.coef_ / scaler.scale_
        solutions[j] = (coef, model.intercept_ - coef @ scaler.mean_)
        if not len(test):  # the path itself is wanted (the λ study)
            continue
        if scorer is None:
            scores[j] = model.score(X_test, y[test])
        else:
            decision = model.decision_function(X_test)
            decision = decision.reshape(len(decision), 1, -1)
            scores[j] = scorer(decision, y[test])[0]
        best, worse = (scores[j], 0) if scores[j] >= best else (best, worse + 1)
        if patience is not None and worse >= patience:
            break
    return scores, solutions


def _is_log_uniform(lambdas) -> bool:
    """Whether three ascending λ values are equally spaced in log (extrapolation is sound)."""
    return len(lambdas) == 3 and np.isclose(lambdas[2] / lambdas[1], lambdas[1] / lambdas[0],
                                            rtol=1e-6)


def fold_task(test, X, y_index, lambdas, max_iter, path_tol, patience, scorer=None,
              class_weight=None):
    """One fold of the logistic path, the test rows first (a task per fold).

    Returns ``(scores, solutions, n_unconverged)``: the solver's convergence
    warnings are counted here, in whatever process runs the fold, so that the
    parent reports them once (a worker would print each to its own stderr,
    past the command line's ``-q``).
    """
    exit_with_parent()  # in a worker process: never outlive the run
    train = np.setdiff1d(np.arange(X.shape[0]), test)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        scores, solutions = fold_path(X, y_index, train, test, lambdas, max_iter, path_tol,
                                      patience, scorer, class_weight)
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return scores, solutions, unconverged


def report_convergence(caught, unconverged: int = 0) -> None:
    """Re-emit the path's convergence warnings as one l2vision line, any other warning as is.

    ``unconverged``: fits of the folds (counted by :func:`fold_task`).
    """
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    total = len(convergence) + unconverged
    if total:
        warnings.warn(f"{total} logistic fit(s) on the lambda path stopped at their iteration "
                      "limit before converging (usually at the smallest lambdas, past the best "
                      "accuracy): the lambda chosen and the model are still usable, slightly "
                      "less exact. With many features (thousands per image), the ridge model "
                      "(--model ridge) solves the whole path exactly, without iterations.",
                      ConvergenceWarning, stacklevel=3)
