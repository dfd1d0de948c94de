"""``l2vision explain``: heatmaps of where the evidence for a class lies in each image."""

from __future__ import annotations

import argparse
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
Show where in each image the evidence for a class lies, for a model from
'l2vision train'. The class's score splits over the image's pixels: each
heatmap sums to the score minus the score of the average training image
(exactly where the features are sums over regions: color and LBP histograms,
pooled CNN layers, tiny images, k-means codes; shared in proportion for
square-rooted histograms and HOG blocks; by masking tiles for plugins).

For each image, in input order, DIR gets NNNN.png (the heatmap over the image
in gray: evidence for the class in red, against it in blue) and NNNN.npy (the
raw heatmap, float32, the decoded image's height x width), and DIR/index.csv
one row per image and class explained: index, path, rank, label (the class
explained), score (its calibrated probability, else its decision value),
decision, evidence (what the heatmap sums to), kind (exact, approximate or
occlusion) and error. With --top-k K or several --class, the class of rank r
>= 2 goes to NNNN-r.png and NNNN-r.npy. Unreadable images get an error row and
the run carries on.

IMAGE is any mix of image files, folders (recursive, sorted) and glob
patterns ('photos/*.jpg', quoted). DIR is created if its folder exists.

Exit codes: 0 all explained, 3 some images failed, 1 the run stopped, 2 usage.

Examples:
  l2vision explain model.joblib photo.jpg -o why/
  l2vision explain model.joblib mistakes/ -o why/ --top-k 2
  l2vision explain model.joblib 'inbox/*.png' -o why/ --class shoes --class hat
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("explain", parents=[common],
                              help="heatmaps of the evidence for a class in each image",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("model", type=Path, metavar="MODEL", help="model file from 'l2vision train'")
    g.add_argument("inputs", nargs="+", metavar="IMAGE",
                   help="image files, folders or glob patterns")
    add_trust_option(g)
    g = p.add_argument_group("output")
    g.add_argument("-o", "--out", type=Path, required=True, metavar="DIR",
                   help="folder for the heatmaps and index.csv (created if missing)")
    g.add_argument("--class", dest="classes", action="append", default=None, metavar="LABEL",
                   help="explain this class in every image (repeatable; default: the "
                        "predicted class)")
    g.add_argument("--top-k", type=int, default=1, metavar="K",
                   help="without --class: explain the K best classes of each image (default 1)")
    g.add_argument("--baseline", choices=("mean", "zero"), default="mean",
                   help="what the heatmaps' sums are measured from: the average training "
                        "image's score (default) or the model's intercept")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the files of an earlier run in DIR")
    add_run_options(p.add_argument_group("run"), scheduler=False)
    p.set_defaults(run=run, parser=p)


def _check_folder(out: Path, overwrite: bool) -> None:
    """Refuse (before any work) a DIR that is a file, or holds an earlier run's files."""
    check_output_folders([out])
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder; give a folder with -o")
    if overwrite or not out.is_dir():
        return
    refuse_existing([out / "index.csv"], other="-o DIR")
    earlier = sorted(p.name for p in out.iterdir()
                     if p.suffix in (".png", ".npy") and p.name[:4].isdigit())
    if earlier:
        raise FileExistsError(f"{out}: holds heatmaps of an earlier run ({earlier[0]}...); "
                              "use --overwrite or another -o DIR")


def run(args) -> int:
    _check_folder(args.out, args.overwrite)
    from l2vision.explain.explain import choose_rows, iter_explanations
    from l2vision.explain.linear import linear_head
    from l2vision.pipelines.build import split_pipeline
    from l2vision.pipelines.persist import load
    from l2vision.scoring.inputs import InputPaths

    model = load(args.model, trusted=args.trusted)
    choose_rows(linear_head(split_pipeline(model)[1]), args.classes, args.top_k)  # checked early
    paths = list(InputPaths(args.inputs))
    args.out.mkdir(exist_ok=True)
    log(args, f"explaining {len(paths)} images with {args.model} into {args.out}")
    rows, failed = [], 0
    for e in iter_explanations(model, paths, classes=args.classes, top_k=args.top_k,
                               baseline=args.baseline):
        if e.error is not None:
            failed += 1
            log(args, f"failed: {e.error}")
            rows.append([e.index, e.source, "", "", "", "", "", "", e.error])
            continue
        for rank, c in enumerate(e.classes, start=1):
            stem = f"{e.index:04d}" + ("" if rank == 1 else f"-{rank}")
            _write_maps(args.out / stem, e.image, c.heatmap, args.overwrite)
            score = c.score if c.probability is None else c.probability
            rows.append([e.index, e.source, rank, c.label, f"{score:.6g}", f"{c.score:.6g}",
                         f"{c.evidence:.6g}", c.kind, ""])
    index = _write_index(args.out / "index.csv", rows, args.overwrite)
    explained = len({row[0] for row in rows}) - failed
    print(f"explained {explained} images{f', {failed} failed' if failed else ''}: {index}")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _write_maps(stem: Path, image, heatmap, overwrite: bool) -> None:
    """``STEM.npy`` (the raw float32 heatmap) and ``STEM.png`` (the overlay), each atomically."""
    import io

    import numpy as np

    from l2vision.explain.drawing import encode_png, overlay
    from l2vision.io.writing import write_file

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(heatmap, np.float32), allow_pickle=False)
    write_file(stem.with_suffix(".npy"), buffer.getvalue(), overwrite=overwrite)
    write_file(stem.with_suffix(".png"), encode_png(overlay(image, heatmap)), overwrite=overwrite)


def _write_index(path: Path, rows: list, overwrite: bool) -> Path:
    """``index.csv``: one row per image and class explained (error rows for unreadable images)."""
    import csv
    import io

    from l2vision.io.writing import write_file

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["index", "path", "rank", "label", "score", "decision", "evidence", "kind",
                     "error"])
    writer.writerows(rows)
    return write_file(path, text.getvalue(), overwrite=overwrite)
