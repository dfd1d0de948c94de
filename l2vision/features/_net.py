"""Load and run networks for :class:`~l2vision.features.CNNEmbedding`: two engines, one interface.

``cv2.dnn`` reads every format (ONNX, TFLite, TensorFlow, Caffe, Darknet);
ONNX Runtime (the optional ``l2vision[onnx]`` extra) runs ONNX files about
2-3x faster on a CPU. Both sit behind :class:`Network` (``has``, ``forward``,
``classifier_input``), take the same input blob (:func:`make_blob`) and name
layers the same way (graph outputs, and ``onnx_node!NODE`` for the output of
an ONNX node, as ``cv2.dnn`` lists them). A file is parsed once per process
(and once per joblib worker); nothing here is ever pickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ENGINES", "FORMATS", "ModelLoadError", "Network", "Preprocessing",
           "classifier_input", "load_network", "make_blob", "model_files", "onnxruntime_ready",
           "read_net", "resolve_engine"]

#: The inference engines; "auto" is ONNX Runtime for ONNX files when it is installed.
ENGINES = ("auto", "opencv", "onnxruntime")
_NODE = "onnx_node!"

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
            return _read(weights, config, fmt)
    except cv2.error as exc:
        text = str(exc)
        if "Unsupported operator type" in text:
            op = text.split("Unsupported operator type", 1)[1].split(" in function")[0].strip()
            reason = (f"the model uses an operator OpenCV's dnn module does not support ({op}); "
                      "convert it to ONNX or cut that operator off")
        else:
            reason = f"OpenCV cannot parse it as {fmt}: {text.strip().splitlines()[-1]}"
        raise ModelLoadError(f"{weights}: {reason}") from None


def _read(weights: str, config: str | None, fmt: str) -> cv2.dnn.Net:
    """cv2.dnn's reader for the format."""
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
    # Image by image into one array: each image's float planes are made while its
    # pixels are in cache (blobFromImages on the whole batch makes a batch-sized
    # float copy and passes over it several times: 2.5x slower, same values).
    blob = None
    for i, image in enumerate(images):
        one = cv2.dnn.blobFromImage(pre.crop_image(image), pre.scale, tuple(pre.size), pre.mean,
                                    swapRB=pre.swap_rb, crop=False)
        if blob is None:
            blob = np.empty((len(images), *one.shape[1:]), np.float32)
        blob[i] = one[0]
    if blob is None:
        raise ValueError("make_blob needs at least one image")
    if pre.std is not None:
        blob /= np.asarray(pre.std, np.float32)[None, :, None, None]
    return blob


def onnxruntime_ready(intermediate: bool = False) -> bool:
    """Whether ONNX Runtime can run here (and, for intermediate layers, the onnx package too)."""
    import importlib.util

    needed = ["onnxruntime"] + (["onnx"] if intermediate else [])
    return all(importlib.util.find_spec(name) is not None for name in needed)


def resolve_engine(engine: str, weights_name: str, intermediate: bool) -> str:
    """The engine that will run: "auto" picks ONNX Runtime for ONNX files when it can.

    Raises
    ------
    ModelLoadError
        ``"onnxruntime"`` for a file that is not ONNX, or not installed.
    """
    onnx_file = Path(weights_name).suffix.lower() == ".onnx"
    if engine == "auto":
        return "onnxruntime" if onnx_file and onnxruntime_ready(intermediate) else "opencv"
    if engine == "onnxruntime":
        if not onnx_file:
            raise ModelLoadError(f"{weights_name}: ONNX Runtime runs .onnx files only; use "
                                 "engine='opencv' (or 'auto')")
        if not onnxruntime_ready(intermediate):
            raise ModelLoadError("engine='onnxruntime' needs the onnxruntime package (and onnx "
                                 "for intermediate layers): pip install 'l2vision[onnx]'")
    return engine


class Network:
    """A loaded network: which names it has, and a forward pass returning named outputs."""

    def has(self, name: str) -> bool:
        """Whether ``name`` is a graph output or a layer of the network."""
        raise NotImplementedError

    def describe(self) -> str:
        """A few of the names, for error messages."""
        raise NotImplementedError

    def classifier_input(self) -> str:
        """The name of the input of the last fully connected layer (the usual embedding)."""
        raise NotImplementedError

    def forward(self, blob: np.ndarray, names: list[str], threads: int | None) -> list:
        """The outputs ``names`` for an NCHW float32 blob."""
        raise NotImplementedError


class OpenCVNetwork(Network):
    """A ``cv2.dnn.Net``; ``threads`` sets ``cv2.setNumThreads`` during the pass."""

    def __init__(self, weights: str, config: str | None):
        self.weights = weights
        self.net = read_net(weights, config, os.path.getmtime(weights))
        self.outputs = list(self.net.getUnconnectedOutLayersNames())
        self.layers = list(self.net.getLayerNames())

    def has(self, name: str) -> bool:
        return name in self.outputs or name in self.layers

    def describe(self) -> str:
        return (f"the outputs are {self.outputs}, and there are {len(self.layers)} layers "
                f"(e.g. {self.layers[-4:]})")

    def classifier_input(self) -> str:
        return classifier_input(self.net, self.weights)

    def forward(self, blob, names, threads):
        previous = cv2.getNumThreads()
        if threads is not None:
            cv2.setNumThreads(threads)
        try:
            self.net.setInput(blob)
            return self.net.forward(names)
        finally:
            if threads is not None:
                cv2.setNumThreads(previous)


