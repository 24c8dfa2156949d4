"""The one loader for the JSON test vectors in ``tests/vectors`` (provenance in its README).

Every vector test takes its cases through :func:`vector_params`, so a vector file is read the
same way everywhere and each case gets a readable test id.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

VECTORS_DIR = Path(__file__).parent / "vectors"


@cache
def load_vectors(name: str) -> dict[str, Any]:
    """The parsed JSON file ``tests/vectors/<name>``."""
    with (VECTORS_DIR / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _case_id(index: int, case: dict[str, Any]) -> str:
    if "tcId" in case:
        return f"tc{case['tcId']}"
    if "name" in case:
        return str(case["name"]).replace(" ", "-")
    if "msg" in case:
        msg = str(case["msg"])
        label = msg if len(msg) <= 16 else f"{msg[:5]}..{len(msg)}"
        suffix = f"-{case['len_in_bytes']}" if "len_in_bytes" in case else ""
        return f"{index}:{label or 'empty'}{suffix}"
    return str(index)


def vector_params(name: str, key: str = "vectors") -> list[Any]:
    """One ``pytest.param`` per case in the list ``key`` of vector file ``name``."""
    cases = load_vectors(name)[key]
    return [pytest.param(case, id=_case_id(i, case)) for i, case in enumerate(cases)]
