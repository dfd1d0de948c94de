"""Imbalanced classes: balanced accuracy with and without ``class_weight="balanced"``.

Run: ``python benchmarks/imbalance.py [--seeds 5] [--cifar-train 5000]``. Prints,
asserts nothing; writes ``benchmarks/results/imbalance.json``.

Two training sets made imbalanced on purpose, the first half of the classes
(sorted by name) kept whole and the second half cut to 10% (a 10:1 ratio),
and a balanced test set:

- digits: scikit-learn's 8x8 digits (the built-in data), ``features="tiny:8"``;
  per seed, a stratified half of the 1,797 images is the test set, the other
  half is cut and trained on;
- CIFAR-10: ``--cifar-train`` class-balanced training images cut the same way,
  ``features="hog,color"``, tested on 2,000 class-balanced test images.

For each model (``ridge``, ``logreg``), ``train`` (λ by 5-fold CV,
``test_size=0``) without weights, with ``class_weight="balanced"``, and with
``balanced`` and ``cv_metric="balanced_accuracy"``; ``evaluate_images`` on the
test set: balanced accuracy, accuracy and the mean recall of the cut classes.
Means over ``--seeds`` seeds (the cut and the folds). Target: balanced accuracy
with ``balanced`` >= without, for both models and both data sets.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import cifar_paths, machine, target, write_results
from sklearn.model_selection import train_test_split

from l2vision import config_context, evaluate_images, load_digits_images, train
from l2vision.datasets import ImageSet
from l2vision.workflows.train import ImbalanceWarning

MEASURES = ["l2vision/linear/ridge.py", "l2vision/linear/ridge_path.py",
            "l2vision/linear/ridge_modes.py", "l2vision/linear/logistic.py",
            "l2vision/linear/logistic_path.py", "l2vision/linear/kfold.py",
            "l2vision/linear/cv_metrics.py", "l2vision/workflows/train.py"]

VARIANTS = {"none": {}, "balanced": {"class_weight": "balanced"},
            "balanced+balanced_accuracy": {"class_weight": "balanced",
                                           "cv_metric": "balanced_accuracy"}}


def small_classes(images: ImageSet) -> list[str]:
    """The classes cut: the second half of the sorted class names."""
    classes = sorted(str(c) for c in images.classes)
    return classes[len(classes) // 2:]


def cut(images: ImageSet, seed: int, keep: float = 0.1) -> ImageSet:
    """The images with each of :func:`small_classes` cut to ``keep`` of its images (seeded)."""
    rng = np.random.default_rng(seed)
    small = small_classes(images)
    labels = np.asarray(images.labels).astype(str)
    kept = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if label in small:
            rows = rng.choice(rows, max(6, round(keep * len(rows))), replace=False)
        kept.extend(rows.tolist())
    return images.subset(np.sort(kept))


def measure(train_set: ImageSet, test_set: ImageSet, features: str, seed: int) -> dict:
    """Every model and variant trained on ``train_set``, evaluated on ``test_set``."""
    out = {}
    for model in ("ridge", "logreg"):
        for name, options in VARIANTS.items():
            # No detector of images of no class: it plays no part in these figures.
            result = train(train_set, features=features, model=model, test_size=0, seed=seed,
                           ood=None, **options)
            metrics = evaluate_images(result.model, test_set)
            small = np.mean([metrics["per_class"][c]["recall"]
                             for c in small_classes(test_set)])
            out[f"{model}/{name}"] = {"balanced_accuracy": metrics["balanced_accuracy"],
                                      "accuracy": metrics["accuracy"],
                                      "small_class_recall": float(small)}
    return out


def mean_runs(runs: list[dict]) -> dict:
    """Per model/variant and figure: the mean over runs."""
    return {key: {figure: float(np.mean([run[key][figure] for run in runs]))
                  for figure in runs[0][key]} for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cifar-train", type=int, default=5000)
    parser.add_argument("--cifar-test", type=int, default=2000)
    args = parser.parse_args()
    print(machine(), flush=True)
    warnings.simplefilter("ignore", ImbalanceWarning)  # imbalanced on purpose
    start = time.perf_counter()
    digits = load_digits_images()
    figures, targets = {"seeds": args.seeds, "kept": 0.1}, {}
    with config_context(n_jobs=2):
        runs = []
        for seed in range(args.seeds):
            rows = np.arange(digits.n_images)
            train_rows, test_rows = train_test_split(rows, test_size=0.5, random_state=seed,
                                                     stratify=digits.labels)
            train_set = cut(digits.subset(train_rows), seed)
            runs.append(measure(train_set, digits.subset(test_rows), "tiny:8", seed))
        figures["digits"] = {"n_train": int(train_set.n_images), "features": "tiny:8",
                             "cut_classes": small_classes(digits),
                             "mean": mean_runs(runs)}
        paths, labels = cifar_paths("train", args.cifar_train)
        full = ImageSet(paths, np.asarray(labels), tuple(sorted(set(labels))),
                        "CIFAR-10 train")
        test_paths, test_labels = cifar_paths("test", args.cifar_test)
        test_set = ImageSet(test_paths, np.asarray(test_labels),
                            tuple(sorted(set(test_labels))), "CIFAR-10 test")
        runs = []
        for seed in range(args.seeds):
            train_set = cut(full, seed)
            runs.append(measure(train_set, test_set, "hog,color", seed))
        figures["cifar10"] = {"n_train": int(train_set.n_images), "n_test": args.cifar_test,
                              "cut_classes": small_classes(full),
                              "features": "hog,color", "mean": mean_runs(runs)}
    for data in ("digits", "cifar10"):
        mean = figures[data]["mean"]
        for model in ("ridge", "logreg"):
            without = mean[f"{model}/none"]["balanced_accuracy"]
            with_weights = mean[f"{model}/balanced"]["balanced_accuracy"]
            print(f"{data:8} {model:6} balanced accuracy: without {without:.2%}, balanced "
                  f"{with_weights:.2%}, balanced + λ by balanced accuracy "
                  f"{mean[f'{model}/balanced+balanced_accuracy']['balanced_accuracy']:.2%}; "
                  f"recall of the cut classes {mean[f'{model}/none']['small_class_recall']:.2%}"
                  f" -> {mean[f'{model}/balanced']['small_class_recall']:.2%}")
            targets[f"{data}_{model}_balanced_minus_none"] = target(
                round(with_weights - without, 4), 0.0, unit=" (balanced accuracy)")
    figures["seconds"] = time.perf_counter() - start
    path = write_results("imbalance", figures, targets, measures=MEASURES,
                         notes="classes 5-9 cut to 10% of their training images; means over "
                               f"{args.seeds} seeds")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
