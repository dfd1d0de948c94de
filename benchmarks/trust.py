"""Trust on real images: calibration, prediction sets, the cost of ``unknown`` and of the detector.

Run: ``python benchmarks/trust.py [--n-train 10000] [--n-test 2000] [--n-score 10000]
[--repeats 3] [--skip-photos]``. Prints the figures and their ratios, asserts
nothing; writes ``benchmarks/results/trust.json``. Every part uses the public
API as a user would (``train``, ``evaluate_images``, ``save``, ``l2vision score``).

1. Calibration, CIFAR-10, ``features="hog,color"``, model ``ridge`` and
   ``logreg``: ``train`` on a class-balanced prefix of ``--n-train`` training
   images with ``test_size=0`` (λ by 5-fold CV, the temperature fitted on the
   out-of-fold decision values), then ``evaluate_images`` on ``--n-test``
   class-balanced CIFAR-10 test images: accuracy, temperature, and ECE (15
   equal-width bins), NLL and Brier before (softmax of the raw decision
   values) and after calibration. Target: ECE after <= 0.03 for both models.
2. Prediction sets on the same test images (split conformal on the model's
   calibration set, the out-of-fold rows): coverage and mean set size at 0.9
   and 0.95. Target: coverage in [level - 0.02, level + 0.04].
3. The photo recipe (``--skip-photos`` leaves it out; a few minutes): ``train``
   on clothing10/train with the default features (``auto``: MobileNet V2),
   logreg, ``test_size=0``; ``evaluate_images`` on clothing10/val (341
   images). The same figures and the same targets (a coverage measured on 341
   images has a standard error of about 0.016 at 0.9).
4. Scoring throughput: part 1's ridge model saved to a temporary file;
   ``python -m l2vision score MODEL --manifest paths.csv -o out.csv`` in a
   fresh process on ``--n-score`` CIFAR-10 test paths, plain, with
   ``--reject`` and with ``--coverage 0.9 --reject``, interleaved, median of
   ``--repeats`` runs each. images/s is the paths over the whole process's wall
   time (start, imports and model load included); the command's own rate
   (its log line) is recorded too. Target: with / without >= 0.9x for both.
5. Model file size: the same ridge model trained with ``ood=None`` and with
   the default detector (``mahalanobis``), each saved with its metadata.
   Target: the detector adds at most max(20 MB, the size without it), i.e.
   20 MB or 2x, whichever is larger (MB = 10^6 bytes).

Feature extraction runs with ``n_jobs=2`` (a setting of
:func:`l2vision.config_context`); the scoring runs use the command's defaults.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from _common import SHARED, cifar_paths, machine, median_times, target, write_results

from l2vision import config_context
from l2vision.datasets import ImageSet, load_image_folder
from l2vision.pipelines.persist import save
from l2vision.workflows.evaluate import evaluate_images
from l2vision.workflows.train import train

MEASURES = ["l2vision/linear/kfold.py", "l2vision/linear/ridge.py",
            "l2vision/linear/logistic.py", "l2vision/trust/__init__.py",
            "l2vision/trust/calibration.py", "l2vision/trust/conformal.py",
            "l2vision/trust/ood.py", "l2vision/workflows/train.py",
            "l2vision/workflows/evaluate.py", "l2vision/workflows/trust_metrics.py",
            "l2vision/workflows/auto_select.py", "l2vision/features/auto.py",
            "l2vision/features/hog.py", "l2vision/features/color.py",
            "l2vision/pipelines/build.py", "l2vision/pipelines/persist.py",
            "l2vision/scoring/decisions.py", "l2vision/scoring/predict.py",
            "l2vision/scoring/run.py", "l2vision/scoring/formats.py", "l2vision/cli/score.py"]

CLOTHING = SHARED / "data" / "clothing10"
LEVELS = ("0.9", "0.95")
MB = 1e6

# The command's own summary line: "scored N, failed F, S s, R images/s ...".
_SUMMARY = re.compile(r"scored (\d+), failed (\d+), ([\d.]+) s, ([\d.]+) images/s")


def cifar(split: str, limit: int) -> ImageSet:
    """A class-balanced prefix of a CIFAR-10 split as an ImageSet."""
    paths, labels = cifar_paths(split, limit)
    return ImageSet(paths, np.asarray(labels, dtype=object), tuple(sorted(set(labels))),
                    f"cifar10/{split}")


def within(value: float, low: float, high: float) -> dict:
    """A two-sided target in the shape of :func:`_common.target`."""
    return {"value": value, "target": f"in [{low:g}, {high:g}]",
            "met": bool(low <= value <= high)}


def trust_row(name: str, result, metrics: dict, seconds: dict) -> dict:
    """Print one model's calibration and prediction-set lines; return its figures."""
    cal = metrics["calibration"]
    before, after = cal["before"], cal["after"]
    print(f"{name}: accuracy {metrics['accuracy']:.2%} on {metrics['n_samples']} images, "
          f"lambda {result.search['lambda']:.4g}, temperature {cal['temperature']:.4g}")
    print(f"  ECE {before['ece']:.4f} -> {after['ece']:.4f} (target <= 0.03), "
          f"NLL {before['nll']:.4f} -> {after['nll']:.4f}, "
          f"Brier {before['brier']:.4f} -> {after['brier']:.4f}")
    for level in LEVELS:
        s = metrics["prediction_sets"][level]
        lv = float(level)
        print(f"  sets at {level}: coverage {s['coverage']:.4f} (target in "
              f"[{lv - 0.02:.2f}, {lv + 0.04:.2f}]), mean size {s['mean_size']:.3f}")
    if "ood" in metrics:
        print(f"  ood: {metrics['ood']['accepted']:.2%} of the test images accepted "
              f"(threshold {metrics['ood']['threshold']:.4g})")
    oof = result.metadata["calibration"]["out_of_fold"]
    print(f"  out-of-fold (training rows): ECE {oof['before']['ece']:.4f} -> "
          f"{oof['after']['ece']:.4f}; train {seconds['train']:.0f} s, evaluate "
          f"{seconds['evaluate']:.0f} s", flush=True)
    n = metrics["n_samples"]
    diagram = metrics.get("figures", {}).get("reliability")
    confidence = None
    if diagram is not None:
        counts = np.asarray(diagram["count"], dtype=float)
        confidence = float(np.nansum(np.asarray(diagram["confidence"]) * counts) / counts.sum())
        print(f"  mean calibrated confidence {confidence:.4f} vs accuracy "
              f"{metrics['accuracy']:.4f} (CV accuracy {result.search['best_score']:.4f})",
              flush=True)
    return {"accuracy": metrics["accuracy"], "n_test": n,
            "mean_confidence_after": confidence,
            "n_train": result.metadata["n_train"], "lambda": result.search["lambda"],
            "cv_accuracy": result.search["best_score"],
            "n_features": result.metadata["feature_names_out"],
            "features_spec": result.metadata["features_spec"],
            "temperature": cal["temperature"], "calibration": {"before": before,
                                                               "after": after},
            "calibration_out_of_fold": oof,
            "prediction_sets": metrics["prediction_sets"],
            "coverage_standard_error": {level: float(np.sqrt(float(level)
                                                             * (1 - float(level)) / n))
                                        for level in LEVELS},
            "ood": metrics.get("ood"),
            "risk_coverage": metrics.get("risk_coverage"),
            "seconds": seconds, "timings": result.timings}


