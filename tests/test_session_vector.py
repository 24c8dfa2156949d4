"""The specification's full-session vector: the code, the JSON file and the spec agree."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from blindmatch.conformance import VECTORS_DIR

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_session_vector", ROOT / "tools" / "make_session_vector.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


CASES = _tool().CASES


def _stored(case: Any) -> dict[str, Any]:
    return json.loads((VECTORS_DIR / case.file).read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_session_reproduces_every_message_byte_for_byte(case: Any) -> None:
    stored = _stored(case)
    fresh = _tool().build(case)
    assert len(fresh["messages"]) == len(stored["messages"])
    for n, (got, want) in enumerate(zip(fresh["messages"], stored["messages"], strict=True)):
        assert got == want, f"message {n} ({want['from']} {want['type']}) differs"
    assert fresh["agreement_id"] == stored["agreement_id"]
    assert fresh["results"] == stored["results"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_spec_carries_the_same_vector(case: Any) -> None:
    text = (ROOT / "protocol_spec.md").read_text(encoding="utf-8")
    begin = re.escape(case.markers[0])
    block = re.search(begin + r".*?```json\n(.*?)```", text, re.S)
    assert block is not None, f"protocol_spec.md lost its {case.name} session vector"
    assert json.loads(block.group(1)) == _stored(case)


def test_the_wide_vector_covers_what_it_promises() -> None:
    """protocol_spec.md §14 lists what the second vector exercises; check each claim on the
    stored messages, so a change to the case cannot quietly drop one."""
    from blindmatch.protocol.messages import Blinded, Lanes, Returned, decode_message

    stored = _stored(next(c for c in CASES if c.name == "wide"))
    msgs = [(m["from"], decode_message(bytes.fromhex(m["hex"]))) for m in stored["messages"]]
    slots = {who: m.slots for who, m in msgs if isinstance(m, Lanes)}
    assert slots == {"sender": 2, "receiver": 3}  # dummies on both sides
    oprf_from = {who for who, m in msgs if isinstance(m, Returned) and m.oprf}
    assert oprf_from == {"sender", "receiver"}  # both seal
    wide_masks = [
        m for who, m in msgs if isinstance(m, Blinded) and len(m.masks) == 2 * m.count > 0
    ]
    assert wide_masks  # two-byte masks
    sender = stored["sender"]
    assert sender["terms"]["keys_per_account"] == 2 and sender["terms"]["payload_bytes"] > 255
    assert sender["terms"]["normalization_tables"]
    assert any(k[0].startswith("custom:") for r in sender["records"] for k in r["keys"])
    g1 = next(m for m in stored["results"]["receiver"]["matches"] if m["record_id"] == "G1")
    assert len(g1["partner_fields"]) == 2  # a payload of several maps
    assert g1["key_types"] == ["domain"]  # the crm_id that would also match was dropped
    assert stored["results"]["sender"]["matches"][0]["partner_fields"] == [{"Contact": "Jürgen"}]
    assert any(any(ord(c) > 127 for _, v in r["keys"] for c in v) for r in sender["records"])


def test_vector_results_are_what_the_definitions_say() -> None:
    """Checked by hand against spec §5.5 (see the vector's inputs)."""
    stored = _stored(CASES[0])
    sender, receiver = stored["results"]["sender"], stored["results"]["receiver"]
    # N1 and N2 share acme.com: one account, in Customers and Prospects.
    assert sender["our_sizes"] == {"Customers": 2, "Prospects": 3}
    # Only Opportunities is records-level at Globex: N3 (initech.io) is the one listed match.
    assert [m["record_id"] for m in sender["matches"]] == ["N3"]
    # G1 meets the N1+N2 account by DUNS; only N1 is records-level, so only its field shows.
    g1 = next(m for m in receiver["matches"] if m["record_id"] == "G1")
    assert g1["key_types"] == ["duns"] and g1["partner_fields"] == [{"Owner": "Ada"}]
