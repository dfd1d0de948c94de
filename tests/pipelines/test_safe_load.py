"""Loading a model never runs code from the file: the allow-list, trust, signatures."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import joblib
import numpy as np
import pytest

from l2vision.cli import main
from l2vision.features import HOG, LBP, CNNEmbedding, ColorHistogram, ImageFeatures, TinyImage
from l2vision.pipelines._container import FORMAT, container_bytes
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import (
    ModelFileError,
    ModelSignatureError,
    UntrustedModelError,
    load,
    save,
)


class _Marker:
    """Unpickling this calls ``os.system`` (what a hostile file would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('true')",))


class _NumpyLoad:
    def __reduce__(self):
        return (np.load, ("/etc/passwd",))


def _model_file(path, model_object) -> None:
    """A file shaped like an l2vision model whose model pickle is ``model_object``."""
    buffer = io.BytesIO()
    joblib.dump(model_object, buffer)
    path.write_bytes(container_bytes(buffer.getvalue(), {}))


@pytest.mark.parametrize("make", [
    lambda marker: _Marker(marker),                                   # at the top
    lambda marker: {"steps": [("a", [1, 2, {"x": _Marker(marker)}])]},  # hidden inside
    lambda marker: np.array([1, _Marker(marker)], dtype=object),      # in an object array
], ids=["top", "nested", "object-array"])
def test_a_file_that_would_run_code_is_refused_before_it_runs(tmp_path, capsys, make):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.joblib"
    _model_file(path, make(marker))
    with pytest.raises(UntrustedModelError, match=r"evil\.joblib: refused to load: the file asks "
                                                  r"for posix\.system"):
        load(path)
    assert not marker.exists()
    code = main(["score", str(path), str(tmp_path), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "refused to load" in err and "use --trust-model" in err
    assert not marker.exists()
    # The container itself is a pickle too, of plain data only: a hostile one is refused.
    joblib.dump({"format": FORMAT, "x": _Marker(marker)}, tmp_path / "evil2.joblib")
    with pytest.raises(ModelFileError, match="not an l2vision model file .it holds "
                                             "posix.system, not an"):
        load(tmp_path / "evil2.joblib")
    assert not marker.exists()


@pytest.mark.parametrize("payload,name", [(_Eval(), "builtins.eval"),
                                          (_NumpyLoad(), "numpy.load")])
def test_dangerous_functions_of_allowed_modules_are_refused(tmp_path, payload, name):
    _model_file(tmp_path / "m.joblib", payload)
    with pytest.raises(UntrustedModelError, match=f"asks for {name}, which an l2vision model"):
        load(tmp_path / "m.joblib")


def test_trusted_loads_a_foreign_pickle(tmp_path):
    from collections import Counter

    _model_file(tmp_path / "m.joblib", Counter("aab"))  # harmless, but not a model type
    with pytest.raises(UntrustedModelError, match="collections.Counter"):
        load(tmp_path / "m.joblib")
    assert load(tmp_path / "m.joblib", trusted=True) == {"a": 2, "b": 1}


def test_a_changed_byte_is_refused(tmp_path, color_folder):
    from l2vision.datasets import load_image_folder

    X, y = load_image_folder(color_folder)
    path = save(make_pipeline("color", "ridge", lam=1.0).fit(X, y), tmp_path / "m.joblib")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load(path)


def test_signed_unsigned_and_wrong_key(tmp_path, color_folder, monkeypatch):
    from l2vision.datasets import load_image_folder

    X, y = load_image_folder(color_folder)
    model = make_pipeline("color", "ridge", lam=1.0).fit(X, y)
    unsigned = save(model, tmp_path / "unsigned.joblib")
    monkeypatch.setenv("L2VISION_MODEL_KEY", "deployment secret")
    signed = save(model, tmp_path / "signed.joblib")
    assert (tmp_path / "signed.joblib.sig").is_file()
    assert load(signed).predict(X[:3]).tolist() == model.predict(X[:3]).tolist()
    with pytest.raises(ModelSignatureError, match=r"unsigned model file \(unsigned\.joblib\.sig "
                                                  r"not found\)"):
        load(unsigned)
    monkeypatch.setenv("L2VISION_MODEL_KEY", "another key")
    with pytest.raises(ModelSignatureError, match="does not match"):
        load(signed)
    monkeypatch.delenv("L2VISION_MODEL_KEY")
    assert load(unsigned) is not None and load(signed) is not None  # no key: not checked


def test_every_extractor_kind_loads_in_a_fresh_process_with_the_same_predictions(
        tmp_path, color_folder):
    from l2vision.datasets import load_image_folder

    X, y = load_image_folder(color_folder)
    features = ImageFeatures([HOG(), ColorHistogram("lab", grid=(1, 2)), LBP(max_side=16),
                              TinyImage((4, 4)), CNNEmbedding("mobilenet_v1_0.25"),
                              ("v2", CNNEmbedding("mobilenet_v2_1.0", output=["block13"],
                                                  pooling="pyramid", flip_average=True))])
    paths = []
    for kind in ("logreg", "ridge"):
        for lam in (1.0, None):
            model = make_pipeline(features, kind, lam=lam, lambdas=[1.0, 100.0], cv=3,
                                  normalize="l2").fit(X, y)
            path = save(model, tmp_path / f"{kind}-{lam}.joblib")
            np.save(tmp_path / f"{path.stem}.npy", model.predict(X).astype(str))
            paths.append(path)
    script = ("import sys, numpy as np\nfrom l2vision import load, load_image_folder\n"
              f"X, y = load_image_folder({str(color_folder)!r})\n"
              "for p in sys.argv[1:]:\n"
              "    assert (load(p).predict(X).astype(str) == np.load(p[:-7] + '.npy')).all(), p\n"
              "print('ok', len(sys.argv) - 1)\n")
    done = subprocess.run([sys.executable, "-c", script, *map(str, paths)], capture_output=True,
                          text=True, timeout=300)
    assert done.stdout.strip() == "ok 4", done.stderr
