"""The λ study: clean and corrupted held-out accuracy along the regularization path.

Answers, on the user's own data, whether stronger L2 regularization buys
robustness to image corruptions, and how L1, elastic-net and no penalty
compare. Features are extracted once for the training split; the L2 path of
the chosen model (ridge: one eigendecomposition for every λ; logistic: one
warm-started path) and the other penalties' models are all fitted on that
matrix, then every held-out image is decoded once and each corrupted copy is
scored by every model at once (:mod:`l2vision.pipelines.robustness`).
"""

from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from l2vision._validation import check_int, check_option, check_real
from l2vision.config import config_context
from l2vision.corruptions.specs import parse_corruptions, parse_severities
from l2vision.datasets import ImageSet, load_dataset
from l2vision.distributed import get_client
from l2vision.linear import logistic_path, ridge_path
from l2vision.linear.kfold import class_targets
from l2vision.pipelines.build import ESTIMATORS, make_pipeline
from l2vision.trust import top_label_ece
from l2vision.workflows.robustness import CLEAN, check_model_classes, corrupted_predictions
from l2vision.workflows.train import check_trainable, split_images

__all__ = ["PENALTIES", "study"]

_SKLEARN = tuple(int(part) for part in sklearn.__version__.split(".")[:2])

#: The penalties a study can compare (``"l2"`` is the path of the chosen model).
PENALTIES = ("l2", "l1", "elasticnet", "none")


class ConfidentHeads:
    """``predict(X)``: the top class and its probability of many linear models, (n, 2M) float32.

    The first M columns are class indices, the next M the top-class
    probabilities: column 0 the searched model (its calibrated
    ``predict_proba``), then each path model, ``softmax(decision / T)`` with
    its temperature T. Small and picklable: it runs in the workers.
    """

    def __init__(self, search, coef: np.ndarray, intercept: np.ndarray, temperatures):
        self.search, self.coef, self.intercept = search, coef, intercept
        self.temperatures = np.asarray(temperatures, dtype=np.float64)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        proba = self.search.predict_proba(X)
        n_models, n_targets, d = self.coef.shape
        decisions = X @ self.coef.reshape(-1, d).T.astype(X.dtype) + self.intercept.ravel()
        decisions = decisions.reshape(len(X), n_models, n_targets).astype(np.float64)
        if n_targets == 1:
            decisions = np.concatenate([-decisions / 2, decisions / 2], axis=2)
        logits = decisions / self.temperatures[None, :, None]
        logits -= logits.max(axis=2, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=2, keepdims=True)
        index = np.column_stack([proba.argmax(axis=1), p.argmax(axis=2)])
        top = np.column_stack([proba.max(axis=1), p.max(axis=2)])
        return np.hstack([index, top]).astype(np.float32)


