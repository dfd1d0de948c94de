"""Out-of-distribution scores on real features: AUROC, FPR at 95% TPR, state size, cost.

Run: ``python benchmarks/ood.py [--recipes photo hog,color] [--cache DIR] [--fresh]``.
Prints a table and writes ``benchmarks/results/ood.json`` (through
``write_results``); asserts nothing.
Each figure is kept in ``--cache``/ood_rows.json as it is measured, so an
interrupted run resumes (``--fresh`` measures everything again; use it after a
change to the measured code, since the results file records the hashes of
today's files, not of those the kept figures were measured on).

Features (extracted once with ``make_features(recipe)`` under
``config_context(n_jobs=2)``, cached as .npy under ``--cache``): clothing10
train (1,435) and val (341), the first ``--n-cifar-train`` CIFAR-10 training
images (5,000) and ``--n-cifar-test`` test images (2,000), class-balanced
prefixes.

Pairs (in-distribution fit rows -> held-out in-distribution vs out):
- clothing10 -> CIFAR-10: fit on clothing10 train; val vs CIFAR-10 test.
- CIFAR-10 -> clothing10: fit on CIFAR-10 train; CIFAR-10 test vs all of clothing10.
- near, clothing10 8 of 10 classes: fit on the 8 classes' train images; their val
  images vs every image of the other 2 (mean of 5 random class splits).
- near, CIFAR-10 6 of 10 classes: the same with 6 classes (test images only).

Methods: OODDetector("mahalanobis") with r = 64 (the default) and 128;
OODDetector("knn"), k = 1 and 5, 1,000 references; and two baselines written
here: the PCA-Mahalanobis of candidate (a) (class means and a shared covariance
in a 128- or 256-dim PCA space of the standardized features, without the
residual term) and k-NN over all training rows (no subsample).

AUROC: ``roc_auc_score`` with out-of-distribution as positive. FPR95: the
fraction of out-of-distribution images accepted at the threshold that accepts
95% of the held-out in-distribution images. ``accepted``/``rejected``: the
rates at the detector's own ``threshold_`` (fitted on training rows only).
Targets: photo recipe, default method, AUROC >= 0.95 on both far pairs; the
whole model's scoring throughput with the default detector >= 0.9x without it
(each recipe).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
from _common import SHARED, cifar_paths, machine, target, write_results
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from l2vision.config import config_context
from l2vision.pipelines.build import make_features
from l2vision.trust import OODDetector

CLOTHING = SHARED / "data" / "clothing10"
MEASURES = ["l2vision/trust/ood.py", "l2vision/pipelines/build.py", "l2vision/config.py",
            "l2vision/features/driver.py", "l2vision/features/cnn.py", "l2vision/features/_net.py",
            "l2vision/features/zoo.py", "l2vision/features/hog.py",
            "l2vision/features/_hog_compute.py", "l2vision/features/color.py"]
DEFAULT = "mahalanobis r=64 (default)"


def clothing_paths(split: str):
    """Paths and labels of a clothing10 split, class by class."""
    pairs = [(str(p), d.name) for d in sorted((CLOTHING / split).iterdir())
             for p in sorted(d.iterdir())]
    return [p for p, _ in pairs], [label for _, label in pairs]


def features(recipe: str, args) -> dict:
    """{set name: (X float32, y int)}, extracted once and cached as .npy files."""
    sets = {"clothing10_train": lambda: clothing_paths("train"),
            "clothing10_val": lambda: clothing_paths("val"),
            f"cifar10_train{args.n_cifar_train}": lambda: cifar_paths("train", args.n_cifar_train),
            f"cifar10_test{args.n_cifar_test}": lambda: cifar_paths("test", args.n_cifar_test)}
    out = {}
    for name, paths_labels in sets.items():
        path = args.cache / f"{recipe.replace(',', '_')}__{name}.npy"
        paths, labels = paths_labels()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with config_context(n_jobs=2):
                np.save(path, make_features(recipe).fit(paths).transform(paths))
        out[name.rstrip("0123456789")] = (np.load(path), np.unique(labels,
                                                                   return_inverse=True)[1])
    return out


class PCAMahalanobis:
    """Baseline (a): min over classes of the Mahalanobis distance in a PCA space."""

    def __init__(self, r):
        self.r = r

    def fit(self, X, y):
        self.scaler = StandardScaler().fit(X)
        self.pca = PCA(self.r, svd_solver="randomized", random_state=0)
        P = self.pca.fit_transform(self.scaler.transform(X))
        self.means = np.stack([P[y == c].mean(0) for c in np.unique(y)])
        R = P - self.means[np.unique(y, return_inverse=True)[1]]
        self.root = np.linalg.cholesky(np.linalg.inv(R.T @ R / len(R) + 1e-6 * np.eye(self.r)))
        return self

    def ood_score(self, X):
        W = self.pca.transform(self.scaler.transform(X)) @ self.root
        M = self.means @ self.root
        return ((W * W).sum(1)[:, None] - 2 * W @ M.T + (M * M).sum(1)[None]).min(1)


class FullKNN:
    """Baseline: the k-th nearest L2-normalized training row, all rows kept."""

    def __init__(self, k):
        self.k = k

    def fit(self, X, y):
        self.ref = X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-12)
        return self

    def ood_score(self, X):
        s = (X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-12)) @ self.ref.T
        return np.sqrt(np.maximum(2 - 2 * -np.partition(-s, self.k - 1, 1)[:, self.k - 1], 0))


METHODS = {
    DEFAULT: lambda: OODDetector("mahalanobis", n_components=64),
    "mahalanobis r=128": lambda: OODDetector("mahalanobis", n_components=128),
    "knn k=1, 1000 refs": lambda: OODDetector("knn", n_neighbors=1, max_reference=1000),
    "knn k=5, 1000 refs": lambda: OODDetector("knn", n_neighbors=5, max_reference=1000),
    "baseline (a): PCA-Mahalanobis r=128": lambda: PCAMahalanobis(128),
    "baseline (a): PCA-Mahalanobis r=256": lambda: PCAMahalanobis(256),
    "baseline: knn k=1, all training rows": lambda: FullKNN(1),
}


def evaluate(make, X, y, X_in, X_out) -> dict:
    """AUROC, FPR95, and the rates at the detector's own threshold; with fit seconds."""
    start = time.perf_counter()
    model = make().fit(X, y)
    fit_seconds = time.perf_counter() - start
    s_in, s_out = model.ood_score(X_in), model.ood_score(X_out)
    auroc = roc_auc_score(np.r_[np.zeros(len(s_in)), np.ones(len(s_out))], np.r_[s_in, s_out])
    row = {"auroc": float(auroc), "fpr95": float(np.mean(s_out <= np.quantile(s_in, 0.95))),
           "fit_seconds": fit_seconds}
    if hasattr(model, "threshold_"):
        row["accepted_in"] = float(np.mean(s_in <= model.threshold_))
        row["rejected_out"] = float(np.mean(s_out > model.threshold_))
    return row


