"""Fuzzing the whole scoring command: many mutated image files through ``l2vision score``.

Run: ``python benchmarks/fuzz.py [--n 100000]``. Writes ``--n`` files into a
temporary folder: valid JPEG, PNG, WebP, TIFF, BMP and GIF files of a CIFAR-10
image (or a random image without ../shared), each mutated by 1-4 of bit flips,
truncation, inserted and deleted byte runs and extreme header bytes (seeded).
Then runs ``l2vision score`` on the folder as a subprocess, with crash
isolation (the default) and ``-q``, and reports files/s, how many decoded,
how many errors by reason, whether the process survived with exactly one row
per file, and how many lines reached stderr. Target: the process survives
(exit 0 or 3) with one row per file. Writes ``benchmarks/results/fuzz.json``.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _common import CIFAR, machine, target, write_results

from l2vision.pipelines import make_pipeline, save

FORMATS = (".jpg", ".png", ".webp", ".tiff", ".bmp", ".gif")
MEASURES = ["l2vision/io/decode.py", "l2vision/io/header.py", "l2vision/io/files.py",
            "l2vision/io/errors.py", "l2vision/features/_batches.py",
            "l2vision/features/_isolation.py", "l2vision/features/driver.py",
            "l2vision/scoring/run.py", "l2vision/scoring/predict.py",
            "l2vision/scoring/inputs.py", "l2vision/scoring/formats.py",
            "l2vision/cli/score.py", "l2vision/cli/options.py"]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(data)
    for _ in range(rng.integers(1, 5)):
        kind = rng.integers(0, 5)
        at = int(rng.integers(0, max(len(data), 1)))
        if kind == 0 and data:
            data[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            del data[at:]
        elif kind == 2:
            data[at:at] = rng.bytes(int(rng.integers(1, 65)))
        elif kind == 3:
            del data[at:at + int(rng.integers(1, 65))]
        else:
            at = int(rng.integers(0, min(len(data), 64) + 1))
            data[at:at + 4] = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                               b"\x7f\xff\xff\xff"][int(rng.integers(0, 3))]
    return bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    print(machine())
    rng = np.random.default_rng(0)
    sample = next((CIFAR / "train" / "cat").glob("*.jpg"), None) if CIFAR.exists() else None
    image = cv2.imread(str(sample)) if sample else rng.integers(0, 256, (32, 32, 3), np.uint8)
    seeds = {ext: cv2.imencode(ext, image)[1].tobytes() for ext in FORMATS}
    images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(4)]
    model_pipe = make_pipeline("hog,color", "ridge", lam=1.0).fit(images, ["a", "a", "b", "b"])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = save(model_pipe, root / "m.joblib")
        files = root / "fuzz"
        for k in range(0, args.n, 1000):
            part = files / f"{k // 1000:04d}"
            part.mkdir(parents=True)
            for i in range(k, min(k + 1000, args.n)):
                ext = FORMATS[i % len(FORMATS)]
                (part / f"{i:06d}{ext}").write_bytes(mutate(seeds[ext], rng))
        print(f"{args.n} mutated files written", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "l2vision", "score", str(model), str(files),
                               "-o", str(root / "out.csv"), "-q", "--n-jobs", str(args.n_jobs)],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        rows = list(csv.DictReader(io.StringIO((root / "out.csv").read_text())))
    reasons = collections.Counter(r["error"].split(" (")[0] for r in rows if r["error"])
    decoded = sum(not r["error"] for r in rows)
    print(f"exit code {done.returncode} (3: finished, some files failed); {len(rows)} rows for "
          f"{args.n} files; {len(done.stderr.splitlines())} lines on stderr")
    print(f"{args.n / seconds:.0f} files/s ({seconds:.0f} s, --n-jobs {args.n_jobs}); decoded "
          f"{decoded} ({decoded / args.n:.1%}), errors {args.n - decoded}")
    for reason, count in reasons.most_common(12):
        print(f"  {count:>7}  {reason}")
    survived = done.returncode in (0, 3)
    path = write_results(
        "fuzz", {"n_files": args.n, "n_jobs": args.n_jobs, "exit_code": done.returncode,
                 "rows": len(rows), "stderr_lines": len(done.stderr.splitlines()),
                 "files_per_s": args.n / seconds, "seconds": seconds, "decoded": decoded,
                 "errors": args.n - decoded, "errors_by_reason": dict(reasons.most_common())},
        {"survived": target(int(survived), 1),
         "rows_missing_or_extra": target(abs(len(rows) - args.n), 0, at_least=False)},
        measures=MEASURES, notes="" if args.n == 100_000 else f"on {args.n} files")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
