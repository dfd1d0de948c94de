"""The package's shape: imports in one direction, small modules, no reaching into private names.

These read the source (``ast``), so imports inside functions count as much as
those at the top: an import cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "l2vision"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _package_of(name: str) -> str:
    return name if _is_package(name) else name.rpartition(".")[0]


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _package_of(importer).split(".")
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """``(module, imported name or None, line)`` for every l2vision import in ``name``."""
    tree = ast.parse(MODULES[name].read_text(), str(MODULES[name]))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, node)
            found += [(module, alias.name, node.lineno) for alias in node.names]
    return [item for item in found if item[0] == "l2vision" or item[0].startswith("l2vision.")]


def _lazy_targets(name: str) -> list[str]:
    """The modules a package's lazy ``_EXPORTS`` table names (they are imports too)."""
    tree = ast.parse(MODULES[name].read_text())
    targets = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS"
                                                 for t in node.targets):
            for value in node.value.values:
                module = value.value
                targets.append(name + module if module.startswith(".") else module)
    return targets


def _edges() -> dict[str, set[str]]:
    graph = {name: set() for name in MODULES}
    for name in MODULES:
        for module, imported, _ in _imports(name):
            submodule = f"{module}.{imported}" if imported else None
            target = submodule if submodule in MODULES else module
            if target in MODULES and target != name:
                graph[name].add(target)
        graph[name].update(t for t in _lazy_targets(name) if t in MODULES and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere_in_the_package():
    assert _cycles(_edges()) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]}: {lines} lines; split it by job"


def _private_use(name: str) -> list[str]:
    """Imports of another module's private names, or of a private module of another package."""
    problems = []
    package = _package_of(name)
    for module, imported, line in _imports(name):
        where = f"{MODULES[name]}:{line}"
        target = f"{module}.{imported}" if imported and f"{module}.{imported}" in MODULES \
            else module
        # A private module (a part starting with "_") is private to its package.
        parts = target.split(".")
        for depth, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:depth])
                if not (package == owner or package.startswith(owner + ".")):
                    problems.append(f"{where}: imports {target}, private to {owner}")
                break
        if imported and imported.startswith("_") and not imported.startswith("__") \
                and f"{module}.{imported}" not in MODULES:
            problems.append(f"{where}: imports the private name {module}.{imported}")
    tree = ast.parse(MODULES[name].read_text())
    bound = {alias.asname or alias.name: node.module if isinstance(node, ast.ImportFrom)
             else alias.name
             for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
             for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.attr.startswith("_") and not node.attr.startswith("__"):
            origin = bound.get(node.value.id) or ""
            if origin.startswith("l2vision"):
                problems.append(f"{MODULES[name]}:{node.lineno}: uses "
                                f"{node.value.id}.{node.attr}, a private name of another module")
    return problems


def test_the_private_name_check_catches_what_it_should(tmp_path, monkeypatch):
    source = ("from l2vision.features._batches import run_batches\n"
              "from l2vision.linear.kfold import _rank\n"
              "from l2vision.linear import ridge_path\n"
              "x = ridge_path._standardize\n")
    fake = PACKAGE / "scoring" / "fake.py"
    monkeypatch.setitem(MODULES, "l2vision.scoring.fake", fake)
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == fake
                        else Path.read_bytes(self).decode())
    problems = _private_use("l2vision.scoring.fake")
    assert len(problems) == 3, problems


def test_no_module_imports_another_modules_private_names():
    problems = [p for name in MODULES for p in _private_use(name)]
    assert problems == []


def test_import_l2vision_and_the_version_load_neither_sklearn_nor_opencv():
    code = ("import sys, l2vision, l2vision.cli; from l2vision.cli import build_parser; "
            "build_parser(); print(sorted({'sklearn', 'cv2', 'onnxruntime', 'scipy'} & "
            "set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    version = subprocess.run([sys.executable, "-m", "l2vision", "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("l2vision ")


def test_importing_l2vision_sets_no_environment_variable():
    code = ("import os; before = dict(os.environ); import l2vision; "
            "print(dict(os.environ) == before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "True"


def test_no_test_hook_in_the_package():
    for path in MODULES.values():
        text = path.read_text()
        assert "L2VISION_TEST" not in text and "test_hook" not in text, path
