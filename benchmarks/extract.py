"""Feature extraction speed on CIFAR-10: ImageFeatures vs decode only vs hand-written loops.

Run: ``python benchmarks/extract.py [--parts handcrafted,kmeans] [--n 20000] [--n-slow 3000]``.
Prints images/s and the ratios; asserts nothing. Each part writes its own results
file, ``benchmarks/results/extract_handcrafted.json`` and ``extract_kmeans.json``.
Workers are the ``n_jobs`` setting of :func:`l2vision.config_context`. Targets
(2-core machine):

- handcrafted: ImageFeatures([HOG(), ColorHistogram()]) with n_jobs=2 at least
  10x the skimage loop and at least 0.5x the decode-only rate.
- kmeans: encoding with KMeansFeatures(1600) (fitted on 10,000 training
  images) in ImageFeatures with n_jobs=2, at least 5x the NumPy loop a user would
  write for the same recipe (one image at a time, float64: the soft threshold
  of the responses to the unit centroids, the default, or, with
  ``--kmeans-encoding triangle``, the distance expansion of Coates and Ng's
  reference code); both decode the JPEG files.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from _common import cifar_paths, machine, median_times, target, timed, write_results
from numpy.lib.stride_tricks import sliding_window_view
from skimage.color import rgb2hsv
from skimage.feature import hog
from skimage.io import imread

from l2vision import config_context
from l2vision.features import HOG, ColorHistogram, ImageFeatures, KMeansFeatures

#: The library code both parts run: the batch engine, decoding, the settings.
ENGINE = ["l2vision/features/driver.py", "l2vision/features/_batches.py",
          "l2vision/features/base.py", "l2vision/features/_progress.py",
          "l2vision/io/decode.py", "l2vision/io/files.py", "l2vision/io/header.py",
          "l2vision/config.py"]


def with_settings(run, **settings):
    """``run`` called inside ``config_context(**settings)``."""
    def in_context(*args):
        with config_context(**settings):
            return run(*args)
    return in_context


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


def kmeans_numpy_loop(paths, km: KMeansFeatures) -> np.ndarray:
    """The Coates–Ng encoding written plainly: one image at a time, NumPy's float64.

    The extractor's ``encoding`` (polarity-split soft threshold or triangle),
    ``flip_average`` (the image and its mirror) and ``power``.
    """
    mean, white, centroids = km.patch_mean_, km.whitening_, km.centroids_
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    p = km.patch_size

    def encode(image):
        patches = sliding_window_view(image, (p, p), axis=(0, 1))      # (27, 27, 3, 6, 6)
        side = patches.shape[0]
        x = patches.reshape(side * side, -1)
        x = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, ddof=1, keepdims=True) + 10)
        x = (x - mean) @ white
        if km.encoding == "soft_threshold":
            s = x @ unit.T
            f = np.concatenate([np.maximum(s - km.alpha, 0), np.maximum(-s - km.alpha, 0)], 1)
        else:
            z = np.sqrt(np.maximum((x**2).sum(1)[:, None] + (centroids**2).sum(1)[None]
                                   - 2 * x @ centroids.T, 0))
            f = np.maximum(z.mean(1, keepdims=True) - z, 0)
        f = f.reshape(side, side, -1)
        h = round(side / 2)
        return np.concatenate([f[:h, :h].sum((0, 1)), f[:h, h:].sum((0, 1)),
                               f[h:, :h].sum((0, 1)), f[h:, h:].sum((0, 1))])

    rows = []
    for path in paths:
        image = cv2.imread(path).astype(np.float64)
        row = encode(image)
        if km.flip_average:
            row = (row + encode(image[:, ::-1])) / 2
        rows.append(row ** km.power)
    return np.array(rows)


def kmeans_part(args) -> None:
    """KMeansFeatures(1600) encoding vs the NumPy loop."""
    train, _ = cifar_paths("train", 10_000)
    paths, _ = cifar_paths("test", args.n_kmeans)
    extractor = KMeansFeatures(1600, encoding=args.kmeans_encoding)
    features = ImageFeatures([extractor])
    fit = with_settings(features.fit, n_jobs=2)
    transform = with_settings(features.transform, n_jobs=2)
    _, fit_seconds = timed(fit, train)
    km = features.extractors[0]
    print(f"KMeansFeatures(1600, encoding={km.encoding!r}) fitted on {len(train)} images in "
          f"{fit_seconds:.0f} s ({km.n_patches_fit_} patches)")
    transform(paths[:600])  # warm up the worker pool
    X, ours = timed(transform, paths)
    slow = paths[: args.n_slow_kmeans]
    Xs, loop = timed(kmeans_numpy_loop, slow, km)
    err = np.abs(X[: len(slow)] - Xs).max() / np.abs(Xs).max()
    ours_rate, loop_rate = len(paths) / ours, len(slow) / loop
    print(f"{ours_rate:10.0f} images/s  ImageFeatures([KMeansFeatures(1600)]), n_jobs=2 "
          f"({len(paths)} images, {X.shape[1]} features)")
    print(f"{loop_rate:10.0f} images/s  NumPy loop, float64 ({len(slow)} images; max relative "
          f"difference {err:.1e})")
    print(f"ratio KMeansFeatures (n_jobs=2) / NumPy loop: {ours_rate / loop_rate:.1f}x"
          "  (target >= 5x)")
    figures = {"encoding": km.encoding, "fit_images": len(train), "fit_seconds": fit_seconds,
               "patches_fit": int(km.n_patches_fit_), "n_images": len(paths),
               "n_features": int(X.shape[1]), "images_per_s": ours_rate,
               "numpy_loop_images": len(slow), "numpy_loop_images_per_s": loop_rate,
               "max_relative_difference": float(err), "ratio_vs_numpy_loop": ours_rate / loop_rate}
    path = write_results(
        "extract_kmeans", figures,
        {"kmeans_vs_numpy_loop": target(round(ours_rate / loop_rate, 2), 5.0, unit="x")},
        measures=[*ENGINE, "l2vision/features/kmeans.py", "l2vision/features/_kmeans_codes.py",
                  "l2vision/features/learned.py"],
        notes=_notes(args.n_kmeans != 5_000 or args.n_slow_kmeans != 500))
    print(f"-> {path}")


def _notes(subset: bool) -> str:
    return "a smaller run than the defaults" if subset else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="handcrafted,kmeans")
    parser.add_argument("--n", type=int, default=20_000, help="images (default 20000)")
    parser.add_argument("--n-slow", type=int, default=3_000,
                        help="images for the slow skimage loop (its rate is per image)")
    parser.add_argument("--n-kmeans", type=int, default=5_000,
                        help="test images KMeansFeatures encodes")
    parser.add_argument("--kmeans-encoding", default="soft_threshold",
                        choices=("soft_threshold", "triangle"))
    parser.add_argument("--n-slow-kmeans", type=int, default=500,
                        help="images for the NumPy k-means loop")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the fast variants, alternated; medians are reported")
    args = parser.parse_args()
    print(machine())
    parts = args.parts.split(",")
    if "handcrafted" in parts:
        handcrafted_part(args)
    if "kmeans" in parts:
        kmeans_part(args)


def handcrafted_part(args) -> None:
    """HOG + color histograms vs decode only and the skimage loop."""
    paths, _ = cifar_paths("train", args.n, interleave=False)
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
        "ImageFeatures([HOG(), ColorHistogram()]), n_jobs=1":
            with_settings(ImageFeatures([HOG(), ColorHistogram()]).transform, n_jobs=1),
        "ImageFeatures([HOG(), ColorHistogram()]), n_jobs=2":
            with_settings(ImageFeatures([HOG(), ColorHistogram()]).transform, n_jobs=2),
        "ImageFeatures([HOG(size=(64, 64), cell_size=(8, 8)), ColorHistogram()]), n_jobs=2":
            with_settings(ImageFeatures(finer).transform, n_jobs=2),
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
    print(f"ratio b/c ImageFeatures (n_jobs=2) / skimage loop: {ours / rates[slow_name]:.1f}x"
          "  (target >= 10x)")
    print(f"ratio b/a ImageFeatures (n_jobs=2) / decode only:  {ours / decode:.2f}x"
          "  (target >= 0.5x)")
    print(f"ratio 64x64-window HOG (n_jobs=2) / decode only: {finer_rate / decode:.2f}x")
    figures = {"n_images": len(paths), "repeats": args.repeats, "skimage_images": len(slow),
               "images_per_s": rates, "ratio_vs_skimage_loop": ours / rates[slow_name],
               "ratio_vs_decode_only": ours / decode,
               "ratio_64x64_window_vs_decode_only": finer_rate / decode}
    path = write_results(
        "extract_handcrafted", figures,
        {"vs_skimage_loop": target(round(ours / rates[slow_name], 2), 10.0, unit="x"),
         "vs_decode_only": target(round(ours / decode, 3), 0.5, unit="x")},
        measures=[*ENGINE, "l2vision/features/hog.py", "l2vision/features/color.py"],
        notes=_notes(args.n != 20_000 or args.n_slow != 3_000))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
