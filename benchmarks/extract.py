"""Feature extraction speed on CIFAR-10: ImageFeatures vs decode-only vs a hand-written skimage loop.

Run: ``python benchmarks/extract.py [--n 20000] [--n-slow 3000]``. Prints images/s
and the ratios; asserts nothing. Targets (2-core machine): ImageFeatures with
n_jobs=2 at least 10x the skimage loop and at least 0.5x the decode-only rate.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from _common import cifar_paths, machine, timed
from skimage.color import rgb2hsv
from skimage.feature import hog
from skimage.io import imread

from l2vision.features import HOG, ColorHistogram, ImageFeatures


def decode_only(paths):
    for p in paths:
        cv2.imread(p)


def skimage_loop(paths):
    """What a user writes by hand: same feature sizes (HOG 1764 + HSV 8x4x4 = 128)."""
    rows = []
    for p in paths:
        rgb = imread(p)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        h = hog(gray, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
        hist, _ = np.histogramdd(rgb2hsv(rgb).reshape(-1, 3), bins=(8, 4, 4),
                                 range=((0, 1), (0, 1), (0, 1)))
        rows.append(np.concatenate([h, hist.ravel() / hist.sum()]))
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="images (default 20000)")
    parser.add_argument("--n-slow", type=int, default=3_000,
                        help="images for the slow skimage loop (its rate is per image)")
    args = parser.parse_args()
    paths, _ = cifar_paths("train", args.n, interleave=False)
    print(machine())
    print(f"{len(paths)} CIFAR-10 train images (32x32 JPEG)")

    for p in paths:  # warm the page cache: every variant below reads cached files
        with open(p, "rb") as f:
            f.read()
    _, t_decode = timed(decode_only, paths)
    rates = {"decode only (cv2.imread loop)": len(paths) / t_decode}
    for n_jobs in (1, 2):
        features = ImageFeatures([HOG(), ColorHistogram()], n_jobs=n_jobs)
        features.transform(paths[:600])  # warm up: start the worker pool once
        X, seconds = timed(features.transform, paths)
        rates[f"ImageFeatures([HOG(), ColorHistogram()], n_jobs={n_jobs})"] = len(paths) / seconds
    slow = paths[: args.n_slow]
    Xs, seconds = timed(skimage_loop, slow)
    rates[f"skimage.feature.hog + numpy HSV histogram loop ({len(slow)} images)"] = len(slow) / seconds
    assert X.shape[1] == Xs.shape[1] == 1892

    for name, rate in rates.items():
        print(f"{rate:10.0f} images/s  {name}")
    ours, decode = rates[list(rates)[2]], rates[list(rates)[0]]
    print(f"ratio b/c ImageFeatures(n_jobs=2) / skimage loop: {ours / rates[list(rates)[3]]:.1f}x"
          "  (target >= 10x)")
    print(f"ratio b/a ImageFeatures(n_jobs=2) / decode only:  {ours / decode:.2f}x"
          "  (target >= 0.5x)")


if __name__ == "__main__":
    main()
