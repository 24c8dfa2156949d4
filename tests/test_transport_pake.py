"""CPace on X25519: equal codes give equal keys, anything else fails loudly on both sides."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from blindmatch.crypto import hash_to_curve, small_order_points
from blindmatch.errors import AuthenticationError, RemoteProtocolError
from blindmatch.protocol import seeded_rng
from blindmatch.transport import TCP_CHANNEL_ID, CPace, PairingCode, SecureChannel, Side
from blindmatch.transport.pake import (
    DSI,
    calculate_generator,
    generator_string,
    prefix_free_cat,
    prepend_len,
)

CODE = PairingCode.generate(seeded_rng(b"pake code"))
OTHER = PairingCode.generate(seeded_rng(b"other code"))


def _pair(code_i: PairingCode = CODE, code_r: PairingCode = CODE) -> tuple[CPace, CPace]:
    i = CPace(side=Side.INITIATOR, code=code_i, ci=b"test")
    r = CPace(side=Side.RESPONDER, code=code_r, ci=b"test")
    i.receive(r.message)
    r.receive(i.message)
    return i, r


# -- the draft's string-utility test vectors (draft-irtf-cfrg-cpace, appendix) -----------------


def test_prepend_len_matches_the_draft_vectors() -> None:
    assert prepend_len(b"").hex() == "00"
    assert prepend_len(b"1234").hex() == "0431323334"
    assert prepend_len(bytes(range(127)))[:1].hex() == "7f"
    assert prepend_len(bytes(range(128)))[:3].hex() == "800100"
    assert len(prepend_len(bytes(range(128)))) == 130


def test_prefix_free_cat_matches_the_draft_vector() -> None:
    assert prefix_free_cat(b"1234", b"5", b"", b"6789").hex() == "04313233340135000436373839"


def test_dsi_and_code_fill_exactly_the_first_sha512_block() -> None:
    prs = CODE.secret()
    gen = generator_string(prs, b"ci", b"sid")
    assert gen.startswith(prepend_len(DSI) + prepend_len(prs))
    assert len(gen) == 128 + len(prepend_len(b"ci")) + len(prepend_len(b"sid"))


def test_the_generator_depends_on_code_channel_and_sid() -> None:
    base = calculate_generator(CODE.secret(), b"ci", b"")
    assert base == calculate_generator(CODE.secret(), b"ci", b"")
    assert base != calculate_generator(OTHER.secret(), b"ci", b"")
    assert base != calculate_generator(CODE.secret(), b"other", b"")
    assert base != calculate_generator(CODE.secret(), b"ci", b"sid")


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
        r.receive(prefix_free_cat(point, Side.INITIATOR.ad))


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
    """Re-derive everything from the module docstrings with bare primitives (for the spec)."""

    def x25519(k: bytes, u: bytes) -> bytes:
        return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))

    def hkdf(ikm: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(ikm)

    ya, yb = seeded_rng(b"ya")(32), seeded_rng(b"yb")(32)
    a = SecureChannel(
        side=Side.INITIATOR, code=CODE, channel_id=TCP_CHANNEL_ID, rng=seeded_rng(b"ya")
    )
    b = SecureChannel(
        side=Side.RESPONDER, code=CODE, channel_id=TCP_CHANNEL_ID, rng=seeded_rng(b"yb")
    )
    share_a, share_b = a.data_to_send(), b.data_to_send()

    prs = CODE.secret()
    zpad = bytes(128 - 1 - len(prepend_len(prs)) - len(prepend_len(DSI)))
    g = hash_to_curve(prefix_free_cat(DSI, prs, zpad, TCP_CHANNEL_ID, b""), DSI)
    msg_a = prefix_free_cat(x25519(ya, g), b"blindmatch/1 initiator")
    msg_b = prefix_free_cat(x25519(yb, g), b"blindmatch/1 responder")
    assert share_a == bytes([0x01]) + len(msg_a).to_bytes(4, "big") + msg_a
    assert share_b == bytes([0x01]) + len(msg_b).to_bytes(4, "big") + msg_b

    k = x25519(ya, x25519(yb, g))
    isk = hashlib.sha512(prefix_free_cat(DSI + b"_ISK", b"", k) + msg_a + msg_b).digest()
    tag_a = hmac.new(
        hkdf(isk, b"blindmatch/1 cpace confirm initiator"),
        prefix_free_cat(b"initiator", msg_a, msg_b),
        hashlib.sha256,
    ).digest()

    a.send(b"first application bytes")
    a.receive_data(share_b)
    wire = a.data_to_send()
    assert wire[:37] == bytes([0x02]) + (32).to_bytes(4, "big") + tag_a
    record = wire[37:]
    header, body = record[:5], record[5:]
    assert header == bytes([0x03]) + (len(body)).to_bytes(4, "big")
    key = hkdf(isk, b"blindmatch/1 channel initiator to responder")
    nonce = bytes(4) + (0).to_bytes(8, "big")
    assert ChaCha20Poly1305(key).decrypt(nonce, body, header) == b"first application bytes"
