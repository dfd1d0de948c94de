"""``l2vision train``: train a classifier, choose λ by CV, save the model and a report."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from l2vision.cli.options import (
    EXIT_OK,
    add_run_options,
    check_output_folders,
    features_help,
    log,
    parse_lambdas,
    parse_size,
    refuse_existing,
)

HELP = """\
Train an image classifier: features -> standardize -> L2 logistic or ridge, with
lambda chosen by k-fold cross-validation, then report held-out accuracy.

DATA is a folder with one sub-folder per class (root/cat/1.jpg, root/dog/2.jpg),
a CSV manifest with 'path' and 'label' columns, or nothing: the built-in digits
(1,797 8x8 scans from scikit-learn), which needs no download.

Examples:
  l2vision train                                   # built-in digits
  l2vision train photos/                           # features chosen from the images
  l2vision train photos/ --features hog,color,lbp --model ridge --out pets.joblib
  l2vision train photos/ --lambdas 0.01:1e5:40 --cv 5 --cache .l2cache --n-jobs 2
Then: l2vision evaluate pets.joblib test_photos/   |   l2vision score pets.joblib new/
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("train", parents=[common], help="train a model on labelled images",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("data", nargs="?", default=None, metavar="DATA",
                   help="image folder or CSV manifest (default: the built-in digits)")
    g.add_argument("--path-column", default="path", help="manifest column of image paths")
    g.add_argument("--label-column", default="label", help="manifest column of class names")
    g.add_argument("--exclude", type=Path, default=None, metavar="AUDIT.csv",
                   help="leave out the images 'l2vision audit' flagged in this file")
    g.add_argument("--exclude-issues", default=None, metavar="LIST",
                   help="with --exclude: the issues to leave out, comma-separated (default: "
                        "label,exact_duplicate,near_duplicate,unreadable)")
    g = p.add_argument_group("model")
    g.add_argument("-f", "--features", default="auto",
                   help=features_help() + "; cnn layers are pooled over a 1x1 + 2x2 pyramid "
                        "('l2vision networks info NETWORK' lists them) (default: auto)")
    g.add_argument("-m", "--model", choices=("logreg", "ridge"), default="logreg",
                   help="L2 multinomial logistic regression or ridge classifier (default: logreg)")
    g.add_argument("--cv", type=int, default=5,
                   help="cross-validation folds for lambda (default 5)")
    g.add_argument("--lambdas", type=parse_lambdas, default=None, metavar="MIN:MAX:N",
                   help="lambda grid, log-spaced (default: 20 for logreg, 40 for ridge, "
                        "scaled to the number of images n)")
    g.add_argument("--lambda-rule", choices=("best", "1se"), default="best",
                   help="best mean CV accuracy, or 1se: the largest lambda within one standard "
                        "error of it, a simpler model (default: best)")
    g.add_argument("--class-weight", choices=("balanced",), default=None,
                   help="weigh each class inversely to its number of images (imbalanced data)")
    g.add_argument("--cv-metric", default="accuracy",
                   choices=("accuracy", "balanced_accuracy", "f1_macro", "log_loss"),
                   help="what the lambda search maximizes (default: accuracy; log_loss: "
                        "logreg only)")
    g.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                   help="resize every image to WxH right after decoding (large photos)")
    g.add_argument("--normalize", choices=("l2",), default=None,
                   help="L2-normalize feature vectors before standardizing")
    g.add_argument("--test-size", type=float, default=0.2,
                   help="fraction held out for the reported accuracy (default 0.2; 0: none)")
    g.add_argument("--seed", type=int, default=0, help="seed of the split and folds (default 0)")
    g.add_argument("--augment", default=None, metavar="LIST",
                   help="add corrupted copies of the training images, e.g. flip,crop or crop:2 "
                        "(corruptions of 'l2vision robustness'; severity 1 by default); the "
                        "lambda search keeps an image's copies in one fold")
    g.add_argument("--no-refit", dest="refit", action="store_false",
                   help="keep the model fit on the training split (by default, after the "
                        "held-out evaluation it is fit again at the chosen lambda on all images)")
    g = p.add_argument_group("output")
    g.add_argument("-o", "--out", type=Path, default=Path("model.joblib"),
                   help="model file to write (default: model.joblib)")
    g.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="report folder (default: <model name>_report next to the model)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace an existing model file and report")
    g = p.add_argument_group("performance")
    add_run_options(g, cache=True)
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.cli.evaluate import print_trust
    from l2vision.datasets import load_dataset
    from l2vision.pipelines.persist import save
    from l2vision.report.html import write_report
    from l2vision.workflows.train import train

    report_dir = args.report or args.out.with_name(args.out.stem + "_report")
    check_output_folders([args.out, report_dir])
    # Refuse before any work: a failed or refused run never touches existing files.
    if not args.overwrite:
        refuse_existing([args.out], other="--out")
        if report_dir.exists() and any(report_dir.iterdir()):
            refuse_existing([report_dir], what="report folder is not empty", other="--report")
    if args.data is None:
        images = load_dataset(None)
    elif str(args.data).lower().endswith(".csv"):
        images = load_dataset(args.data, path_column=args.path_column,
                              label_column=args.label_column)
    else:
        images = load_dataset(args.data)
    log(args, f"data: {images.source}: {images.n_images} images, {len(images.classes)} classes")
    excluded = []
    if args.exclude is not None:
        from l2vision.workflows.exclude import DEFAULT_EXCLUDED, exclude_flagged

        issues = DEFAULT_EXCLUDED if args.exclude_issues is None else \
            tuple(i.strip() for i in args.exclude_issues.split(",") if i.strip())
        images, excluded = exclude_flagged(images, args.exclude, issues)
        counts = Counter(e["issue"] for e in excluded)
        print(f"left out {len(excluded)} images flagged in {args.exclude}"
              + (f" ({', '.join(f'{k} {v}' for k, v in counts.items())})" if counts else ""))
    elif args.exclude_issues is not None:
        raise ValueError("--exclude-issues needs --exclude AUDIT.csv")
    result = train(images, features=args.features, model=args.model, cv=args.cv,
                   lambdas=args.lambdas, size=args.size, test_size=args.test_size,
                   normalize=args.normalize, seed=args.seed, refit=args.refit,
                   lambda_rule=args.lambda_rule, augment=args.augment,
                   class_weight=args.class_weight, cv_metric=args.cv_metric)
    meta, search = result.metadata, result.search
    meta["excluded"] = excluded
    print(f"data: {images.source} ({images.n_images} images, {len(meta['classes'])} classes; "
          f"{meta['n_train']} train, {meta['n_test']} held out)")
    if meta["augment"]:
        print(f"augmented: {', '.join(meta['augment'])}: {meta['n_train_rows']} training rows")
    chosen = f" -> {meta['features_spec']} ({meta['features_choice']})" \
        if meta["features_choice"] else ""
    learned = f" (learned from {meta['learned_on_images']} training images)" \
        if meta["learned_on_images"] else ""
    print(f"features: {args.features}{chosen}; {meta['feature_names_out']} per image{learned}, "
          f"extracted in {result.timings['extract_train']:.1f} s")
    lam = search["lambda"]
    alias = f"C = {1 / lam:.4g}" if args.model == "logreg" else f"alpha = {lam:.4g}"
    cv_score = _metric_text(args.cv_metric, search["best_score"])
    print(f"model: {args.model}, lambda = {lam:.4g} ({alias}) chosen by {args.cv}-fold CV "
          f"in {result.timings['search']:.1f} s; CV {cv_score}")
    if search["grid_extended"]:
        grid = search["cv_results"]["lambda"]
        print(f"  (the best lambda was at the edge of the default grid, which was extended once "
              f"to [{grid[0]:.3g}, {grid[-1]:.3g}])")
    if result.test_metrics:
        m = result.test_metrics
        print(f"held-out accuracy: {m['accuracy']:.2%} (balanced {m['balanced_accuracy']:.2%}, "
              f"{m['n_samples']} images)")
        print_trust(m)
    else:
        oof = meta["calibration"]["out_of_fold"]
        print(f"calibration (out-of-fold): ECE {oof['after']['ece']:.3f} (uncalibrated "
              f"{oof['before']['ece']:.3f})")
    if meta["refit_on_all"]:
        print(f"final model: fit again at that lambda on all {images.n_images} images")
    save(result.model, args.out, metadata=meta, overwrite=args.overwrite)
    print(f"model saved: {args.out}")
    if result.test_metrics:
        report = write_report(report_dir, result.test_metrics, search=search,
                              title=f"l2vision train: {images.source}",
                              details={"data": images.source, "features": meta["features_spec"],
                                       "model": args.model, "lambda": f"{lam:.4g}",
                                       "CV score": cv_score,
                                       **({"features compared by CV": meta["features_choice"]}
                                          if meta.get("features_candidates") else {}),
                                       "model file": str(args.out),
                                       **_excluded_detail(excluded, args.exclude)},
                              predictions=result.predictions, figures=result.figures)
        print(f"report: {report}")
    return EXIT_OK


def _excluded_detail(excluded: list, source) -> dict:
    """The report's line about the images left out by --exclude (every path, in order)."""
    if source is None:
        return {}
    names = ", ".join(f"{e['path']} ({e['issue']})" for e in excluded) or "none"
    return {f"left out (flagged in {source})": f"{len(excluded)} images: {names}"}


def _metric_text(metric: str, value: float) -> str:
    """``accuracy 93.10%``, ``log_loss 0.2312`` (the search maximizes the negated loss)."""
    if metric == "log_loss":
        return f"log_loss {-value:.4f}"
    return f"{metric.replace('_', ' ')} {value:.2%}"
