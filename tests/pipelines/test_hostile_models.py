"""Model files made only of allowed names still cannot act: each attack mounted, each refused.

The attacks of the hardening review: run-time settings that make the scorer
connect elsewhere, BUILD on class objects (changing ``Path.exists`` or a
splitter's methods for the whole process), names that import a module
(``l2vision.__main__`` runs the CLI and exits), allocation by declaration
(``bytearray(2e9)``, an array wrapper declaring a huge shape, an exponential
metadata structure), oversized parameters, and hostile signature files and
paths.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from l2vision.cli import main
from l2vision.config import RuntimeSettingWarning
from l2vision.pipelines._container import container_bytes
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import (
    ModelFileError,
    ModelSignatureError,
    UntrustedModelError,
    load,
    save,
)

BLUE, RED = np.full((8, 8, 3), (255, 0, 0), np.uint8), np.full((8, 8, 3), (0, 0, 255), np.uint8)


def _model():
    return make_pipeline("color", "ridge", lam=1.0).fit([BLUE, RED, RED // 2], ["a", "b", "b"])


def _file_with_payload(path: Path, payload: bytes, metadata=None) -> Path:
    path.write_bytes(container_bytes(payload, metadata or {}))
    return path


def _global(module: str, name: str) -> bytes:
    """Pickle protocol 4: push ``module.name`` (SHORT_BINUNICODE x2, STACK_GLOBAL)."""
    out = b""
    for text in (module, name):
        data = text.encode()
        out += b"\x8c" + bytes([len(data)]) + data
    return out + b"\x93"


PROTO = b"\x80\x04"


def test_a_scheduler_in_a_model_file_is_never_contacted(tmp_path, capsys):
    """0.1 saved ImageFeatures.scheduler: such a file made score connect there and unpickle
    what came back. Now the setting is dropped on load and nothing connects."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connections = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        model = _model()
        features = model.named_steps["features"]
        features.__dict__.update(scheduler=f"tcp://127.0.0.1:{port}", n_jobs=7,
                                 cache_dir=str(tmp_path / "planted"))
        path = save(model, tmp_path / "m.joblib")
        with pytest.warns(RuntimeSettingWarning, match="cache_dir, n_jobs, scheduler"):
            loaded = load(path)
        assert not {"scheduler", "n_jobs", "cache_dir"} & set(vars(loaded.named_steps["features"]))
        folder = tmp_path / "images"
        folder.mkdir()
        import cv2

        cv2.imwrite(str(folder / "red.png"), RED)
        assert main(["score", str(path), str(folder), "-q"]) == 0
        assert main(["evaluate", str(path), str(tmp_path / "missing"), "-q"]) == 1
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
    assert connections == []
    assert not (tmp_path / "planted").exists()


