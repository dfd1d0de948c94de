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
    # One image at a time in this process (the network keeps its spatial maps): no -j.
    add_run_options(p.add_argument_group("run"), scheduler=False, jobs=False)
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.explain.output import check_explain_folder, write_explanations

    check_output_folders([args.out])
    check_explain_folder(args.out, args.overwrite, option="-o DIR")
    from l2vision.explain.explain import choose_rows
    from l2vision.explain.linear import linear_head
    from l2vision.pipelines.build import split_pipeline
    from l2vision.pipelines.persist import load
    from l2vision.scoring.inputs import InputPaths

    model = load(args.model, trusted=args.trusted)
    choose_rows(linear_head(split_pipeline(model)[1]), args.classes, args.top_k)  # checked early
    paths = list(InputPaths(args.inputs))
    log(args, f"explaining {len(paths)} images with {args.model} into {args.out}")
    done = write_explanations(model, paths, args.out, classes=args.classes, top_k=args.top_k,
                              baseline=args.baseline, overwrite=args.overwrite,
                              log=lambda message: log(args, message))
    print(f"explained {done.explained} images"
          f"{f', {done.failed} failed' if done.failed else ''}: {done.index}")
    return EXIT_SOME_FAILED if done.failed else EXIT_OK