class OnnxRuntimeNetwork(Network):
    """An ONNX file run by ONNX Runtime on the CPU.

    Intermediate layers are made graph outputs of an in-memory copy of the model
    (one session per set of requested names and thread count). ``threads=None``
    uses OpenCV's thread setting, which the driver lowers to 1 in its workers.
    """

    def __init__(self, weights: str):
        self.weights = weights
        self._model = None
        self._sessions: dict = {}
        self.outputs = [o.name for o in self._session((), 1).get_outputs()]

    def _onnx_model(self):
        if self._model is None:
            import onnx

            self._model = onnx.load(self.weights)
        return self._model

    def _tensor(self, name: str) -> str:
        """The tensor behind a name, in cv2.dnn's naming: a graph output,
        ``onnx_node!NODE`` (a node's output), ``onnx_node_output_K!TENSOR`` (an
        unnamed node's output), or a tensor name."""
        if name in self.outputs:
            return name
        if name.startswith("onnx_node_output_") and "!" in name:
            name = name.split("!", 1)[1]
        node_name = name[len(_NODE):] if name.startswith(_NODE) else name
        for node in self._onnx_model().graph.node:
            if node.name and node.name == node_name:
                return node.output[0]
            if name in node.output:
                return name
        raise KeyError(name)

    def has(self, name: str) -> bool:
        if name in self.outputs:
            return True
        try:
            self._tensor(name)
        except (KeyError, ImportError):
            return False
        return True

    def describe(self) -> str:
        nodes = [_NODE + n.name if n.name else f"onnx_node_output_0!{n.output[0]}"
                 for n in self._onnx_model().graph.node] if onnxruntime_ready(True) else []
        return f"the outputs are {self.outputs}, and there are {len(nodes)} nodes " \
               f"(e.g. {nodes[-4:]})"

    def classifier_input(self) -> str:
        for node in reversed(self._onnx_model().graph.node):
            if node.op_type in ("Gemm", "MatMul"):
                return node.input[0]
        raise ModelLoadError(f"{self.weights}: no fully connected layer to take the embedding "
                             "before; name the embedding layer with output=")

    def _session(self, extra: tuple, threads: int, dynamic: bool = False):
        """A session returning the graph outputs plus the tensors ``extra``.

        ``dynamic``: the input's batch, height and width made free, for input
        sizes other than the file's fixed one (as cv2.dnn allows).
        """
        key = (extra, threads, dynamic)
        if key not in self._sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # errors only
            if extra or dynamic:
                source = self._edited_model(extra, dynamic)
            else:
                source = self.weights
            try:
                self._sessions[key] = onnxruntime.InferenceSession(
                    source, sess_options=options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # ONNX Runtime raises its own exception types
                raise ModelLoadError(f"{self.weights}: ONNX Runtime cannot load it: "
                                     f"{str(exc).strip().splitlines()[-1]}") from None
        return self._sessions[key]

    def _edited_model(self, extra: tuple, dynamic: bool) -> bytes:
        """The model with ``extra`` tensors as outputs and, if ``dynamic``, free input dims."""
        import onnx

        model = onnx.ModelProto()
        model.CopyFrom(self._onnx_model())
        known = {o.name for o in model.graph.output}
        for tensor in extra:
            if tensor not in known:
                model.graph.output.append(onnx.ValueInfoProto(name=tensor))
        if dynamic:
            dims = model.graph.input[0].type.tensor_type.shape.dim
            for i, label in ((0, "n"), (2, "h"), (3, "w")):
                if i < len(dims):
                    dims[i].ClearField("dim_value")
                    dims[i].dim_param = label
            for output in model.graph.output:
                for dim in output.type.tensor_type.shape.dim[:1]:
                    dim.ClearField("dim_value")
                    dim.dim_param = "n"
            del model.graph.value_info[:]  # ONNX Runtime infers the shapes again
        return model.SerializeToString()

    def forward(self, blob, names, threads):
        tensors = [self._tensor(name) for name in names]
        extra = tuple(t for t in tensors if t not in self.outputs)
        threads = threads or max(1, cv2.getNumThreads())
        session = self._session(extra, threads)
        declared = session.get_inputs()[0].shape[2:]
        if any(isinstance(d, int) and d != b for d, b in zip(declared, blob.shape[2:],
                                                             strict=False)):
            session = self._session(extra, threads, dynamic=True)
        input_name = session.get_inputs()[0].name
        return session.run(tensors, {input_name: np.ascontiguousarray(blob, np.float32)})


@lru_cache(maxsize=8)
def _load(weights: str, config: str | None, engine: str, mtime: float) -> Network:
    if engine == "onnxruntime":
        return OnnxRuntimeNetwork(weights)
    return OpenCVNetwork(weights, config)


def load_network(weights: str, config: str | None, engine: str) -> Network:
    """The network of a file on an engine (``"opencv"`` or ``"onnxruntime"``), once per process."""
    return _load(weights, config, engine, os.path.getmtime(weights))
