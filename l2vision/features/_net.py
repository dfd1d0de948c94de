"""Load and run networks for :class:`~l2vision.features.CNNEmbedding`: two engines, one interface.

ONNX Runtime (a dependency of l2vision) runs ONNX files about 2-3x faster
than ``cv2.dnn`` on a CPU, on the execution providers of the ``providers``
setting (:func:`l2vision.config_context`; CPU by default, CUDA with
``onnxruntime-gpu``). ``cv2.dnn`` is the fallback where ONNX Runtime cannot run
a file; on OpenCV 4 it also reads TFLite, TensorFlow, Caffe and Darknet files
(OpenCV 5 dropped those readers, or crashes in them: ONNX only, with an error
naming the alternative). Both sit behind :class:`Network` (``has``,
``forward``, ``classifier_input``), take the same input blob
(:func:`l2vision.features._preprocess.make_blob`) and name layers the same way
(graph outputs, and ``onnx_node!NODE`` for the output of an ONNX node, as
``cv2.dnn`` lists them). A file is parsed once per process (and once per
joblib worker); nothing here is ever pickled.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from l2vision.config import get_config
from l2vision.features._net_files import (
    OPENCV_MAJOR,
    ModelLoadError,
    classifier_input,
    read_net,
)

__all__ = ["ENGINES", "Network", "OnnxRuntimeNetwork", "OpenCVNetwork", "average_source",
           "load_network", "onnx_tensor", "onnxruntime_ready", "resolve_engine"]

#: The inference engines; "auto" is ONNX Runtime for ONNX files when it is installed.
ENGINES = ("auto", "opencv", "onnxruntime")
_NODE = "onnx_node!"

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
                                 "for intermediate layers), dependencies of l2vision missing "
                                 "here: pip install onnxruntime onnx")
    return engine


def onnx_tensor(model, name: str, outputs: list[str]) -> str:
    """The tensor behind a layer name of an ONNX ``model``, in cv2.dnn's naming.

    A graph output, ``onnx_node!NODE`` (a node's output, as OpenCV 4 names
    layers), ``onnx_node_output_K!TENSOR`` (an unnamed node's output), or a
    tensor name (as OpenCV 5 names them).

    Raises
    ------
    KeyError
        No such output, node or tensor.
    """
    if name in outputs:
        return name
    if name.startswith("onnx_node_output_") and "!" in name:
        name = name.split("!", 1)[1]
    node_name = name[len(_NODE):] if name.startswith(_NODE) else name
    for node in model.graph.node:
        if node.name and node.name == node_name:
            return node.output[0]
        if name in node.output:
            return name
    raise KeyError(name)


def average_source(model, tensor: str) -> str | None:
    """The tensor whose spatial mean is ``tensor`` (a global average pool, maybe flattened).

    Lets a caller read the spatial maps behind an embedding such as
    MobileNet's ``embedding`` (``Flatten(GlobalAveragePool(maps))``) in the
    same forward pass; None when ``tensor`` is not such a mean.

    Examples
    --------
    >>> from onnx import helper
    >>> nodes = [helper.make_node("GlobalAveragePool", ["maps"], ["pooled"]),
    ...          helper.make_node("Flatten", ["pooled"], ["embedding"])]
    >>> model = helper.make_model(helper.make_graph(nodes, "g", [], []))
    >>> average_source(model, "embedding"), average_source(model, "maps")
    ('maps', None)
    """
    producers = {out: node for node in model.graph.node for out in node.output}
    node = producers.get(tensor)
    while node is not None and node.op_type in ("Flatten", "Reshape", "Squeeze", "Identity"):
        node = producers.get(node.input[0])
    return node.input[0] if node is not None and node.op_type == "GlobalAveragePool" else None


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

    def average_source(self, name: str) -> str | None:
        """The spatial maps whose mean is output ``name`` (:func:`average_source`), or None."""
        return None


class OpenCVNetwork(Network):
    """A ``cv2.dnn.Net``; ``threads`` sets ``cv2.setNumThreads`` during the pass.

    OpenCV 5's engine forwards ONNX tensors by tensor name and lists fused
    layers under other names; there, the ``onnx_node!NODE`` names of OpenCV 4
    are translated to the node's output tensor (read from the file with
    ``onnx``), so a layer has one name on both engines and both OpenCV versions.
    OpenCV 5.1 forwards several tensors at once only if all are graph outputs:
    intermediate layers cost one pass each there (ONNX Runtime, the default
    engine, takes them in one).
    """

    def __init__(self, weights: str, config: str | None):
        self.weights = weights
        self.net = read_net(weights, config, os.path.getmtime(weights))
        self.outputs = list(self.net.getUnconnectedOutLayersNames())
        self.layers = list(self.net.getLayerNames())
        self._onnx = None
        if OPENCV_MAJOR >= 5 and Path(weights).suffix.lower() == ".onnx" \
                and onnxruntime_ready(True):
            import onnx

            self._onnx = onnx.load(weights)

    def _tensor(self, name: str) -> str:
        if self._onnx is None or name in self.outputs:
            return name
        return onnx_tensor(self._onnx, name, self.outputs)

    def has(self, name: str) -> bool:
        if name in self.outputs or name in self.layers:
            return True
        if self._onnx is None:
            return False
        try:
            self._tensor(name)
        except KeyError:
            return False
        return True

    def describe(self) -> str:
        return (f"the outputs are {self.outputs}, and there are {len(self.layers)} layers "
                f"(e.g. {self.layers[-4:]})")

    def classifier_input(self) -> str:
        return classifier_input(self.net, self.weights)

    def average_source(self, name):
        if self._onnx is None:
            return None
        try:
            return average_source(self._onnx, self._tensor(name))
        except KeyError:
            return None

    def forward(self, blob, names, threads):
        previous = cv2.getNumThreads()
        if threads is not None:
            cv2.setNumThreads(threads)
        try:
            tensors = [self._tensor(name) for name in names]
            if self._onnx is None or set(tensors) <= set(self.outputs):
                self.net.setInput(blob)
                return self.net.forward(tensors)
            outputs = []  # OpenCV 5 forwards other tensors one per pass
            for tensor in tensors:
                self.net.setInput(blob)
                outputs.append(np.array(self.net.forward(tensor), copy=True))
            return outputs
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
        return onnx_tensor(self._onnx_model(), name, self.outputs)

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

    def average_source(self, name):
        try:
            return average_source(self._onnx_model(), self._tensor(name))
        except (KeyError, ImportError):
            return None

    def _session(self, extra: tuple, threads: int, dynamic: bool = False):
        """A session returning the graph outputs plus the tensors ``extra``.

        ``dynamic``: the input's batch, height and width made free, for input
        sizes other than the file's fixed one (as cv2.dnn allows).
        """
        providers = tuple(get_config()["providers"] or ("CPUExecutionProvider",))
        key = (extra, threads, dynamic, providers)
        if key not in self._sessions:
            import onnxruntime

            missing = [p for p in providers if p not in onnxruntime.get_available_providers()]
            if missing:
                raise ModelLoadError(
                    f"{self.weights}: ONNX Runtime has no {', '.join(missing)} here (available: "
                    f"{', '.join(onnxruntime.get_available_providers())}); install the "
                    "onnxruntime build that has it (onnxruntime-gpu for CUDA) or change the "
                    "providers setting")
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
                    source, sess_options=options, providers=list(providers))
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
