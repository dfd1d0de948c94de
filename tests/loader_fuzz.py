"""Fuzz the model loader: mutated and generated pickle streams, loaded under a memory limit.

``python -m tests.loader_fuzz --examples N --memory-mib M --out RESULTS.json``
runs, in this process, a hypothesis search over streams made from real model
files and hostile seeds (byte flips, truncations, splices, inserted opcodes,
inserted names of dangerous callables), each wrapped in a valid container
(so it reaches the model unpickler) or, sometimes, mutated as a whole file.
Every stream is loaded with :func:`l2vision.pipelines.persist.load`. The run
fails (exit 1) at the first outcome that is not a model or one of the
documented errors, and if a marker file appears (the hostile seeds would
create it if any of their callables ran). The process limits its own address
space first (RLIMIT_AS), so a stream that allocates past the cap ends the
run with a MemoryError reported as a failure. Used by
``tests/pipelines/test_loader_fuzz.py`` (a short run) and
``benchmarks/fuzz_loader.py`` (a long one).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

DANGEROUS = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
             ("builtins", "getattr"), ("builtins", "__import__"), ("builtins", "bytearray"),
             ("subprocess", "Popen"), ("l2vision.__main__", "main"), ("shutil", "rmtree"),
             ("pathlib", "PosixPath"), ("copyreg", "_reconstructor"), ("numpy", "load"),
             ("joblib", "load"), ("pickle", "loads"), ("sys", "exit"), ("builtins", "setattr"),
             ("numpy", "ones"), ("numpy.lib.format", "read_array"), ("builtins", "str")]
# Pickle opcodes with plausible arguments, to splice into streams.
OPCODES = [b"(", b")", b"]", b"}", b"N", b".", b"0", b"1", b"2", b"R", b"b", b"s", b"u", b"e",
           b"a", b"t", b"\x81", b"\x85", b"\x86", b"\x87", b"\x88", b"\x89", b"\x93", b"\x94",
           b"h\x00", b"h\x01", b"q\x00", b"K\xff", b"J\xff\xff\xff\x7f", b"M\xff\xff",
           b"\x8c\x04sizeK\x07", b"C\x04abcd", b"\x95\x10\x00\x00\x00\x00\x00\x00\x00",
           b"\x8a\x08" + b"\xff" * 8, b"G" + b"\x7f\xf0" + b"\x00" * 6]


def _global(module: str, name: str) -> bytes:
    return b"".join(b"\x8c" + bytes([len(t)]) + t.encode() for t in (module, name)) + b"\x93"


def seeds(marker: Path) -> list[bytes]:
    """Real model payloads and hostile streams to mutate."""
    import numpy as np

    from l2vision.pipelines.build import make_pipeline
    from l2vision.pipelines.persist import _model_bytes  # noqa: PLC2701 - the writer's bytes

    blue = np.full((8, 8, 3), (255, 0, 0), np.uint8)
    red = np.full((8, 8, 3), (0, 0, 255), np.uint8)
    real = [_model_bytes(make_pipeline(spec, model, lam=1.0).fit([blue, red, red // 2],
                                                                 ["a", "b", "b"]))
            for spec, model in (("color", "ridge"), ("tiny:4,lbp", "logreg"))]
    command = f"touch {marker}".encode()
    system = b"\x80\x04" + _global("os", "system") + b"\x8c" + bytes([len(command)]) + \
        command + b"\x85R."
    build_on_class = b"\x80\x04" + _global("sklearn.pipeline", "Pipeline") + \
        pickle.dumps((None, {"predict": "x"}), protocol=4)[2:-1] + b"b."
    allocate = b"\x80\x04" + _global("builtins", "bytearray") + b"J\x00\x94\x35\x77\x85R."
    return real + [system, build_on_class, allocate]


def mutate(data: bytes, draw) -> bytes:
    """One mutation of ``data`` chosen by ``draw`` (a hypothesis ``data.draw``)."""
    from hypothesis import strategies as st

    kind = draw(st.sampled_from(["flip", "truncate", "splice", "opcode", "global", "repeat"]))
    n = len(data)
    if n == 0:
        return draw(st.sampled_from(OPCODES))
    at = draw(st.integers(0, max(n - 1, 0)))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if kind == "truncate":
        return data[:at]
    if kind == "splice":
        length = draw(st.integers(1, 64))
        return data[:at] + data[at + length:]
    if kind == "opcode":
        return data[:at] + draw(st.sampled_from(OPCODES)) + data[at:]
    if kind == "global":
        return data[:at] + _global(*draw(st.sampled_from(DANGEROUS))) + data[at:]
    length = draw(st.integers(1, 32))
    return data[:at] + data[at:at + length] * draw(st.integers(2, 50)) + data[at:]


def run(examples: int, seed: int, marker: Path) -> dict:
    """The hypothesis search; returns the outcome counts (raises AssertionError on a failure)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from l2vision.pipelines._container import container_bytes
    from l2vision.pipelines.persist import ModelFileError, UntrustedModelError, load

    base = seeds(marker)
    outcomes: Counter = Counter()
    folder = Path(tempfile.mkdtemp(prefix="l2vision-fuzz-"))

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data):
        stream = data.draw(st.sampled_from(base))
        for _ in range(data.draw(st.integers(1, 4))):
            stream = mutate(stream, data.draw)
        whole = data.draw(st.integers(0, 9)) == 0
        file_bytes = container_bytes(stream, {})
        if whole:
            file_bytes = mutate(file_bytes, data.draw)
        path = folder / "m.joblib"
        path.write_bytes(file_bytes)
        try:
            load(path)
            outcomes["loaded"] += 1
        except (ModelFileError, UntrustedModelError) as exc:
            outcomes[type(exc).__name__] += 1
        except BaseException as exc:  # anything else is a failure, SystemExit included
            raise AssertionError(f"{type(exc).__name__}: {exc} (stream {stream[:80]!r}...)") \
                from exc
        assert not marker.exists(), "a callable chosen by the file ran"

    one()
    return dict(outcomes)


def peak_rss_mib() -> float:
    """This process's own peak resident memory in MiB.

    ``VmHWM`` of ``/proc/self/status`` where it exists: ``ru_maxrss`` also counts
    the memory of the parent a child was forked from (its page tables are copied
    before ``exec``), so a child of a large pytest process would seem large.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--memory-mib", type=int, default=3072)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    limit = args.memory_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import warnings

    warnings.simplefilter("ignore")
    marker = Path(tempfile.mkdtemp()) / "marker"
    start = time.perf_counter()
    outcomes = run(args.examples, args.seed, marker)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    result = {"examples": args.examples, "outcomes": outcomes, "seconds": seconds,
              "peak_rss_mib": peak, "memory_limit_mib": args.memory_mib,
              "marker_created": marker.exists()}
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0 if not marker.exists() else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())

