"""Find, parse and cache ``cv2.dnn`` networks for :class:`~l2vision.features.CNNEmbedding`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

__all__ = ["FORMATS", "ModelLoadError", "Preprocessing", "classifier_input", "make_blob",
           "model_files", "read_net"]

# Weights file extension -> (format name, config file extension or None).
FORMATS = {".onnx": ("ONNX", None), ".tflite": ("TFLite", None), ".pb": ("TensorFlow", None),
            ".caffemodel": ("Caffe", ".prototxt"), ".weights": ("Darknet", ".cfg")}


class ModelLoadError(ValueError):
    """OpenCV cannot use a model file (the message names the file and the reason)."""


@lru_cache(maxsize=8)
def read_net(weights: str, config: str | None, mtime: float) -> cv2.dnn.Net:
    """Parse a network once per process (also once per joblib worker)."""
    fmt = FORMATS[Path(weights).suffix.lower()][0]
    try:
        if fmt == "ONNX":
            return cv2.dnn.readNetFromONNX(weights)
        if fmt == "TFLite":
            return cv2.dnn.readNetFromTFLite(weights)
        return cv2.dnn.readNet(weights, config or "")
    except cv2.error as exc:
        text = str(exc)
        if "Unsupported operator type" in text:
            op = text.split("Unsupported operator type", 1)[1].split(" in function")[0].strip()
            reason = (f"the model uses an operator OpenCV's dnn module does not support ({op}); "
                      "convert it to ONNX or cut that operator off")
        else:
            reason = f"OpenCV cannot parse it as {fmt}: {text.strip().splitlines()[-1]}"
        raise ModelLoadError(f"{weights}: {reason}") from None


#: OpenCV's layer types for a fully connected layer (ONNX Gemm/MatMul, Caffe InnerProduct).
FULLY_CONNECTED = ("InnerProduct", "Gemm", "MatMul")


def classifier_input(net: cv2.dnn.Net, weights: str) -> str:
    """The layer feeding the network's last fully connected layer: the usual embedding.

    Layers are listed in execution order, so the layer just before the last
    fully connected one is its input in the plain CNNs of the registry
    (``... -> global pool -> flatten -> fc``). The caller checks the length
    against the registry's ``dim``.

    Raises
    ------
    ModelLoadError
        The network has no fully connected layer.
    """
    names = list(net.getLayerNames())
    for k in range(len(names) - 1, 0, -1):
        if net.getLayer(names[k]).type in FULLY_CONNECTED:
            return names[k - 1]
    raise ModelLoadError(f"{weights}: no fully connected layer to take the embedding before; "
                         "name the embedding layer with output=")


def model_files(model) -> tuple[str, str | None]:
    """``(weights, config)`` of a model file path or ``(weights, config)`` pair.

    A Caffe ``.caffemodel`` or Darknet ``.weights`` file needs its ``.prototxt``
    or ``.cfg`` beside it when no config is given.

    Raises
    ------
    ModelLoadError
        Unknown file type.
    FileNotFoundError
        The weights or the needed config file is missing.
    """
    if isinstance(model, (tuple, list)):
        weights, config = map(os.fspath, model)
    else:
        weights, config = os.fspath(model), None
    suffix = Path(weights).suffix.lower()
    if suffix not in FORMATS:
        raise ModelLoadError(f"{weights}: unknown model file type; expected a file ending in "
                             + ", ".join(FORMATS))
    if not Path(weights).is_file():
        raise FileNotFoundError(f"{weights}: model file not found")
    config_ext = FORMATS[suffix][1]
    if config_ext and config is None:
        config = str(Path(weights).with_suffix(config_ext))
        if not Path(config).is_file():
            raise FileNotFoundError(f"{config}: {FORMATS[suffix][0]} model needs this "
                                    f"{config_ext} file beside {weights}")
    return weights, config


@dataclass(frozen=True)
class Preprocessing:
    """How uint8 BGR images become a network's NCHW float32 input.

    ``x = (pixel - mean) * scale / std`` per channel, with ``mean`` and ``std``
    in network channel order (after ``swap_rb``), as OpenCV's
    ``blobFromImages`` takes them; ``crop`` is the central fraction kept
    before resizing to ``size = (width, height)`` (None or 1.0: the whole image).
    """

    size: tuple
    mean: tuple
    scale: float
    std: tuple | None
    swap_rb: bool
    crop: float | None

    def crop_image(self, image: np.ndarray) -> np.ndarray:
        """The central ``crop`` fraction of an image (a view; the image itself without crop)."""
        if self.crop in (None, 1, 1.0):
            return image
        h, w = image.shape[:2]
        ch, cw = max(1, int(round(h * self.crop))), max(1, int(round(w * self.crop)))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return image[y0:y0 + ch, x0:x0 + cw]


def make_blob(images: list[np.ndarray], pre: Preprocessing) -> np.ndarray:
    """The NCHW float32 network input of a batch of uint8 BGR images.

    Examples
    --------
    >>> pre = Preprocessing((4, 2), (127.5,) * 3, 1 / 127.5, None, True, None)
    >>> blob = make_blob([np.full((6, 8, 3), 255, np.uint8)], pre)
    >>> blob.shape, float(blob.max())
    ((1, 3, 2, 4), 1.0)
    """
    blob = cv2.dnn.blobFromImages([pre.crop_image(im) for im in images], pre.scale,
                                  tuple(pre.size), pre.mean, swapRB=pre.swap_rb, crop=False)
    if pre.std is not None:
        blob /= np.asarray(pre.std, np.float32)[None, :, None, None]
    return blob
