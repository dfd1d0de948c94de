"""``l2vision extract``: compute a feature matrix and save it (NumPy .npz)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from l2vision.cli.options import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    add_run_options,
    check_output_folders,
    features_help,
    log,
    parse_size,
    refuse_existing,
)

HELP = """\
Compute image features (no model) and save them as a NumPy .npz file with
arrays X (float32, n_images x n_features), paths, labels (if any), the
feature names, and failed (paths that could not be read; their rows are 0).

DATA is an image folder, a CSV manifest, or nothing for the built-in digits.

Examples:
  l2vision extract photos/ --features hog,color -o photos_features.npz
  python -c "import numpy as np; print(np.load('photos_features.npz')['X'].shape)"
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("extract", parents=[common], help="compute and save image features",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", default=None, metavar="DATA",
                   help="image folder or CSV manifest (default: the built-in digits)")
    p.add_argument("-f", "--features", default="auto",
                   help=features_help() + " (default: auto)")
    p.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                   help="resize every image to WxH right after decoding")
    p.add_argument("-o", "--out", type=Path, default=Path("features.npz"),
                   help="output .npz file (default: features.npz)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_run_options(p.add_argument_group("run"), cache=True, timeout=True)
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.features.workers import start_decoding_workers

    check_output_folders([args.out])
    if not args.overwrite:
        refuse_existing([args.out], other="--out")
    start_decoding_workers()  # they import while this process does (see their module)
    import numpy as np

    from l2vision.datasets import DatasetError, load_dataset
    from l2vision.io.decode import image_name
    from l2vision.io.writing import atomic_write
    from l2vision.pipelines.build import make_features

    if args.data is not None and str(args.data).lower().endswith(".csv") \
            and os.path.isfile(args.data):
        # Features need no labels: a manifest without a 'label' column is fine here.
        from l2vision.datasets import iter_manifest

        try:
            next(iter_manifest(args.data, columns=("label",)), None)
            labelled = True
        except DatasetError:
            labelled = False
        images = load_dataset(args.data, label_column="label" if labelled else None)
    else:
        images = load_dataset(args.data)
    features = make_features(args.features, size=args.size).fit(images.images)
    if hasattr(features, "features_spec_"):
        log(args, f"features: auto -> {features.features_spec_} ({features.features_reason_})")
    X, errors = features.transform_with_errors(images.images)
    for _, error in sorted(errors.items()):
        log(args, f"failed: {error}")
    paths = [image_name(p, i) for i, p in enumerate(images.images)]
    arrays = {"X": X, "paths": np.asarray(paths), "feature_names":
              features.get_feature_names_out().astype(str),
              "failed": np.asarray([paths[i] for i in sorted(errors)], dtype=str)}
    if images.labels is not None:
        arrays["labels"] = np.asarray(images.labels).astype(str)
    # A temporary file of its own, renamed over the output (never through a link).
    atomic_write(args.out, lambda f: np.savez(f, **arrays), overwrite=args.overwrite)
    print(f"{X.shape[0]} images x {X.shape[1]} features -> {args.out}"
          f"{f' ({len(errors)} unreadable)' if errors else ''}")
    return EXIT_SOME_FAILED if errors else EXIT_OK