@pytest.mark.parametrize("target", [
    ("sklearn.model_selection._split", "StratifiedKFold"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("l2vision.features.hog", "HOG"),
])
def test_build_on_a_class_object_is_refused(tmp_path, target):
    """BUILD with a (None, {name: value}) state sets attributes on whatever is on the stack;
    on a class object it would change that class for the whole process."""
    state = pickle.dumps((None, {"split": "pwned", "__init__": "pwned"}), protocol=4)[2:-1]
    payload = PROTO + _global(*target) + state + b"b."
    path = _file_with_payload(tmp_path / "m.joblib", payload)
    before = StratifiedKFold.split
    with pytest.raises(UntrustedModelError, match="the state of a class"):
        load(path)
    assert StratifiedKFold.split is before


def test_a_slot_state_on_an_instance_is_refused(tmp_path):
    """A (dict, {slot: value}) state would be applied with setattr: refused."""
    instance = pickle.dumps(StratifiedKFold(3), protocol=4)
    # Replace the instance's dict state by a tuple state: rebuild the stream by hand.
    payload = PROTO + _global("sklearn.model_selection._split", "StratifiedKFold") + \
        b")\x81" + pickle.dumps(({}, {"n_splits": 1}), protocol=4)[2:-1] + b"b."
    assert instance  # the ordinary pickle of the same object loads (see below)
    with pytest.raises(UntrustedModelError, match="a tuple state"):
        load(_file_with_payload(tmp_path / "m.joblib", payload))


@pytest.mark.parametrize("module,name", [
    ("l2vision.__main__", "main"), ("l2vision.cli", "main"), ("pathlib", "PosixPath"),
    ("copyreg", "_reconstructor"), ("builtins", "bytearray"), ("sklearn.utils._testing", "x"),
    ("numpy", "load"), ("os", "system"),
])
def test_names_outside_the_table_are_refused_without_importing_them(tmp_path, module, name):
    payload = PROTO + _global(module, name) + b"."
    path = _file_with_payload(tmp_path / "m.joblib", payload)
    code = ("import sys\nfrom l2vision.pipelines.persist import load\n"
            "try:\n    load(sys.argv[1])\nexcept Exception as exc:\n"
            "    print(type(exc).__name__)\n"
            f"print({module!r} in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # never a SystemExit
    error, imported = done.stdout.split()
    assert error == "UntrustedModelError"
    if module in ("l2vision.__main__", "l2vision.cli", "sklearn.utils._testing"):
        assert imported == "False"  # not imported to be checked


def _peak_mib_of(code: str, path: Path) -> tuple[str, float]:
    """Run ``code`` on ``path`` in a fresh process; its output and peak memory (MiB)."""
    # VmHWM, not ru_maxrss: the latter counts the forking pytest process's pages.
    wrapper = (f"{code}\nimport pathlib, resource\n"
               "try:\n"
               "    status = pathlib.Path('/proc/self/status').read_text().split('VmHWM:')[1]\n"
               "    print(int(status.split()[0]) / 1024)\n"
               "except (OSError, IndexError):\n"
               "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", wrapper, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *lines, peak = done.stdout.split("\n")[:-1]
    return "\n".join(lines), float(peak)


LOAD = ("import sys\nfrom l2vision.pipelines.persist import load\n"
        "try:\n    load(sys.argv[1])\nexcept Exception as exc:\n"
        "    print(type(exc).__name__, exc)")


def test_a_37_byte_allocation_is_refused_before_it_allocates(tmp_path):
    payload = PROTO + _global("builtins", "bytearray") + b"J\x00\x94\x35\x77\x85R."  # 2e9
    out, peak = _peak_mib_of(LOAD, _file_with_payload(tmp_path / "m.joblib", payload))
    assert out.startswith("UntrustedModelError") and "builtins.bytearray" in out
    assert peak < 1000


def test_an_array_wrapper_declaring_more_than_the_file_holds_is_refused(tmp_path):
    from joblib.numpy_pickle import NumpyArrayWrapper

    # joblib writes an array as this wrapper followed by its raw bytes: declare
    # 100,000 x 100,000 float64 (80 GB) and give none.
    wrapper = NumpyArrayWrapper(np.ndarray, (100_000, 100_000), "C", np.dtype("f8"))
    big = pickle.dumps(wrapper, protocol=2)
    out, peak = _peak_mib_of(LOAD, _file_with_payload(tmp_path / "m.joblib", big))
    assert out.startswith("ModelFileError") and "larger than what is left of the file" in out
    assert peak < 1000


def test_reconstruct_of_a_huge_array_is_refused(tmp_path):
    shape = b"J\x00\xe4\x0bT\x85"  # (1_410_065_408,)
    payload = PROTO + _global("numpy._core.multiarray", "_reconstruct") + \
        _global("numpy", "ndarray") + shape + b"C\x01f\x87R."
    out, peak = _peak_mib_of(LOAD, _file_with_payload(tmp_path / "m.joblib", payload))
    assert out.startswith("ModelFileError") and "larger than the file" in out
    assert peak < 1000


def test_an_exponential_metadata_structure_is_refused_quickly(tmp_path):
    """Format 1 pickled the metadata: 60 levels of a list holding the previous level twice
    is 300 bytes and 2**60 values once walked (it made evaluate --report run 111 s at 6 GB)."""
    level = []
    for _ in range(60):
        level = [level, level]
    import hashlib

    container = {"format": "l2vision-model", "format_version": 1, "metadata": {"x": level},
                 "sha256": hashlib.sha256(b"").hexdigest(), "model": b""}
    buffer = io.BytesIO()
    pickle.dump(container, buffer, protocol=4)
    (tmp_path / "m.joblib").write_bytes(buffer.getvalue())
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="more than 1,000,000 values"):
        load(tmp_path / "m.joblib")
    assert time.perf_counter() - start < 10


def test_oversized_and_invalid_parameters_are_refused_on_load(tmp_path):
    model = _model()
    model.named_steps["features"].size = (20000, 20000)
    with pytest.raises(ModelFileError, match=r"ImageFeatures parameter size=\(20000, 20000\) is "
                                             r"larger than any model needs \(at most 8192 px"):
        load(save(model, tmp_path / "big.joblib"))
    model = _model()
    model.named_steps["features"].extractors[0].bins = -3
    with pytest.raises(ModelFileError, match="the model's parameters are not valid .*'bins' "
                                             "parameter of ColorHistogram"):
        load(save(model, tmp_path / "bins.joblib"))


def test_signatures_cover_the_written_bytes_and_bad_signature_files_are_refused(
        tmp_path, monkeypatch):
    import hashlib
    import hmac

    monkeypatch.setenv("L2VISION_MODEL_KEY", "secret")
    path = save(_model(), tmp_path / "m.joblib")
    sig = path.with_name("m.joblib.sig")
    expected = hmac.new(b"secret", path.read_bytes(), hashlib.sha256).hexdigest()
    assert sig.read_text() == expected
    load(path)
    sig.write_bytes("é".encode() * 32)
    with pytest.raises(ModelSignatureError, match="not a hex digest"):
        load(path)
    sig.unlink()
    os.mkfifo(sig)
    start = time.perf_counter()
    with pytest.raises(ModelSignatureError, match="named pipe"):
        load(path)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_model_path_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind):
    path = tmp_path / "m.joblib"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path = Path("/dev/zero")
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="not a model file"):
        load(path)
    assert time.perf_counter() - start < 5


def test_paths_in_a_model_are_saved_as_text(tmp_path):
    model = _model()
    model.named_steps["features"].__dict__["note"] = tmp_path / "a path"
    loaded = load(save(model, tmp_path / "m.joblib"))
    assert loaded.named_steps["features"].note == str(tmp_path / "a path")


def test_metadata_is_json_text_in_the_file(tmp_path):
    path = save(_model(), tmp_path / "m.joblib", metadata={"lambda": np.float64(3.0),
                                                           "scores": [float("nan"), 1.0]})
    container = joblib.load(path)
    assert isinstance(container["metadata"], str)
    assert json.loads(container["metadata"])["scores"] == [None, 1.0]


def test_struct_helper_is_what_the_tests_think():
    assert struct.pack("<i", 2_000_000_000) == b"\x00\x94\x35\x77"
