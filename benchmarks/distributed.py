"""Dask on one machine: scoring and extraction on a LocalCluster vs local joblib.

Run: ``python benchmarks/distributed.py [--images 20000]``. Trains a HOG +
color ridge model on 2,000 CIFAR-10 training images, then, on ``--images``
CIFAR-10 paths, in one run:

- ``score_files`` locally with ``n_jobs=2`` (the CLI's defaults: crash-isolated
  decoding) and with ``isolate=False`` (in-process decoding), against a
  ``LocalCluster`` of 2 single-threaded worker processes, then the same
  cluster scaled to 1 worker (scaling); the outputs must be byte-identical
  (checked). Target: the 2-worker cluster at >= 0.8x the local throughput.
- ``ImageFeatures.transform`` locally (``n_jobs=2``) against the same clusters
  (matrices checked equal).
- Variants alternate over ``--rounds`` rounds; medians (this machine drifts).
- The client's ceiling: rows/s of writing predictions to the CSV output alone
  (what one client can take in, however many workers feed it).

Workers, isolation and the cluster are settings of :func:`l2vision.config_context`
(``n_jobs=2``, ``isolate=False``, ``scheduler=client``). Prints, asserts
nothing; writes ``benchmarks/results/distributed.json``.
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
from _common import cifar_paths, machine, median_times, target, write_results  # noqa: E402

from l2vision import config_context  # noqa: E402
from l2vision.features import HOG, ColorHistogram, ImageFeatures  # noqa: E402
from l2vision.pipelines import make_pipeline, save  # noqa: E402
from l2vision.scoring import Prediction, score_files  # noqa: E402
from l2vision.scoring.formats import FORMATS  # noqa: E402

MEASURES = ["l2vision/distributed.py", "l2vision/scoring/run.py", "l2vision/scoring/predict.py",
            "l2vision/scoring/chunks.py", "l2vision/scoring/inputs.py",
            "l2vision/scoring/formats.py", "l2vision/scoring/partial.py",
            "l2vision/features/driver.py", "l2vision/features/_batches.py",
            "l2vision/features/_isolation.py", "l2vision/features/hog.py",
            "l2vision/features/color.py", "l2vision/io/decode.py", "l2vision/config.py"]


def client_ceiling(out: Path, model) -> float:
    """Rows/s of parsing nothing and writing every row again: the client's own cost."""
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
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (medians)")
    args = parser.parse_args()
    print(machine(), flush=True)
    from distributed import Client, LocalCluster

    train_paths, train_labels = cifar_paths("train", 2_000)
    with config_context(n_jobs=2):
        model = make_pipeline([HOG(), ColorHistogram()], "ridge").fit(train_paths, train_labels)
    paths = (cifar_paths("test")[0] + cifar_paths("train")[0])[:args.images]
    folder = Path(tempfile.mkdtemp())
    model_file = folder / "model.joblib"
    save(model, model_file)
    n = len(paths)
    outputs = {}

    def score(name, **settings):
        def run():
            out = folder / f"{name}.csv"
            with config_context(**settings):
                score_files(model_file, paths, out, overwrite=True)
            outputs[name] = out.read_bytes()
        return run

    def extract(**settings):
        features = ImageFeatures([HOG(), ColorHistogram()]).fit(paths)

        def run():
            with config_context(**settings):
                outputs[repr(settings)] = features.transform(paths)
        return run

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.submit(sum, [1]).result()  # the workers are up
        variants = {"score local": score("local", n_jobs=2),
                    "score local in-process": score("inproc", n_jobs=2, isolate=False),
                    "score cluster": score("cluster", scheduler=client),
                    "extract local": extract(n_jobs=2),
                    "extract cluster": extract(scheduler=client)}
        seconds, _ = median_times(variants, args.rounds)
        rates = {name: n / t for name, t in seconds.items()}
        for name, rate in rates.items():
            print(f"{name}: {rate:,.0f} images/s", flush=True)
        identical = outputs["local"] == outputs["cluster"]
        equal = np.array_equal(*[v for k, v in outputs.items() if k.startswith("{")])
        print(f"  outputs identical: {identical}; matrices equal: {equal}")
        client.cluster.scale(1)
        client.wait_for_workers(1)
        while len(client.scheduler_info()["workers"]) > 1:
            time.sleep(0.2)
        one, _ = median_times({"score cluster": score("cluster1", scheduler=client),
                               "extract cluster": extract(scheduler=client)}, args.rounds)
    print(f"score: 2-worker cluster / local = {rates['score cluster'] / rates['score local']:.2f}x"
          f" (target >= 0.8x); / local in-process decoding = "
          f"{rates['score cluster'] / rates['score local in-process']:.2f}x; 2 workers / 1 worker"
          f" = {one['score cluster'] / seconds['score cluster']:.2f}x")
    print(f"extract: 2-worker cluster / local = "
          f"{rates['extract cluster'] / rates['extract local']:.2f}x; 2 workers / 1 worker = "
          f"{one['extract cluster'] / seconds['extract cluster']:.2f}x")
    ceiling = client_ceiling(folder / "local.csv", model)
    print(f"client ceiling (writing CSV rows alone): {ceiling:,.0f} rows/s")
    ratio = rates["score cluster"] / rates["score local"]
    figures = {"n_images": n, "rounds": args.rounds, "images_per_s": rates,
               "one_worker_images_per_s": {name: n / t for name, t in one.items()},
               "score_cluster_vs_local": ratio,
               "score_cluster_vs_local_in_process":
                   rates["score cluster"] / rates["score local in-process"],
               "score_2_vs_1_worker": one["score cluster"] / seconds["score cluster"],
               "extract_cluster_vs_local": rates["extract cluster"] / rates["extract local"],
               "extract_2_vs_1_worker": one["extract cluster"] / seconds["extract cluster"],
               "outputs_identical": identical, "matrices_equal": equal,
               "client_ceiling_rows_per_s": ceiling}
    path = write_results(
        "distributed", figures,
        {"score_cluster_vs_local": target(round(ratio, 3), 0.8, unit="x")},
        measures=MEASURES, notes="" if n == 20_000 else f"on {n} images")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