def pairs(data: dict):
    """(pair name, [(X, y, X_in, X_out), ...]) for the far and the near pairs."""
    (ctr, yctr), (cva, ycva) = data["clothing10_train"], data["clothing10_val"]
    (ftr, yftr), (fte, yfte) = data["cifar10_train"], data["cifar10_test"]
    yield "clothing10 -> CIFAR-10", [(ctr, yctr, cva, fte)]
    yield "CIFAR-10 -> clothing10", [(ftr, yftr, fte, np.vstack([ctr, cva]))]
    for name, (Xtr, ytr, Xte, yte), n_in, extra in (
            ("near: clothing10, 2 held-out classes", (ctr, yctr, cva, ycva), 8, True),
            ("near: CIFAR-10, 4 held-out classes", (ftr, yftr, fte, yfte), 6, False)):
        splits = []
        for seed in range(5):
            classes = np.random.default_rng(seed).permutation(10)[:n_in]
            a, b = np.isin(ytr, classes), np.isin(yte, classes)
            out = np.vstack([Xte[~b], Xtr[~a]]) if extra else Xte[~b]
            splits.append((Xtr[a], ytr[a], Xte[b], out))
        yield name, splits


def cost(recipe: str, data: dict, args) -> dict:
    """Per method: state MB, scoring ms per image; the pipeline's own ms per image and size."""
    X, y = data["cifar10_train"]
    X_score = data["cifar10_test"][0]
    paths, _ = cifar_paths("test", args.timing_images)
    linear = make_pipeline(StandardScaler(), RidgeClassifier()).fit(X, y)
    with config_context(n_jobs=2):
        extractor = make_features(recipe).fit(paths)
        extractor.transform(paths[:100])                             # warm up the workers
        start = time.perf_counter()
        linear.decision_function(extractor.transform(paths))
        pipeline_ms = 1e3 * (time.perf_counter() - start) / len(paths)
    rows = {"pipeline_ms_per_image": pipeline_ms,
            "linear_model_mb": len(pickle.dumps(linear)) / 1e6, "methods": {}}
    for name in (DEFAULT, "mahalanobis r=128", "knn k=1, 1000 refs"):
        model = METHODS[name]().fit(X, y)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            model.ood_score(X_score)
            times.append(time.perf_counter() - start)
        ms = 1e3 * float(np.median(times)) / len(X_score)
        rows["methods"][name] = {"state_mb": len(pickle.dumps(model)) / 1e6,
                                 "score_ms_per_image": ms,
                                 "throughput_ratio": pipeline_ms / (pipeline_ms + ms)}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["photo", "hog,color"])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/trust_features"))
    parser.add_argument("--n-cifar-train", type=int, default=5_000)
    parser.add_argument("--n-cifar-test", type=int, default=2_000)
    parser.add_argument("--timing-images", type=int, default=1_000,
                        help="CIFAR-10 test images of the pipeline timing")
    parser.add_argument("--fresh", action="store_true",
                        help="ignore the figures kept from an earlier run")
    args = parser.parse_args()
    kept_file = args.cache / "ood_rows.json"
    kept = {} if args.fresh or not kept_file.exists() else json.loads(kept_file.read_text())
    print(machine(), flush=True)
    load_start = list(os.getloadavg())          # other jobs on the machine skew the times
    results, costs = [], {}
    for recipe in args.recipes:
        data = features(recipe, args)
        for pair, splits in pairs(data):
            for name, make in METHODS.items():
                key = f"{recipe}|{pair}|{name}"
                if key not in kept:
                    rows = [evaluate(make, *split) for split in splits]
                    kept[key] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                    kept_file.write_text(json.dumps(kept, indent=1))
                row = kept[key]
                results.append({"recipe": recipe, "pair": pair, "method": name, **row})
                print(f"{recipe:9s} {pair:38s} {name:38s} AUROC {row['auroc']:.4f} "
                      f"FPR95 {row['fpr95']:.3f}" + (
                          f"  at threshold_: accepted {row['accepted_in']:.3f}, rejected "
                          f"{row['rejected_out']:.3f}" if "accepted_in" in row else ""),
                      flush=True)
        if f"{recipe}|cost" not in kept:
            kept[f"{recipe}|cost"] = cost(recipe, data, args)
            kept_file.write_text(json.dumps(kept, indent=1))
        costs[recipe] = kept[f"{recipe}|cost"]
        print(json.dumps(costs[recipe], indent=1), flush=True)
    load_end = os.getloadavg()[0]
    figures = {"default_method": DEFAULT, "results": results, "cost": costs}
    targets = {}
    for r in results:
        if r["recipe"] == "photo" and r["method"] == DEFAULT and not r["pair"].startswith("near"):
            key = "photo_auroc_" + r["pair"].replace(" -> ", "_vs_").replace("-", "").lower()
            targets[key] = target(round(r["auroc"], 4), 0.95)
    for recipe, c in costs.items():
        targets[f"{recipe.replace(',', '_')}_throughput_with_detector"] = target(
            round(c["methods"][DEFAULT]["throughput_ratio"], 4), 0.9, unit="x")
    path = write_results("ood", figures, targets, measures=MEASURES, notes=(
        f"load average (1 min) {load_start[0]:.1f} at the start, {load_end:.1f} at the end, on "
        f"{os.cpu_count()} cores; fit and scoring times are upper bounds"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
