"""Robustness to corruptions and the λ study on CIFAR-10: the README's figures.

Run: ``python benchmarks/robustness.py [--rows hand,best,cnn] [--out DIR]
[--limit N]`` (``--limit``: a quick run on N training and N test images). Prints,
asserts nothing; writes each row's ``robustness.json``, ``study.json`` and
``study.png`` under ``--out``, and its figures to
``benchmarks/results/robustness_ROW.json`` (``robustness_hand.json``...). Every
row runs :func:`run_row`, with ``n_jobs=2`` and the feature cache ``--cache``
as settings of :func:`l2vision.config_context`.

Rows:
- hand: ``hog,color`` + ridge (λ by 5-fold CV) trained on the 50,000 training
  images; ``robustness`` on the 10,000 test images, every corruption at
  severities 1-5; then the time of one corruption pass against one clean pass
  (the same engine with the clean condition only) and against
  ``evaluate_images``, side by side on 2,000 test images (target: a corruption
  pass <= 1.3x a clean evaluation pass); then ``study`` (train -> test, every
  corruption at severities 1-5, L2 path and no penalty;
  ``--hand-penalties l2,l1,elasticnet,none`` adds the saga fits, minutes each
  at this size).
- best: the "best" hand-crafted set (12,660 features) + ridge on the 50,000
  training images; robustness on the 10,000 test images at severities 1-5 and
  the pass times; the study (L2 path, no penalty) at severity 3.
- cnn: the MobileNet V2 embedding (``cnn:mobilenet_v2_1.0``, bundled) + ridge,
  trained on 10,000 training images (--cnn-train), robustness on 1,000 test
  images (--cnn-test) at severities 1-5; the study on the same images at
  severity 3, with L1 and elastic-net at 3 λ and no penalty.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import cifar_paths, machine, median_times, target, write_results

from l2vision import config_context, evaluate_images, robustness, study, train
from l2vision.corruptions import CORRUPTIONS
from l2vision.datasets import ImageSet
from l2vision.pipelines.build import split_pipeline
from l2vision.report.robustness import plot_robustness_heatmap, plot_study
from l2vision.workflows.robustness import CLEAN, ModelHead, corrupted_predictions

#: What every row measures, and what each row's features add.
MEASURES = ["l2vision/workflows/robustness.py", "l2vision/workflows/study.py",
            "l2vision/workflows/train.py", "l2vision/workflows/evaluate.py",
            "l2vision/corruptions/catalog.py", "l2vision/corruptions/augment.py",
            "l2vision/corruptions/specs.py", "l2vision/features/views.py",
            "l2vision/features/driver.py", "l2vision/features/_batches.py",
            "l2vision/linear/ridge.py", "l2vision/linear/ridge_path.py",
            "l2vision/linear/ridge_modes.py", "l2vision/linear/kfold.py",
            "l2vision/pipelines/build.py"]
ROW_MEASURES = {
    "hand": ["l2vision/features/hog.py", "l2vision/features/color.py"],
    "best": ["l2vision/features/registry.py", "l2vision/features/hog.py",
             "l2vision/features/color.py", "l2vision/features/texture.py",
             "l2vision/features/tiny.py"],
    "cnn": ["l2vision/features/cnn.py", "l2vision/features/_net.py",
            "l2vision/features/zoo.py"],
}


def cifar(split: str, limit: int | None = None) -> ImageSet:
    paths, labels = cifar_paths(split, limit)
    return ImageSet(paths, np.asarray(labels, dtype=object), tuple(sorted(set(labels))),
                    f"cifar10/{split}")


def show_robustness(name: str, result: dict) -> None:
    print(f"{name}: clean {result['clean_accuracy']:.2%}, mean corruption accuracy "
          f"{result['mean_corruption_accuracy']:.2%}, relative robustness "
          f"{result['relative_robustness']:.3f} ({result['n_images']} images)")
    print("  per corruption: " + ", ".join(f"{k} {v:.1%}" for k, v in
                                           result["per_corruption"].items()))
    print("  per severity: " + ", ".join(f"{k}: {v:.1%}" for k, v in
                                         result["per_severity"].items()), flush=True)


def show_study(name: str, result: dict) -> None:
    s = result["summary"]
    print(f"{name} study: chosen λ {result['chosen_lambda']:.4g}: clean "
          f"{result['chosen']['clean_accuracy']:.2%}, corrupted "
          f"{result['chosen']['corrupted_accuracy']:.2%}; best clean {s['best_clean_accuracy']:.2%}"
          f" at λ {s['best_clean_lambda']:.4g}; best corrupted {s['best_corrupted_accuracy']:.2%}"
          f" at λ {s['best_corrupted_lambda']:.4g}; relative robustness "
          f"{s['relative_robustness_range'][0]:.3f}-{s['relative_robustness_range'][1]:.3f}, "
          f"rank correlation with λ {s['lambda_vs_relative_robustness_spearman']:+.2f}")
    for row in result["l2_path"][::3]:
        print(f"  λ {row['lambda']:10.4g}: clean {row['clean_accuracy']:.2%}, corrupted "
              f"{row['corrupted_accuracy']:.2%}")
    for penalty, rows in result["penalties"].items():
        print(f"  {penalty}: " + "; ".join(
            f"λ {r['lambda']:.3g} clean {r['clean_accuracy']:.2%} corrupted "
            f"{r['corrupted_accuracy']:.2%}{'' if r.get('converged', True) else ' (not converged)'}"
            for r in rows))
    print(f"  timings: {', '.join(f'{k} {v:.0f} s' for k, v in result['timings'].items())}",
          flush=True)


def save(out: Path, name: str, rob: dict | None, stu: dict | None) -> None:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if rob:
        (folder / "robustness.json").write_text(json.dumps(rob, indent=2))
        plot_robustness_heatmap(rob, folder / "robustness_heatmap.png")
    if stu:
        (folder / "study.json").write_text(json.dumps(stu, indent=2))
        plot_study(stu, folder / "study.png")


def pass_times(model, images: ImageSet, rounds: int = 3) -> dict:
    """A clean pass and a pass of every corruption at severity 3, side by side, alternated.

    The corruption pass: one ``corrupted_predictions`` call over the 15
    corruptions, divided by 15; the clean pass: the same engine with the clean
    condition only; and ``evaluate_images`` (isolated decoding), all in one loop
    of ``rounds`` rounds, medians. Runs with the settings in effect (``n_jobs=2``).
    """
    features, head = split_pipeline(model)
    corrupted = [(name, 3) for name in CORRUPTIONS]
    variants = {
        "clean": lambda: corrupted_predictions(features, ModelHead(head), images.images,
                                               [CLEAN]),
        "corrupted": lambda: corrupted_predictions(features, ModelHead(head), images.images,
                                                   corrupted),
        "evaluate": lambda: evaluate_images(model, images),
    }
    seconds, _ = median_times(variants, rounds)
    per = seconds["corrupted"] / len(corrupted)
    print(f"  time ({images.n_images} images, medians of {rounds}): one corruption pass "
          f"{per:.2f} s vs one clean pass {seconds['clean']:.2f} s: {per / seconds['clean']:.2f}x;"
          f" vs evaluate_images {seconds['evaluate']:.2f} s: {per / seconds['evaluate']:.2f}x "
          "(target <= 1.3x)", flush=True)
    return {"n_images": images.n_images, "rounds": rounds, "corruption_pass_seconds": per,
            "clean_pass_seconds": seconds["clean"], "evaluate_images_seconds": seconds["evaluate"],
            "corruption_vs_clean_pass": per / seconds["clean"],
            "corruption_pass_vs_evaluate_images": per / seconds["evaluate"]}


def run_row(name: str, label: str, features: str, train_set: ImageSet, test_set: ImageSet,
            args, **study_options) -> None:
    """One row: train (λ by 5-fold CV), robustness on the test set, the pass times, the study.

    With ``--model logreg`` the row's name gets ``_logreg`` (its own results file).
    """
    name = name if args.model == "ridge" else f"{name}_{args.model}"
    with config_context(n_jobs=2, cache_dir=args.cache):
        start = time.perf_counter()
        result = train(train_set, features=features, model=args.model, test_size=0)
        trained = time.perf_counter() - start
        print(f"{name}: {label} + {args.model} on {train_set.n_images} images, λ "
              f"{result.search['lambda']:.4g}, trained in {trained:.0f} s", flush=True)
        start = time.perf_counter()
        rob = robustness(result.model, test_set)
        seconds = time.perf_counter() - start
        show_robustness(name, rob)
        print(f"  robustness: {seconds:.0f} s for 75 corrupted passes and 1 clean", flush=True)
        times = pass_times(result.model,
                           test_set.subset(np.arange(min(args.timing_images, test_set.n_images))))
        save(args.out, name, rob, None)  # kept if the study is interrupted
        stu = study(train_set, test_data=test_set, features=features, model=args.model,
                    **study_options)
    show_study(name, stu)
    save(args.out, name, rob, stu)
    figures = {
        "features": features, "model": args.model, "n_train": train_set.n_images,
        "n_test": test_set.n_images,
        "lambda": result.search["lambda"], "cv_accuracy": result.search["best_score"],
        "train_seconds": trained,
        "robustness": {key: rob[key] for key in ("clean_accuracy", "mean_corruption_accuracy",
                                                 "relative_robustness", "n_images",
                                                 "per_corruption", "per_severity")},
        "robustness_seconds": seconds, "pass_times": times,
        "study": {"chosen_lambda": stu["chosen_lambda"], "chosen": stu["chosen"],
                  "summary": stu["summary"], "penalties": stu["penalties"],
                  "timings": stu["timings"]},
    }
    ratio = round(times["corruption_pass_vs_evaluate_images"], 3)
    path = write_results(
        f"robustness_{name}", figures,
        {"corruption_pass_vs_evaluate_images": target(ratio, 1.3, at_least=False, unit="x"),
         "corruption_pass_vs_clean_pass": target(round(times["corruption_vs_clean_pass"], 3),
                                                 1.3, at_least=False, unit="x")},
        measures=MEASURES + ROW_MEASURES[name.split("_")[0]],
        notes="" if args.limit is None else f"a quick run: --limit {args.limit}")
    print(f"-> {path}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="hand,best,cnn")
    parser.add_argument("--out", type=Path, default=Path("/tmp/l2vision-bench-robustness"))
    parser.add_argument("--cache", default="/tmp/l2vision-bench-cache")
    parser.add_argument("--limit", type=int, default=None,
                        help="at most this many training and test images in every row "
                             "(a quick run; the README's figures use all)")
    parser.add_argument("--model", choices=("ridge", "logreg"), default="ridge",
                        help="the model of every row (ridge: the README's figures; logreg: "
                             "its probabilities at every λ of the study are its own, which "
                             "shows L2's effect on calibration without a temperature)")
    parser.add_argument("--cnn-train", type=int, default=10_000)
    parser.add_argument("--cnn-test", type=int, default=1_000)
    parser.add_argument("--hand-penalties", default="l2,none",
                        help="the hand row's study penalties (l1 and elasticnet take saga "
                             "about 8 minutes per fit on the 50,000 training images)")
    parser.add_argument("--timing-images", type=int, default=2_000,
                        help="test images of the side-by-side pass timing")
    args = parser.parse_args()
    print(machine(), flush=True)
    rows = args.rows.split(",")

    def capped(n: int | None) -> int | None:
        """``n`` images (None: all), at most ``--limit``."""
        if args.limit is None:
            return n
        return args.limit if n is None else min(n, args.limit)

    def sets(n_train: int | None = None, n_test: int | None = None):
        return cifar("train", capped(n_train)), cifar("test", capped(n_test))

    if "hand" in rows:
        run_row("hand", "hog,color", "hog,color", *sets(), args,
                penalties=args.hand_penalties.split(","), penalty_points=3,
                penalty_max_iter=30)
    if "best" in rows:
        run_row("best", "the best hand-crafted set", "best", *sets(), args,
                severities="3", penalties=["l2", "none"])
    if "cnn" in rows:
        run_row("cnn", "cnn:mobilenet_v2_1.0", "cnn:mobilenet_v2_1.0",
                *sets(args.cnn_train, args.cnn_test), args, severities="3",
                penalty_points=3, penalty_max_iter=30)


if __name__ == "__main__":
    main()
