"""``l2vision score``: predict many images with a saved model, streaming, resumable."""

from __future__ import annotations

import argparse
import collections
import itertools
import sys
import time
from pathlib import Path

from l2vision._files import file_sha256
from l2vision.cli import EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED, log, show_progress

HELP = """\
Predict the class of many images with a model from 'l2vision train', streaming
in batches with bounded memory. One output row per image, in input order:
path, label, score (the probability of the label for logistic models, the
decision value for ridge models), optional top-k and per-class columns, and
error (empty when the image was scored). Unreadable images get an error row
and the run carries on.

INPUT is any mix of image files, folders (recursive, sorted), glob patterns
('photos/**/*.jpg', quoted), and '-' for one path per line on standard input.
Output goes to stdout, or with -o to OUT.partial, renamed to OUT when the run
completes; --resume continues an interrupted run from OUT.partial.

Exit codes: 0 all scored, 3 some images failed, 1 the run stopped, 2 usage.

Examples:
  l2vision score model.joblib new_photos/ -o predictions.csv
  l2vision score model.joblib 'archive/**/*.jpg' -o preds.jsonl --format jsonl --top-k 3
  find /data -name '*.png' | l2vision score model.joblib - --probs > preds.csv
  l2vision score model.joblib --manifest todo.csv -o preds.csv --resume
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("score", parents=[common], help="predict many images (batch scoring)",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("model", type=Path, metavar="MODEL", help="model file from 'l2vision train'")
    g.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files, folders, glob patterns, or - for stdin")
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
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from OUT.partial")
    g.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    g = p.add_argument_group("run")
    g.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    g.add_argument("-j", "--n-jobs", type=int, default=None, help="parallel jobs (-1: all cores)")
    g.add_argument("--fail-fast", action="store_true", help="stop at the first unreadable image")
    g.add_argument("--dry-run", action="store_true",
                   help="check the model and every input path, score nothing")
    p.set_defaults(run=run)


def run(args) -> int:
    import os

    from tqdm.auto import tqdm

    from l2vision.inputs import check_inputs, count_paths, iter_paths
    from l2vision.outputs import PredictionWriter, ResumeError, columns_for
    from l2vision.pipelines.build import split_pipeline
    from l2vision.pipelines.persist import load
    from l2vision.scoring import CHUNK_BATCHES, predict_paths

    if not args.inputs and not args.manifest:
        print("l2vision score: error: give at least one INPUT or --manifest", file=sys.stderr)
        return 2
    if args.batch_size < 1 or args.top_k < 1:
        print("l2vision score: error: --batch-size and --top-k must be >= 1", file=sys.stderr)
        return 2
    if args.resume and args.out is None:
        print("l2vision score: error: --resume needs -o/--out", file=sys.stderr)
        return 2
    model = load(args.model)
    check_inputs(args.inputs, manifests=args.manifest)
    stdin = sys.stdin if "-" in args.inputs else None
    source = dict(manifests=args.manifest, path_column=args.path_column)

    if args.dry_run:
        paths = list(iter_paths(args.inputs, stdin=stdin, **source))
        missing = [p for p in paths if not os.path.isfile(p)]
        for p in missing:
            log(args, f"missing: {p}")
        print(f"{len(paths)} images to score, {len(missing)} missing; model {args.model} "
              f"({len(model.classes_)} classes) loads")
        return EXIT_SOME_FAILED if missing else EXIT_OK

    _, head = split_pipeline(model)
    jsonl = args.out is not None and args.out.suffix in (".jsonl", ".ndjson")
    fmt = args.format or ("jsonl" if jsonl else "csv")
    columns = columns_for(model.classes_, top_k=args.top_k, probs=args.probs,
                          probabilistic=hasattr(head, "predict_proba"))
    job = {"model_sha256": file_sha256(args.model), "batch_size": args.batch_size,
           "inputs": [str(i) for i in args.inputs], "manifests": [str(m) for m in args.manifest]}
    writer = PredictionWriter(args.out, fmt=fmt, columns=columns, job=job, top_k=args.top_k,
                              probs=args.probs)
    done = writer.open(resume=args.resume, overwrite=args.overwrite)
    # The bar's total costs a first pass over the inputs: only when a bar shows.
    bar_shown = show_progress(args) and sys.stderr.isatty()
    total = count_paths(args.inputs, **source) if bar_shown and stdin is None else None
    paths = iter_paths(args.inputs, stdin=stdin, **source)

    # Resume: check that the written rows are the first inputs, then restart at the
    # chunk boundary before them so every image is predicted within its usual chunk.
    chunk = args.batch_size * CHUNK_BATCHES
    redo = done - (done // chunk) * chunk
    tail = collections.deque(maxlen=redo)
    failed_before = 0
    for i, (given, (recorded, error)) in enumerate(itertools.zip_longest(
            itertools.islice(paths, done), writer.recorded_rows() if done else (),
            fillvalue=(None, ""))):
        failed_before += bool(error)
        if given != recorded:
            writer.close()
            raise ResumeError(f"{writer.partial}: row {i + 1} is {recorded!r} but input {i + 1} is "
                              f"{given!r}; resume with the same inputs, or use --overwrite")
        tail.append(given)
    if done:
        log(args, f"resuming after {done} rows already in {writer.partial}")

    start, scored, failed = time.perf_counter(), 0, 0
    bar = tqdm(total=total, initial=done, unit="img", disable=not bar_shown,
               file=sys.stderr)
    try:
        results = predict_paths(model, itertools.chain(tail, paths), batch_size=args.batch_size,
                                n_jobs=args.n_jobs, top_k=args.top_k,
                                progress=lambda n: (writer.flush(), bar.update(n)))
        for prediction in itertools.islice(results, redo, None):
            writer.write(prediction)
            if prediction.error:
                failed += 1
                log(args, f"failed: {prediction.path}: {prediction.error}")
                if args.fail_fast:
                    writer.close()
                    bar.close()
                    print(f"l2vision score: error: {prediction.path}: {prediction.error} "
                          "(--fail-fast; rerun with --resume to continue)", file=sys.stderr)
                    return EXIT_ERROR
            else:
                scored += 1
    except BaseException:
        writer.close()
        bar.close()
        if args.out:
            print(f"l2vision score: partial output kept in {writer.partial}; "
                  "rerun with --resume to continue", file=sys.stderr)
        raise
    bar.close()
    if done + scored + failed == 0:
        writer.close()
        raise ValueError("no images to score in the given inputs")
    writer.finish()
    elapsed = time.perf_counter() - start
    rate = (scored + failed) / elapsed if elapsed > 0 else 0.0
    log(args, f"scored {scored}, failed {failed}, {elapsed:.1f} s, {rate:.0f} images/s"
              + (f" (plus {done} rows, {failed_before} failed, from the interrupted run)"
                 if done else "")
              + (f"; output: {args.out}" if args.out else ""))
    return EXIT_SOME_FAILED if failed or failed_before else EXIT_OK
