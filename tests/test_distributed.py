"""Scoring on a Dask cluster and from URLs: the same output, byte for byte, as a local run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from l2vision.cli import main
from l2vision.config import config_context
from l2vision.distributed import DaskUnavailableError, get_client
from l2vision.linear.logistic import LogisticRegressionKFoldCV
from l2vision.linear.ridge import RidgeClassifierKFoldCV
from l2vision.pipelines.build import make_features, make_pipeline
from l2vision.pipelines.persist import load, save
from l2vision.scoring.chunks import iter_chunks
from l2vision.scoring.inputs import iter_paths
from l2vision.scoring.run import predict_chunks, score_files
from l2vision.workflows.train import train

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """300 JPEG photos of 384 x 384 px (about 40 ms each to score) and a model for them."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    images = []
    for i in range(300):
        small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        image = cv2.resize(small, (384, 384), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(root / f"{i:04d}.jpg"), image)
        images.append(image)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    model = make_pipeline("lbp,color", "ridge", lam=1.0).fit(images[:40], ["a", "b"] * 20)
    path = root.parent / "model.joblib"
    save(model, path, overwrite=True)
    return root, path


@pytest.fixture(scope="module")
def local_output(photos, tmp_path_factory):
    root, model = photos
    out = tmp_path_factory.mktemp("local") / "local.csv"
    with config_context(batch_size=4, isolate=False):
        score_files(model, [str(root)], out)
    return out.read_bytes()


@contextlib.contextmanager
def processes(*commands, stderr=subprocess.DEVNULL):
    """Start processes; on exit, kill whatever is still running."""
    started = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=stderr) for c in commands]
    try:
        yield started
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


def wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    with distributed.Client(address, timeout=10) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


def test_local_cluster_output_equals_the_local_run(photos, local_output, client, tmp_path):
    root, model = photos
    out = tmp_path / "dask.csv"
    with config_context(batch_size=4, scheduler=client):
        summary = score_files(model, [str(root)], out)
    assert out.read_bytes() == local_output
    assert (summary.scored, summary.failed) == (300, 1)
    assert b"broken.jpg,,," in local_output


def test_extraction_and_lambda_search_on_the_cluster_equal_local(photos, client):
    root, _ = photos
    paths = sorted(str(p) for p in root.glob("0*.jpg"))[:120]
    features = make_features("hog,color,lbp").fit(paths)
    with config_context(batch_size=16):
        local = features.transform(paths)
    with config_context(batch_size=16, scheduler=client):
        on_cluster = clone(features).fit(paths).transform(paths)
    np.testing.assert_array_equal(on_cluster, local)
    X, y = load_digits(return_X_y=True)
    for search in (RidgeClassifierKFoldCV(lambdas=[1, 10, 100, 1000]),
                   RidgeClassifierKFoldCV(lambdas=[1, 10, 100], mode="kernel"),
                   RidgeClassifierKFoldCV(lambdas=[1, 10, 100, 1000], mode="blocks"),
                   LogisticRegressionKFoldCV(lambdas=[0.1, 1, 10, 100])):
        data = (X[:150], y[:150]) if search.get_params().get("mode") == "kernel" else (X, y)
        here = clone(search).fit(*data)
        with client.as_current():
            there = clone(search).fit(*data)
        assert there.lambda_ == here.lambda_
        np.testing.assert_allclose(there.cv_results_["mean_test_score"],
                                   here.cv_results_["mean_test_score"], atol=1e-12)
        np.testing.assert_allclose(there.coef_, here.coef_, rtol=1e-6, atol=1e-9)


def test_train_on_the_cluster_equals_train_here(client):
    here = train(features="hog", model="ridge", lambdas=[10, 100, 1000])
    with config_context(scheduler=client):
        there = train(features="hog", model="ridge", lambdas=[10, 100, 1000])
    assert there.search["lambda"] == here.search["lambda"]
    assert there.test_metrics == here.test_metrics
    params = there.model.get_params(deep=True)  # never saved in a model
    assert not {"scheduler", "n_jobs", "cache_dir"} & {k.split("__")[-1] for k in params}


def test_an_interrupted_cluster_run_resumes_on_the_cluster(photos, local_output, client,
                                                          tmp_path, monkeypatch):
    """Interrupted after two chunks, resumed on the cluster: the file of a local run."""
    from l2vision.scoring import predict

    root, model = photos
    out = tmp_path / "resumed.csv"
    built, original = [], predict._chunk_predictions

    def interrupted(*args, **kwargs):
        if len(built) == 2:
            raise KeyboardInterrupt
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(predict, "_chunk_predictions", interrupted)
    with pytest.raises(KeyboardInterrupt), config_context(batch_size=4, scheduler=client):
        score_files(model, [str(root)], out)
    partial = out.with_name(out.name + ".partial")
    assert not out.exists() and partial.read_bytes().count(b"\n") == 1 + 2 * 4 * 8  # 2 chunks
    monkeypatch.setattr(predict, "_chunk_predictions", original)
    with config_context(batch_size=4, scheduler=client):
        summary = score_files(model, [str(root)], out, resume=True)
    assert out.read_bytes() == local_output and not partial.exists()
    assert (summary.resumed, summary.scored + summary.failed) == (64, 301 - 64)


