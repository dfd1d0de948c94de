"""``l2vision score``: predict many images with a saved model, streaming, resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from l2vision.cli.options import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    add_run_options,
    add_trust_option,
    check_output_folders,
    log,
)

HELP = """\
Predict the class of many images with a model from 'l2vision train', streaming
in batches with bounded memory. One output row per image, in input order:
path, label, score (the calibrated probability of the label; the decision
value with --raw-scores), optional top-k and per-class columns, ood (how
unusual the image is next to the training images), optional label_set and
unknown columns, and error (empty when the image was scored). Unreadable
images get an error row and the run carries on.

--coverage 0.9 adds each image's prediction set: the classes that hold the
true class with probability 0.9 (split conformal, calibrated when the model
was trained). --reject labels 'unknown' the images unlike every training
class (ood above the model's threshold, which accepts 95% of held-out
training-like images) and, with --min-confidence P, those whose calibrated
probability is below P; the unknown column says which.

INPUT is any mix of image files, folders (recursive, sorted), glob patterns
('photos/**/*.jpg', quoted), and '-' for one path per line on standard input.
Output goes to stdout, or with -o to OUT.partial, renamed to OUT when the run
completes; --resume continues an interrupted run from OUT.partial.

--explain DIR then writes, as 'l2vision explain' does, where in each image
the evidence for its label lies: DIR/NNNN.png (the heatmap over the image),
DIR/NNNN.npy (the raw heatmap) and DIR/index.csv, NNNN being the image's row
in the output (from 0); --explain-top N only for the N least confident images
(lowest score), the ones to review first.

Exit codes: 0 all scored, 3 some images failed, 1 the run stopped, 2 usage.

