"""`auto` on photos: is the candidate it picks by CV as good on new images as the best one?

Run: ``python benchmarks/auto_choice.py``. The photos issue asks that on real
photo sets of 2 to 17 classes and a few hundred to a thousand images, the
defaults land within 0.5 points of the best single candidate. With no other
photo set reachable from this machine, the sets are clothing10 (10 classes)
and random subsets of its classes (``--subsets``, sizes from ``--sizes``,
drawn with fixed seeds): each subset is its own problem (fewer, other
confusions), though not independent photos.

Each image's features of every candidate are extracted once
(:func:`~l2vision.workflows.auto_select.candidate_extractor` of the
superset, cached in ``--cache``). For each set, as ``l2vision train`` does
with its defaults: the stratified 80% split ranks the candidates by CV
(:func:`~l2vision.workflows.auto_select.score_candidates`, ridge path, 5
folds) and the winner is kept; every candidate's model (L2 logistic, λ by
5-fold CV on the 80%, refit on all training images) is then measured on
``val/``. The gap is the best candidate's val accuracy minus the chosen
one's. Prints, asserts nothing; writes ``benchmarks/results/auto_choice.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from _common import SHARED, machine, target, write_results

from l2vision import config_context
from l2vision.datasets import load_image_folder
from l2vision.pipelines import make_pipeline
from l2vision.workflows.auto_select import best_candidate, candidate_extractor, score_candidates
from l2vision.workflows.train import split_images

MEASURES = ["l2vision/workflows/auto_select.py", "l2vision/features/auto.py",
            "l2vision/features/cnn.py", "l2vision/features/_net.py",
            "l2vision/features/color.py", "l2vision/linear/logistic.py",
            "l2vision/linear/logistic_path.py", "l2vision/linear/ridge.py",
            "l2vision/linear/ridge_path.py", "l2vision/linear/kfold.py"]


def features(split: str, cache: Path):
    """``(X, names, image_set)`` of clothing10 ``split`` for every candidate (cached)."""
    images = load_image_folder(SHARED / "data" / "clothing10" / split)
    matrix, names_file = cache / f"auto_choice_{split}.npy", cache / "auto_choice_names.json"
    if matrix.exists() and names_file.exists():
        print(f"{split}: features cached in {matrix}", flush=True)
        return np.load(matrix), json.loads(names_file.read_text()), images
    start = time.perf_counter()
    superset = candidate_extractor("photo+v1+color")
    X = superset.transform(list(images.images))
    names = [str(n) for n in superset.get_feature_names_out()]
    cache.mkdir(parents=True, exist_ok=True)
    np.save(matrix, X)
    names_file.write_text(json.dumps(names))
    print(f"{split}: {X.shape} extracted in {time.perf_counter() - start:.0f} s", flush=True)
    return X, names, images


def measure_set(classes, train, val, names) -> dict:
    """The chosen candidate and every candidate's val accuracy for the images of ``classes``."""
    (X_train, train_set), (X_val, val_set) = train, val
    rows = np.flatnonzero(np.isin(train_set.labels, classes))
    subset = train_set.subset(rows)
    fit_part, _ = split_images(subset, 0.2, 0)   # train's defaults: 20% held out, seed 0
    row_of = {str(image): row for image, row in zip(subset.images, rows, strict=True)}
    fit_rows = np.array([row_of[str(image)] for image in fit_part.images])
    y_fit = np.asarray(fit_part.labels)
    X_fit = X_train[fit_rows]
    scored = score_candidates(X_fit, names, y_fit, cv=5, seed=0)
    chosen = best_candidate(scored)["name"]
    val_rows = np.flatnonzero(np.isin(val_set.labels, classes))
    y_all, y_val = np.asarray(train_set.labels)[rows], np.asarray(val_set.labels)[val_rows]
    X_all, X_test = X_train[rows], X_val[val_rows]
    out = []
    for candidate in scored:
        columns = candidate["columns"]
        search = make_pipeline("color", "logreg", cv=5, random_state=0).steps[-1][1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same solver notes for every candidate
            search.fit(X_fit[:, columns], y_fit)
            search.refit_on(X_all[:, columns], y_all)
        predicted = search.predict(X_test[:, columns])
        out.append({"name": candidate["name"], "n_features": candidate["n_features"],
                    "cv_accuracy": candidate["cv_accuracy"],
                    "val_accuracy": float(np.mean(predicted == y_val))})
    val_of = {c["name"]: c["val_accuracy"] for c in out}
    best = max(out, key=lambda c: c["val_accuracy"])
    return {"classes": [str(c) for c in classes], "n_train": int(len(rows)),
            "n_val": int(len(val_rows)), "chosen": chosen,
            "chosen_val_accuracy": val_of[chosen], "best": best["name"],
            "best_val_accuracy": best["val_accuracy"],
            "gap_points": 100 * (best["val_accuracy"] - val_of[chosen]),
            "candidates": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/l2vision-bench-cache"),
                        help="folder of the extracted features (reused when present)")
    parser.add_argument("--sizes", default="2,3,5,7",
                        help="class counts of the subsets (one subset per size and seed)")
    parser.add_argument("--subsets", type=int, default=1, help="seeds per size")
    args = parser.parse_args()
    print(machine(), flush=True)
    with config_context(n_jobs=1):
        X_train, names, train_set = features("train", args.cache)
        X_val, _, val_set = features("val", args.cache)
    every = sorted(set(map(str, train_set.labels)))
    sets = {"clothing10": every}
    for size in [int(s) for s in args.sizes.split(",")]:
        for seed in range(args.subsets):
            chosen = np.random.default_rng(1000 * size + seed).choice(every, size, replace=False)
            sets[f"clothing10[{size} classes, seed {seed}]"] = sorted(chosen)
    figures, targets = {}, {}
    for name, classes in sets.items():
        start = time.perf_counter()
        result = measure_set(classes, (X_train, train_set), (X_val, val_set), names)
        figures[name] = result
        tried = ", ".join(f"{c['name']} {c['val_accuracy']:.1%}" for c in result["candidates"])
        print(f"{name} ({result['n_train']} train, {result['n_val']} val): auto chose "
              f"{result['chosen']} {result['chosen_val_accuracy']:.2%}; best {result['best']} "
              f"{result['best_val_accuracy']:.2%}; gap {result['gap_points']:.2f} points "
              f"({tried}; {time.perf_counter() - start:.0f} s)", flush=True)
        targets[f"{name}_gap"] = target(round(result["gap_points"], 2), 0.5, at_least=False,
                                        unit=" points")
    met = sum(t["met"] for t in targets.values())
    print(f"auto within 0.5 points of the best candidate on {met} of {len(targets)} sets")
    path = write_results("auto_choice", figures, targets, measures=MEASURES,
                         notes="clothing10 and random subsets of its classes (no other photo "
                               "set reachable); val accuracy of each candidate's default model")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
