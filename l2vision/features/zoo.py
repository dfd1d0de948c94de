"""Known CNN models for :class:`~l2vision.features.CNNEmbedding`: files, checksums, preprocessing.

A plain registry. Files are looked up, in order, among the networks bundled
with the package (``l2vision/models/``: MobileNet V1 0.25 and V2 1.0), in
``$L2VISION_MODEL_DIR``, and in the download folder ``$L2VISION_HOME/models``
(default ``~/.cache/l2vision/models``); every file's sha256 is checked before
its first use. :func:`fetch` downloads into that folder, checks the sha256
published with the entry, and writes atomically, keeping nothing whose
checksum fails.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l2vision.io.writing import atomic_write, file_sha256

__all__ = ["BUNDLED_DIR", "NETWORKS", "EmbeddingSettings", "ModelChecksumError",
           "ModelNotFoundError", "ModelSpec", "download_dir", "fetch", "file_sha256",
           "find_file", "model_dirs", "needs_intermediate", "three_floats"]


class ModelNotFoundError(FileNotFoundError):
    """A model file is not on this machine (the message says what to get and where)."""


class ModelChecksumError(ValueError):
    """A model file's sha256 differs from the expected one."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: name, sha256, size in bytes, and download URL (None: not public)."""

    name: str
    sha256: str
    size: int
    url: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: files and the preprocessing and outputs they need."""

    name: str
    files: tuple
    input_size: tuple          # (width, height)
    mean: tuple                # subtracted per channel, in the order after swap_rb
    scale: float               # multiplied after the mean
    std: tuple | None          # divided per channel after scale (None: 1)
    swap_rb: bool              # True: the network wants RGB
    crop: float | None         # central crop fraction before resizing
    output: str | None         # embedding layer; None: the input of the last fully connected layer
    dim: int                   # embedding length
    logits: str | None         # classifier output name, if any
    license: str
    source: str
    notes: str = field(default="")
    layers: dict = field(default_factory=dict, hash=False)  # short alias -> layer name

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)


#: The registry. Every sha256 is quoted from a published source named in ``source``.
NETWORKS = {
    "mobilenet_v1_0.25": ModelSpec(
        name="mobilenet_v1_0.25",
        files=(ModelFile("mobilenet_v1_0.25_224.onnx",
                         "02d518e0252e38a2f0234d10923cc9cd6710d7039c5391a9e068a0ffab961665",
                         1895370),),
        input_size=(224, 224), mean=(127.5, 127.5, 127.5), scale=1 / 127.5, std=None,
        swap_rb=True, crop=0.875, output="embedding", dim=256, logits="logits",
        license="Apache-2.0",
        source="TF-Slim MobileNet V1 0.25/224 (tensorflow/tflite-support test data, the TF Hub "
               "model tensorflow/lite-model/mobilenet_v1_0.25_224/1/default/1), converted to "
               "ONNX; file and sha256 from the project's shared models/README.md",
        notes="ImageNet, 1001 classes (0 = background). Bundled with l2vision.",
        # The ReLU6 outputs of the pointwise convolutions (224x224 input: conv5
        # 28x28x64, conv9 and conv11 14x14x128, conv13 7x7x256, whose average is "embedding").
        layers={f"conv{i}": f"onnx_node!MobilenetV1/MobilenetV1/Conv2d_{i}_pointwise/Relu6"
                for i in range(1, 14)},
    ),
}


def _mobilenet_v2_blocks() -> dict:
    """Aliases of MobileNet V2's block outputs: ``block0``..``block16`` and ``conv_1``.

    A block's output is its residual sum where it has a skip connection, else
    its projection (the TensorFlow node names kept in the ONNX file).
    """
    residual = {2, 4, 5, 7, 8, 9, 11, 12, 14, 15}
    prefix = "onnx_node!MobilenetV2/expanded_conv"
    layers = {}
    for k in range(17):
        block = prefix + (f"_{k}" if k else "")
        layers[f"block{k}"] = block + ("/add" if k in residual else "/project/add_fold/conv")
    layers["conv_1"] = "onnx_node!MobilenetV2/Conv_1/Relu6"
    return layers


NETWORKS["mobilenet_v2_1.0"] = ModelSpec(
    name="mobilenet_v2_1.0",
    files=(ModelFile("mobilenet_v2_1.0_224.onnx",
                     "078b6cbd5df6c85a1b339b0a77be9801c5ddfce971796d9eddab2dbaf403f5bf",
                     13994097),),
    input_size=(224, 224), mean=(128.0, 128.0, 128.0), scale=1 / 128, std=None,
    swap_rb=True, crop=0.875, output="embedding", dim=1280, logits="logits",
    license="Apache-2.0",
    source="TF MobileNet V2 1.0/224 (tensorflow/tflite-support test data, "
           "mobilenet_v2_1.0_224_quant.tflite), dequantized into a float32 ONNX graph; file and "
           "sha256 from the project's shared models/README.md",
    notes="ImageNet top-1 about 71%, 1001 classes (0 = background). Bundled with l2vision. "
          "block13 (7x7x160 at 224 px), block16 (7x7x320) and conv_1 (7x7x1280, whose average "
          "is the embedding) carry the most transferable features.",
    layers=_mobilenet_v2_blocks(),
)


_ONNX_ZOO_URL = "https://github.com/onnx/models/raw/main/validated/vision/classification/"


def _onnx_zoo_mxnet(name: str, family: str, file: str, sha256: str, size: int, dim: int,
                    description: str, embedding: str) -> ModelSpec:
    """An MXNet network of the ONNX Model Zoo: the same preprocessing and provenance for all."""
    return ModelSpec(
        name=name, files=(ModelFile(file, sha256, size, f"{_ONNX_ZOO_URL}{family}/model/{file}"),),
        input_size=(224, 224), mean=(123.675, 116.28, 103.53), scale=1.0,
        std=(58.395, 57.12, 57.375), swap_rb=True, crop=0.875, output=None, dim=dim,
        logits=None, license="Apache-2.0",
        source=f"ONNX Model Zoo (github.com/onnx/models, validated/vision/classification/"
               f"{family}), converted from the MXNet Gluon model zoo; sha256 and size from the "
               "file's Git LFS pointer in that repository; preprocessing from its README "
               "(shorter side 256, central 224 crop, RGB, ImageNet mean and std)",
        notes=f"{description}. The embedding is {embedding}.",
    )


_RESNET_EMBEDDING = "the global-average-pooled input of the final fully connected layer"


NETWORKS.update({
    "resnet18_v2": _onnx_zoo_mxnet(
        "resnet18_v2", "resnet", "resnet18-v2-7.onnx",
        "3b4d048057854022232aa20bf68262e31718ab7119a17f920b8a2dc1433f824b", 46806737, 512,
        "ResNet-18 v2 (pre-activation), ImageNet top-1 69.70%", _RESNET_EMBEDDING),
    "resnet152_v1": _onnx_zoo_mxnet(
        "resnet152_v1", "resnet", "resnet152-v1-7.onnx",
        "b0ec92437bf8c9d0739bf9bafdea9638e13f9e3c1e2fb766ad546cc182fd3f6d", 241816206, 2048,
        "ResNet-152 v1, ImageNet top-1 77.11%", _RESNET_EMBEDDING),
    # The article l2vision implements extracts VGG16 features (cnn:vgg16).
    "vgg16": _onnx_zoo_mxnet(
        "vgg16", "vgg", "vgg16-7.onnx",
        "f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9", 553437328, 4096,
        "VGG 16 (Simonyan & Zisserman 2015), ImageNet top-1 72.62%; 528 MB",
        "the input of the final fully connected layer: the 4,096 values of fc7 after its ReLU "
        "(the features of the VGG16 papers and of most transfer studies)"),
})


def download_dir() -> Path:
    """``$L2VISION_HOME/models``, default ``~/.cache/l2vision/models``."""
    home = os.environ.get("L2VISION_HOME") or Path.home() / ".cache" / "l2vision"
    return Path(home) / "models"


#: The networks shipped inside the package.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models"


def model_dirs() -> list[Path]:
    """Where model files are looked for, in order: bundled, $L2VISION_MODEL_DIR, downloads."""
    dirs = [Path(os.environ["L2VISION_MODEL_DIR"])] if os.environ.get("L2VISION_MODEL_DIR") else []
    return [BUNDLED_DIR, *dirs, download_dir()]


def find_file(name: str, *, model: str = "") -> Path:
    """The first existing ``name`` in :func:`model_dirs`.

    Raises
    ------
    ModelNotFoundError
        Names the file, the folders searched and how to get it.
    """
    for folder in model_dirs():
        if (folder / name).is_file():
            return folder / name
    where = " or ".join(str(d) for d in model_dirs())
    spec = NETWORKS.get(model)
    how = (f"run `l2vision networks fetch {model}`" if spec and all(f.url for f in spec.files)
           else "copy it there (it has no public download)")
    raise ModelNotFoundError(
        f"{model + ': ' if model else ''}model file {name} not found in {where}; {how}, "
        "or set L2VISION_MODEL_DIR to the folder that holds it")


def fetch(name: str, *, progress: bool = False, timeout: float = 60) -> list[Path]:
    """Download a registry model's files into the cache, verifying each sha256.

    Files already cached with the right checksum are kept. A download goes to a
    temporary file in the cache folder and is renamed only after its checksum
    matched; on any failure the temporary file is removed.

    Raises
    ------
    KeyError
        Unknown model name.
    ModelChecksumError
        A downloaded file does not match its published sha256 (nothing is kept).
    OSError
        The download failed (nothing is kept).
    """
    spec = NETWORKS[name]
    folder = download_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in spec.files:
        target = folder / f.name
        if target.is_file() and file_sha256(target) == f.sha256:
            paths.append(target)
            continue
        if not f.url:
            raise ModelNotFoundError(f"{name}: {f.name} has no public download; copy it to "
                                     f"{folder} or to $L2VISION_MODEL_DIR")
        try:
            paths.append(_download(f, target, progress=progress, timeout=timeout))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelNotFoundError(
                f"{name}: cannot download {f.url} ({reason}). Offline, download it elsewhere "
                f"and copy {f.name} ({f.size} bytes, sha256 {f.sha256}) to {folder} or to "
                "$L2VISION_MODEL_DIR") from None
    return paths


def _download(f: ModelFile, target: Path, *, progress: bool, timeout: float) -> Path:
    """Stream ``f.url`` into ``target`` atomically; kept only if size and sha256 match."""
    from tqdm.auto import tqdm

    def stream(out) -> None:
        h = hashlib.sha256()
        received = 0
        with urllib.request.urlopen(f.url, timeout=timeout) as response, \
                tqdm(total=f.size, unit="B", unit_scale=True, desc=f.name,
                     disable=not progress or None) as bar:
            while True:
                try:
                    block = response.read(1 << 16)
                except http.client.IncompleteRead as exc:
                    received += len(exc.partial)
                    block = b""
                if not block:
                    break
                out.write(block)
                h.update(block)
                received += len(block)
                bar.update(len(block))
        if received != f.size:
            raise OSError(f"{f.url}: connection ended after {received} of {f.size} bytes")
        if h.hexdigest() != f.sha256:
            raise ModelChecksumError(f"{f.url}: sha256 {h.hexdigest()} does not match the "
                                     f"published {f.sha256}; the file was not kept")

    return atomic_write(target, stream)


@dataclass(frozen=True)
class EmbeddingSettings:
    """A CNNEmbedding's parameters with the registry's defaults filled in."""

    spec: ModelSpec | None          # the registry entry (None for a model file)
    pre: object                     # _net.Preprocessing: how images become the network input
    outputs: tuple | None           # requested layer names or aliases (None: the default)
    engine: str                     # "opencv" or "onnxruntime" (resolved from "auto")


def needs_intermediate(spec, output) -> bool:
    """Whether the requested outputs may include layers that are not graph outputs."""
    if output is None:
        return spec is not None and spec.output is None  # found inside the graph
    names = [output] if isinstance(output, str) else list(output)
    graph = {spec.output, spec.logits} if spec is not None else set()
    return not set(names) <= graph


def three_floats(value) -> tuple:
    """One number or three as a tuple of three floats."""
    return tuple(np.broadcast_to(np.asarray(value, float), 3).tolist())