Examples:
  l2vision score model.joblib new_photos/ -o predictions.csv
  l2vision score model.joblib 'archive/**/*.jpg' -o preds.jsonl --format jsonl --top-k 3
  find /data -name '*.png' | l2vision score model.joblib - --probs > preds.csv
  l2vision score model.joblib --manifest todo.csv -o preds.csv --resume
  l2vision score model.joblib inbox/ -o preds.csv --coverage 0.9 --reject --min-confidence 0.5
  l2vision score model.joblib inbox/ -o preds.csv --explain why/ --explain-top 50
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("score", parents=[common], help="predict many images (batch scoring)",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("model", type=Path, metavar="MODEL", help="model file from 'l2vision train'")
    g.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files, folders, glob patterns, or - for stdin")
    add_trust_option(g)
    g.add_argument("--manifest", action="append", default=[], metavar="FILE.csv",
                   help="CSV file with a 'path' column (repeatable)")
    g.add_argument("--path-column", default="path", help="manifest column of image paths")
    g = p.add_argument_group("output")
    g.add_argument("-o", "--out", type=Path, default=None, help="output file (default: stdout)")
    g.add_argument("--format", choices=("csv", "jsonl"), default=None,
                   help="csv or jsonl (default: from the -o extension, else csv)")
    g.add_argument("--top-k", type=int, default=1, metavar="K",
                   help="add the K best classes and their scores (default 1: label only)")
    g.add_argument("--probs", action="store_true", help="add one score column per class")
    g.add_argument("--spreadsheet-safe", action="store_true",
                   help="CSV: prefix with ' every cell a spreadsheet would run as a formula "
                        "(starting with = + - @), e.g. file or class names written by others")
    g.add_argument("--raw-scores", action="store_true",
                   help="scores are the model's decision values, not calibrated probabilities")
    g.add_argument("--explain", type=Path, default=None, metavar="DIR",
                   help="also write heatmaps of each image's evidence for its label to DIR "
                        "(created if missing), as 'l2vision explain' does")
    g.add_argument("--explain-top", type=int, default=None, metavar="N",
                   help="with --explain: only the N least confident images (lowest score)")
    g = p.add_argument_group("decisions")
    g.add_argument("--coverage", type=float, default=None, metavar="C",
                   help="add a label_set column: the classes holding the true one with "
                        "probability C, in (0, 1), e.g. 0.9")
    g.add_argument("--reject", action="store_true",
                   help="label 'unknown' the images of no training class (ood above the "
                        "model's threshold); an unknown column says why")
    g.add_argument("--min-confidence", type=float, default=None, metavar="P",
                   help="with --reject: also 'unknown' when the top probability is below P, "
                        "in [0, 1]")
    g = p.add_argument_group("resuming")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from OUT.partial")
    g.add_argument("--overwrite", action="store_true",
                   help="replace an existing OUT (and, with --explain, an earlier run's "
                        "files in DIR)")
    g = p.add_argument_group("run")
    add_run_options(g, batch_size=True, timeout=True)
    g.add_argument("--fail-fast", action="store_true", help="stop at the first unreadable image")
    g.add_argument("--dry-run", action="store_true",
                   help="check the model and every input path, score nothing")
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    if not args.inputs and not args.manifest:
        print("l2vision score: error: give at least one INPUT or --manifest", file=sys.stderr)
        return EXIT_USAGE
    if args.resume and args.out is None:
        print("l2vision score: error: --resume needs -o/--out", file=sys.stderr)
        return EXIT_USAGE
    if args.explain_top is not None and args.explain is None:
        print("l2vision score: error: --explain-top needs --explain DIR", file=sys.stderr)
        return EXIT_USAGE
    check_output_folders([args.out, args.explain])
    stdin = sys.stdin if "-" in args.inputs else None
    if args.dry_run:
        return _dry_run(args, stdin)
    from l2vision.features.workers import start_decoding_workers

    start_decoding_workers()  # they import while this process does (see its module)
    from l2vision.scoring.decisions import TrustOptions
    from l2vision.scoring.run import score_files

    trust = TrustOptions(coverage=args.coverage, reject=args.reject,
                         min_confidence=args.min_confidence, raw_scores=args.raw_scores)
    summary = score_files(args.model, args.inputs, args.out, manifests=args.manifest,
                          path_column=args.path_column, stdin=stdin, format=args.format,
                          top_k=args.top_k, probs=args.probs, resume=args.resume,
                          overwrite=args.overwrite, fail_fast=args.fail_fast,
                          spreadsheet_safe=args.spreadsheet_safe,
                          log=lambda message: log(args, message), trusted=args.trusted,
                          trust=trust, explain=args.explain, explain_top=args.explain_top)
    s = summary
    log(args, f"scored {s.scored}, failed {s.failed}, {s.seconds:.1f} s, "
              f"{s.images_per_second:.0f} images/s"
              + (f" (plus {s.resumed} rows, {s.resumed_failed} failed, from the interrupted run)"
                 if s.resumed else "")
              + (f"; output: {args.out}" if args.out else ""))
    if s.explained is not None:
        e = s.explained
        log(args, f"explained {e.explained} images"
                  f"{f', {e.failed} failed' if e.failed else ''}: {e.index}")
        if e.failed:
            return EXIT_SOME_FAILED
    return EXIT_SOME_FAILED if s.failed or s.resumed_failed else EXIT_OK


def _dry_run(args, stdin) -> int:
    """Check the model and every input path; score nothing."""
    import os

    from l2vision.pipelines.persist import load
    from l2vision.scoring.inputs import InputPaths

    model = load(args.model, trusted=args.trusted)
    paths = InputPaths(args.inputs, stdin=stdin, manifests=args.manifest,
                       path_column=args.path_column)
    missing = 0
    for path in paths:  # one walk: counted as they stream
        if not os.path.isfile(path):
            missing += 1
            log(args, f"missing: {path}")
    print(f"{paths.count} images to score, {missing} missing; model {args.model} "
          f"({len(model.classes_)} classes) loads")
    return EXIT_SOME_FAILED if missing else EXIT_OK
