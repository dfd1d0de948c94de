"""CNNEmbedding driver overhead: files through l2vision vs a bare cv2.dnn loop on preloaded arrays.

Run: ``L2VISION_MODEL_DIR=../shared/models python benchmarks/cnn.py [--n 5000]``.
Prints images/s of (a) ``CNNEmbedding`` (mobilenet_v1_0.25, batch 64) on CIFAR-10
files, decoding included, and (b) a bare loop of ``blobFromImages`` +
``net.forward`` with the same preprocessing and batch size on images already
in memory, and the overhead (a/b), from the medians of alternated runs.
Target: overhead <= 10%.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from _common import SHARED, cifar_paths, machine, median_times

from l2vision.features import CNNEmbedding, ImageFeatures


def bare_loop(net, images, batch_size):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternated")
    args = parser.parse_args()
    os.environ.setdefault("L2VISION_MODEL_DIR", str(SHARED / "models"))
    print(machine())
    paths, _ = cifar_paths("train", args.n)
    embed = ImageFeatures([CNNEmbedding(batch_size=64)], batch_size=256).fit()
    embed.transform(paths[:64])  # load the network once
    images = [cv2.imread(p) for p in paths]
    net = cv2.dnn.readNetFromONNX(str(Path(os.environ["L2VISION_MODEL_DIR"]) /
                                      "mobilenet_v1_0.25_224.onnx"))
    bare_loop(net, images[:64], 64)
    seconds, results = median_times({"ours": lambda: embed.transform(paths),
                                     "bare": lambda: bare_loop(net, images, 64)}, args.repeats)
    ours, bare = results["ours"], results["bare"]
    assert np.abs(ours - bare).max() < 1e-4, np.abs(ours - bare).max()
    t_ours, t_bare = seconds["ours"], seconds["bare"]
    print(f"(a) CNNEmbedding via ImageFeatures on {len(paths)} files: {len(paths) / t_ours:.0f} "
          f"images/s (median of {args.repeats})")
    print(f"(b) bare blobFromImages + net.forward on preloaded arrays: {len(paths) / t_bare:.0f} "
          f"images/s (median of {args.repeats})")
    print(f"driver overhead: {(t_ours / t_bare - 1):+.1%}  (target <= 10%)")


if __name__ == "__main__":
    main()
