"""Feature extraction speed on CIFAR-10: ImageFeatures vs decode only vs a skimage loop.

Run: ``python benchmarks/extract.py [--n 20000] [--n-slow 3000]``. Prints images/s
and the ratios; asserts nothing. Targets (2-core machine): ImageFeatures with
n_jobs=2 at least 10x the skimage loop and at least 0.5x the decode-only rate.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from _common import cifar_paths, machine, median_times, timed
from skimage.color import rgb2hsv
from skimage.feature import hog
from skimage.io import imread

from l2vision.features import HOG, ColorHistogram, ImageFeatures


def decode_only(paths):
    for p in paths:
        cv2.imread(p)


def skimage_loop(paths):
    """What a user writes by hand, with HOG() and ColorHistogram()'s geometry.

    HOG: 32x32, 4x4-px cells, 1,764 features; HSV histogram 8x4x4 = 128 bins.
    """
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
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the fast variants, alternated; medians are reported")
    args = parser.parse_args()
    paths, _ = cifar_paths("train", args.n, interleave=False)
    print(machine())
    print(f"{len(paths)} CIFAR-10 train images (32x32 JPEG); medians of {args.repeats} "
          "alternated rounds")

    for p in paths:  # warm the page cache: every variant below reads cached files
        with open(p, "rb") as f:
            f.read()
    # The last variant is HOG on a 64x64 window (the same 8x8 cells and 1,892
    # features): it upsamples the 32x32 images 2x and shows what that costs.
    finer = [HOG(size=(64, 64), cell_size=(8, 8)), ColorHistogram()]
    variants = {
        "decode only (cv2.imread loop)": decode_only,
        "ImageFeatures([HOG(), ColorHistogram()], n_jobs=1)":
            ImageFeatures([HOG(), ColorHistogram()], n_jobs=1).transform,
        "ImageFeatures([HOG(), ColorHistogram()], n_jobs=2)":
            ImageFeatures([HOG(), ColorHistogram()], n_jobs=2).transform,
        "ImageFeatures([HOG(size=(64, 64), cell_size=(8, 8)), ColorHistogram()], n_jobs=2)":
            ImageFeatures(finer, n_jobs=2).transform,
    }
    for run in list(variants.values())[1:]:
        run(paths[:600])  # warm up: start the worker pool once
    seconds, results = median_times(variants, args.repeats, paths)
    X = results[list(variants)[-1]]
    rates = {name: len(paths) / t for name, t in seconds.items()}
    slow = paths[: args.n_slow]
    Xs, t = timed(skimage_loop, slow)
    slow_name = f"skimage.feature.hog + numpy HSV histogram loop ({len(slow)} images)"
    rates[slow_name] = len(slow) / t
    assert X.shape[1] == Xs.shape[1] == 1892

    for name, rate in rates.items():
        print(f"{rate:10.0f} images/s  {name}")
    names = list(rates)
    decode, ours, finer_rate = rates[names[0]], rates[names[2]], rates[names[3]]
    print(f"ratio b/c ImageFeatures(n_jobs=2) / skimage loop: {ours / rates[slow_name]:.1f}x"
          "  (target >= 10x)")
    print(f"ratio b/a ImageFeatures(n_jobs=2) / decode only:  {ours / decode:.2f}x"
          "  (target >= 0.5x)")
    print(f"ratio 64x64-window HOG (n_jobs=2) / decode only: {finer_rate / decode:.2f}x")


if __name__ == "__main__":
    main()
