"""Batch scoring at scale: images/s and peak memory for 10,000 and 100,000 images.

Run: ``python benchmarks/score.py``. Trains a HOG + color ridge model on 2,000
CIFAR-10 training images, then runs ``l2vision score`` in a fresh process on
10,000 and 100,000 paths (the CIFAR-10 files repeated) and reports images/s
and the process's peak resident memory, plus the ImageFeatures extraction
rate on the same files (with the ``n_jobs`` setting of
:func:`l2vision.config_context` equal to ``--n-jobs``). Prints, asserts nothing;
writes ``benchmarks/results/score.json``. Targets: peak memory grows by <= 50 MB
from 10k to 100k images; scoring (the largest run) >= 0.8x the extraction rate.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import cifar_paths, machine, median_times, target, write_results

from l2vision import config_context
from l2vision.features import HOG, ColorHistogram, ImageFeatures
from l2vision.pipelines import make_pipeline, save

MEASURES = ["l2vision/cli/score.py", "l2vision/cli/options.py", "l2vision/scoring/run.py",
            "l2vision/scoring/predict.py", "l2vision/scoring/chunks.py",
            "l2vision/scoring/inputs.py", "l2vision/scoring/formats.py",
            "l2vision/scoring/partial.py", "l2vision/pipelines/persist.py",
            "l2vision/features/driver.py", "l2vision/features/_batches.py",
            "l2vision/features/_isolation.py", "l2vision/features/hog.py",
            "l2vision/features/color.py", "l2vision/io/decode.py", "l2vision/io/files.py",
            "l2vision/config.py"]

_RUN = """
import resource, sys, time
from l2vision.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"RESULT {code} {seconds:.3f} {peak_kb}", file=sys.stderr)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="numbers of images to score")
    parser.add_argument("--n-jobs", type=int, default=1, help="scoring jobs (memory is measured "
                        "for the main process; default 1)")
    parser.add_argument("--timeout", default="30", help="l2vision score --timeout (0: decode in "
                        "the scoring process, without crash isolation)")
    args = parser.parse_args()
    print(machine())
    train_paths, labels = cifar_paths("train", 2000)
    model = make_pipeline([HOG(), ColorHistogram()], "ridge", lam=100.0).fit(train_paths, labels)
    pool = cifar_paths("train")[0] + cifar_paths("test")[0]
    with tempfile.TemporaryDirectory() as tmp:
        model_file = save(model, Path(tmp) / "model.joblib")
        for path in pool:  # warm the page cache: both sides read cached files
            with open(path, "rb") as f:
                f.read()
        extraction = ImageFeatures([HOG(), ColorHistogram()]).fit()

        def extract():
            with config_context(n_jobs=args.n_jobs):
                return extraction.transform(pool[:10_000])

        seconds, _ = median_times({"extract": extract}, 3)
        extract_rate = 10_000 / seconds["extract"]
        print(f"extraction reference: ImageFeatures.transform on 10000 files (median of 3): "
              f"{extract_rate:.0f} images/s")
        results, runs = {}, {}
        for n in map(int, args.sizes.split(",")):
            manifest = Path(tmp) / f"paths_{n}.csv"
            with open(manifest, "w") as f:
                f.write("path\n")
                f.writelines(f"{p}\n" for p in itertools.islice(itertools.cycle(pool), n))
            out = Path(tmp) / f"pred_{n}.csv"
            done = subprocess.run([sys.executable, "-c", _RUN, "score", str(model_file),
                                   "--manifest", str(manifest), "-o", str(out), "-q",
                                   "-j", str(args.n_jobs), "--timeout", args.timeout],
                                  capture_output=True, text=True)
            line = [ln for ln in done.stderr.splitlines() if ln.startswith("RESULT")][-1]
            code, seconds, rss_kb = line.split()[1:]
            rows = sum(1 for _ in open(out)) - 1
            results[n] = (n / float(seconds), int(rss_kb) / 1024)
            runs[str(n)] = {"exit_code": int(code), "rows": rows, "seconds": float(seconds),
                            "images_per_s": results[n][0], "peak_rss_mb": results[n][1]}
            print(f"score {n:>7} images: exit {code}, {rows} rows, {float(seconds):.1f} s, "
                  f"{results[n][0]:.0f} images/s, peak RSS {results[n][1]:.0f} MB")
        sizes = sorted(results)
        figures = {"n_jobs": args.n_jobs, "timeout": args.timeout,
                   "extraction_images_per_s": extract_rate, "runs": runs}
        targets = {}
        if len(sizes) >= 2:
            growth = results[sizes[-1]][1] - results[sizes[0]][1]
            print(f"peak memory growth {sizes[0]} -> {sizes[-1]} images: {growth:+.1f} MB "
                  "(target <= 50 MB)")
            figures["peak_memory_growth_mb"] = growth
            targets["peak_memory_growth"] = target(round(growth, 1), 50.0, at_least=False,
                                                   unit=" MB")
        # Each scoring run includes its process's start (imports, model load):
        # the largest run shows the steady rate, the smallest the worst case.
        for n in sizes:
            print(f"ratio scoring {n} / extraction rate: {results[n][0] / extract_rate:.2f}x"
                  + ("  (target >= 0.8x)" if n == sizes[-1] else ""))
        figures["scoring_vs_extraction"] = {str(n): results[n][0] / extract_rate for n in sizes}
        targets["scoring_vs_extraction"] = target(
            round(results[sizes[-1]][0] / extract_rate, 3), 0.8, unit="x")
    isolation = "without crash isolation" if float(args.timeout) == 0 else "crash-isolated"
    path = write_results("score", figures, targets, measures=MEASURES,
                         notes=f"scoring {isolation} (--timeout {args.timeout}), "
                               f"--n-jobs {args.n_jobs}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
