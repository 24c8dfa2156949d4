"""The conformance kit: the protocol's vector files, and the code that checks an implementation.

``vectors/`` holds every vector file (its README documents each format field by field and the
specification section it checks). :data:`CHECKERS` has one checker per file; :func:`run_kit`
runs them over blindmatch's engines (:func:`blindmatch_engines`) or a foreign program
(:class:`ExternalImplementation`, driven over JSON lines). ``python -m blindmatch.conformance``
and ``psi-run conformance`` are its command line. The test suite runs the same checkers.

The names load on first use: psi-run builds the kit's arguments on every start, and the
checkers import every layer of blindmatch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import CHECKERS as CHECKERS
    from .checks import VECTORS_DIR as VECTORS_DIR
    from .checks import Checker as Checker
    from .checks import VectorSet as VectorSet
    from .checks import checker_for as checker_for
    from .external import PROTOCOL as PROTOCOL
    from .external import ExternalImplementation as ExternalImplementation
    from .implementations import BlindmatchEngine as BlindmatchEngine
    from .implementations import Implementation as Implementation
    from .implementations import blindmatch_engines as blindmatch_engines
    from .runner import Report as Report
    from .runner import run_kit as run_kit

__all__ = [
    "CHECKERS",
    "PROTOCOL",
    "VECTORS_DIR",
    "BlindmatchEngine",
    "Checker",
    "ExternalImplementation",
    "Implementation",
    "Report",
    "VectorSet",
    "blindmatch_engines",
    "checker_for",
    "run_kit",
]

_HOME = {
    "CHECKERS": "checks",
    "VECTORS_DIR": "checks",
    "Checker": "checks",
    "VectorSet": "checks",
    "checker_for": "checks",
    "PROTOCOL": "external",
    "ExternalImplementation": "external",
    "BlindmatchEngine": "implementations",
    "Implementation": "implementations",
    "blindmatch_engines": "implementations",
    "Report": "runner",
    "run_kit": "runner",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
