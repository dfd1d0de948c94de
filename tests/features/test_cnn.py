"""CNNEmbedding and the model registry: real MobileNet files, a tiny ONNX net, downloads."""

from __future__ import annotations

import http.server
import pickle
import shutil
import socket
import threading

import cv2
import numpy as np
import pytest
import skimage.data
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from l2vision.cli import main
from l2vision.config import config_context
from l2vision.features import HOG, CNNEmbedding, ImageFeatures, ModelLoadError, zoo
from l2vision.features._net import onnxruntime_ready
from l2vision.features.zoo import ModelChecksumError, ModelFile, ModelNotFoundError, ModelSpec
from l2vision.pipelines.persist import load

CAT_CLASSES = {"Egyptian cat", "tabby", "tiger cat"}


@pytest.fixture
def shared_models(models_dir, monkeypatch):
    monkeypatch.setenv("L2VISION_MODEL_DIR", str(models_dir))
    return models_dir


@pytest.fixture
def photos():
    cat = skimage.data.chelsea()[:, :, ::-1].copy()
    coffee = skimage.data.coffee()[:, :, ::-1].copy()
    rng = np.random.default_rng(0)
    return [cat, coffee, cat[::2, ::3].copy(), rng.integers(0, 256, (50, 70, 3), dtype=np.uint8),
            coffee[100:300, 50:400].copy(), np.full((32, 32, 3), 200, np.uint8)]


# -- the real MobileNet files (../shared/models) ------------------------------------------

def test_chelsea_is_a_cat_through_the_logits(shared_models):
    labels = (shared_models / "imagenet_labels_1001.txt").read_text().splitlines()
    cat = skimage.data.chelsea()[:, :, ::-1].copy()
    logits = CNNEmbedding(output="logits").fit().transform([cat])
    assert logits.shape == (1, 1001)
    assert labels[int(logits[0].argmax())] in CAT_CLASSES


def test_embedding_dim_and_batching(shared_models, photos):
    embed = CNNEmbedding().fit()
    with config_context(inference_batch_size=4):
        batched = embed.transform(photos)
    assert batched.shape == (6, 256) == (6, embed.n_features_out_) and batched.dtype == np.float32
    with config_context(inference_batch_size=1):
        one_by_one = np.vstack([CNNEmbedding().transform([p]) for p in photos])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


OPENCV_5 = int(cv2.__version__.split(".")[0]) >= 5
opencv_4_readers = pytest.mark.skipif(
    OPENCV_5, reason=f"OpenCV {cv2.__version__} reads ONNX networks only (its TFLite reader "
                     "crashes; see test_formats_opencv_5_refuses_give_a_clear_error)")


@opencv_4_readers
def test_tflite_embedding_equals_onnx(shared_models, photos):
    onnx_embed = CNNEmbedding().fit().transform(photos)
    tflite = CNNEmbedding(shared_models / "mobilenet_v1_0.25_224_nosqueeze.tflite",
                          input_size=(224, 224), mean=127.5, scale=1 / 127.5, swap_rb=True,
                          crop=0.875, output="MobilenetV1/Logits/AvgPool_1a/AvgPool")
    np.testing.assert_allclose(tflite.fit().transform(photos), onnx_embed, atol=1e-4)


@opencv_4_readers
def test_unsupported_operator_is_a_clear_error(shared_models):
    original = CNNEmbedding(shared_models / "mobilenet_v1_0.25_224_1_default_1.tflite",
                            input_size=(224, 224))
    with pytest.raises(ModelLoadError, match=r"uses an operator OpenCV's dnn module does not "
                                             r"support \(SQUEEZE\)"):
        original.fit().transform([np.zeros((8, 8, 3), np.uint8)])


def test_unknown_output_lists_the_outputs(shared_models):
    with pytest.raises(ModelLoadError, match=r"no output or layer named 'pool5'; the outputs are "
                                             r"\['(embedding|logits)', '(embedding|logits)'\]"):
        CNNEmbedding(output="pool5").fit().transform([np.zeros((8, 8, 3), np.uint8)])


