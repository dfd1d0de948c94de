"""Shared helpers of the benchmarks: locating ../shared and timing."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

SHARED = Path(os.environ.get("L2VISION_SHARED",
                             Path(__file__).resolve().parents[1] / ".." / "shared"))
CIFAR = SHARED / "data" / "cifar10"


def cifar_paths(split: str, limit: int | None = None, *, interleave: bool = True):
    """Paths and labels of a CIFAR-10 split.

    ``interleave`` mixes the classes so that any prefix is balanced.
    """
    if not CIFAR.exists():
        sys.exit(f"CIFAR-10 not found at {CIFAR.resolve()}; set L2VISION_SHARED")
    per_class = [(d.name, sorted(str(p) for p in d.iterdir()))
                 for d in sorted((CIFAR / split).iterdir())]
    pairs = []
    if interleave:
        for i in range(max(len(files) for _, files in per_class)):
            pairs += [(files[i], name) for name, files in per_class if i < len(files)]
    else:
        pairs = [(f, name) for name, files in per_class for f in files]
    pairs = pairs[:limit] if limit else pairs
    return [p for p, _ in pairs], [label for _, label in pairs]


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def median_times(variants: dict, repeats: int, *args) -> tuple[dict, dict]:
    """Run every ``variants[name](*args)`` in turn, ``repeats`` rounds; median seconds each.

    Alternating the variants and taking medians keeps a drift of the
    machine's speed (10-20% from one minute to the next here) out of their
    ratios. Returns ``({name: median seconds}, {name: last result})``.
    """
    import numpy

    seconds = {name: [] for name in variants}
    results = {}
    for _ in range(repeats):
        for name, run in variants.items():
            results[name], t = timed(run, *args)
            seconds[name].append(t)
    return {name: float(numpy.median(t)) for name, t in seconds.items()}, results


def machine() -> str:
    """One line describing the machine, printed with every benchmark."""
    import cv2
    import numpy
    import sklearn

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"scikit-learn {sklearn.__version__}, OpenCV {cv2.__version__}")
