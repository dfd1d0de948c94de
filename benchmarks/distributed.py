"""Dask on one machine: scoring and extraction on a LocalCluster vs local joblib.

Run: ``python benchmarks/distributed.py [--images 20000]``. Trains a HOG +
color ridge model on 2,000 CIFAR-10 training images, then, on ``--images``
CIFAR-10 paths, in one run:

- ``score_files`` locally with ``n_jobs=2`` (the CLI's defaults: crash-isolated
  decoding) and with ``image_timeout=None`` (in-process decoding), against a
  ``LocalCluster`` of 2 single-threaded worker processes, then the same
  cluster scaled to 1 worker (scaling); the outputs must be byte-identical
  (checked). Target: the 2-worker cluster at >= 0.8x the local throughput.
- ``ImageFeatures.transform`` locally (``n_jobs=2``) against the same clusters
  (matrices checked equal).
- Variants alternate over ``--rounds`` rounds; medians (this machine drifts).
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
from _common import cifar_paths, machine, median_times  # noqa: E402

from l2vision.features import HOG, ColorHistogram, ImageFeatures  # noqa: E402
from l2vision.pipelines import make_pipeline  # noqa: E402
from l2vision.pipelines.persist import save  # noqa: E402
from l2vision.scoring.formats import FORMATS  # noqa: E402
from l2vision.scoring.run import score_files  # noqa: E402


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
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (medians)")
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
    outputs = {}

    def score(name, **options):
        def run():
            out = folder / f"{name}.csv"
            score_files(model_file, paths, out, overwrite=True, **options)
            outputs[name] = out.read_bytes()
        return run

    def extract(**options):
        features = ImageFeatures([HOG(), ColorHistogram()], **options).fit(paths)
        return lambda: outputs.__setitem__(repr(options), features.transform(paths))

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.submit(sum, [1]).result()  # the workers are up
        variants = {"score local": score("local", n_jobs=2),
                    "score local in-process": score("inproc", n_jobs=2, image_timeout=None),
                    "score cluster": score("cluster", scheduler=client),
                    "extract local": extract(n_jobs=2),
                    "extract cluster": extract(scheduler=client)}
        seconds, _ = median_times(variants, args.rounds)
        rates = {name: n / t for name, t in seconds.items()}
        for name, rate in rates.items():
            print(f"{name}: {rate:,.0f} images/s", flush=True)
        print(f"  outputs identical: {outputs['local'] == outputs['cluster']}; matrices equal: "
              f"{np.array_equal(*[v for k, v in outputs.items() if k.startswith('{')])}")
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
    print(f"client ceiling (writing CSV rows alone): "
          f"{client_ceiling(folder / 'local.csv', model):,.0f} rows/s")


if __name__ == "__main__":
    main()
