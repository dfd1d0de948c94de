"""``l2vision evaluate``: metrics and a report of a saved model on labelled images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from l2vision.cli.options import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    add_run_options,
    add_trust_option,
    check_output_folders,
    log,
    refuse_existing,
)

HELP = """\
Evaluate a saved model (from 'l2vision train') on labelled images: accuracy,
balanced accuracy, per-class precision/recall/F1 and the confusion matrix.
Images that cannot be read are listed and left out of the metrics (exit code 3).

DATA is an image folder (one sub-folder per class) or a CSV manifest with
'path' and 'label' columns.

Examples:
  l2vision evaluate model.joblib test_photos/
  l2vision evaluate model.joblib test.csv --report eval_report --out metrics.json
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("evaluate", parents=[common],
                              help="metrics of a model on labelled images",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="model file from 'l2vision train'")
    p.add_argument("data", metavar="DATA", help="labelled image folder or CSV manifest")
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="also write metrics.json, figures and report.html there")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="write the metrics as JSON to this file (default: a summary on stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--coverage", type=float, action="append", default=None, metavar="C",
                   help="measure prediction sets at coverage C in (0, 1) (repeatable; "
                        "default 0.9 and 0.95)")
    add_trust_option(p)
    add_run_options(p.add_argument_group("run"), timeout=True)
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.features.workers import start_decoding_workers

    check_output_folders([args.out, args.report])
    if not args.overwrite:
        refuse_existing([args.out, args.report and args.report / "report.html"])
    start_decoding_workers()  # they import while this process does (see their module)
    from l2vision.datasets import load_dataset
    from l2vision.io.writing import write_file
    from l2vision.pipelines.persist import load
    from l2vision.report.html import write_report
    from l2vision.workflows.evaluate import evaluate_images
    from l2vision.workflows.trust_metrics import COVERAGES

    model, meta = load(args.model, with_metadata=True, trusted=args.trusted)
    images = load_dataset(args.data)
    log(args, f"evaluating {args.model} on {images.n_images} images from {images.source}")
    metrics = evaluate_images(model, images, keep_predictions=args.report is not None,
                              coverages=tuple(args.coverage or COVERAGES))
    predictions = metrics.pop("predictions", None)
    figures = metrics.pop("figures", {})
    failed = metrics.get("failed", [])
    for item in failed:
        log(args, f"failed: {item['path']}: {item['error']}")
    print(f"accuracy: {metrics['accuracy']:.2%} (balanced {metrics['balanced_accuracy']:.2%}, "
          f"{metrics['n_samples']} images{f', {len(failed)} unreadable' if failed else ''})")
    for name, m in metrics["per_class"].items():
        print(f"  {name:>20}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
              f"f1 {m['f1']:.3f}  n={m['support']}")
    print_trust(metrics)
    for name, item in metrics.get("foreign_classes", {}).items():
        called = ", ".join(f"{label} {n}" for label, n in list(item["predicted"].items())[:3])
        log(args, f"class {name!r} ({item['n_images']} images) is not a class of the model: "
                  f"left out of the metrics (predicted as {called})")
    if args.out:
        write_file(args.out, json.dumps(metrics, indent=2), overwrite=args.overwrite)
        print(f"metrics: {args.out}")
    if args.report:
        search = {"cv_results": meta["cv_results"], "lambda": meta["lambda"],
                  "model": meta.get("model"), "lambda_1se": meta.get("lambda_1se")} \
            if meta.get("cv_results") else None
        report = write_report(args.report, metrics, search=search,
                              title=f"l2vision evaluate: {images.source}",
                              details={"model file": str(args.model), "data": images.source,
                                       "trained on": meta.get("data", "?")},
                              predictions=predictions, figures=figures)
        print(f"report: {report}")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def print_trust(metrics: dict) -> None:
    """The calibration, prediction-set and ``unknown`` lines of a metrics dict, if any."""
    calibration = metrics.get("calibration")
    if calibration:
        before, after = calibration["before"], calibration["after"]
        print(f"calibration: ECE {after['ece']:.3f} (uncalibrated {before['ece']:.3f}), "
              f"NLL {after['nll']:.3f}, Brier {after['brier']:.3f}")
    for level, sets in metrics.get("prediction_sets", {}).items():
        print(f"prediction sets at {float(level):.0%}: coverage {sets['coverage']:.2%}, "
              f"mean size {sets['mean_size']:.2f}")
    if "ood" in metrics:
        print(f"unknown: {1 - metrics['ood']['accepted']:.1%} of these images are above the "
              "model's ood threshold")
