"""CNNEmbedding overhead: files through l2vision vs bare inference loops on preloaded arrays.

Run: ``python benchmarks/cnn.py [--n 5000] [--repeats 3]``. On CIFAR-10 files,
medians of alternated runs, images/s of:

(a) ``CNNEmbedding("mobilenet_v2_1.0")`` with the default engine (ONNX Runtime
    when installed), decoding included, vs (b) a bare ``InferenceSession.run``
    loop on blobs prepared beforehand, same threads and batch size. Target:
    (a) >= 0.9x (b).
(c) ``CNNEmbedding("mobilenet_v1_0.25", engine="opencv")`` vs (d) a bare
    ``blobFromImages`` + ``net.forward`` loop on preloaded arrays. Target: the
    overhead (c)/(d) - 1 <= 10%.
(e) preprocessing alone (decode + resize + blob), to show it keeps up.

The driver runs with ``batch_size=256`` and 64 images per forward pass (the
``inference_batch_size`` setting of :func:`l2vision.config_context`), the bare
loops with batches of 64. Writes ``benchmarks/results/cnn.json``.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from _common import cifar_paths, machine, median_times, target, write_results

from l2vision import config_context
from l2vision.features import CNNEmbedding, ImageFeatures
from l2vision.features._preprocess import make_blob
from l2vision.features.zoo import BUNDLED_DIR

#: How the driver runs in every variant (the defaults, written out).
SETTINGS = {"batch_size": 256, "inference_batch_size": 64}
MEASURES = ["l2vision/features/cnn.py", "l2vision/features/_net.py", "l2vision/features/zoo.py",
            "l2vision/features/driver.py", "l2vision/features/_batches.py",
            "l2vision/features/base.py", "l2vision/io/decode.py", "l2vision/config.py"]


def transform(features: ImageFeatures, paths: list) -> np.ndarray:
    """``features.transform(paths)`` with :data:`SETTINGS`."""
    with config_context(**SETTINGS):
        return features.transform(paths)


def bare_opencv(net, images, batch_size):
    """v1 0.25, center crop 87.5%, (x - 127.5) / 127.5, RGB: the registry's preprocessing."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = []
        for im in images[start:start + batch_size]:
            h, w = im.shape[:2]
            ch, cw = round(h * 0.875), round(w * 0.875)
            batch.append(im[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw])
        blob = cv2.dnn.blobFromImages(batch, 1 / 127.5, (224, 224), (127.5,) * 3, swapRB=True)
        net.setInput(blob)
        out.append(net.forward(["embedding"])[0])
    return np.vstack(out)


def bare_onnxruntime(session, blobs):
    name = session.get_inputs()[0].name
    return np.vstack([session.run(["embedding"], {name: blob})[0] for blob in blobs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternated")
    args = parser.parse_args()
    print(machine())
    paths, _ = cifar_paths("train", args.n)
    images = [cv2.imread(p) for p in paths]
    threads = cv2.getNumThreads()

    v2 = ImageFeatures([CNNEmbedding("mobilenet_v2_1.0")]).fit()
    transform(v2, paths[:64])  # load the network once
    engine = v2.extractors[0]._settings().engine
    pre = v2.extractors[0]._settings().pre
    variants = {"ours": lambda: transform(v2, paths)}
    if engine == "onnxruntime":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(BUNDLED_DIR / "mobilenet_v2_1.0_224.onnx"),
                                               options, providers=["CPUExecutionProvider"])
        blobs = [make_blob(images[s:s + 64], pre) for s in range(0, len(images), 64)]
        bare_onnxruntime(session, blobs[:1])
        variants["bare"] = lambda: bare_onnxruntime(session, blobs)
    seconds, results = median_times(variants, args.repeats)
    rate = {k: len(paths) / t for k, t in seconds.items()}
    figures = {"n_images": len(paths), "repeats": args.repeats, "threads": threads,
               "v2_engine": engine, "v2_images_per_s": rate["ours"]}
    targets = {}
    print(f"(a) CNNEmbedding mobilenet_v2_1.0, engine {engine}, {threads} threads, on "
          f"{len(paths)} files: {rate['ours']:.0f} images/s (median of {args.repeats})")
    if "bare" in rate:
        assert np.abs(results["ours"] - results["bare"]).max() < 1e-4
        print(f"(b) bare InferenceSession.run on prepared blobs: {rate['bare']:.0f} images/s")
        print(f"ratio (a)/(b): {rate['ours'] / rate['bare']:.2f}x  (target >= 0.9x)")
        figures["v2_bare_onnxruntime_images_per_s"] = rate["bare"]
        figures["v2_ratio_vs_bare"] = rate["ours"] / rate["bare"]
        targets["v2_vs_bare_onnxruntime"] = target(round(rate["ours"] / rate["bare"], 3), 0.9,
                                                   unit="x")

    v1 = ImageFeatures([CNNEmbedding("mobilenet_v1_0.25", engine="opencv")]).fit()
    transform(v1, paths[:64])
    net = cv2.dnn.readNetFromONNX(str(BUNDLED_DIR / "mobilenet_v1_0.25_224.onnx"))
    bare_opencv(net, images[:64], 64)
    seconds, results = median_times({"ours": lambda: transform(v1, paths),
                                     "bare": lambda: bare_opencv(net, images, 64)}, args.repeats)
    assert np.abs(results["ours"] - results["bare"]).max() < 1e-4
    print(f"(c) CNNEmbedding mobilenet_v1_0.25, engine opencv: "
          f"{len(paths) / seconds['ours']:.0f} images/s")
    print(f"(d) bare blobFromImages + net.forward on preloaded arrays: "
          f"{len(paths) / seconds['bare']:.0f} images/s")
    overhead = seconds["ours"] / seconds["bare"] - 1
    print(f"cv2.dnn driver overhead: {overhead:+.1%}  (target <= 10%)")
    figures.update({"v1_opencv_images_per_s": len(paths) / seconds["ours"],
                    "v1_bare_opencv_images_per_s": len(paths) / seconds["bare"],
                    "v1_opencv_overhead": overhead})
    targets["v1_opencv_overhead"] = target(round(overhead * 100, 1), 10.0, at_least=False,
                                           unit="%")

    def preprocess():
        for s in range(0, len(paths), 64):
            make_blob([cv2.imread(p) for p in paths[s:s + 64]], pre)

    seconds, _ = median_times({"pre": preprocess}, args.repeats)
    print(f"(e) preprocessing alone (decode + resize to 224 + blob), one thread: "
          f"{len(paths) / seconds['pre']:.0f} images/s")
    figures["preprocessing_images_per_s"] = len(paths) / seconds["pre"]
    path = write_results("cnn", figures, targets, measures=MEASURES,
                         notes="" if args.n == 5000 else f"on {args.n} files")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