def trust_targets(prefix: str, row: dict) -> dict:
    """ECE after <= 0.03 and the coverage band at each level."""
    targets = {f"{prefix}_ece_after": target(round(row["calibration"]["after"]["ece"], 4),
                                             0.03, at_least=False)}
    for level in LEVELS:
        lv = float(level)
        targets[f"{prefix}_coverage_{level}"] = within(
            round(row["prediction_sets"][level]["coverage"], 4), round(lv - 0.02, 2),
            round(lv + 0.04, 2))
    return targets


def fit_and_evaluate(name, data, test_set, **options):
    """``train`` then ``evaluate_images``; the result, the metrics and the seconds of each."""
    start = time.perf_counter()
    result = train(data, test_size=0, **options)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate_images(result.model, test_set)
    evaluated = time.perf_counter() - start
    if metrics["failed"]:
        print(f"{name}: {len(metrics['failed'])} test images failed", flush=True)
    return result, metrics, {"train": trained, "evaluate": evaluated}


def score_command(model_file: Path, manifest: Path, out: Path, extra: list[str]):
    """A function running ``l2vision score`` in a fresh process; returns its summary."""
    command = [sys.executable, "-m", "l2vision", "score", str(model_file), "--manifest",
               str(manifest), "-o", str(out), "--overwrite", *extra]

    every = []

    def run():
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        found = _SUMMARY.findall(done.stderr)
        if done.returncode != 0 or not found:
            print(f"  {' '.join(command[3:])}: exit {done.returncode}\n{done.stderr[-2000:]}",
                  flush=True)
        scored, failed, seconds, rate = found[-1] if found else (0, 0, "nan", "nan")
        every.append({"exit_code": done.returncode, "scored": int(scored),
                      "failed": int(failed), "seconds": wall,
                      "command_seconds": float(seconds), "command_images_per_s": float(rate)})
        return every[-1]

    return command, run, every


