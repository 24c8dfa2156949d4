"""CPace on X25519: equal codes give equal keys, anything else fails loudly on both sides."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from blindmatch.crypto import FIELD_PRIME, small_order_points
from blindmatch.crypto.cpace import (
    DSI,
    S_IN_BYTES,
    calculate_generator,
    generator_string,
    lv_cat,
    prepend_len,
)
from blindmatch.crypto.engine import InlineEngine
from blindmatch.crypto.h2c import map_to_curve_elligator2
from blindmatch.errors import AuthenticationError, RemoteProtocolError
from blindmatch.protocol import seeded_rng
from blindmatch.transport import TCP_CHANNEL_ID, CPace, PairingCode, SecureChannel, Side

CODE = PairingCode.generate(seeded_rng(b"pake code"))
OTHER = PairingCode.generate(seeded_rng(b"other code"))


def _pair(code_i: PairingCode = CODE, code_r: PairingCode = CODE) -> tuple[CPace, CPace]:
    i = CPace(side=Side.INITIATOR, code=code_i, ci=b"test")
    r = CPace(side=Side.RESPONDER, code=code_r, ci=b"test")
    i.receive(r.message)
    r.receive(i.message)
    return i, r


# -- the generator (the draft's own vectors are in test_cpace_draft.py) ---------------------


def test_dsi_and_code_fill_exactly_the_first_sha512_block() -> None:
    prs = CODE.secret()
    gen = generator_string(DSI, prs, b"ci", b"sid", S_IN_BYTES)
    assert gen.startswith(prepend_len(DSI) + prepend_len(prs))
    assert len(gen) == 128 + len(prepend_len(b"ci")) + len(prepend_len(b"sid"))


def test_the_generator_depends_on_code_channel_and_sid() -> None:
    base = calculate_generator(CODE.secret(), b"ci", b"")
    assert base == calculate_generator(CODE.secret(), b"ci", b"")
    assert base != calculate_generator(OTHER.secret(), b"ci", b"")
    assert base != calculate_generator(CODE.secret(), b"other", b"")
    assert base != calculate_generator(CODE.secret(), b"ci", b"sid")


class _RecordingEngine(InlineEngine):
    """An engine that records what its Elligator 2 hook was asked to map."""

    def __init__(self) -> None:
        self.mapped: list[bytes] = []

    def elligator2_map(self, u: bytes) -> bytes:
        self.mapped.append(u)
        return super().elligator2_map(u)


def test_the_generator_goes_through_the_engine_hook() -> None:
    engine = _RecordingEngine()
    CPace(side=Side.INITIATOR, code=CODE, ci=b"ci", sid=b"sid", engine=engine)
    want = hashlib.sha512(generator_string(DSI, CODE.secret(), b"ci", b"sid", 128)).digest()
    assert engine.mapped == [want[:32]]


# -- the exchange ------------------------------------------------------------------------------


def test_same_code_gives_equal_keys_and_confirmation_verifies() -> None:
    i, r = _pair()
    assert i.isk == r.isk and len(i.isk) == 64
    assert i.derive_key(b"label") == r.derive_key(b"label")
    assert i.derive_key(b"label") != i.derive_key(b"other label")
    i.verify(r.confirmation())
    r.verify(i.confirmation())
    assert i.verified and r.verified
    assert i.confirmation() != r.confirmation()  # role-specific tags


def test_fresh_scalars_give_fresh_keys() -> None:
    assert _pair()[0].isk != _pair()[0].isk


def test_wrong_code_fails_on_both_sides() -> None:
    i, r = _pair(CODE, OTHER)
    assert i.isk != r.isk
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        i.verify(r.confirmation())
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        r.verify(i.confirmation())


def test_a_reflected_tag_does_not_verify() -> None:
    i, _ = _pair()
    with pytest.raises(AuthenticationError):
        i.verify(i.confirmation())


def test_a_different_channel_identifier_fails() -> None:
    i = CPace(side=Side.INITIATOR, code=CODE, ci=b"tcp")
    r = CPace(side=Side.RESPONDER, code=CODE, ci=b"offline")
    i.receive(r.message)
    r.receive(i.message)
    with pytest.raises(AuthenticationError):
        r.verify(i.confirmation())


@pytest.mark.parametrize("point", small_order_points(), ids=lambda p: p.hex()[:8] + p.hex()[-2:])
def test_small_order_and_non_canonical_shares_are_refused(point: bytes) -> None:
    r = CPace(side=Side.RESPONDER, code=CODE)
    with pytest.raises(AuthenticationError, match="point"):
        r.receive(lv_cat(point, Side.INITIATOR.ad))


@pytest.mark.parametrize("message", ["ffffff", "ffff03", "00ffff03", "00ffffff", ""])
def test_malformed_messages_from_the_draft_are_refused(message: str) -> None:
    r = CPace(side=Side.RESPONDER, code=CODE)
    with pytest.raises(RemoteProtocolError, match="malformed"):
        r.receive(bytes.fromhex(message))


def test_two_initiators_are_told_so() -> None:
    a = CPace(side=Side.INITIATOR, code=CODE)
    b = CPace(side=Side.INITIATOR, code=CODE)
    with pytest.raises(RemoteProtocolError, match="also acts as the initiator"):
        a.receive(b.message)


def test_a_seeded_rng_reproduces_the_message_for_offline_replay() -> None:
    one = CPace(side=Side.INITIATOR, code=CODE, rng=seeded_rng(b"y"))
    two = CPace(side=Side.INITIATOR, code=CODE, rng=seeded_rng(b"y"))
    assert one.message == two.message
    assert CODE.secret() not in one.message


def test_the_documented_formulas_reproduce_the_keys_tags_and_first_record() -> None:
    """Re-derive the channel from protocol_spec.md §13 with bare primitives: RFC 9380's
    Elligator 2 (not the constant-time map), OpenSSL X25519, hashlib, HKDF."""

    def x25519(k: bytes, u: bytes) -> bytes:
        return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))

    def hkdf(ikm: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(ikm)

    def lv(*parts: bytes) -> bytes:
        return b"".join(bytes([len(p)]) + p for p in parts)  # every part here is < 128 bytes

    rng_a, rng_b = seeded_rng(b"ya"), seeded_rng(b"yb")
    nonce_a, ya = rng_a(16), rng_a(32)
    nonce_b, yb = rng_b(16), rng_b(32)
    a = SecureChannel(
        side=Side.INITIATOR, code=CODE, channel_id=TCP_CHANNEL_ID, rng=seeded_rng(b"ya")
    )
    b = SecureChannel(
        side=Side.RESPONDER, code=CODE, channel_id=TCP_CHANNEL_ID, rng=seeded_rng(b"yb")
    )
    hello_a = bytes([0, 2, 1]) + nonce_a
    hello_b = bytes([0, 2, 1]) + nonce_b
    assert a.data_to_send() == bytes([0x05, 0, 0, 0, 19]) + hello_a
    assert b.data_to_send() == bytes([0x05, 0, 0, 0, 19]) + hello_b
    assert TCP_CHANNEL_ID == b"blindmatch-channel/2 tcp"

    ci = lv(TCP_CHANNEL_ID, hello_a, hello_b)
    sid = nonce_a + nonce_b
    prs = CODE.secret()
    zpad = bytes(128 - 1 - len(prepend_len(prs)) - len(prepend_len(b"CPace255")))
    gen_str = lv(b"CPace255", prs, zpad, ci, sid)
    u = int.from_bytes(hashlib.sha512(gen_str).digest()[:32], "little") & (2**255 - 1)
    g = map_to_curve_elligator2(u % FIELD_PRIME)[0].to_bytes(32, "little")
    msg_a = lv(x25519(ya, g), b"blindmatch-channel/2 initiator")
    msg_b = lv(x25519(yb, g), b"blindmatch-channel/2 responder")

    a.receive_data(hello_record(hello_b))
    b.receive_data(hello_record(hello_a))
    share_a, share_b = a.data_to_send(), b.data_to_send()
    assert share_a == bytes([0x01]) + len(msg_a).to_bytes(4, "big") + msg_a
    assert share_b == bytes([0x01]) + len(msg_b).to_bytes(4, "big") + msg_b

    k = x25519(ya, x25519(yb, g))
    isk = hashlib.sha512(lv(b"CPace255_ISK", sid, k) + msg_a + msg_b).digest()
    mac_key = hashlib.sha512(b"CPaceMac" + sid + isk).digest()
    tag_a = hmac.new(mac_key, msg_a, hashlib.sha512).digest()

    a.send(b"first application bytes")
    a.receive_data(share_b)
    wire = a.data_to_send()
    assert wire[:69] == bytes([0x02]) + (64).to_bytes(4, "big") + tag_a
    record = wire[69:]
    header, body = record[:5], record[5:]
    assert header == bytes([0x03]) + (len(body)).to_bytes(4, "big")
    key = hkdf(isk, b"blindmatch-channel/2 initiator to responder")
    nonce = bytes(4) + (0).to_bytes(8, "big")
    assert ChaCha20Poly1305(key).decrypt(nonce, body, header) == b"first application bytes"


def hello_record(body: bytes) -> bytes:
    return bytes([0x05]) + len(body).to_bytes(4, "big") + body