def _l2_path(model: str, search, X, y_index, lambdas):
    """``(coef (L, K, d), intercept (L, K))`` of the chosen model at every λ on all of X."""
    if model == "ridge":
        Y = class_targets(y_index, len(search.classes_)).astype(X.dtype)
        return ridge_path.path_solutions(X, Y, lambdas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, solutions = logistic_path.fold_path(X, y_index, np.arange(len(X)), np.arange(0),
                                                lambdas, search.max_iter, search.tol, None)
    return (np.stack([coef for coef, _ in solutions]),
            np.stack([intercept for _, intercept in solutions]))


def _logistic(**params) -> LogisticRegression:
    """LogisticRegression with the penalty given by ``l1_ratio`` or ``C=inf`` alone.

    scikit-learn 1.8 deprecated ``penalty``: ``l1_ratio`` and ``C`` say it
    all. Older versions need it spelled out.
    """
    if _SKLEARN < (1, 8):
        if params.get("C") == np.inf:
            params = {**params, "C": 1.0, "penalty": None}
        elif "l1_ratio" in params:
            params["penalty"] = "l1" if params["l1_ratio"] == 1 else "elasticnet"
    return LogisticRegression(**params)


def _penalized_logistic(X, y_index, lambdas, l1_ratio, max_iter):
    """Logistic regression with an L1 (``l1_ratio=1``) or elastic-net penalty along ``lambdas``.

    scikit-learn's ``saga`` solver on standardized features, from the largest
    λ down, warm-started. Returns the models in X's units and, per λ, the
    fraction of nonzero weights and whether saga converged.
    """
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    model = _logistic(l1_ratio=l1_ratio, solver="saga", warm_start=True, max_iter=max_iter,
                      tol=1e-3)
    coefs, intercepts, info = [None] * len(lambdas), [None] * len(lambdas), [None] * len(lambdas)
    for j in range(len(lambdas) - 1, -1, -1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.set_params(C=1.0 / lambdas[j]).fit(Z, y_index)
        coef = model.coef_ / scaler.scale_
        coefs[j], intercepts[j] = coef, model.intercept_ - coef @ scaler.mean_
        info[j] = {"nonzero_fraction": float(np.mean(model.coef_ != 0)),
                   "converged": not any(issubclass(w.category, ConvergenceWarning)
                                        for w in caught)}
    return np.stack(coefs), np.stack(intercepts), info


def _unpenalized_logistic(X, y_index, max_iter):
    """Logistic regression with no penalty (``C = inf``), in X's units."""
    scaler = StandardScaler().fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = _logistic(C=np.inf, max_iter=max_iter).fit(scaler.transform(X), y_index)
    coef = fit.coef_ / scaler.scale_
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return coef[None], (fit.intercept_ - coef @ scaler.mean_)[None], [{"converged": converged}]


def _penalty_lambdas(lambdas: np.ndarray, points: int) -> np.ndarray:
    """``points`` λ of the L2 grid, evenly spread over it (ends included)."""
    picks = np.unique(np.round(np.linspace(0, len(lambdas) - 1, min(points, len(lambdas)))))
    return lambdas[picks.astype(int)]


def study(data=None, *, test_data=None, features="auto", model: str = "logreg", cv: int = 5,
          lambdas=None, penalties=PENALTIES, corruptions="all", severities="1-5",
          penalty_points: int = 5, penalty_max_iter: int = 100, test_size: float = 0.2,
          size=None, seed: int = 0) -> dict:
    """Held-out clean and corrupted accuracy for every λ, and for other penalties.

    The split, features and λ search are those of
    :func:`~l2vision.workflows.train.train` with the same arguments, so the
    row at the CV-chosen λ is the model ``train`` evaluates (its clean
    accuracy is ``train``'s held-out accuracy). The other rows are the same
    model refitted at each λ of the search's grid on the whole training split
    (ridge: exact, one eigendecomposition; logistic: the warm-started path at
    the final fit's tolerance).

    Parameters
    ----------
    data : ImageSet, str, os.PathLike or None
        Labelled images (as :func:`train`); None for the built-in digits.
    test_data : ImageSet, str, os.PathLike or None, default=None
        Held-out images from elsewhere (e.g. CIFAR-10's test folder) instead
        of a ``test_size`` split of ``data``.
    features, model, cv, lambdas, size, seed :
        As in :func:`~l2vision.workflows.train.train`. The extraction, the λ
        search and the corrupted copies run on the workers or the Dask
        cluster of :func:`l2vision.config_context`.
    penalties : sequence of {"l2", "l1", "elasticnet", "none"}, default=all four
        ``"l2"``: the path of ``model``. ``"l1"`` and ``"elasticnet"``
        (``l1_ratio=0.5``): logistic regression (scikit-learn's ``l1_ratio``,
        ``saga`` solver) at ``penalty_points`` λ of the grid. ``"none"``: the
        model with no penalty (least squares for ridge, ``C=inf`` for logreg).
    corruptions, severities :
        The corruptions whose mean accuracy is the "corrupted accuracy"
        (:func:`~l2vision.workflows.robustness.robustness`'s mean corruption accuracy).
    penalty_points : int, default=5
    penalty_max_iter : int, default=100
        saga epochs per L1 / elastic-net fit (saga is slow on large data;
        ``converged`` in the result says whether it finished).
    test_size : float, default=0.2

    Returns
    -------
    dict
        ``l2_path`` (one row per λ: ``lambda``, ``cv_accuracy``,
        ``clean_accuracy``, ``corrupted_accuracy``, ``relative_robustness``,
        ``per_corruption``), ``chosen_lambda`` and ``chosen`` (its row),
        ``penalties`` (``{name: [rows]}``), ``summary``, and the settings.
    """
    check_option("study", "model", model, ESTIMATORS)
    check_int("study", "seed", seed, low=0)
    check_int("study", "cv", cv, low=2)
    check_real("study", "test_size", test_size, low=0, high=1, high_open=True)
    check_int("study", "penalty_points", penalty_points, low=1)
    unknown = [p for p in penalties if p not in PENALTIES]
    if unknown:
        raise ValueError(f"study: unknown penalties {unknown}; choose from {', '.join(PENALTIES)}")
    names, levels = parse_corruptions(corruptions), parse_severities(severities)
    images = data if isinstance(data, ImageSet) else load_dataset(data)
    if test_data is None:
        check_trainable(images, cv=cv, test_size=test_size)
        if not test_size:
            raise ValueError("study: test_size=0 leaves no held-out images; give test_data")
        train_set, test_set = split_images(images, test_size, seed)
    else:
        check_trainable(images, cv=cv, test_size=0)
        train_set = images
        test_set = test_data if isinstance(test_data, ImageSet) else load_dataset(test_data)
        check_model_classes(images.classes, test_set.labels, test_set.source)
    timings = {}
    start = time.perf_counter()
    client = get_client()
    pipeline = make_pipeline(features, model, lambdas=lambdas, cv=cv, random_state=seed,
                             size=size)
    extractor, search = pipeline.named_steps["features"], pipeline.steps[-1][1]
    with config_context(scheduler=client):  # one client for the whole run
        X = extractor.fit_transform(train_set.images)
    timings["extract_train"] = time.perf_counter() - start
    start = time.perf_counter()
    with client.as_current() if client is not None else contextlib.nullcontext():
        search.fit(X, train_set.labels)
    classes = search.classes_
    y_index = np.searchsorted(classes, np.asarray(train_set.labels))
    grid = search.lambdas_
    # Ridge with no penalty is the same path at λ = 0: one eigendecomposition for both.
    ridge_none = model == "ridge" and "none" in penalties
    coef, intercept = _l2_path(model, search, X, y_index,
                               np.append(grid, 0.0) if ridge_none else grid)
    extra = {}
    if ridge_none:
        extra["none"] = (coef[-1:], intercept[-1:], [{"converged": True}], np.array([0.0]))
        coef, intercept = coef[:-1], intercept[:-1]
    models = [("l2", float(lam), None) for lam in grid]
    if "l1" in penalties or "elasticnet" in penalties:
        picked = _penalty_lambdas(grid, penalty_points)
        for name, ratio in (("l1", 1.0), ("elasticnet", 0.5)):
            if name in penalties:
                extra[name] = (*_penalized_logistic(X, y_index, picked, ratio,
                                                    penalty_max_iter), picked)
    if "none" in penalties and not ridge_none:
        extra["none"] = (*_unpenalized_logistic(X, y_index, search.max_iter), np.array([0.0]))
    for name, (c, b, info, lams) in extra.items():
        coef, intercept = np.concatenate([coef, c]), np.concatenate([intercept, b])
        models += [(name, float(lam), item) for lam, item in zip(lams, info, strict=True)]
    timings["fit"] = time.perf_counter() - start
    del X

    # Column 0: the searched model itself (train's held-out model); then every path model.
    # Path models give probabilities at T = 1 (a logistic model's own); ridge's
    # decisions are no probabilities: they are scaled by the searched model's
    # temperature (fitted at the chosen λ; an approximation elsewhere on the path).
    temperatures = [search.temperature_ if model == "ridge" and name in ("l2", "none") else 1.0
                    for name, _, _ in models]
    predict = ConfidentHeads(search, coef, intercept, temperatures)
    conditions = [CLEAN] + [(n, s) for n in names for s in levels]
    start = time.perf_counter()
    with config_context(scheduler=client):
        positions, predictions, errors = corrupted_predictions(
            extractor, predict, test_set.images, conditions, seed=seed)
    timings["held_out"] = time.perf_counter() - start
    truth = np.searchsorted(classes, np.asarray(test_set.labels)[positions])
    known = np.isin(np.asarray(test_set.labels)[positions], classes)
    n_models = 1 + len(models)
    correct = {c: (p[:, :n_models].astype(np.int64) == truth[:, None]) & known[:, None]
               for c, p in predictions.items()}
    confidence = {c: p[:, n_models:] for c, p in predictions.items()}

    def ece(condition, column: int) -> float:
        return top_label_ece(confidence[condition][known, column],
                             correct[condition][known, column])

    def row(column: int) -> dict:
        per = {n: float(np.mean([correct[(n, s)][:, column].mean() for s in levels]))
               for n in names}
        clean = float(correct[CLEAN][:, column].mean())
        corrupted = float(np.mean(list(per.values())))
        return {"clean_accuracy": clean, "corrupted_accuracy": corrupted,
                "relative_robustness": corrupted / clean if clean else float("nan"),
                "clean_ece": ece(CLEAN, column),
                "corrupted_ece": float(np.mean([ece((n, s), column) for n in names
                                                for s in levels])),
                "per_corruption": per}

    cv_mean = search.cv_results_["mean_test_score"]
    l2_rows = [{"lambda": lam, "cv_accuracy": float(cv_mean[j]), **row(1 + j)}
               for j, (_, lam, _) in enumerate(models[:len(grid)])]
    l2_rows[search.best_index_].update(row(0))  # exactly the searched model
    penalty_rows: dict[str, list] = {}
    for j, (name, lam, info) in enumerate(models[len(grid):], start=len(grid)):
        penalty_rows.setdefault(name, []).append({"lambda": lam, **(info or {}), **row(1 + j)})
    result = {
        "features": getattr(extractor, "features_spec_", None) or
        (features if isinstance(features, str) else repr(features)),
        "model": model, "data": images.source, "test_data": test_set.source
        if test_data is not None else None, "n_train": int(train_set.n_images),
        "n_test": int(len(positions)), "corruptions": names, "severities": levels,
        "seed": seed, "chosen_lambda": search.lambda_, "cv_accuracy": search.best_score_,
        "chosen": l2_rows[search.best_index_], "l2_path": l2_rows, "penalties": penalty_rows,
        "failed": [{"path": str(test_set.images[i]), "error": errors[i].reason}
                   for i in sorted(errors)],
        "timings": timings,
    }
    result["summary"] = _summary(result)
    return result


def _summary(result: dict) -> dict:
    """Where clean and corrupted accuracy peak along λ, and how robustness moves with λ."""
    rows = result["l2_path"]
    clean = np.array([r["clean_accuracy"] for r in rows])
    corrupted = np.array([r["corrupted_accuracy"] for r in rows])
    relative = np.array([r["relative_robustness"] for r in rows])
    lambdas = np.array([r["lambda"] for r in rows])
    # Spearman's rank correlation between λ and relative robustness (ties ignored).
    ranks = np.argsort(np.argsort(relative))
    trend = float(np.corrcoef(np.arange(len(rows)), ranks)[0, 1]) if len(rows) > 2 else 0.0
    return {"best_clean_lambda": float(lambdas[int(np.argmax(clean))]),
            "best_clean_accuracy": float(clean.max()),
            "best_corrupted_lambda": float(lambdas[int(np.argmax(corrupted))]),
            "best_corrupted_accuracy": float(corrupted.max()),
            "relative_robustness_range": [float(relative.min()), float(relative.max())],
            "lambda_vs_relative_robustness_spearman": trend,
            **_calibration_summary(rows, lambdas)}


def _calibration_summary(rows: list, lambdas: np.ndarray) -> dict:
    """Where the ECE is lowest along λ, clean and corrupted (the article's question for
    calibration: does more L2 give better calibrated probabilities?)."""
    out = {}
    for kind in ("clean", "corrupted"):
        ece = np.array([r[f"{kind}_ece"] for r in rows])
        out[f"best_{kind}_ece_lambda"] = float(lambdas[int(np.argmin(ece))])
        out[f"best_{kind}_ece"] = float(ece.min())
        ranks = np.argsort(np.argsort(ece))
        out[f"lambda_vs_{kind}_ece_spearman"] = float(
            np.corrcoef(np.arange(len(rows)), ranks)[0, 1]) if len(rows) > 2 else 0.0
    return out
