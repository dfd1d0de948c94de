"""HOG speed and agreement: cv2.HOGDescriptor (OpenCV 4) against l2vision's NumPy hog_descriptors.

Run: ``python benchmarks/hog.py [--n-random 2048] [--n-cifar 2048] [--repeats 5]``.

For l2vision's HOG configurations (the default 32x32 gray, ``hog:64``, and the
'best' set's hog8, hog4 and hog6) it times, on the same images, what l2vision
did with OpenCV 4 (``HOGDescriptor.compute`` image by image) and
``hog_descriptors`` on batches of 256, alternating the two for ``--repeats``
rounds and taking medians. Images: uniform noise plus the CIFAR-10 test JPEGs
(when ../shared has them), decoded and resized beforehand (not timed).

Targets: ``hog_descriptors`` at least as fast (ratio >= 1.0, wall clock) and
equal to 1e-5 (max absolute difference) in every configuration. The rates in
CPU time are printed too: on a shared machine they are less disturbed by other
processes. Writes ``benchmarks/results/hog.json`` (through ``write_results``:
one ratio target per configuration and one for the largest difference).
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np
from _common import CIFAR, cifar_paths, machine, target, write_results

from l2vision.features._hog_compute import hog_descriptors

MEASURES = ["l2vision/features/_hog_compute.py"]
BATCH = 256
TARGET = {"ratio_min": 1.0, "max_abs_diff_max": 1e-5}

# name: (size (width, height), hog_descriptors keywords), as l2vision's HOG passes them
CONFIGS = {
    "default (32x32 gray, cell 4)": ((32, 32), {}),
    "hog:64 (64x64 gray, cell 8)": ((64, 64), {"cell_size": (8, 8)}),
    "hog8 (64x64 color max, cell 8)": ((64, 64), {"cell_size": (8, 8), "color": "max"}),
    "hog4 (32x32 color max, cell 4)": ((32, 32), {"color": "max"}),
    "hog6 (48x48 color max, cell 6, 12 signed bins)":
        ((48, 48), {"cell_size": (6, 6), "orientations": 12, "signed": True, "color": "max"}),
}


def opencv_descriptor(size, *, cell_size=(4, 4), block_size=(2, 2), block_stride=(1, 1),
                      orientations=9, signed=False, gamma_correction=False, color="gray"):
    """The cv2.HOGDescriptor l2vision's HOG built."""
    block_px = (block_size[0] * cell_size[0], block_size[1] * cell_size[1])
    stride_px = (block_stride[0] * cell_size[0], block_stride[1] * cell_size[1])
    return cv2.HOGDescriptor(tuple(size), block_px, stride_px, tuple(cell_size), orientations,
                             1, -1.0, cv2.HOGDESCRIPTOR_L2HYS, 0.2, gamma_correction, 64, signed)


def opencv_loop(hog, images: np.ndarray, n_features: int) -> np.ndarray:
    """HOGDescriptor.compute image by image, as l2vision's HOG._extract did."""
    out = np.empty((len(images), n_features), np.float32)
    for i, image in enumerate(images):
        out[i] = hog.compute(image)
    return out


def ours_batches(images: np.ndarray, kw: dict) -> np.ndarray:
    """hog_descriptors on batches of 256, as l2vision calls it."""
    return np.concatenate([hog_descriptors(images[i:i + BATCH], **kw)
                           for i in range(0, len(images), BATCH)])


def load_images(n_random: int, n_cifar: int, size, color: bool) -> np.ndarray:
    """Noise plus CIFAR-10 test images, resized to ``size`` as l2vision does (gray or BGR)."""
    rng = np.random.default_rng(0)
    shape = (n_random, size[1], size[0]) + ((3,) if color else ())
    images = [rng.integers(0, 256, shape, dtype=np.uint8)]
    if n_cifar and CIFAR.exists():
        paths, _ = cifar_paths("test", n_cifar)
        decoded = []
        for p in paths:
            image = cv2.imread(p, cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
            shrink = image.shape[1] > size[0]
            decoded.append(cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA
                                      if shrink else cv2.INTER_LINEAR))
        images.append(np.stack(decoded))
    return np.concatenate(images)