def summarize_output(out: Path) -> dict:
    """Rows, columns and the unknown / label-set figures of a score output."""
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    summary = {"rows": len(rows), "columns": list(rows[0]) if rows else []}
    if rows and "unknown" in rows[0]:
        summary["unknown"] = dict(Counter(r["unknown"] for r in rows if r["unknown"]))
        summary["labelled_unknown"] = sum(r["label"] == "unknown" for r in rows)
    if rows and "label_set" in rows[0]:
        sizes = [len(r["label_set"].split("|")) if r["label_set"] else 0 for r in rows]
        summary["label_set_mean_size"] = float(np.mean(sizes))
    if rows and "ood" in rows[0]:
        summary["ood_empty"] = sum(r["ood"] == "" for r in rows)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=10_000,
                        help="CIFAR-10 training images (class-balanced prefix)")
    parser.add_argument("--n-test", type=int, default=2_000,
                        help="CIFAR-10 test images of the calibration figures")
    parser.add_argument("--n-score", type=int, default=10_000,
                        help="CIFAR-10 test paths scored by each l2vision score run")
    parser.add_argument("--repeats", type=int, default=3, help="scoring runs per variant")
    parser.add_argument("--skip-photos", action="store_true",
                        help="leave out the clothing10 photo recipe (part 3)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("L2VISION_MODEL_DIR", str(SHARED / "models"))
    print(machine(), flush=True)
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f}", flush=True)
    run_start = time.perf_counter()
    figures = {"n_train": args.n_train, "n_test": args.n_test, "n_score": args.n_score,
               "repeats": args.repeats, "features": "hog,color", "cv": 5}
    targets = {}

    # 1 and 2: calibration and prediction sets on CIFAR-10, hog,color, both models.
    train_set, test_set = cifar("train", args.n_train), cifar("test", args.n_test)
    print(f"CIFAR-10: {train_set.n_images} training images "
          f"({min(Counter(train_set.labels).values())}-"
          f"{max(Counter(train_set.labels).values())} per class), "
          f"{test_set.n_images} test images", flush=True)
    models, cifar_rows = {}, {}
    with config_context(n_jobs=2):
        for model in ("ridge", "logreg"):
            result, metrics, seconds = fit_and_evaluate(
                model, train_set, test_set, features="hog,color", model=model)
            models[model] = result
            cifar_rows[model] = trust_row(f"CIFAR-10 hog,color + {model}", result, metrics,
                                          seconds)
            targets.update(trust_targets(f"cifar10_{model}", cifar_rows[model]))
    figures["cifar10"] = cifar_rows

    # 3: the photo recipe on clothing10.
    if not args.skip_photos:
        with config_context(n_jobs=2):
            result, metrics, seconds = fit_and_evaluate(
                "clothing10", CLOTHING / "train", load_image_folder(CLOTHING / "val"),
                model="logreg")
        figures["clothing10"] = {"logreg": trust_row(
            f"clothing10 auto ({result.metadata['features_spec']}) + logreg", result, metrics,
            seconds)}
        targets.update(trust_targets("clothing10_logreg", figures["clothing10"]["logreg"]))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # 5: model file size with and without the detector.
        start = time.perf_counter()
        with config_context(n_jobs=2):
            plain = train(train_set, features="hog,color", model="ridge", test_size=0,
                          ood=None)
        retrained = time.perf_counter() - start
        ridge = models["ridge"]
        with_file = save(ridge.model, tmp / "ridge_ood.joblib", metadata=ridge.metadata)
        without_file = save(plain.model, tmp / "ridge_no_ood.joblib", metadata=plain.metadata)
        with_bytes, without_bytes = with_file.stat().st_size, without_file.stat().st_size
        added = with_bytes - without_bytes
        allowed = max(20 * MB, without_bytes)
        same = plain.search["lambda"] == ridge.search["lambda"]
        print(f"model file: {without_bytes / MB:.2f} MB without the detector, "
              f"{with_bytes / MB:.2f} MB with it (+{added / MB:.2f} MB, "
              f"{with_bytes / without_bytes:.2f}x; target: adds <= {allowed / MB:.2f} MB); "
              f"same lambda: {same}", flush=True)
        print(f"training cost of the detector: ridge search {ridge.timings['search']:.1f} s "
              f"with it, {plain.timings['search']:.1f} s without (ood=None train "
              f"{retrained:.0f} s in all)", flush=True)
        figures["model_file"] = {"bytes_without_detector": without_bytes,
                                 "bytes_with_detector": with_bytes, "added_bytes": added,
                                 "ratio": with_bytes / without_bytes,
                                 "allowed_added_bytes": allowed, "same_lambda": same,
                                 "detector": "mahalanobis",
                                 "search_seconds_with_detector": ridge.timings["search"],
                                 "search_seconds_without_detector": plain.timings["search"]}
        targets["model_file_added_by_detector"] = target(round(added / MB, 3),
                                                         round(allowed / MB, 3),
                                                         at_least=False, unit=" MB")

        # 4: scoring throughput with and without --reject.
        paths = cifar_paths("test", args.n_score)[0]
        manifest = tmp / "paths.csv"
        with open(manifest, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path"])
            writer.writerows([p] for p in paths)
        for path in paths:  # warm the page cache: every variant reads cached files
            with open(path, "rb") as f:
                f.read()
        variants = {"plain": [], "reject": ["--reject"],
                    "coverage_0.9_reject": ["--coverage", "0.9", "--reject"]}
        runs, commands, every = {}, {}, {}
        for name, extra in variants.items():
            command, runs[name], every[name] = score_command(with_file, manifest,
                                                             tmp / f"{name}.csv", extra)
            commands[name] = " ".join(["python -m l2vision score MODEL --manifest paths.csv",
                                       f"-o {name}.csv --overwrite", *extra])
        start = time.perf_counter()
        seconds, _ = median_times(runs, args.repeats)
        print(f"scoring: {args.repeats} rounds of {len(variants)} variants in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        scoring = {}
        for name in variants:
            rate = len(paths) / seconds[name]
            own = float(np.median([r["command_images_per_s"] for r in every[name]]))
            output = summarize_output(tmp / f"{name}.csv")
            scoring[name] = {"command": commands[name], "median_seconds": seconds[name],
                             "images_per_s": rate, "runs": every[name],
                             "command_images_per_s_median": own, "output": output}
            extra = ""
            if "labelled_unknown" in output:
                extra += f", {output['labelled_unknown']} labelled unknown {output['unknown']}"
            if "label_set_mean_size" in output:
                extra += f", mean label_set size {output['label_set_mean_size']:.3f}"
            each = ", ".join(f"{r['seconds']:.2f}" for r in every[name])
            print(f"score {name:20s}: {seconds[name]:.2f} s (median of {args.repeats}), "
                  f"{rate:.0f} images/s end to end; {own:.0f} images/s inside the command "
                  f"(median); runs {each} s; "
                  f"{output['rows']} rows{extra}", flush=True)
        for name in ("reject", "coverage_0.9_reject"):
            ratio = scoring[name]["images_per_s"] / scoring["plain"]["images_per_s"]
            own = (scoring[name]["command_images_per_s_median"]
                   / scoring["plain"]["command_images_per_s_median"])
            scoring[name]["ratio_to_plain"] = ratio
            scoring[name]["command_ratio_to_plain"] = own
            print(f"ratio {name} / plain: {ratio:.3f}x end to end (target >= 0.9x), "
                  f"{own:.3f}x inside the command (medians)", flush=True)
            targets[f"score_{name}_vs_plain"] = target(round(ratio, 3), 0.9, unit="x")
        figures["scoring"] = scoring

    total = time.perf_counter() - run_start
    load_end = os.getloadavg()
    figures["total_seconds"] = total
    figures["load_average_1min_start_end"] = [round(load_start[0], 2), round(load_end[0], 2)]
    print(f"total {total / 60:.1f} min; load average {load_start[0]:.2f} -> {load_end[0]:.2f}")
    for name, t in targets.items():
        print(f"  {'met   ' if t['met'] else 'MISSED'} {name}: {t['value']} ({t['target']})")
    notes = (f"load average (1 min) {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the "
             "end, on 2 cores (other jobs ran beside this one)")
    if args.skip_photos:
        notes += "; --skip-photos: no clothing10 figures"
    path = write_results("trust", figures, targets, measures=MEASURES, notes=notes)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
