"""The wheel holds the package, its networks and both licences; the build requirements are right."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_files_are_in_the_repository():
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    assert "Apache License" in (ROOT / "l2vision/models/LICENSE-Apache-2.0.txt").read_text()


def test_the_declared_setuptools_minimum_knows_license_expressions():
    # A PEP 639 license expression (license = "BSD-3-Clause ...") needs setuptools >= 77.
    text = (ROOT / "pyproject.toml").read_text()
    minimum = re.search(r'requires = \["setuptools>=(\d+)', text)
    assert minimum and int(minimum.group(1)) >= 77
    assert re.search(r'^license = "BSD-3-Clause', text, re.M)


def test_the_wheel_has_every_subpackage_the_networks_and_the_licences(tmp_path):
    # With build isolation, as pip installs it: the declared build requirements are used.
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("l2vision-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "l2vision").rglob(
        "__init__.py")}
    for package in packages:
        assert f"{package}/__init__.py" in names, package
    assert {"l2vision/models/mobilenet_v2_1.0_224.onnx", "l2vision/py.typed"} <= names
    licences = [n for n in names if "/licenses/" in n]
    assert any(n.endswith("/LICENSE") for n in licences)
    assert any(n.endswith("LICENSE-Apache-2.0.txt") for n in licences)
