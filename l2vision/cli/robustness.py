"""``l2vision robustness``: a saved model's accuracy under common image corruptions."""

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
Measure how a saved model's accuracy holds up when its images are corrupted:
the ImageNet-C corruptions of Hendrycks & Dietterich (noise, blur, brightness,
contrast, saturation, JPEG, pixelation) and geometric ones (rotate, crop, flip,
occlude), each at severities 1-5. Each image is decoded once; every corrupted
copy is extracted and predicted in parallel batches.

Reports the clean accuracy (as 'l2vision evaluate'), the accuracy of every
corruption x severity, their mean (mean corruption accuracy) and mean / clean
(relative robustness). Unreadable images are listed and left out (exit code 3).

CORRUPTIONS: 'all', a family (noise, blur, digital, geometric) or names, comma-separated:
  gaussian_noise shot_noise impulse_noise defocus_blur motion_blur gaussian_blur
  brightness contrast saturate jpeg_compression pixelate rotate crop flip occlude

Examples:
  l2vision robustness model.joblib test_photos/
  l2vision robustness model.joblib test.csv --corruptions noise,blur --severities 3
  l2vision robustness model.joblib test_photos/ --report robustness_report -j 2
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("robustness", parents=[common],
                              help="accuracy of a model under image corruptions",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="model file from 'l2vision train'")
    p.add_argument("data", metavar="DATA", help="labelled image folder or CSV manifest")
    p.add_argument("-c", "--corruptions", default="all",
                   help="corruptions or families, comma-separated (default: all)")
    p.add_argument("-s", "--severities", default="1-5",
                   help="severities, e.g. 1-5, 3 or 1,3,5 (default: 1-5)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the corruptions' randomness (default 0)")
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="write robustness.json, the heat map, the severity plot and "
                        "report.html there")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="write the results as JSON to this file (default: a table on stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_trust_option(p)
    add_run_options(p.add_argument_group("run"))
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.corruptions.specs import parse_corruptions, parse_severities
    from l2vision.datasets import load_dataset
    from l2vision.io.writing import write_file
    from l2vision.pipelines.persist import load
    from l2vision.report.html import write_report
    from l2vision.workflows.robustness import robustness

    check_output_folders([args.out, args.report])
    if not args.overwrite:
        refuse_existing([args.out, args.report and args.report / "report.html"])
    names, levels = parse_corruptions(args.corruptions), parse_severities(args.severities)
    model, meta = load(args.model, with_metadata=True, trusted=args.trusted)
    images = load_dataset(args.data)
    log(args, f"robustness of {args.model} on {images.n_images} images from {images.source}: "
              f"{len(names)} corruptions x {len(levels)} severities")
    result = robustness(model, images, corruptions=names, severities=levels, seed=args.seed)
    for item in result["failed"]:
        log(args, f"failed: {item['path']}: {item['error']}")
    print(f"{'corruption':>18}  " + "  ".join(f"sev {s}" for s in levels) + "   mean")
    for name, row in result["accuracy"].items():
        print(f"{name:>18}  " + "  ".join(f"{row[s]:5.1%}" for s in levels)
              + f"  {result['per_corruption'][name]:5.1%}")
    failed = result["failed"]
    print(f"clean accuracy: {result['clean_accuracy']:.2%} ({result['n_images']} images"
          f"{f', {len(failed)} unreadable' if failed else ''}); mean corruption accuracy: "
          f"{result['mean_corruption_accuracy']:.2%}; relative robustness: "
          f"{result['relative_robustness']:.3f}")
    if args.out:
        write_file(args.out, json.dumps(result, indent=2), overwrite=args.overwrite)
        print(f"results: {args.out}")
    if args.report:
        report = write_report(args.report, result["clean_metrics"],
                              title=f"l2vision robustness: {images.source}",
                              details={"model file": str(args.model), "data": images.source,
                                       "trained on": meta.get("data", "?"),
                                       "features": meta.get("features_spec", "?")},
                              robustness=result)
        print(f"report: {report}")
    return EXIT_SOME_FAILED if failed else EXIT_OK
