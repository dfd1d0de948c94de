"""Shared helpers of the benchmarks: locating ../shared, timing, and the results files.

Every benchmark writes ``benchmarks/results/NAME.json`` with :func:`write_results`:
its figures, its targets (value, target, met), the date, the commit and the
files whose code it measures (so ``render.py`` can mark a result older than
that code), the machine, the library versions and the exact command.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

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


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


#: The 1-minute load average when the benchmark started (when this module was imported).
_LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def machine_info() -> dict:
    """Cores, memory, processor, and the 1-minute load average at the start and now (the end)."""
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "memory_gib": memory,
            "processor": platform.processor() or platform.machine(),
            "load_average_1min_start": None if _LOAD_AT_START is None
            else round(_LOAD_AT_START, 2),
            "load_average_1min": None if load is None else round(load, 2)}


def library_versions() -> dict:
    """Python and the libraries that make the figures (those importable here)."""
    versions = {"python": platform.python_version()}
    for name, module in (("numpy", "numpy"), ("scikit-learn", "sklearn"), ("opencv", "cv2"),
                         ("onnxruntime", "onnxruntime"), ("joblib", "joblib")):
        try:
            versions[name] = __import__(module).__version__
        except ImportError:
            pass
    try:
        from l2vision import __version__

        versions["l2vision"] = __version__
    except ImportError:
        pass
    return versions


def file_sha256(path: Path) -> str | None:
    """Hex sha256 of a file's bytes, or None when it does not exist."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def target(value: float, goal: float, *, at_least: bool = True, unit: str = "") -> dict:
    """One target: the measured value, the goal, and whether it is met."""
    met = value >= goal if at_least else value <= goal
    return {"value": value, "target": (">= " if at_least else "<= ") + f"{goal:g}{unit}",
            "met": bool(met)}


def write_results(name: str, figures: dict, targets: dict, *, measures: list[str],
                  notes: str = "") -> Path:
    """Write ``benchmarks/results/NAME.json`` and return its path.

    Parameters
    ----------
    name : str
        The benchmark's name (the file's stem).
    figures : dict
        Everything measured, JSON-serializable.
    targets : dict
        ``{name: target(...)}``; ``met`` overall is True when every one is.
    measures : list of str
        The files (relative to the repository) whose code the figures measure:
        a later change to any of them marks the result as older than the code.
        Their sha256 at measurement time is recorded as ``measures_sha256``, so
        ``render.py`` can tell without the git history.
    notes : str, default=""
        What a reader should know (the machine was loaded, a subset was used...).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", *measures)),
        "measures": measures,
        "measures_sha256": {path: file_sha256(ROOT / path) for path in measures},
        "machine": machine_info(),
        "versions": library_versions(),
        "command": " ".join(["python", *[os.path.relpath(sys.argv[0], ROOT)], *sys.argv[1:]]),
        "figures": figures,
        "targets": targets,
        "met": all(t["met"] for t in targets.values()) if targets else None,
        "notes": notes,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, default=float) + "\n")
    return path