def test_inside_image_features_and_saved_models(shared_models, photos, tmp_path, monkeypatch):
    from l2vision.pipelines.build import make_pipeline
    from l2vision.pipelines.persist import load, save

    local = tmp_path / "models"
    local.mkdir()
    shutil.copy(shared_models / "mobilenet_v1_0.25_224.onnx", local)
    monkeypatch.setenv("L2VISION_MODEL_DIR", str(local))
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path / "no-bundled-networks")
    features = ImageFeatures([HOG(), CNNEmbedding(flip_average=True, l2_normalize=True)])
    X = features.fit_transform(photos)
    assert X.shape == (6, 1764 + 256)
    np.testing.assert_allclose(np.linalg.norm(X[:, 1764:], axis=1), 1, rtol=1e-5)
    labels = ["cat", "coffee", "cat", "noise", "coffee", "flat"]
    model = make_pipeline(features, "ridge", lam=1.0).fit(photos, labels)
    path = save(model, tmp_path / "m.joblib")
    assert b"dnn" not in pickle.dumps(model[0].extractors[1])  # the net is never pickled
    np.testing.assert_array_equal(load(path).predict(photos), model.predict(photos))

    (local / "mobilenet_v1_0.25_224.onnx").unlink()
    with pytest.raises(ModelNotFoundError, match="mobilenet_v1_0.25_224.onnx not found in"):
        load(path).predict(photos)
    data = bytearray((shared_models / "mobilenet_v1_0.25_224.onnx").read_bytes())
    data[-1] ^= 1
    (local / "mobilenet_v1_0.25_224.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelChecksumError, match="differs from the expected"):
        load(path).predict(photos)


@pytest.mark.parametrize("cnn,width", [("cnn:mobilenet_v1_0.25", 896),
                                       ("cnn:mobilenet_v1_0.25:conv13+conv11", 2560)])
def test_train_command_with_cnn_features(shared_models, color_folder, tmp_path, capsys, cnn,
                                         width):
    # color (640) + the embedding (256), or conv13 and conv11 pyramids (5 x 256 + 5 x 128)
    code = main(["train", str(color_folder), "-f", f"color,{cnn}", "-m", "ridge",
                 "--cv", "3", "--test-size", "0.25", "-o", str(tmp_path / "m.joblib"), "-q"])
    out = capsys.readouterr().out
    assert code == 0 and f"; {width} per image" in out and "held-out accuracy: 100.00%" in out
    model = load(tmp_path / "m.joblib")
    assert model.predict([np.zeros((20, 20, 3), np.uint8)]).shape == (1,)


# -- a tiny ONNX network made here (runs without ../shared) -----------------------------------

def _tiny_onnx(path):
    """Conv 3x3 (4 filters, pad 1) -> ReLU -> global average pool -> "embedding"
    -> Gemm "logits"."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(42)
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    w2 = rng.normal(size=(4, 2)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["embedding"]),
        helper.make_node("Gemm", ["embedding", "w2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, 16, 16])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, 4]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return w, b, w2


def _numpy_forward(image_bgr, w, b):
    """Independent forward pass: RGB, x/255, conv pad 1, ReLU, mean."""
    x = image_bgr[:, :, ::-1].astype(np.float32).transpose(2, 0, 1) / 255
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.empty((4, 16, 16), np.float32)
    for k in range(4):
        acc = np.full((16, 16), b[k], np.float32)
        for c in range(3):
            for dy in range(3):
                for dx in range(3):
                    acc += w[k, c, dy, dx] * padded[c, dy:dy + 16, dx:dx + 16]
        out[k] = acc
    return np.maximum(out, 0).mean(axis=(1, 2))


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.onnx"
    weights = _tiny_onnx(path)
    return path, weights


def test_tiny_onnx_end_to_end_known_answer(tiny):
    path, (w, b, w2) = tiny
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(5)]
    embed = CNNEmbedding(path, input_size=(16, 16), scale=1 / 255, swap_rb=True,
                         output="embedding").fit()
    with config_context(inference_batch_size=2):
        got = embed.transform(images)
    expected = np.array([_numpy_forward(im, w, b) for im in images])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert embed.n_features_out_ == 4 and list(embed.get_feature_names_out()) == \
        ["cnn0", "cnn1", "cnn2", "cnn3"]
    logits = CNNEmbedding(path, input_size=(16, 16), scale=1 / 255, swap_rb=True,
                          output="logits").fit().transform(images)
    np.testing.assert_allclose(logits, expected @ w2, rtol=1e-4, atol=1e-5)


def _numpy_relu_map(image_bgr, w, b):
    """The (4, 16, 16) ReLU map of the tiny network, computed independently."""
    x = image_bgr[:, :, ::-1].astype(np.float32).transpose(2, 0, 1) / 255
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((4, 16, 16), np.float32) + b[:, None, None]
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("kc,cyx->kyx", w[:, :, dy, dx], padded[:, dy:dy + 16, dx:dx + 16])
    return np.maximum(out, 0)


def test_layers_pooled_as_a_spatial_pyramid_known_answer(tiny):
    path, (w, b, _) = tiny
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    relu = "onnx_node_output_0!relu"
    embed = CNNEmbedding(path, input_size=(16, 16), scale=1 / 255, swap_rb=True,
                         output=["embedding", relu], pooling="pyramid").fit()
    with config_context(inference_batch_size=2):
        got = embed.transform(images)
    maps = np.array([_numpy_relu_map(im, w, b) for im in images])
    quadrants = [maps[:, :, :8, :8], maps[:, :, :8, 8:], maps[:, :, 8:, :8], maps[:, :, 8:, 8:]]
    expected = np.hstack([maps.mean(axis=(2, 3)), maps.mean(axis=(2, 3)),
                          *[q.mean(axis=(2, 3)) for q in quadrants]])
    assert got.shape == (3, 4 + 5 * 4) and embed.n_features_out_ == 24
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    names = list(embed.get_feature_names_out())
    assert names[:5] == ["embedding:0", "embedding:1", "embedding:2", "embedding:3",
                         f"{relu}:g1r0c0:0"]
    assert names[-1] == f"{relu}:g2r1c1:3" and len(set(names)) == 24
    average = CNNEmbedding(path, input_size=(16, 16), scale=1 / 255, swap_rb=True,
                           output=relu).fit()
    np.testing.assert_allclose(average.transform(images), expected[:, :4], rtol=1e-4, atol=1e-5)
    flat = CNNEmbedding(path, input_size=(16, 16), scale=1 / 255, swap_rb=True, output=relu,
                        pooling="flatten").fit()
    assert flat.n_features_out_ == 4 * 16 * 16
    np.testing.assert_allclose(flat.transform(images), maps.reshape(3, -1), rtol=1e-4, atol=1e-5)


def test_registry_layer_aliases(shared_models):
    cat = skimage.data.chelsea()[:, :, ::-1].copy()
    spec = zoo.NETWORKS["mobilenet_v1_0.25"]
    by_alias = CNNEmbedding(output=["conv13", "conv11"], pooling="pyramid").fit()
    by_name = CNNEmbedding(output=[spec.layers["conv13"], spec.layers["conv11"]],
                           pooling="pyramid").fit()
    got = by_alias.transform([cat])
    assert got.shape == (1, 5 * 256 + 5 * 128) and by_alias.n_features_out_ == got.shape[1]
    np.testing.assert_array_equal(got, by_name.transform([cat]))
    # conv13's global average is the network's own "embedding" output.
    np.testing.assert_allclose(got[:, :256], CNNEmbedding().fit().transform([cat]), atol=1e-5)
    assert by_alias.get_feature_names_out()[0] == "conv13:g1r0c0:0"
    with pytest.raises(ModelLoadError, match=r"no output or layer named 'conv99'.*aliases are"):
        CNNEmbedding(output="conv99").fit().transform([cat])


@pytest.mark.parametrize("dim", [4, 5])
def test_registry_embedding_before_the_last_dense_layer(tiny, monkeypatch, dim):
    # Registry entries with output=None (the ResNets) take the input of the
    # last fully connected layer; the registry's dim guards the rule.
    import hashlib

    path, _ = tiny
    spec = ModelSpec("tiny_net", (ModelFile("tiny.onnx", hashlib.sha256(path.read_bytes())
                                            .hexdigest(), path.stat().st_size),),
                     (16, 16), (0, 0, 0), 1 / 255, None, True, None, None, dim, None, "MIT",
                     "made in the test")
    monkeypatch.setitem(zoo.NETWORKS, "tiny_net", spec)
    monkeypatch.setenv("L2VISION_MODEL_DIR", str(path.parent))
    images = [np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)]
    if dim == 5:
        with pytest.raises(ModelLoadError, match=r"tiny.onnx: the layer before the last fully "
                                                 r"connected layer gives 4 values, not the "
                                                 r"registry's 5 for tiny_net"):
            CNNEmbedding("tiny_net").fit()
        return
    got = CNNEmbedding("tiny_net").fit().transform(images)
    expected = CNNEmbedding(path, input_size=(16, 16), scale=1 / 255, swap_rb=True,
                            output="embedding").fit().transform(images)
    np.testing.assert_array_equal(got, expected)


def test_registry_files_are_looked_up_in_model_dir_then_cache(tiny, monkeypatch, tmp_path):
    import hashlib

    path, _ = tiny
    spec = ModelSpec("tiny_net", (ModelFile("tiny.onnx", hashlib.sha256(path.read_bytes())
                                            .hexdigest(), path.stat().st_size),),
                     (16, 16), (0, 0, 0), 1 / 255, None, True, None, "embedding", 4, None,
                     "MIT", "made in the test")
    monkeypatch.setitem(zoo.NETWORKS, "tiny_net", spec)
    model_dir, cache = tmp_path / "mine", tmp_path / "home" / "models"
    for folder in (model_dir, cache):
        folder.mkdir(parents=True)
        shutil.copy(path, folder / "tiny.onnx")
    monkeypatch.setenv("L2VISION_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("L2VISION_HOME", str(tmp_path / "home"))
    assert CNNEmbedding("tiny_net").fit().model_path_ == str(model_dir / "tiny.onnx")
    (model_dir / "tiny.onnx").unlink()
    assert CNNEmbedding("tiny_net").fit().model_path_ == str(cache / "tiny.onnx")
    monkeypatch.delenv("L2VISION_MODEL_DIR")
    assert CNNEmbedding("tiny_net").fit().model_path_ == str(cache / "tiny.onnx")
    # An explicit path comes first of all: it is used as given.
    assert CNNEmbedding(path, input_size=(16, 16)).fit().model_path_ == str(path)


def test_threads_are_set_for_inference_and_restored(tiny, monkeypatch):
    path, _ = tiny
    images = [np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)]
    before = cv2.getNumThreads()
    calls = []
    real = cv2.setNumThreads
    monkeypatch.setattr(cv2, "setNumThreads", lambda n: (calls.append(n), real(n)))
    with config_context(inference_threads=1):
        one = CNNEmbedding(path, input_size=(16, 16)).fit().transform(images)
    assert calls == [1, before] * 2 and cv2.getNumThreads() == before  # fit's layout pass too
    np.testing.assert_allclose(one, CNNEmbedding(path, input_size=(16, 16)).fit()
                               .transform(images), rtol=1e-6)


def test_networks_info_shows_files_preprocessing_and_layers(capsys):
    assert main(["networks", "info", "mobilenet_v1_0.25"]) == 0
    out = capsys.readouterr().out
    assert "02d518e0252e38a2f0234d10923cc9cd6710d7039c5391a9e068a0ffab961665" in out
    assert "layers:      conv1, conv2" in out and "swap_rb:     True" in out
    assert main(["networks", "info", "resnet18_v2"]) == 0
    out = capsys.readouterr().out
    assert "output:      the input of the last fully connected layer" in out
    assert "url:         https://github.com/onnx/models/raw/main/validated/" in out
    assert main(["models", "info", "resnet9000"]) != 0


def test_registry_resnets_are_complete():
    for name in ("resnet18_v2", "resnet152_v1"):
        spec = zoo.NETWORKS[name]
        (file,) = spec.files
        assert len(file.sha256) == 64 and file.size > 40_000_000
        assert file.url.startswith("https://github.com/onnx/models/raw/main/validated/")
        assert file.url.endswith(file.name) and spec.output is None and spec.swap_rb


def test_tiny_onnx_contract(tiny):
    path, _ = tiny
    embed = CNNEmbedding(path, input_size=(16, 16), output="embedding")
    for check in (check_no_attributes_set_in_init, check_get_params_invariance, check_set_params):
        check("CNNEmbedding", embed)
    images = [np.zeros((20, 30, 3), np.uint8), np.full((16, 16), 99, np.uint8)]
    fitted = clone(embed).fit()
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(images), fitted.transform(images))
    assert "_net" not in restored.__dict__


@pytest.mark.parametrize("kwargs,message", [
    ({"model": "resnet9000"}, "resnet9000: unknown model; give a registry name"),
    ({"model": "net.xyz", "input_size": (8, 8)}, "unknown model"),
    ({"model": "missing.onnx", "input_size": (8, 8)}, "missing.onnx: model file not found"),
    ({"model": "x.onnx"},
     "The 'input_size' parameter of CNNEmbedding must be given for a model file"),
    ({"crop": 1.5}, "The 'crop' parameter of CNNEmbedding must be a float in (0, 1]"),
    ({"mean": (1, 2)}, "The 'mean' parameter of CNNEmbedding must be a number or three numbers"),
    ({"output": []}, "The 'output' parameter of CNNEmbedding must be a layer name, a non-empty"),
    ({"output": ["embedding", 3]}, "The 'output' parameter of CNNEmbedding must be a layer name"),
    ({"pooling": "max"}, "The 'pooling' parameter of CNNEmbedding must be"),
])
def test_clear_errors(kwargs, message):
    import re

    with pytest.raises((ValueError, FileNotFoundError), match=re.escape(message)):
        CNNEmbedding(**kwargs).fit()


def test_caffe_needs_its_prototxt(tmp_path):
    weights = tmp_path / "net.caffemodel"
    weights.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"net\.prototxt: Caffe model needs this .prototxt"):
        CNNEmbedding(weights, input_size=(8, 8)).fit()


def test_a_garbage_file_is_a_clear_load_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a network")
    with pytest.raises(ModelLoadError, match=r"bad\.onnx: OpenCV cannot parse it as ONNX"):
        CNNEmbedding(bad, input_size=(8, 8)).fit().transform([np.zeros((8, 8, 3), np.uint8)])


# -- the registry and downloads ------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    cut = False

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[: len(self.payload) // 2] if self.cut else self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake_entry(server, tmp_path, monkeypatch):
    payload = np.random.default_rng(0).bytes(300_000)
    _Handler.payload, _Handler.cut = payload, False
    import hashlib

    spec = ModelSpec("fake_net", (ModelFile("fake.onnx", hashlib.sha256(payload).hexdigest(),
                                            len(payload),
                                            f"http://127.0.0.1:{server.server_port}/fake.onnx"),),
                     (16, 16), (0, 0, 0), 1.0, None, False, None, "embedding", 4, None, "MIT",
                     "a local test server")
    monkeypatch.setitem(zoo.NETWORKS, "fake_net", spec)
    monkeypatch.setenv("L2VISION_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("L2VISION_MODEL_DIR", raising=False)
    return spec, payload


def test_fetch_verifies_and_caches(fake_entry, tmp_path, capsys):
    spec, payload = fake_entry
    assert main(["models", "fetch", "fake_net", "-q"]) == 0
    cached = tmp_path / "home" / "models" / "fake.onnx"
    assert cached.read_bytes() == payload and "sha256 verified" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    assert str(cached) in capsys.readouterr().out


def test_wrong_checksum_keeps_nothing(fake_entry, tmp_path, monkeypatch):
    spec, payload = fake_entry
    monkeypatch.setitem(zoo.NETWORKS, "fake_net", ModelSpec(**{**spec.__dict__, "files": (
        ModelFile("fake.onnx", "0" * 64, len(payload), spec.files[0].url),)}))
    with pytest.raises(ModelChecksumError, match="does not match the published"):
        zoo.fetch("fake_net")
    assert list((tmp_path / "home" / "models").iterdir()) == []


def test_offline_fetch_says_which_file_to_put_where(fake_entry, tmp_path, monkeypatch, capsys):
    spec, payload = fake_entry
    with socket.socket() as unused:  # a port nobody listens on: connection refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setitem(zoo.NETWORKS, "fake_net", ModelSpec(**{**spec.__dict__, "files": (
        ModelFile("fake.onnx", spec.files[0].sha256, len(payload),
                  f"http://127.0.0.1:{port}/fake.onnx"),)}))
    assert main(["models", "fetch", "fake_net", "-q"]) != 0
    message = capsys.readouterr().err
    folder = tmp_path / "home" / "models"
    assert f"fake_net: cannot download http://127.0.0.1:{port}/fake.onnx" in message
    assert f"copy fake.onnx ({len(payload)} bytes, sha256 {spec.files[0].sha256}) to " \
           f"{folder} or to $L2VISION_MODEL_DIR" in message
    assert list(folder.iterdir()) == []


def test_dropped_connection_keeps_nothing(fake_entry, tmp_path, capsys):
    _Handler.cut = True
    assert main(["models", "fetch", "fake_net", "-q"]) == 1
    assert "connection ended after 150000 of 300000 bytes" in capsys.readouterr().err
    assert list((tmp_path / "home" / "models").iterdir()) == []


def test_offline_error_says_what_to_put_where(monkeypatch, tmp_path):
    monkeypatch.setenv("L2VISION_HOME", str(tmp_path))
    monkeypatch.delenv("L2VISION_MODEL_DIR", raising=False)
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path / "bundled-files-removed")
    with pytest.raises(ModelNotFoundError, match=r"model file mobilenet_v1_0.25_224.onnx not "
                                                 r"found in .*copy it there"):
        CNNEmbedding().fit()


# -- the bundled networks (no ../shared needed) ---------------------------------------------

@pytest.fixture
def no_model_dirs(tmp_path, monkeypatch):
    """Only the networks bundled with the package can be found."""
    monkeypatch.delenv("L2VISION_MODEL_DIR", raising=False)
    monkeypatch.setenv("L2VISION_HOME", str(tmp_path / "empty-home"))


@pytest.mark.parametrize("name,dim", [("mobilenet_v1_0.25", 256), ("mobilenet_v2_1.0", 1280)])
def test_bundled_networks_work_offline(no_model_dirs, name, dim):
    embed = CNNEmbedding(name).fit()
    assert embed.model_path_ == str(zoo.BUNDLED_DIR / zoo.NETWORKS[name].files[0].name)
    assert embed.model_sha256_ == zoo.NETWORKS[name].files[0].sha256
    cat = skimage.data.chelsea()[:, :, ::-1].copy()
    assert embed.transform([cat]).shape == (1, dim)
    labels = (zoo.BUNDLED_DIR.parent / "models" / "README.md").read_text()
    assert "Apache" in labels and (zoo.BUNDLED_DIR / "LICENSE-Apache-2.0.txt").exists()


def test_mobilenet_v2_knows_a_cat_and_its_blocks(no_model_dirs):
    cat = skimage.data.chelsea()[:, :, ::-1].copy()
    logits = CNNEmbedding("mobilenet_v2_1.0", output="logits").fit().transform([cat])
    assert int(logits[0].argmax()) in (283, 286, 282)  # tiger cat, Egyptian cat, tabby (of 1001)
    layers = CNNEmbedding("mobilenet_v2_1.0", output=["block13", "block16", "conv_1"],
                          pooling="pyramid").fit()
    assert layers.transform([cat]).shape == (1, 5 * (160 + 320 + 1280))
    with pytest.raises(ModelLoadError, match=r"no output or layer named 'block17'.*aliases are "
                                             r"\['block0', 'block1', 'block10'"):
        CNNEmbedding("mobilenet_v2_1.0", output="block17").fit()


@pytest.mark.skipif(not onnxruntime_ready(True),
                    reason="onnxruntime or onnx cannot be imported (l2vision dependencies)")
@pytest.mark.parametrize("name,output", [("mobilenet_v1_0.25", None),
                                         ("mobilenet_v1_0.25", ["conv13", "conv9"]),
                                         ("mobilenet_v2_1.0", None),
                                         ("mobilenet_v2_1.0", ["block13", "block16", "embedding"])])
def test_both_engines_give_the_same_features(no_model_dirs, photos, name, output):
    real = [photos[0], photos[1], photos[2], photos[4]]  # the photos, not the flat image
    kwargs = dict(output=output, pooling="pyramid", flip_average=True)
    opencv = CNNEmbedding(name, engine="opencv", **kwargs).fit()
    ort = CNNEmbedding(name, engine="onnxruntime", **kwargs).fit()
    assert opencv._settings().engine == "opencv" and ort._settings().engine == "onnxruntime"
    assert CNNEmbedding(name, output=output)._settings().engine == "onnxruntime"  # auto
    np.testing.assert_allclose(ort.transform(real), opencv.transform(real), atol=1e-4)
    assert ort.n_features_out_ == opencv.n_features_out_
    assert ort.get_feature_names_out().tolist() == opencv.get_feature_names_out().tolist()


def test_engine_errors(tiny):
    path, _ = tiny
    with pytest.raises(ValueError, match="The 'engine' parameter of CNNEmbedding must be one of"):
        CNNEmbedding(engine="tensorrt").fit()
    with pytest.raises(ModelLoadError, match="ONNX Runtime runs .onnx files only"):
        CNNEmbedding("net.tflite", input_size=(8, 8), engine="onnxruntime").fit()


def test_execution_providers_come_from_the_settings(tiny):
    from l2vision.config import config_context
    from l2vision.features import ModelLoadError

    path, _ = tiny
    images = [np.zeros((16, 16, 3), np.uint8)]
    with config_context(providers=["CPUExecutionProvider"]):
        cpu = CNNEmbedding(path, input_size=(16, 16), engine="onnxruntime").fit().transform(images)
    assert cpu.shape[0] == 1
    with config_context(providers=["NoSuchExecutionProvider"]), \
            pytest.raises(ModelLoadError, match="ONNX Runtime has no NoSuchExecutionProvider "
                                                "here .available: .*CPUExecutionProvider"):
        CNNEmbedding(path, input_size=(16, 16), engine="onnxruntime").fit().transform(images)
    with pytest.raises(ValueError, match="'providers' parameter of config_context"):
        with config_context(providers="CPUExecutionProvider"):
            pass


def test_formats_opencv_5_refuses_give_a_clear_error(tmp_path, monkeypatch):
    from l2vision.features import ModelLoadError, _net_files

    weights = tmp_path / "net.pb"
    weights.write_bytes(b"\x00" * 16)
    monkeypatch.setattr(_net_files.cv2, "__version__", "5.1.0")
    monkeypatch.setattr(_net_files, "OPENCV_MAJOR", 5)
    with pytest.raises(ModelLoadError, match=r"net\.pb: OpenCV 5\.1\.0 cannot read TensorFlow "
                                             r"networks .*convert it to ONNX"):
        _net_files.read_with_opencv(str(weights), None, "TensorFlow")
    with pytest.raises(ModelLoadError, match=r"cannot read TFLite networks \(OpenCV 5's TFLite "
                                             r"reader crashes"):
        _net_files.read_with_opencv(str(weights), None, "TFLite")


def test_the_articles_network_is_in_the_registry(capsys):
    """VGG16 (the article's features): the ONNX Model Zoo file, its LFS sha256, fc7's 4,096."""
    from l2vision.features.zoo import NETWORKS

    spec = NETWORKS["vgg16"]
    (file,) = spec.files
    assert file.url.endswith("/validated/vision/classification/vgg/model/vgg16-7.onnx")
    assert file.sha256 == "f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9"
    assert (spec.dim, spec.output, spec.swap_rb, spec.input_size) == (4096, None, True,
                                                                      (224, 224))
    assert main(["networks", "info", "vgg16"]) == 0
    assert "fc7" in capsys.readouterr().out
