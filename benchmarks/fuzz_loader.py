"""The long fuzz run of the model loader: mutated and generated pickle streams.

Runs :mod:`tests.loader_fuzz` (hypothesis over streams made from real model
files and hostile seeds, each loaded under an address-space limit) with many
examples and writes ``benchmarks/results/fuzz_loader.json``: the outcomes
(models loaded, ``ModelFileError``, ``UntrustedModelError``), the time, the
peak memory. Target: nothing else comes out, no marker file (no callable
chosen by a file ran), peak memory under the limit.

    python benchmarks/fuzz_loader.py [--examples 20000] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _common import ROOT, target, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000, help="examples per seed")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--memory-mib", type=int, default=3072)
    args = parser.parse_args()
    outcomes, seconds, peak, failures = Counter(), 0.0, 0.0, []
    for seed in map(int, args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "fuzz.json"
            done = subprocess.run([sys.executable, "-m", "tests.loader_fuzz", "--examples",
                                   str(args.examples), "--seed", str(seed), "--memory-mib",
                                   str(args.memory_mib), "--out", str(out)],
                                  capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0 or not out.exists():
                failures.append({"seed": seed, "tail": (done.stdout + done.stderr)[-2000:]})
                print(f"seed {seed}: FAILED\n{failures[-1]['tail']}")
                continue
            result = json.loads(out.read_text())
        outcomes.update(result["outcomes"])
        seconds += result["seconds"]
        peak = max(peak, result["peak_rss_mib"])
        print(f"seed {seed}: {result['outcomes']} in {result['seconds']:.0f} s, peak "
              f"{result['peak_rss_mib']:.0f} MiB")
    total = sum(outcomes.values())
    print(f"{total} streams: {dict(outcomes)}; {total / max(seconds, 1e-9):.0f} streams/s; "
          f"peak {peak:.0f} MiB (limit {args.memory_mib})")
    path = write_results(
        "fuzz_loader",
        {"streams": total, "outcomes": dict(outcomes), "seconds": seconds,
         "streams_per_second": total / max(seconds, 1e-9), "peak_rss_mib": peak,
         "memory_limit_mib": args.memory_mib, "failures": failures},
        {"failed_seeds": target(len(failures), 0, at_least=False),
         "peak_rss_mib": target(round(peak), args.memory_mib, at_least=False, unit=" MiB")},
        measures=["l2vision/pipelines/_safe_pickle.py", "l2vision/pipelines/_allowed.py",
                  "l2vision/pipelines/_container.py", "l2vision/pipelines/persist.py"])
    print(path)


if __name__ == "__main__":
    main()
