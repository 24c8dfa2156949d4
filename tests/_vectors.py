"""The one loader for the vector files of the conformance kit (``blindmatch.conformance``).

Vector tests take the kit's own checks through :func:`checker_cases`, one ``pytest.param`` per
case and engine, so the tests and ``python -m blindmatch.conformance`` run the same code; the
tests that go further than the kit (independent arithmetic, batching) read the files through
:func:`load_vectors` and :func:`vector_params`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from blindmatch.conformance import VECTORS_DIR, VectorSet, blindmatch_engines, checker_for
from blindmatch.conformance.checks import case_id

__all__ = ["VECTORS_DIR", "checker_cases", "load_vectors", "vector_params"]

_VECTORS = VectorSet(VECTORS_DIR)


@cache
def load_vectors(name: str) -> dict[str, Any]:
    """The parsed vector file ``name`` of the kit."""
    return _VECTORS.load(name)


def vector_params(name: str, key: str = "vectors") -> list[Any]:
    """One ``pytest.param`` per case in the list ``key`` of vector file ``name``."""
    cases = load_vectors(name)[key]
    return [pytest.param(case, id=case_id(i, case)) for i, case in enumerate(cases)]


def checker_cases(name: str, engines: str | None = None) -> list[Any]:
    """``pytest.param(engine, check)`` for every case the kit checks in file ``name``, on every
    engine here (``engines``: only ``python`` or ``native``); run as
    ``with engine.active(): check()``."""
    checker = checker_for(name)
    params = []
    chosen = blindmatch_engines(engines)
    for engine in chosen if checker.per_engine else chosen[:1]:
        if not checker.requires <= engine.ops:
            continue
        for case, check in checker.run(load_vectors(name), engine, _VECTORS):
            params.append(pytest.param(engine, check, id=f"{engine.name}-{case}"))
    return params
