"""Network files and how OpenCV reads them: formats, versions, the usual embedding layer.

Apart from :mod:`l2vision.features._net` (which runs networks) because what a
file is, whether this OpenCV can read it, and which layer is its embedding are
questions of their own, asked before any network runs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import cv2

__all__ = ["DROPPED_IN_OPENCV_5", "FORMATS", "FULLY_CONNECTED", "OPENCV_MAJOR",
           "ModelLoadError", "classifier_input", "model_files", "read_net", "read_with_opencv"]

#: The major version of the OpenCV in use (5 reads fewer formats, names layers otherwise).
OPENCV_MAJOR = int(cv2.__version__.split(".")[0])

# Weights file extension -> (format name, config file extension or None).
FORMATS = {".onnx": ("ONNX", None), ".tflite": ("TFLite", None), ".pb": ("TensorFlow", None),
            ".caffemodel": ("Caffe", ".prototxt"), ".weights": ("Darknet", ".cfg")}


class ModelLoadError(ValueError):
    """OpenCV cannot use a model file (the message names the file and the reason)."""


@lru_cache(maxsize=8)
def read_net(weights: str, config: str | None, mtime: float) -> cv2.dnn.Net:
    """Parse a network once per process (also once per joblib worker)."""
    from l2vision.io.decode import quiet_opencv

    fmt = FORMATS[Path(weights).suffix.lower()][0]
    try:
        with quiet_opencv():
            return read_with_opencv(weights, config, fmt)
    except cv2.error as exc:
        text = str(exc)
        if "Unsupported operator type" in text:
            op = text.split("Unsupported operator type", 1)[1].split(" in function")[0].strip()
            reason = (f"the model uses an operator OpenCV's dnn module does not support ({op}); "
                      "convert it to ONNX or cut that operator off")
        else:
            reason = f"OpenCV cannot parse it as {fmt}: {text.strip().splitlines()[-1]}"
        raise ModelLoadError(f"{weights}: {reason}") from None


#: The formats OpenCV 5 does not read: TensorFlow, Caffe and Darknet readers are
#: gone; its TFLite reader crashed the process (SIGSEGV, OpenCV 5.1.0) or refused
#: (SQUEEZE) on the MobileNet files this project tests with.
DROPPED_IN_OPENCV_5 = {"TensorFlow": "OpenCV 5 has no TensorFlow reader",
                       "Caffe": "OpenCV 5 has no Caffe reader",
                       "Darknet": "OpenCV 5 has no Darknet reader",
                       "TFLite": "OpenCV 5's TFLite reader crashes on common files"}


def read_with_opencv(weights: str, config: str | None, fmt: str) -> cv2.dnn.Net:
    """cv2.dnn's reader for the format (uncached; :func:`read_net` caches).

    Raises
    ------
    ModelLoadError
        A format this OpenCV cannot read, naming the version and the alternative.
    """
    if fmt in DROPPED_IN_OPENCV_5 and OPENCV_MAJOR >= 5:
        raise ModelLoadError(f"{weights}: OpenCV {cv2.__version__} cannot read {fmt} networks "
                             f"({DROPPED_IN_OPENCV_5[fmt]}); convert it to ONNX (tf2onnx, or "
                             "the converter of the framework it comes from), or install "
                             "opencv-python-headless<5")
    if fmt == "ONNX":
        return cv2.dnn.readNetFromONNX(weights)
    if fmt == "TFLite":
        return cv2.dnn.readNetFromTFLite(weights)
    return cv2.dnn.readNet(weights, config or "")


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
