"""``l2vision audit``: mislabeled images, duplicates, train/test leaks and bad images."""

from __future__ import annotations

import argparse
from pathlib import Path

from l2vision.cli.options import (
    EXIT_OK,
    add_run_options,
    check_output_folders,
    features_help,
    log,
    parse_lambdas,
    refuse_existing,
)

HELP = """\
Audit a labelled image set before training: likely mislabeled images (confident
learning on the cross-validated model's calibrated out-of-fold probabilities),
exact and near duplicates, test images that duplicate training images (leaks),
outliers, and blurry, dark, light, low-information, odd-sized and grayscale
images, each relative to the set. Unreadable images are listed and the audit
goes on.

Writes DIR/audit.csv (path, issue, score in [0, 1] (higher: more likely a real
problem), related_path, suggested_label, detail; sorted by issue, then score),
DIR/audit.json (the counts and the thresholds) and DIR/report.html (galleries
per issue). 'l2vision train DATA --exclude DIR/audit.csv' then trains without
the flagged images.

Examples:
  l2vision audit photos/ -o photos_audit
  l2vision audit train/ --test test/ --features hog,color -o audit -j 2
  l2vision train train/ --exclude audit/audit.csv --exclude-issues label,exact_duplicate
"""


#: Below this CV accuracy, label findings are mostly the model's own mistakes.
WEAK_MODEL = 0.8


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("audit", parents=[common],
                              help="find mislabeled, duplicate, leaked and bad images",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", default=None, metavar="DATA",
                   help="labelled image folder or CSV manifest (default: the built-in digits)")
    p.add_argument("--test", default=None, metavar="DATA",
                   help="a test set to check for leaks (and duplicates and quality)")
    p.add_argument("-f", "--features", default="auto",
                   help=features_help() + " (default: auto: hand-crafted features for "
                        "thumbnails, the photo recipe for photos; train's auto also compares "
                        "the other photo candidates)")
    p.add_argument("-m", "--model", choices=("logreg", "ridge"), default="logreg",
                   help="the model of the out-of-fold probabilities (default: logreg)")
    p.add_argument("--cv", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--lambdas", type=parse_lambdas, default=None, metavar="MIN:MAX:N",
                   help="lambda grid of the search (default: as train)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    p.add_argument("-o", "--out", type=Path, default=Path("audit"), metavar="DIR",
                   help="output folder (default: audit)")
    p.add_argument("--overwrite", action="store_true", help="replace the files of DIR")
    add_run_options(p.add_argument_group("run"))
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.features.workers import start_decoding_workers

    check_output_folders([args.out])
    if not args.overwrite:
        refuse_existing([args.out / name for name in ("audit.csv", "audit.json", "report.html")],
                        other="-o")
    start_decoding_workers()  # they import while this process does (see their module)
    from l2vision.report.audit import write_audit
    from l2vision.workflows.audit import audit

    result = audit(args.data, test_data=args.test, features=args.features, model=args.model,
                   cv=args.cv, lambdas=args.lambdas, seed=args.seed)
    s = result.summary
    print(f"audited {s['data']} ({s['n_images']} images, {len(s['class_balance'])} classes"
          + (f"; test set {s['test_data']}, {s['n_test_images']} images" if s["test_data"]
             else "") + f"); features {s['features']}")
    if not s["counts"]:
        print("no findings")
    for issue, count in s["counts"].items():
        print(f"  {issue:>16}: {count}")
    labels = s["counts"].get("label", 0)
    if s.get("cv_accuracy") is not None and s["cv_accuracy"] < WEAK_MODEL:
        print(f"note: the model's CV accuracy is {s['cv_accuracy']:.1%}, so the {labels} label "
              "findings include many images it simply gets wrong; trust the top of the list "
              "(highest scores), or audit with stronger features")
    report = write_audit(args.out, result, overwrite=args.overwrite)
    log(args, f"findings: {args.out / 'audit.csv'}; report: {report}")
    return EXIT_OK
