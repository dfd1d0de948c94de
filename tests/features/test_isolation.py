"""A decoder that crashes the process or hangs costs its image, not the scoring run.

:mod:`tests.decoder_faults` makes the decoding workers crash (SIGSEGV) or hang
on given file names, through the workers' initializer; the runs are real
subprocesses.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l2vision.config import config_context
from l2vision.pipelines.build import make_pipeline
from l2vision.pipelines.persist import save
from tests.conftest import write_image


@pytest.fixture
def folder_and_model(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "images"
    images = []
    for i, name in enumerate("abcdefgh"):
        image = rng.integers(0, 90, (16, 16, 3), dtype=np.uint8)
        image[:, :, i % 3] += 150
        images.append(image)
        write_image(folder / f"{name}.png", image)
    model = make_pipeline("color", "logreg", lam=1.0).fit(images, [str(i % 3) for i in range(8)])
    return folder, save(model, tmp_path / "m.joblib")


ROOT = Path(__file__).resolve().parents[2]


def score(model, folder, *extra, hook=""):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "tests.decoder_faults", hook, "score", str(model),
                           str(folder), "--batch-size", "2", "--timeout", "2", "-q", *extra],
                          capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def test_a_crash_and_a_hang_cost_one_row_each(folder_and_model, tmp_path):
    folder, model = folder_and_model
    clean = score(model, folder)
    assert clean.returncode == 0, clean.stderr
    hooked = score(model, folder, hook="crash:c.png,hang:f.png")
    assert hooked.returncode == 3, hooked.stderr
    expected = list(csv.DictReader(io.StringIO(clean.stdout)))
    got = list(csv.DictReader(io.StringIO(hooked.stdout)))
    assert [r["path"] for r in got] == [r["path"] for r in expected]  # input order
    for before, after in zip(expected, got, strict=True):
        name = os.path.basename(after["path"])
        if name == "c.png":
            assert after["error"] == "the decoder crashed (signal 11, SIGSEGV)"
        elif name == "f.png":
            assert after["error"] == "timed out after 2 s (the decoder did not finish)"
        else:
            assert after == before  # the same label and score as an undisturbed run


def test_resume_after_a_crash_stays_byte_identical(folder_and_model, tmp_path):
    folder, model = folder_and_model
    hook = "crash:c.png"
    assert score(model, folder, "-o", tmp_path / "ref.csv", hook=hook).returncode == 3
    stopped = score(model, folder, "-o", tmp_path / "out.csv", "--fail-fast", hook=hook)
    assert stopped.returncode == 1 and "decoder crashed" in stopped.stderr
    assert score(model, folder, "-o", tmp_path / "out.csv", "--resume", hook=hook).returncode == 3
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_c_library_complaints_go_to_the_error_row_not_the_terminal(folder_and_model):
    folder, model = folder_and_model
    import cv2

    data = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    data[29] ^= 0xFF  # the IHDR chunk's CRC: libpng prints "libpng error: IHDR: CRC error"
    (folder / "z_crc.png").write_bytes(bytes(data))
    done = score(model, folder)
    assert done.returncode == 3 and done.stderr == ""
    row = [r for r in csv.DictReader(io.StringIO(done.stdout)) if r["path"].endswith("z_crc.png")]
    assert row[0]["error"] == ("cannot be decoded as PNG (corrupt or truncated data) "
                               "(libpng error: IHDR: CRC error)")


def test_isolated_decoding_after_joblib_parallel_with_a_large_extractor():
    # joblib.Parallel memory-maps arrays over 1 MB through reducers installed on
    # the shared loky executor and removes their folder after its call; the
    # isolated path must not send an extractor holding a large learned array
    # through them ("Could not pickle the task", found with a 4,000-centroid
    # k-means dictionary in evaluate after training).
    from l2vision.features import ImageFeatures, TinyImage

    images = [np.full((16, 16, 3), i, np.uint8) for i in range(64)]
    tiny = TinyImage()
    tiny.dictionary_ = np.random.default_rng(0).random(400_000)  # 3.2 MB
    features = ImageFeatures([tiny]).fit()
    with config_context(n_jobs=2, batch_size=8):
        expected = features.transform(images)                      # joblib.Parallel
        with config_context(isolate=True):
            isolated, errors = features.transform_with_errors(images)
        assert errors == {}
        np.testing.assert_array_equal(isolated, expected)
        again = features.transform(images)  # and back
    np.testing.assert_array_equal(again, expected)


def test_isolated_workers_share_the_cores_between_their_blas_threads():
    # One OpenBLAS thread per core in every worker ran the kmeans encoding 8-15x slower.
    import os

    from joblib import cpu_count

    from l2vision.features._isolation import _executor

    expected = str(max(1, cpu_count() // 2))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        assert _executor(2).submit(os.getenv, name).result(timeout=60) == expected


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
@pytest.mark.parametrize("extra", [["--timeout", "600"], ["--timeout", "0", "-j", "2"]],
                         ids=["isolation-pool", "joblib-workers"])
def test_workers_exit_soon_after_their_parent_is_killed(folder_and_model, tmp_path, extra):
    """SIGKILL the scoring process while its workers decode: they must not stay behind.

    The isolation pool's worker hangs on f.png; joblib's workers (--timeout 0
    -j 2) are kept busy by many images.
    """
    import signal
    import time

    folder, model = folder_and_model
    if "-j" in extra:
        rng = np.random.default_rng(0)
        for i in range(4000):
            write_image(folder / f"many{i:05d}.png", rng.integers(0, 255, (16, 16, 3), np.uint8))
    run = subprocess.Popen([sys.executable, "-m", "tests.decoder_faults", "hang:f.png", "score",
                            str(model), str(folder), "--batch-size", "2", "-q", *extra],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _children(run.pid):
            time.sleep(0.2)
        time.sleep(2)  # the workers have taken their batches (one hangs on f.png)
        workers = _children(run.pid)
        assert run.poll() is None, "the run ended before it could be killed"
        assert workers, "no worker process started"
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in workers):
        time.sleep(0.2)
    alive = [p for p in workers if os.path.exists(f"/proc/{p}")
             and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert alive == []


@pytest.mark.parametrize("settings", [{"isolate": True}, {"isolate": False, "n_jobs": 2}])
def test_relative_paths_follow_the_callers_working_folder(tmp_path, monkeypatch, settings):
    """A pool's processes keep the folder they started in; each batch uses the caller's."""
    from l2vision.features import ColorHistogram, ImageFeatures

    rng = np.random.default_rng(2)
    arrays = {}
    for folder in ("one", "two"):
        arrays[folder] = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
        for i in range(3):
            write_image(tmp_path / folder / f"{i}.png", arrays[folder])
    features = ImageFeatures([ColorHistogram()]).fit()
    names = [f"{i}.png" for i in range(3)]
    with config_context(batch_size=1, **settings):
        for folder in ("one", "two", "one"):  # the same workers, another folder each time
            monkeypatch.chdir(tmp_path / folder)
            X, errors = features.transform_with_errors(names)
            assert errors == {}
            np.testing.assert_allclose(X, features.transform([arrays[folder]] * 3), rtol=1e-6)


def test_isolated_blocks_come_back_through_shared_memory_unchanged(tmp_path, monkeypatch):
    """The workers write each batch's block to a slot file; the matrix is the in-process one."""
    import l2vision.features._slots as slots_module
    from l2vision.features import HOG, ColorHistogram, ImageFeatures

    rng = np.random.default_rng(5)
    paths = [str(write_image(tmp_path / f"{i:02d}.png",
                             rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)))
             for i in range(11)]
    (tmp_path / "05_bad.png").write_bytes(b"not an image")
    paths.insert(5, str(tmp_path / "05_bad.png"))
    folders = []
    real = slots_module.ResultSlots.__enter__

    def spy(self):
        out = real(self)
        folders.append(self.folder)
        return out

    monkeypatch.setattr(slots_module.ResultSlots, "__enter__", spy)
    features = ImageFeatures([HOG(), ColorHistogram()]).fit()
    with config_context(isolate=True, batch_size=4):
        X, errors = features.transform_with_errors(paths)
    with config_context(isolate=False, batch_size=4):
        expected, expected_errors = features.transform_with_errors(paths)
    np.testing.assert_array_equal(X, expected)
    assert list(errors) == list(expected_errors) == [5]
    assert len(folders) == 1 and not os.path.exists(folders[0])  # removed after the run
