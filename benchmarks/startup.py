"""How long ``l2vision --version`` (and ``import l2vision``) take, next to ``import numpy``.

Target (the structure issue): ``l2vision --version`` at most twice ``python -c
"import numpy"``, medians of 5 runs, alternated. Both are whole processes, so
the interpreter's own start-up is in both.

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import target, write_results

COMMANDS = {
    "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
    "l2vision --version": [sys.executable, "-m", "l2vision", "--version"],
    "l2vision --help": [sys.executable, "-m", "l2vision", "--help"],
    "python -c 'import l2vision'": [sys.executable, "-c", "import l2vision"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm the file cache once
        subprocess.run(command, capture_output=True, check=True)
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    numpy_time = medians["python -c 'import numpy'"]
    for name, seconds in medians.items():
        print(f"{name:<30} {seconds * 1000:7.1f} ms  ({seconds / numpy_time:.2f}x import numpy)")
    ratio = medians["l2vision --version"] / numpy_time
    path = write_results(
        "startup", {"median_seconds": medians, "runs": args.repeats,
                    "version_vs_import_numpy": ratio},
        {"version_vs_import_numpy": target(round(ratio, 3), 2.0, at_least=False, unit="x")},
        measures=["l2vision/__init__.py", "l2vision/_lazy.py", "l2vision/cli/__init__.py",
                  "l2vision/cli/options.py", "l2vision/__main__.py"])
    print(f"l2vision --version / import numpy: {ratio:.2f}x (target <= 2x) -> {path}")


if __name__ == "__main__":
    main()
