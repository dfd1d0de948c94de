"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names and the module defining each; a name is
imported on first access, so ``import l2vision`` (or ``l2vision --version``)
does not pay for scikit-learn, OpenCV or ONNX Runtime until they are used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` from ``{name: module}``.

    ``module`` is absolute (``"l2vision.io.decode"``) or relative to the
    package (``".decode"``). The value is cached in the package's namespace
    after the first access.

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("json", {"loads": "json"})
    >>> getattr_("loads")("[1]")
    [1]
    """

    def __getattr__(name: str):
        try:
            module = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
