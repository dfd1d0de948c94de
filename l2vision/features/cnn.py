"""Frozen-CNN embeddings with OpenCV's dnn module (ONNX, TFLite, TensorFlow, Caffe, Darknet)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from l2vision._validation import (
    check_bool,
    check_option,
    check_pair,
    check_real,
    invalid,
)
from l2vision.config import get_config
from l2vision.features._cnn_locate import locate_cnn
from l2vision.features._net import ENGINES, Network, load_network, resolve_engine
from l2vision.features._net_files import FORMATS, ModelLoadError, model_files
from l2vision.features._preprocess import Preprocessing, make_blob
from l2vision.features.base import ImageExtractor, grid_cell_names, pool_output
from l2vision.features.zoo import (
    NETWORKS,
    EmbeddingSettings,
    ModelChecksumError,
    file_sha256,
    find_file,
    needs_intermediate,
    three_floats,
)

__all__ = ["CNNEmbedding", "ModelLoadError", "pool_output"]

POOLINGS = ("avg", "pyramid", "flatten")


class CNNEmbedding(ImageExtractor):
    """Embeddings of a pretrained CNN used as a frozen feature extractor (``cv2.dnn``).

    Parameters
    ----------
    model : str, os.PathLike or (str, str)
        A registry name (``l2vision networks list``) or a weights file:
        ``.onnx``, ``.tflite``, ``.pb``, ``.caffemodel`` (with a ``.prototxt``
        beside it) or ``.weights`` (with a ``.cfg``); or ``(weights, config)``.
    input_size : (int, int) or None, default=None
        Network input ``(width, height)``; None takes the registry's.
    mean, scale, std : default=None
        ``x = (pixel - mean) * scale / std`` per channel, channels in network
        order (after ``swap_rb``); None takes the registry's (0, 1, 1 for files).
    swap_rb : bool or None, default=None
        Feed RGB instead of OpenCV's BGR; None takes the registry's (False for files).
    crop : float or None, default=None
        Central crop fraction (e.g. 0.875) before resizing; None takes the
        registry's (no crop for files). 1.0 also means no crop.
    output : str, sequence of str or None, default=None
        Output or layer name(s) of the embedding; None takes the registry's, or
        the network's last output. Registry models also accept short layer
        aliases (``l2vision networks info NAME`` lists them, e.g. ``"conv11"``).
        Several names are computed in one forward pass and concatenated in
        the order given: mid-level layers often carry information that helps a
        linear model on a new task (see ``pooling``).
    pooling : {"avg", "pyramid", "flatten"}, default="avg"
        How a 4-D ``(n, channels, h, w)`` layer output becomes a vector:
        ``"avg"`` is global average pooling (``channels`` values), ``"pyramid"``
        concatenates the averages over the whole map and over its 2x2 grid
        (a spatial pyramid, ``5 * channels`` values, which keeps coarse
        layout), ``"flatten"`` keeps every value. 2-D outputs are used as they are.
    l2_normalize : bool, default=False
        Divide each embedding by its L2 norm.
    flip_average : bool, default=False
        Average the embeddings of each image and its mirror image (costs 2x).
    engine : {"auto", "opencv", "onnxruntime"}, default="auto"
        What runs the network. ``"auto"`` uses ONNX Runtime for ONNX files
        (2-3x faster than ``cv2.dnn`` on a CPU; its execution providers are the
        ``providers`` setting of :func:`l2vision.config_context`), and
        ``cv2.dnn`` for the other formats and where ONNX Runtime cannot run a
        file (a model file without ``output``, whose default is cv2.dnn's last
        output); both get the same input and give the same features within
        1e-4 on real photos.

    Attributes
    ----------
    model_path_ : str
        The weights file used.
    model_sha256_ : str
        Its sha256, checked again whenever the network is reloaded (for
        example after the pipeline was saved and loaded elsewhere).
    n_features_out_ : int
        Embedding length.

    Notes
    -----
    Images per forward pass and inference threads are the
    ``inference_batch_size`` and ``inference_threads`` settings of
    :func:`l2vision.config_context`. The parsed network is cached per process
    and never pickled: a saved
    pipeline holds the model reference and checksum only, and reloads the file
    on first use. Inputs are uint8 BGR images; ``blobFromImages`` makes the
    NCHW float32 blob, and ``net.forward`` is always called with explicit
    output names (OpenCV can otherwise return another output).

    Examples
    --------
    >>> import numpy as np, os
    >>> embed = CNNEmbedding("mobilenet_v1_0.25")  # doctest: +SKIP
    >>> embed.fit_transform([np.zeros((32, 32, 3), np.uint8)]).shape  # doctest: +SKIP
    (1, 256)
    """

    #: What l2vision 0.1 stored as parameters and now comes from config_context.
    _runtime_parameters_before = {"batch_size": 64, "threads": None}

    def __init__(self, model="mobilenet_v1_0.25", *, input_size=None, mean=None, scale=None,
                 std=None, swap_rb=None, crop=None, output=None, pooling="avg",
                 l2_normalize=False, flip_average=False, engine="auto"):
        self.model = model
        self.input_size = input_size
        self.mean = mean
        self.scale = scale
        self.std = std
        self.swap_rb = swap_rb
        self.crop = crop
        self.output = output
        self.pooling = pooling
        self.l2_normalize = l2_normalize
        self.flip_average = flip_average
        self.engine = engine

    # -- configuration -------------------------------------------------------------
    def _settings(self) -> EmbeddingSettings:
        """The parameters checked and the registry's defaults filled in, resolved once.

        Resolved again only when a parameter changes (``set_params``), so every
        batch of a transform uses one frozen configuration.
        """
        key = repr(sorted(self.get_params(deep=False).items()))
        cached = getattr(self, "_settings_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        self._check_params()
        spec = NETWORKS.get(self.model) if isinstance(self.model, str) else None

        def pick(name, default):
            value = getattr(self, name)
            if value is not None:
                return value
            return getattr(spec, name) if spec is not None else default

        std = pick("std", None)
        output = pick("output", None)
        settings = EmbeddingSettings(
            spec=spec,
            pre=Preprocessing(
                size=tuple(pick("input_size", None)),
                mean=three_floats(pick("mean", 0.0)), scale=float(pick("scale", 1.0)),
                std=None if std is None else three_floats(std),
                swap_rb=bool(pick("swap_rb", False)), crop=pick("crop", None)),
            outputs=None if output is None else
            (output,) if isinstance(output, str) else tuple(output),
            # A model file's default output is cv2.dnn's last output, whose order
            # ONNX Runtime does not share: "auto" keeps cv2.dnn there.
            engine=resolve_engine("opencv" if spec is None and output is None
                                  and self.engine == "auto" else self.engine,
                                  self._weights_name(spec), needs_intermediate(spec, output)),
        )
        self._settings_cache = (key, settings)
        return settings

    def _weights_name(self, spec) -> str:
        """The weights file's name (the registry's, or the given path), without finding it."""
        if spec is not None:
            return spec.files[0].name
        return os.fspath(self.model[0] if isinstance(self.model, (tuple, list)) else self.model)

    def _files(self) -> tuple[str, str | None]:
        """``(weights, config)`` paths on this machine."""
        spec = self._settings().spec
        if spec is not None:
            return str(find_file(spec.files[0].name, model=spec.name)), None
        return model_files(self.model)

    def _check_params(self) -> None:
        if not isinstance(self.model, (str, os.PathLike, tuple, list)):
            raise invalid(self, "model", "a registry name or a model file path", self.model)
        known = isinstance(self.model, str) and self.model in NETWORKS
        if isinstance(self.model, str) and not known and \
                Path(self.model).suffix.lower() not in FORMATS:
            raise ModelLoadError(f"{self.model}: unknown model; give a registry name "
                                 f"({', '.join(NETWORKS)}) or a file ending in "
                                 + ", ".join(FORMATS))
        check_pair(self, "input_size", self.input_size, optional=True)
        if not known and self.input_size is None:
            raise invalid(self, "input_size", "given for a model file (the registry knows it "
                          "only for its own models)", None)
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, (str, bytes))
                                      or np.size(value) not in (1, 3)):
                raise invalid(self, name, "a number or three numbers, or None", value)
        check_real(self, "scale", self.scale, low=0, low_open=True, optional=True)
        check_real(self, "crop", self.crop, low=0, high=1, low_open=True, optional=True)
        if self.output is not None and not isinstance(self.output, str) and (
                not isinstance(self.output, (list, tuple)) or not self.output
                or not all(isinstance(name, str) for name in self.output)):
            raise invalid(self, "output", "a layer name, a non-empty list of layer names, "
                          "or None", self.output)
        check_option(self, "pooling", self.pooling, POOLINGS)
        check_bool(self, "l2_normalize", self.l2_normalize)
        check_bool(self, "flip_average", self.flip_average)
        check_option(self, "engine", self.engine, ENGINES)

    # -- the network -----------------------------------------------------------------
    def _net(self) -> tuple[Network, str]:
        """The parsed network and its weights file, checked against the fitted checksum."""
        weights, config = self._files()
        spec = self._settings().spec
        expected = getattr(self, "model_sha256_", None)
        if expected is None and spec is not None:
            expected = spec.files[0].sha256
        if expected is not None and getattr(self, "_checked", None) != (weights, expected):
            actual = file_sha256(weights)
            if actual != expected:
                raise ModelChecksumError(f"{weights}: sha256 {actual} differs from the expected "
                                         f"{expected}; the file changed since the model was "
                                         "fitted, or it is another file")
            self._checked = (weights, expected)
        return load_network(weights, config, self._settings().engine), weights

    def _output_names(self, net: Network, weights: str) -> list[str]:
        """The layer names to read, registry aliases resolved, each checked to exist."""
        settings = self._settings()
        if settings.outputs is None:
            if settings.spec is not None:  # the registry's rule: before the last dense layer
                return [net.classifier_input()]
            return [net.outputs[-1]]
        aliases = settings.spec.layers if settings.spec is not None else {}
        names = []
        for name in settings.outputs:
            name = aliases.get(name, name)
            if not net.has(name):
                hint = f"; the registry's aliases are {sorted(aliases)}" if aliases else ""
                raise ModelLoadError(f"{weights}: no output or layer named {name!r}; "
                                     f"{net.describe()}{hint}")
            names.append(name)
        return names

    def fit(self, X=None, y=None):
        """Load the network, record the file's checksum and the embedding size.

        Returns
        -------
        self : object
        """
        spec = self._settings().spec
        weights, _ = self._files()
        self.model_path_ = weights
        self.model_sha256_ = file_sha256(weights)
        self._layout_cache = None
        if spec is not None and self.model_sha256_ != spec.files[0].sha256:
            raise ModelChecksumError(f"{weights}: sha256 {self.model_sha256_} differs from the "
                                     f"registry's {spec.files[0].sha256} for {spec.name}")
        self.n_features_out_ = self._n_features()
        if spec is not None and self.output is None and spec.output is None:
            found = sum(size for _, size, _ in self._layout())
            if found != spec.dim:
                raise ModelLoadError(f"{weights}: the layer before the last fully connected "
                                     f"layer gives {found} values, not the registry's "
                                     f"{spec.dim} for {spec.name}; name the embedding layer "
                                     "with output=")
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_checked", None)  # re-verify the file after unpickling
        state.pop("_layout_cache", None)
        state.pop("_settings_cache", None)
        return state

    # -- the extractor contract --------------------------------------------------------
    def _input_spec(self) -> tuple:
        pre = self._settings().pre
        return (pre.size if pre.crop in (None, 1, 1.0) else None, "bgr")

    def _decode_size(self) -> tuple:
        """The network input, enlarged by the central crop (which keeps a fraction)."""
        pre = self._settings().pre
        crop = 1.0 if pre.crop in (None, 1, 1.0) else pre.crop
        return tuple(int(np.ceil(side / crop)) for side in pre.size)

    def _n_features(self) -> int:
        spec = self._settings().spec
        if spec is not None and self.output in (None, spec.output):
            return spec.dim
        return sum(size for _, size, _ in self._layout())

    def _layout(self) -> list[tuple[str, int, bool]]:
        """``(label, length, pooled map?)`` of each output, from a forward pass of a blank image."""
        if getattr(self, "_layout_cache", None) is None:
            net, weights = self._net()
            names = self._output_names(net, weights)
            settings = self._settings()
            results = net.forward(make_blob([np.zeros((8, 8, 3), np.uint8)], settings.pre),
                                  names, get_config()["inference_threads"])
            labels = ["cnn"] if settings.outputs is None else list(settings.outputs)
            self._layout_cache = [
                (label, pool_output(result, self.pooling).shape[1],
                 result.ndim == 4 and self.pooling != "flatten")
                for label, result in zip(labels, results, strict=True)]
        return self._layout_cache

    def _feature_names(self) -> list[str]:
        layout = self._layout()
        if len(layout) == 1 and not (layout[0][2] and self.pooling == "pyramid"):
            return [f"cnn{i}" for i in range(layout[0][1])]
        names = []
        for label, size, pooled in layout:
            if pooled and self.pooling == "pyramid":
                names += [f"{label}:{cell}:{c}" for cell in grid_cell_names((1, 2))
                          for c in range(size // 5)]
            else:
                names += [f"{label}:{i}" for i in range(size)]
        return names

    def _forward(self, images: list[np.ndarray]) -> np.ndarray:
        """The requested outputs, each pooled, side by side: float32 ``(n, length)``.

        The next batch's blob is prepared in a thread while the network runs
        on the current one (both release the GIL), so preprocessing hides
        behind inference.
        """
        from concurrent.futures import ThreadPoolExecutor

        net, weights = self._net()
        names = self._output_names(net, weights)
        pre = self._settings().pre
        config = get_config()
        step, threads = config["inference_batch_size"], config["inference_threads"]
        batches = [images[s:s + step] for s in range(0, len(images), step)]
        out = [[] for _ in names]
        with ThreadPoolExecutor(1) as pool:
            upcoming = pool.submit(make_blob, batches[0], pre) if batches else None
            for k in range(len(batches)):
                blob = upcoming.result()
                if k + 1 < len(batches):
                    upcoming = pool.submit(make_blob, batches[k + 1], pre)
                for pieces, result in zip(out, net.forward(blob, names, threads), strict=True):
                    pieces.append(pool_output(result, self.pooling))
        return np.hstack([np.vstack(pieces) for pieces in out]).astype(np.float32, copy=False)

    def _extract(self, images: list[np.ndarray]) -> np.ndarray:
        features = self._forward(images)
        if self.flip_average:
            features = (features + self._forward([im[:, ::-1] for im in images])) / 2
        if self.l2_normalize:
            norms = np.linalg.norm(features, axis=1, keepdims=True)
            features = features / np.where(norms > 0, norms, 1)
        return features.astype(np.float32, copy=False)

    def _locate(self, images, weights, offsets):
        """Class activation maps of the pooled layers, the network run once (exact; see
        :func:`~l2vision.features._cnn_locate.locate_cnn`); None for an unpooled dense output."""
        net, weights_file = self._net()
        config = get_config()
        return locate_cnn(net, self._output_names(net, weights_file), self._settings().pre,
                          images, weights, offsets, pooling=self.pooling,
                          flip_average=self.flip_average, l2_normalize=self.l2_normalize,
                          batch_size=config["inference_batch_size"],
                          threads=config["inference_threads"])


def from_spec(*network: str) -> list:
    """A frozen CNN's embedding (NETWORK: a registry name or a model file), or pooled layers.

    ``cnn`` uses mobilenet_v1_0.25; ``cnn:NETWORK:LAYER+LAYER`` reads those layers
    instead, each average-pooled over a 1x1 + 2x2 spatial pyramid. A ``:`` inside
    a file path (``C:\\nets\\a.onnx``) is kept.
    """
    text = ":".join(network) or "mobilenet_v1_0.25"
    name, sep, layers = text.rpartition(":")
    if sep and name and layers and not any(c in layers for c in "/\\."):
        return [("cnn", CNNEmbedding(name, output=layers.split("+"), pooling="pyramid"))]
    return [("cnn", CNNEmbedding(text))]


from_spec.spec_args = "[:NETWORK[:LAYER+LAYER]]"
