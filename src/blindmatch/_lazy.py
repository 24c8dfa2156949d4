"""Package attributes imported on first use, so ``psi-run`` starts without loading the world.

A package ``__init__`` that re-exports from its submodules would import all of them (and
their dependencies: asyncio, pydantic, gmpy2, cryptography.x509, fsspec...) as soon as any
one is needed; a party that only reads a CSV and talks TCP pays for every transport and
engine. With :func:`lazy_exports` the package names the same public API, and each name's
submodule is imported when the name is first looked up (PEP 562). Type checkers see the
real imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps each public
    name to the relative module (``".aio"``) that defines it."""
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        globals_of(package)[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals_of(package)) | set(table))

    return __getattr__, __dir__


def globals_of(package: str) -> dict[str, Any]:
    """The namespace of an already imported package."""
    import sys

    return vars(sys.modules[package])
