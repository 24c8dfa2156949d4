"""The suite in one place: one value names it, one interface runs it, labels stay put."""

from __future__ import annotations

import inspect

import pytest

import blindmatch.protocol
from blindmatch.crypto import (
    SUITE,
    SUITE_ID,
    channel_traffic_key,
    open_sealed_payload,
    record_nonce,
    seal_payload,
    unwrap_content_key,
    wrap_content_key,
)
from blindmatch.crypto.engine import CryptoEngine, InlineEngine
from blindmatch.parallel import PoolEngine
from blindmatch.protocol.agreement import PROTOCOL_VERSION

AGREEMENT = bytes(range(32))


def test_the_suite_value_is_what_the_hellos_carry() -> None:
    assert blindmatch.protocol.SUITE == SUITE.name
    assert SUITE.h2c_suite == SUITE_ID
    assert SUITE.name.startswith(f"blindmatch/{PROTOCOL_VERSION}:" + SUITE_ID.decode("ascii"))


def test_the_protocol_reexports_the_one_engine_interface() -> None:
    assert blindmatch.protocol.CryptoEngine is CryptoEngine
    assert blindmatch.protocol.InlineEngine is InlineEngine


def _interface() -> set[str]:
    return {
        n for n in vars(CryptoEngine) if not n.startswith("_") and callable(vars(CryptoEngine)[n])
    }


@pytest.mark.parametrize("engine", [InlineEngine, PoolEngine])
def test_every_engine_implements_every_method_with_the_same_signature(engine: type) -> None:
    assert _interface() >= {"hash_blind", "hash_blind_iter", "blind", "blind_digests"}
    for name in _interface():
        want = inspect.signature(getattr(CryptoEngine, name))
        got = inspect.signature(getattr(engine, name))
        assert list(got.parameters) == list(want.parameters), f"{engine.__name__}.{name}"


def test_content_key_wraps_open_only_under_the_same_oprf_value_and_agreement() -> None:
    key, point = bytes([7]) * 32, bytes([9]) * 32
    wrap = wrap_content_key(key, point, AGREEMENT)
    assert len(wrap) == 32 + SUITE.aead_tag_bytes
    assert unwrap_content_key(wrap, point, AGREEMENT) == key
    assert unwrap_content_key(wrap, bytes([8]) * 32, AGREEMENT) is None
    assert unwrap_content_key(wrap, point, bytes(32)) is None


def test_sealed_payloads_are_bound_to_the_agreement() -> None:
    key = bytes([3]) * 32
    sealed = seal_payload(b"fields", key, AGREEMENT)
    assert open_sealed_payload(sealed, key, AGREEMENT) == b"fields"
    assert open_sealed_payload(sealed, key, bytes(32)) is None
    assert open_sealed_payload(sealed[:-1] + bytes([sealed[-1] ^ 1]), key, AGREEMENT) is None


def test_channel_keys_differ_by_direction_and_nonces_by_sequence() -> None:
    isk = bytes(range(64))
    to_responder = channel_traffic_key(isk, "initiator")
    to_initiator = channel_traffic_key(isk, "responder")
    sealed = to_responder.seal(record_nonce(0), b"data", b"aad")
    assert to_responder.open(record_nonce(0), sealed, b"aad") == b"data"
    assert to_initiator.open(record_nonce(0), sealed, b"aad") is None
    assert to_responder.open(record_nonce(1), sealed, b"aad") is None
    assert record_nonce(258) == bytes(4) + (258).to_bytes(8, "big")
    assert repr(to_responder) == "Aead(<key>)"  # never the key bytes