def test_a_worker_killed_mid_run_loses_nothing(photos, local_output, tmp_path):
    """dask scheduler + two dask workers started as users do; SIGKILL one mid-run."""
    root, model = photos
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [str(Path(sys.executable).with_name("dask"))]
    worker = [*dask, "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
              "--no-dashboard"]
    out = tmp_path / "cluster.csv"
    with processes([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                    "--no-dashboard"]):
        time.sleep(1)
        with processes(worker, worker) as workers:
            wait_for_workers(address, 2)
            score = [sys.executable, "-m", "l2vision", "score", str(model), str(root), "-o",
                     str(out), "--batch-size", "4", "--scheduler", address, "-q"]
            with processes(score, stderr=subprocess.PIPE) as (run,):
                partial = out.with_name(out.name + ".partial")
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and run.poll() is None:
                    if partial.exists() and partial.read_bytes().count(b"\n") > 1:
                        break
                    time.sleep(0.05)
                assert run.poll() is None, "the run ended before a worker could be killed"
                rows_then = partial.read_bytes().count(b"\n") - 1
                os.kill(workers[0].pid, signal.SIGKILL)
                _, err = run.communicate(timeout=120)
                assert run.returncode == 3, err  # finished, one unreadable image
    assert rows_then < 301
    assert out.read_bytes() == local_output


def test_unreachable_scheduler_fails_fast_with_a_clear_message(photos, capsys):
    root, model = photos
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    assert main(["score", str(model), str(root), "--scheduler", address, "-q"]) == 1
    assert time.monotonic() - start < 30
    assert f"cannot reach the Dask scheduler at {address} within 5 s" in capsys.readouterr().err


def test_without_the_extra_the_message_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(DaskUnavailableError, match=r"pip install 'l2vision\[dask\]'"):
        get_client("tcp://127.0.0.1:8786")
    monkeypatch.delenv("L2VISION_SCHEDULER", raising=False)
    assert get_client(None) is None  # nothing asked: local joblib, no Dask needed


def test_http_and_file_urls_score_like_paths(photos, tmp_path):
    root, model = photos
    served = tmp_path / "www"
    shutil.copytree(root, served / "imgs")
    port = free_port()
    files = sorted(str(p) for p in (served / "imgs").glob("00[0-4]*.jpg"))[:20]
    with processes([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                    "--directory", str(served)]):
        base = f"http://127.0.0.1:{port}/imgs/"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.1)
        urls = [base + Path(p).name for p in files] + [base + "missing.jpg"]
        with pytest.raises(ValueError, match="remote URLs are not read unless allowed"):
            score_files(model, urls, tmp_path / "refused.csv")
        # A server on this machine: remote URLs allowed, and private addresses too.
        with config_context(allow_urls=True, allow_private_urls=True):
            score_files(model, urls, tmp_path / "http.csv")
            score_files(model, [base], tmp_path / "folder.csv")
    score_files(model, files, tmp_path / "paths.csv")
    score_files(model, ["file://" + p for p in files], tmp_path / "file.csv")
    by_url = (tmp_path / "http.csv").read_text().splitlines()
    by_path = (tmp_path / "paths.csv").read_text().splitlines()
    by_file_url = (tmp_path / "file.csv").read_text().splitlines()
    assert [r.split(",", 1)[1] for r in by_url[1:-1]] == [r.split(",", 1)[1]
                                                          for r in by_path[1:]]
    assert [r.split(",", 1)[1] for r in by_file_url[1:]] == [r.split(",", 1)[1]
                                                             for r in by_path[1:]]
    assert by_url[-1] == f"{base}missing.jpg,,,not found (no such remote object)"
    folder = (tmp_path / "folder.csv").read_text().splitlines()
    assert len(folder) == 1 + 301 and folder[1].startswith(base + "0000.jpg,")


def test_a_chunk_failing_on_the_cluster_names_its_inputs(photos, client):
    root, path = photos
    paths = sorted(str(p) for p in root.glob("00*.jpg"))[:6]
    model = load(path)
    model[-1].coef_ = model[-1].coef_[..., :3]  # fails on the worker, not a lost one
    with pytest.raises(RuntimeError, match=r"chunk 0 \(inputs 1-3: .*0000.jpg \.\.\. .*0002.jpg"
                                           r"\) failed on the cluster: ValueError"), \
            config_context(scheduler=client):
        list(predict_chunks(model, iter_chunks(paths, 3)))


