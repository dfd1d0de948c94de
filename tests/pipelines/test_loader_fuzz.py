"""A short fuzz run of the model loader in CI (the long run: benchmarks/fuzz_loader.py).

Mutated and generated pickle streams (:mod:`tests.loader_fuzz`) are loaded in a
subprocess limited to 3 GiB of address space: only models or the documented
errors come out, no callable chosen by a file runs (a marker file would
appear), and the process stays under the cap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mutated_and_hostile_streams_only_give_models_or_the_documented_errors(tmp_path):
    out = tmp_path / "fuzz.json"
    done = subprocess.run([sys.executable, "-m", "tests.loader_fuzz", "--examples", "400",
                           "--memory-mib", "3072", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert not result["marker_created"]
    assert sum(result["outcomes"].values()) == 400
    assert set(result["outcomes"]) <= {"loaded", "ModelFileError", "UntrustedModelError"}
    assert result["outcomes"].get("UntrustedModelError", 0) > 0  # the hostile seeds were tried
    assert result["peak_rss_mib"] < 3072
