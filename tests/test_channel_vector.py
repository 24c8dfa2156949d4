"""The channel vector of protocol_spec.md §13.7: the code, the JSON file and the spec agree."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from blindmatch.conformance import VECTORS_DIR

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_channel_vector", ROOT / "tools" / "make_channel_vector.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _stored() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS_DIR / "channel_v2.json").read_text(encoding="utf-8"))
    return data


def test_the_channel_reproduces_every_record_and_intermediate_byte_for_byte() -> None:
    fresh, stored = _tool().build(), _stored()
    for side in ("initiator", "responder"):
        for n, (got, want) in enumerate(
            zip(fresh["records"][side], stored["records"][side], strict=True)
        ):
            assert got == want, f"{side} record {n} ({want['type']}) differs"
    assert fresh == stored


def test_spec_carries_the_same_vector() -> None:
    text = (ROOT / "protocol_spec.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- channel-vector:begin -->.*?```json\n(.*?)```", text, re.S)
    assert block is not None, "protocol_spec.md lost its channel vector"
    assert json.loads(block.group(1)) == _stored()


def test_the_data_records_open_under_the_stated_traffic_keys() -> None:
    """A reader of the spec can check the key schedule on the vector alone."""
    stored = _stored()
    for side in ("initiator", "responder"):
        party = stored[side]
        aead = ChaCha20Poly1305(bytes.fromhex(party["traffic_key"]))
        records = {r["type"]: bytes.fromhex(r["hex"]) for r in stored["records"][side]}
        for seq, (rtype, plain) in enumerate(
            (("DATA", party["application_data"].encode()), ("CLOSE", b""))
        ):
            record = records[rtype]
            nonce = bytes(4) + seq.to_bytes(8, "big")
            assert aead.decrypt(nonce, record[5:], record[:5]) == plain
