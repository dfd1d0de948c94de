"""Dask on one machine: scoring and extraction on a LocalCluster vs local joblib.

Run: ``python benchmarks/distributed.py [--images 20000]``. Trains a HOG +
color ridge model on 2,000 CIFAR-10 training images, then, on ``--images``
CIFAR-10 paths, in one run:

- ``score_files`` locally with ``n_jobs=2`` (the CLI's defaults: crash-isolated
  decoding) and with ``image_timeout=None`` (in-process decoding), against a
  ``LocalCluster`` of 2 single-threaded worker processes and one of 1 worker
  (scaling); the outputs must be byte-identical (checked). Target: the
  2-worker cluster at >= 0.8x the local throughput.
- ``ImageFeatures.transform`` locally (``n_jobs=2``) against the same clusters
  (matrices checked equal).
- The client's ceiling: rows/s of writing predictions to the CSV output alone
  (what one client can take in, however many workers feed it).

Prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

# This file's name is the package's: look for modules in the benchmarks folder last,
# so that `import distributed` finds dask.distributed (here and in spawned workers).
_HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import numpy as np  # noqa: E402
from _common import cifar_paths, machine  # noqa: E402

from l2vision.features import HOG, ColorHistogram, ImageFeatures  # noqa: E402
from l2vision.pipelines import make_pipeline  # noqa: E402
from l2vision.pipelines.persist import save  # noqa: E402
from l2vision.scoring.formats import FORMATS  # noqa: E402
from l2vision.scoring.run import score_files  # noqa: E402


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def client_ceiling(out: Path, model) -> float:
    """Rows/s of parsing nothing and writing every row again: the client's own cost."""
    from l2vision.scoring.run import Prediction

    lines = out.read_text().splitlines()[1:]
    classes = [str(c) for c in model.classes_]
    predictions = [Prediction(line.split(",")[0], classes[0], 0.5, [(classes[0], 0.5)], None)
                   for line in lines]
    fmt = FORMATS["csv"](model.classes_, top_k=1, probs=False, probabilistic=False)
    buffer = io.StringIO()
    fmt.start(buffer, header=True)
    start = time.perf_counter()
    for p in predictions:
        fmt.write(p)
    return len(predictions) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    args = parser.parse_args()
    print(machine(), flush=True)
    from distributed import Client, LocalCluster

    train_paths, train_labels = cifar_paths("train", 2_000)
    model = make_pipeline([HOG(), ColorHistogram()], "ridge", n_jobs=2).fit(train_paths,
                                                                            train_labels)
    paths = (cifar_paths("test")[0] + cifar_paths("train")[0])[:args.images]
    folder = Path(tempfile.mkdtemp())
    model_file = folder / "model.joblib"
    save(model, model_file)
    n = len(paths)

    def score(name, **options):
        out = folder / f"{name}.csv"
        summary, seconds = timed(lambda: score_files(model_file, paths, out, overwrite=True,
                                                     **options))
        print(f"score {name}: {n / seconds:,.0f} images/s ({seconds:.1f} s)", flush=True)
        return out.read_bytes(), n / seconds

    reference, local = score("local n_jobs=2", n_jobs=2)
    _, local_inproc = score("local n_jobs=2, in-process decoding", n_jobs=2, image_timeout=None)
    features = ImageFeatures([HOG(), ColorHistogram()], n_jobs=2)
    X, seconds = timed(lambda: features.fit(paths).transform(paths))
    extract_local = n / seconds
    print(f"extract local n_jobs=2: {extract_local:,.0f} images/s", flush=True)
    rates = {}
    for workers in (2, 1):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, \
                Client(cluster, set_as_default=False) as client:
            client.submit(sum, [1]).result()  # the workers are up
            out, rate = score(f"cluster {workers} worker(s)", scheduler=client)
            print(f"  identical to the local output: {out == reference}")
            Xc, seconds = timed(lambda c=client: ImageFeatures(
                [HOG(), ColorHistogram()], scheduler=c).fit(paths).transform(paths))
            print(f"extract cluster {workers} worker(s): {n / seconds:,.0f} images/s; equal to "
                  f"local: {np.array_equal(Xc, X)}", flush=True)
            rates[workers] = (rate, n / seconds)
    print(f"score: 2-worker cluster / local = {rates[2][0] / local:.2f}x (target >= 0.8x); "
          f"/ local in-process decoding = {rates[2][0] / local_inproc:.2f}x; "
          f"2 workers / 1 worker = {rates[2][0] / rates[1][0]:.2f}x")
    print(f"extract: 2-worker cluster / local = {rates[2][1] / extract_local:.2f}x; 2 workers /"
          f" 1 worker = {rates[2][1] / rates[1][1]:.2f}x")
    print(f"client ceiling (writing CSV rows alone): "
          f"{client_ceiling(folder / 'local n_jobs=2.csv', model):,.0f} rows/s")


if __name__ == "__main__":
    main()