def measure(name: str, size, kw: dict, args) -> dict:
    """Rates both ways (wall clock and CPU time), their ratios and the largest difference."""
    images = load_images(args.n_random, args.n_cifar, size, kw.get("color", "gray") != "gray")
    hog = opencv_descriptor(size, **kw)
    n_features = hog_descriptors(images[:1], **kw).shape[1]
    variants = {"opencv": lambda: opencv_loop(hog, images, n_features),
                "ours": lambda: ours_batches(images, kw)}
    wall = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    results = {}
    ours_batches(images[:BATCH], kw)  # build the geometry's tables once, outside the timing
    for _ in range(args.repeats):
        for key, run in variants.items():
            w0, c0 = time.perf_counter(), time.process_time()
            results[key] = run()
            wall[key].append(time.perf_counter() - w0)
            cpu[key].append(time.process_time() - c0)
    rate = {k: len(images) / float(np.median(v)) for k, v in wall.items()}
    cpu_rate = {k: len(images) / float(np.median(v)) for k, v in cpu.items()}
    diff = float(np.abs(results["ours"] - results["opencv"]).max())
    row = {"config": name, "size": list(size), "params": kw, "images": len(images),
           "n_features": n_features,
           "opencv_images_per_s": round(rate["opencv"]), "ours_images_per_s": round(rate["ours"]),
           "ratio": round(rate["ours"] / rate["opencv"], 3),
           "opencv_cpu_images_per_s": round(cpu_rate["opencv"]),
           "ours_cpu_images_per_s": round(cpu_rate["ours"]),
           "cpu_ratio": round(cpu_rate["ours"] / cpu_rate["opencv"], 3),
           "max_abs_diff": diff}
    row["met"] = row["ratio"] >= TARGET["ratio_min"] and diff <= TARGET["max_abs_diff_max"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-random", type=int, default=2048, help="noise images (default 2048)")
    parser.add_argument("--n-cifar", type=int, default=2048,
                        help="CIFAR-10 test images, if ../shared has them (default 2048)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds of both variants, alternated; medians are reported")
    args = parser.parse_args()
    if not hasattr(cv2, "HOGDescriptor"):
        sys.exit(f"OpenCV {cv2.__version__} has no cv2.HOGDescriptor to compare with; "
                 "run this benchmark with OpenCV 4")
    print(machine())
    print(f"{'configuration':48s} {'OpenCV/s':>9s} {'ours/s':>9s} {'ratio':>6s} "
          f"{'CPU ratio':>9s} {'max diff':>9s}")
    rows = []
    for name, (size, kw) in CONFIGS.items():
        row = measure(name, size, kw, args)
        rows.append(row)
        print(f"{name:48s} {row['opencv_images_per_s']:9d} {row['ours_images_per_s']:9d} "
              f"{row['ratio']:6.2f} {row['cpu_ratio']:9.2f} {row['max_abs_diff']:9.1e}"
              f"{'' if row['met'] else '  (target missed)'}")
    figures = {"clock": "wall, medians of alternated rounds",
               "images": {"random": args.n_random,
                          "cifar10_test": rows[0]["images"] - args.n_random, "batch": BATCH},
               "configs": rows}
    targets = {f"ratio_{row['config'].split()[0]}": target(row["ratio"], TARGET["ratio_min"],
                                                          unit="x") for row in rows}
    targets["max_abs_diff"] = target(max(row["max_abs_diff"] for row in rows),
                                     TARGET["max_abs_diff_max"], at_least=False)
    path = write_results("hog", figures, targets, measures=MEASURES)
    met = all(t["met"] for t in targets.values())
    print(f"target (ratio >= 1.0, max diff <= 1e-5) {'met' if met else 'missed'}; wrote {path}")


if __name__ == "__main__":
    main()
