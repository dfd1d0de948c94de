"""``l2vision study``: clean and corrupted accuracy along λ, and other penalties."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from l2vision.cli.options import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    add_run_options,
    check_output_folders,
    features_help,
    log,
    parse_lambdas,
    parse_size,
    refuse_existing,
)

HELP = """\
Does L2 regularization make the classifier more robust? For every lambda of the
grid, fit the model on the training split and measure its held-out accuracy on
clean images and on corrupted copies (the corruptions of 'l2vision robustness');
fit L1 and elastic-net logistic regression and the unregularized model as
reference points. Features are extracted once; the held-out images are decoded
once and every model scores every corrupted copy.

Writes DIR/study.json (every number) and DIR/study.png (clean and corrupted
accuracy vs lambda, the CV-chosen lambda marked, the other penalties' points).
The row at the chosen lambda is the model 'l2vision train' evaluates with the
same options: the same held-out accuracy.

Examples:
  l2vision study photos/ --features hog,color --model ridge
  l2vision study cifar10/train --test cifar10/test --features hog,color \\
      --corruptions noise,blur --severities 3 --penalties l2,none -j 2
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("study", parents=[common],
                              help="accuracy and robustness vs lambda, and other penalties",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", default=None, metavar="DATA",
                   help="image folder or CSV manifest (default: the built-in digits)")
    p.add_argument("--test", default=None, metavar="DATA",
                   help="held-out images from another folder or manifest (default: a "
                        "--test-size split of DATA)")
    p.add_argument("-f", "--features", default="auto", help=features_help() + " (default: auto)")
    p.add_argument("-m", "--model", choices=("logreg", "ridge"), default="logreg",
                   help="the L2 model whose lambda path is studied (default: logreg)")
    p.add_argument("--lambdas", type=parse_lambdas, default=None, metavar="MIN:MAX:N",
                   help="lambda grid (default: train's)")
    p.add_argument("--cv", type=int, default=5, help="folds of the lambda search (default 5)")
    p.add_argument("--penalties", default="l2,l1,elasticnet,none",
                   help="l2 (the path), l1, elasticnet, none; comma-separated (default: all)")
    p.add_argument("--penalty-points", type=int, default=5,
                   help="lambdas of the grid at which l1 and elasticnet are fitted (default 5)")
    p.add_argument("-c", "--corruptions", default="all",
                   help="corruptions or families (see 'l2vision robustness --help'; default: all)")
    p.add_argument("-s", "--severities", default="1-5", help="severities (default: 1-5)")
    p.add_argument("--test-size", type=float, default=0.2,
                   help="held-out fraction of DATA when --test is not given (default 0.2)")
    p.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                   help="resize every image to WxH right after decoding")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split, folds and corruptions (default 0)")
    p.add_argument("--report", "-o", "--out", dest="report", type=Path, default=Path("study"),
                   metavar="DIR", help="report folder for study.json and study.png (default: "
                                       "study; -o/--out is the older spelling)")
    p.add_argument("--overwrite", action="store_true", help="replace study.json and study.png")
    add_run_options(p.add_argument_group("run"), cache=True)
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.corruptions.specs import parse_corruptions, parse_severities
    from l2vision.io.writing import write_file
    from l2vision.report.robustness import plot_study
    from l2vision.workflows.study import study

    targets = [args.report / "study.json", args.report / "study.png"]
    check_output_folders([args.report])
    if not args.overwrite:
        refuse_existing(targets, other="--report")
    penalties = [p.strip() for p in args.penalties.split(",") if p.strip()]
    names, levels = parse_corruptions(args.corruptions), parse_severities(args.severities)
    log(args, f"study: {len(names)} corruptions x {len(levels)} severities, penalties "
              f"{', '.join(penalties)}")
    result = study(args.data, test_data=args.test, features=args.features, model=args.model,
                   cv=args.cv, lambdas=args.lambdas, penalties=penalties, corruptions=names,
                   severities=levels, penalty_points=args.penalty_points,
                   test_size=args.test_size, size=args.size, seed=args.seed)
    for item in result["failed"]:
        log(args, f"failed: {item['path']}: {item['error']}")
    print(f"data: {result['data']}: {result['n_train']} training, {result['n_test']} held-out "
          f"images; features {result['features']}; model {result['model']}")
    print(f"{'lambda':>10}  {'CV':>6}  {'clean':>6}  {'corrupt':>7}  relative  "
          f"{'ECE':>5}  {'ECE c.':>6}")
    for row in result["l2_path"]:
        mark = "  <- chosen by CV" if row["lambda"] == result["chosen_lambda"] else ""
        print(f"{row['lambda']:10.4g}  {row['cv_accuracy']:6.1%}  {row['clean_accuracy']:6.1%}  "
              f"{row['corrupted_accuracy']:7.1%}  {row['relative_robustness']:8.3f}  "
              f"{row['clean_ece']:5.3f}  {row['corrupted_ece']:6.3f}{mark}")
    for name, rows in result["penalties"].items():
        for row in rows:
            note = "" if row.get("converged", True) else " (did not converge)"
            print(f"{name:>10} lambda {row['lambda']:.4g}: clean {row['clean_accuracy']:.1%}, "
                  f"corrupted {row['corrupted_accuracy']:.1%}{note}")
    s = result["summary"]
    print(f"best clean accuracy {s['best_clean_accuracy']:.2%} at lambda "
          f"{s['best_clean_lambda']:.4g}; best corrupted accuracy "
          f"{s['best_corrupted_accuracy']:.2%} at lambda {s['best_corrupted_lambda']:.4g}; "
          f"rank correlation of lambda and relative robustness "
          f"{s['lambda_vs_relative_robustness_spearman']:+.2f}")
    print(f"lowest ECE clean {s['best_clean_ece']:.3f} at lambda {s['best_clean_ece_lambda']:.4g}, "
          f"corrupted {s['best_corrupted_ece']:.3f} at lambda "
          f"{s['best_corrupted_ece_lambda']:.4g}; rank correlation of lambda and ECE "
          f"{s['lambda_vs_clean_ece_spearman']:+.2f} clean, "
          f"{s['lambda_vs_corrupted_ece_spearman']:+.2f} corrupted")
    args.report.mkdir(parents=True, exist_ok=True)
    write_file(targets[0], json.dumps(result, indent=2))
    plot_study(result, targets[1])
    print(f"study: {targets[0]}, {targets[1]}")
    return EXIT_SOME_FAILED if result["failed"] else EXIT_OK
