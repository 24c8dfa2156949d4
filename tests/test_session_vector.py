"""The specification's full-session vector: the code, the JSON file and the spec agree."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_session_vector", ROOT / "tools" / "make_session_vector.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_session_reproduces_every_message_byte_for_byte() -> None:
    stored = json.loads(
        (ROOT / "tests" / "vectors" / "session_v1.json").read_text(encoding="utf-8")
    )
    fresh = _tool().build()
    assert len(fresh["messages"]) == len(stored["messages"])
    for n, (got, want) in enumerate(zip(fresh["messages"], stored["messages"], strict=True)):
        assert got == want, f"message {n} ({want['from']} {want['type']}) differs"
    assert fresh["agreement_id"] == stored["agreement_id"]
    assert fresh["results"] == stored["results"]


def test_spec_carries_the_same_vector() -> None:
    text = (ROOT / "protocol_spec.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- session-vector:begin -->.*?```json\n(.*?)```", text, re.S)
    assert block is not None, "protocol_spec.md lost its session vector"
    stored = json.loads(
        (ROOT / "tests" / "vectors" / "session_v1.json").read_text(encoding="utf-8")
    )
    assert json.loads(block.group(1)) == stored


def test_vector_results_are_what_the_definitions_say() -> None:
    """Checked by hand against spec §5.5 (see the vector's inputs)."""
    stored = json.loads(
        (ROOT / "tests" / "vectors" / "session_v1.json").read_text(encoding="utf-8")
    )
    sender, receiver = stored["results"]["sender"], stored["results"]["receiver"]
    # N1 and N2 share acme.com: one account, in Customers and Prospects.
    assert sender["our_sizes"] == {"Customers": 2, "Prospects": 3}
    # Only Opportunities is records-level at Globex: N3 (initech.io) is the one listed match.
    assert [m["record_id"] for m in sender["matches"]] == ["N3"]
    # G1 meets the N1+N2 account by DUNS; only N1 is records-level, so only its field shows.
    g1 = next(m for m in receiver["matches"] if m["record_id"] == "G1")
    assert g1["key_types"] == ["duns"] and g1["partner_fields"] == [{"Owner": "Ada"}]
