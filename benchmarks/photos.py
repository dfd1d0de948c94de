"""Scoring 12-megapixel photos: JPEGs decoded at the scale the pipeline needs vs in full.

Run: ``python benchmarks/photos.py [--n 60] [--repeats 3]``. Makes ``--n``
4000x3000 JPEGs (quality 90) by upscaling clothing10 photos into a temporary
folder, trains a model with the photo recipe (MobileNet V2 at 224x224) on 200
clothing10 images, then scores the big files with ``score_files`` twice per
round: with reduced decoding (libjpeg's DCT scaling to 1/8, the default) and
without (full decode, then resize). Prints images/s of each and the ratio,
medians of alternated rounds. Target: >= 3x. Also checks that the predictions
agree. Writes ``benchmarks/results/photos.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
from _common import SHARED, machine, median_times, target, write_results

from l2vision.datasets import load_image_folder
from l2vision.pipelines import make_pipeline
from l2vision.scoring import predict_paths

MEASURES = ["l2vision/io/decode.py", "l2vision/io/header.py", "l2vision/features/driver.py",
            "l2vision/features/_batches.py", "l2vision/features/_isolation.py",
            "l2vision/features/cnn.py", "l2vision/features/_net.py",
            "l2vision/scoring/predict.py", "l2vision/scoring/chunks.py"]


@contextlib.contextmanager
def reduced_decoding(features, reduced: bool):
    """``features.reduced_decoding`` set to ``reduced`` for a ``with`` block, then restored.

    It is a parameter of the features (it can change them slightly), not a
    run-time setting of ``l2vision.config_context``.
    """
    saved = features.reduced_decoding
    features.set_params(reduced_decoding=reduced)
    try:
        yield
    finally:
        features.set_params(reduced_decoding=saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="12-MP photos to score")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(machine())
    photos = load_image_folder(SHARED / "data" / "clothing10" / "train")
    rng = np.random.default_rng(0)
    pick = rng.choice(photos.n_images, 200, replace=False)
    train = photos.subset(np.sort(pick))
    model = make_pipeline("photo", "logreg", lam=100.0).fit(train.images, train.labels)
    with tempfile.TemporaryDirectory() as folder:
        big = []
        for i, path in enumerate(photos.images[: args.n]):
            image = cv2.resize(cv2.imread(path), (3000, 4000), interpolation=cv2.INTER_CUBIC)
            file = Path(folder) / f"{i:03d}.jpg"
            cv2.imwrite(str(file), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            big.append(str(file))
        size = sum(Path(p).stat().st_size for p in big) / len(big) / 1e6
        print(f"{len(big)} photos of 3000x4000 px (12 MP), {size:.1f} MB each on average")

        def score(reduced: bool):
            with reduced_decoding(model[0], reduced):
                return [p.label for p in predict_paths(model, big)]

        score(True)  # warm: page cache, network
        seconds, labels = median_times({"reduced": lambda: score(True),
                                        "full": lambda: score(False)}, args.repeats)
    same = np.mean(np.asarray(labels["reduced"]) == np.asarray(labels["full"]))
    rate = {k: len(big) / t for k, t in seconds.items()}
    print(f"reduced decoding (1/8 scale): {rate['reduced']:.1f} images/s")
    print(f"full decoding + resize: {rate['full']:.1f} images/s")
    print(f"ratio: {rate['reduced'] / rate['full']:.2f}x  (target >= 3x); "
          f"same predicted label for {same:.0%} of the photos")
    path = write_results(
        "photos", {"n_photos": len(big), "megabytes_per_photo": size, "repeats": args.repeats,
                   "images_per_s": rate, "ratio": rate["reduced"] / rate["full"],
                   "same_label_fraction": float(same)},
        {"reduced_vs_full_decoding": target(round(rate["reduced"] / rate["full"], 3), 3.0,
                                            unit="x")},
        measures=MEASURES, notes="" if args.n == 60 else f"on {args.n} photos")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