def test_manifests_and_stdin_carry_urls_as_they_are(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\nhttps://example.org/a.jpg\nlocal.jpg\n")
    paths = list(iter_paths(["-"], manifests=[manifest], stdin=["s3://bucket/b.png\n"]))
    assert paths == ["s3://bucket/b.png", "https://example.org/a.jpg", str(tmp_path / "local.jpg")]


def test_extract_on_a_local_cluster_named_by_the_environment(photos, tmp_path, monkeypatch,
                                                              capsys):
    from l2vision import distributed as backend

    root, _ = photos
    manifest = tmp_path / "images.csv"
    files = sorted(root.glob("00*.jpg"))[:40] + [root / "broken.jpg"]
    manifest.write_text("path,label\n" + "".join(f"{f},x\n" for f in files))
    assert main(["extract", str(manifest), "-f", "color", "-o", str(tmp_path / "here.npz"),
                 "-q"]) == 3  # broken.jpg
    monkeypatch.setenv("L2VISION_SCHEDULER", "local")
    try:
        assert main(["extract", str(manifest), "-f", "color", "-o",
                     str(tmp_path / "there.npz")]) == 3
        assert "Dask: local cluster of" in capsys.readouterr().err
    finally:
        client = backend._LOCAL.pop("local", None)
        if client is not None:
            cluster = client.cluster
            client.close()
            cluster.close()
    here, there = np.load(tmp_path / "here.npz"), np.load(tmp_path / "there.npz")
    np.testing.assert_array_equal(here["X"], there["X"])
    assert list(here["failed"]) == list(there["failed"]) == [str(root / "broken.jpg")]


def test_robustness_on_the_cluster_equals_local(client):
    from l2vision.datasets import load_digits_images
    from l2vision.workflows.robustness import robustness

    images = load_digits_images()
    fitted = train(images, features="hog", model="ridge", lambdas=[100], test_size=0.25)
    subset = images.subset(np.arange(300))
    here = robustness(fitted.model, subset, corruptions="noise,occlude", severities="2,4")
    with config_context(scheduler=client):
        there = robustness(fitted.model, subset, corruptions="noise,occlude", severities="2,4")
    assert there["accuracy"] == here["accuracy"]
    assert there["clean_accuracy"] == here["clean_accuracy"]


def test_lost_shared_data_is_scattered_again_and_the_pending_tasks_resubmitted():
    """ordered_results against a stand-in client whose scattered data is lost once."""
    from concurrent.futures import CancelledError

    from l2vision.distributed import Shared, ordered_results

    class Done:
        def __init__(self, value, lost=False):
            self.value, self.lost = value, lost

        def result(self):
            if self.lost:
                raise CancelledError("lost dependency")
            return self.value

        def release(self):
            pass

    class StandIn:
        def __init__(self):
            self.scattered, self.submitted = [], []

        def scheduler_info(self):
            return {"workers": {"a": {}, "b": {}}}

        def scatter(self, value, **options):
            self.scattered.append(value)
            return ("data", len(self.scattered))  # a new "future" each time

        def submit(self, function, item, shared, offset, pure):
            self.submitted.append(item)
            lost = shared == ("data", 1) and item >= 2  # the first copy dies after 2 tasks
            return Done(function(item, offset), lost)

    client = StandIn()
    results = list(ordered_results(client, lambda item, offset: item + offset, range(7),
                                   Shared("model"), 100, in_flight=3))
    assert results == [100 + i for i in range(7)]
    assert client.scattered == ["model", "model"]
    assert client.submitted[:3] == [0, 1, 2] and client.submitted.count(2) == 2
    # The same Shared in a second call (a λ search extending its grid): not sent again.
    shared = Shared("X")
    for _ in range(2):
        list(ordered_results(client, lambda item, offset: item, range(2), shared, 0))
    assert client.scattered == ["model", "model", "X"]


def test_a_logistic_search_that_extends_its_grid_scatters_x_once(client, monkeypatch):
    from l2vision import distributed as backend

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)  # noise: the largest λ wins
    scattered = []
    original = backend.Shared.sent_to

    def counting(self, to, *, again=False):
        if again or self._sent is None or self._sent[0] is not to:
            scattered.append(getattr(self.value, "shape", None))
        return original(self, to, again=again)

    monkeypatch.setattr(backend.Shared, "sent_to", counting)
    with client.as_current():
        search = LogisticRegressionKFoldCV(lambdas=4, cv=2, max_iter=30).fit(X, y)
    assert search.grid_extended_ and len(search.lambdas_) == 6
    assert scattered == [(200, 5)]
