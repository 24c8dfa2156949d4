"""SecureChannel: pairing, record protection, and every way a stream can be cut or forged."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from test_transport_support import (
    RECEIVER_LABEL,
    SENDER_LABEL,
    expected,
    receiver,
    sender,
)

from blindmatch.errors import (
    AuthenticationError,
    LocalProtocolError,
    PeerGoneError,
    RemoteProtocolError,
)
from blindmatch.protocol import Session, seeded_rng
from blindmatch.transport import (
    MAX_PLAINTEXT,
    TCP_CHANNEL_ID,
    PairingCode,
    RecordType,
    SecureChannel,
    Side,
)

CODE = PairingCode.generate(seeded_rng(b"channel code"))
OTHER = PairingCode.generate(seeded_rng(b"channel other"))


def _channels(
    code_i: PairingCode | None = CODE, code_r: PairingCode | None = CODE
) -> tuple[SecureChannel, SecureChannel]:
    return (
        SecureChannel(side=Side.INITIATOR, code=code_i, channel_id=TCP_CHANNEL_ID),
        SecureChannel(side=Side.RESPONDER, code=code_r, channel_id=TCP_CHANNEL_ID),
    )


def _shuttle(a: SecureChannel, b: SecureChannel) -> None:
    """Deliver everything queued, both ways, until nothing moves."""
    for _ in range(10):
        ab, ba = a.data_to_send(), b.data_to_send()
        if not ab and not ba:
            return
        b.receive_data(ab)
        a.receive_data(ba)


def _records(wire: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(wire):
        (length,) = struct.unpack_from(">I", wire, at + 1)
        out.append(wire[at : at + 5 + length])
        at += 5 + length
    return out


def _established() -> tuple[SecureChannel, SecureChannel]:
    a, b = _channels()
    _shuttle(a, b)
    assert a.established and b.established
    return a, b


def _three_records_and_close() -> tuple[SecureChannel, list[bytes]]:
    """A receiving channel, and the sender's records: DATA 0, 1, 2 and CLOSE 3."""
    a, b = _established()
    for n in range(3):
        a.send(b"message %d" % n)
    a.close()
    records = _records(a.data_to_send())
    assert [r[0] for r in records] == [RecordType.DATA] * 3 + [RecordType.CLOSE]
    return b, records


# -- the happy path ----------------------------------------------------------------------------


def test_bytes_flow_both_ways_in_bounded_records_and_close_cleanly() -> None:
    a, b = _channels()
    big = bytes(range(256)) * 1000  # spans several records
    a.send(big)  # before the handshake: held, then sealed once we have keys
    b.send(b"pong")
    _shuttle(a, b)
    assert b.next_app_data() == big
    assert a.next_app_data() == b"pong"
    assert a.records_sent == -(-len(big) // MAX_PLAINTEXT)
    a.close()
    b.close()
    _shuttle(a, b)
    assert a.peer_closed and b.peer_closed
    a.receive_eof()
    b.receive_eof()


def _run_sessions(
    s: Session, r: Session, cs: SecureChannel, cr: SecureChannel, wire: list[bytes]
) -> None:
    s.start()
    r.start()
    for _ in range(200):
        if s.done and r.done:
            return
        for session, channel in ((s, cs), (r, cr)):
            data = session.data_to_send()
            if data:
                channel.send(data)
        to_r, to_s = cs.data_to_send(), cr.data_to_send()
        wire += [to_r, to_s]
        cr.receive_data(to_r)
        cs.receive_data(to_s)
        if app := cr.next_app_data():
            r.receive_data(app)
        if app := cs.next_app_data():
            s.receive_data(app)
    raise AssertionError("did not finish")


def test_a_whole_session_runs_through_the_channel_and_nothing_is_in_clear() -> None:
    s, r = sender(), receiver()
    cs = SecureChannel(side=Side.RESPONDER, code=CODE, channel_id=TCP_CHANNEL_ID)
    cr = SecureChannel(side=Side.INITIATOR, code=CODE, channel_id=TCP_CHANNEL_ID)
    wire: list[bytes] = []
    _run_sessions(s, r, cs, cr, wire)
    want_s, want_r = expected()
    assert s.result == want_s and r.result == want_r
    everything = b"".join(wire)
    for label in (SENDER_LABEL, RECEIVER_LABEL, "Customers", "account"):
        assert label.encode() not in everything


def test_wrong_code_fails_on_both_sides_before_any_session_byte() -> None:
    s, r = sender(), receiver()
    cs = SecureChannel(side=Side.RESPONDER, code=CODE, channel_id=TCP_CHANNEL_ID)
    cr = SecureChannel(side=Side.INITIATOR, code=OTHER, channel_id=TCP_CHANNEL_ID)
    s.start()
    r.start()
    cs.send(s.data_to_send())  # the hello goes in before the handshake, held by the channel
    cr.send(r.data_to_send())
    wire = [cs.data_to_send(), cr.data_to_send()]  # channel hellos
    cr.receive_data(wire[0])
    cs.receive_data(wire[1])
    wire += [cs.data_to_send(), cr.data_to_send()]  # shares
    cr.receive_data(wire[2])
    cs.receive_data(wire[3])
    wire += [cs.data_to_send(), cr.data_to_send()]  # confirmations (+ sealed hellos)
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        cr.receive_data(wire[4])
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        cs.receive_data(wire[5])
    assert cs.next_app_data() == b"" and cr.next_app_data() == b""
    everything = b"".join(wire)
    for label in (SENDER_LABEL, RECEIVER_LABEL):
        assert label.encode() not in everything
    # Dead afterwards, but what was queued can still go out.
    with pytest.raises(LocalProtocolError):
        cs.receive_data(b"")
    assert cs.data_to_send() == b""


def test_the_confirmation_is_still_sent_when_the_partner_s_arrives_with_its_share() -> None:
    a, b = _channels(CODE, OTHER)
    b.receive_data(a.data_to_send())  # a's hello: b answers with its hello and share
    a.receive_data(b.data_to_send())  # a answers with its share and tag
    with pytest.raises(AuthenticationError):
        b.receive_data(a.data_to_send())  # share, then a tag that fails
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        a.receive_data(b.data_to_send())  # b's tag was queued before it failed


# -- tampering ---------------------------------------------------------------------------------


def _feed_expecting(b: SecureChannel, wire: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        b.receive_data(wire)


def _flip(record: bytes, at: int) -> bytes:
    return record[:at] + bytes([record[at] ^ 0x01]) + record[at + 1 :]


@pytest.mark.parametrize(
    ("name", "edit", "match"),
    [
        ("flip a body bit", lambda r: [r[0], _flip(r[1], 9), r[2]], "record 1 .*failed"),
        ("flip the type", lambda r: [r[0], _flip(r[1], 0), r[2]], "record 1 .*type"),
        ("flip a length bit", lambda r: [r[0], _flip(r[1], 4), r[2]], "record 1"),
        ("replay", lambda r: [r[0], r[0], r[1]], "record 1 .*replayed"),
        ("drop", lambda r: [r[0], r[2]], "record 1 .*dropped"),
        ("reorder", lambda r: [r[0], r[2], r[1]], "record 1 .*reordered"),
    ],
)
def test_tampered_records_fail_authentication_naming_the_record(
    name: str, edit: Callable[[list[bytes]], list[bytes]], match: str
) -> None:
    b, records = _three_records_and_close()
    _feed_expecting(b, b"".join(edit(records[:3])), AuthenticationError, match)


def test_a_forged_length_is_refused_before_the_body_is_buffered() -> None:
    b, _ = _three_records_and_close()
    with pytest.raises(AuthenticationError, match="declares 2147483648 bytes"):
        b.receive_data(struct.pack(">BI", RecordType.DATA, 2**31))


def test_a_record_reflected_to_its_sender_does_not_decrypt() -> None:
    a, _ = _established()
    a.send(b"to the partner")
    with pytest.raises(AuthenticationError, match="record 0"):
        a.receive_data(a.data_to_send())


def test_a_stream_cut_before_the_close_record_is_truncation() -> None:
    b, records = _three_records_and_close()
    b.receive_data(b"".join(records[:3]))
    assert b.next_app_data() == b"message 0message 1message 2"
    with pytest.raises(PeerGoneError, match="without a close record, after record 2"):
        b.receive_eof()


def test_a_stream_cut_inside_a_record_says_so() -> None:
    b, records = _three_records_and_close()
    b.receive_data(records[0] + records[1][:7])
    with pytest.raises(PeerGoneError, match="7 bytes into an unfinished record"):
        b.receive_eof()


def test_bytes_after_the_close_record_are_refused() -> None:
    b, records = _three_records_and_close()
    with pytest.raises(AuthenticationError, match="after the partner's close record"):
        b.receive_data(b"".join(records) + records[0])


def test_a_clean_close_then_end_of_stream_is_fine() -> None:
    b, records = _three_records_and_close()
    b.receive_data(b"".join(records))
    assert b.peer_closed
    b.receive_eof()


def _initiator_handshake_records() -> list[bytes]:
    """The initiator's HELLO, SHARE and CONFIRM records of a complete handshake."""
    a, b = _channels()
    sent: list[bytes] = []
    for _ in range(4):
        out = a.data_to_send()
        sent += _records(out)
        b.receive_data(out)
        a.receive_data(b.data_to_send())
    assert [r[0] for r in sent] == [RecordType.HELLO, RecordType.SHARE, RecordType.CONFIRM]
    return sent


@pytest.mark.parametrize(
    ("received", "missing"),
    [(0, "channel hello"), (1, "pairing message"), (2, "pairing confirmation")],
)
def test_an_end_of_stream_during_pairing_names_the_missing_step(
    received: int, missing: str
) -> None:
    _, b = _channels()
    b.receive_data(b"".join(_initiator_handshake_records()[:received]))
    with pytest.raises(PeerGoneError, match=f"during pairing, before its {missing}"):
        b.receive_eof()


# -- misuse and mismatches ---------------------------------------------------------------------


def test_a_peer_that_is_not_blindmatch_is_told_apart() -> None:
    _, b = _channels()
    with pytest.raises(RemoteProtocolError, match="did not start with a channel hello"):
        b.receive_data(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")


def test_pairing_code_on_one_side_only_is_a_clear_error() -> None:
    with_code, _ = _channels()
    _, plain = _channels(None, None)
    with pytest.raises(RemoteProtocolError, match="with pairing code, we with none"):
        plain.receive_data(with_code.data_to_send())
    with_code2, _ = _channels()
    plain2, _ = _channels(None, None)
    plain2.send(b"hello")
    with pytest.raises(RemoteProtocolError, match="with none, we with pairing code"):
        with_code2.receive_data(plain2.data_to_send())


def test_plain_records_inside_tls_still_detect_truncation() -> None:
    a, b = _channels(None, None)
    assert a.method == "none" and not b.established
    a.send(b"inside TLS")  # sent at once, right after the hello
    wire = a.data_to_send()
    assert b"inside TLS" in wire  # TLS encrypts it; this layer only frames and closes
    b.receive_data(wire)
    assert b.established and b.next_app_data() == b"inside TLS"
    with pytest.raises(PeerGoneError, match="without a close record"):
        b.receive_eof()


def test_send_after_close_is_a_local_error() -> None:
    a, _ = _established()
    a.close()
    a.close()  # idempotent
    with pytest.raises(LocalProtocolError, match="after close"):
        a.send(b"late")


# -- channel versions and hellos ---------------------------------------------------------------


def _v1_share() -> bytes:
    """What a channel version 1 peer sends first with a code: a SHARE record (56 bytes)."""
    body = bytes([32]) + bytes(range(1, 33)) + bytes([22]) + b"blindmatch/1 initiator"
    return struct.pack(">BI", RecordType.SHARE, len(body)) + body


@pytest.mark.parametrize("code", [CODE, None])
def test_a_version_1_peer_is_refused_naming_both_versions(code: PairingCode | None) -> None:
    _, b = _channels(code, code)
    v1 = _v1_share() if code else struct.pack(">BI", RecordType.DATA, 5) + b"hello"
    with pytest.raises(RemoteProtocolError, match="channel version 1 .*channel version 2"):
        b.receive_data(v1)


def test_a_hello_of_another_version_is_refused_naming_both_versions() -> None:
    _, b = _channels()
    body = struct.pack(">HB", 3, 1) + bytes(40)  # a future version may change the length
    with pytest.raises(RemoteProtocolError, match="channel version 3; we speak channel version 2"):
        b.receive_data(struct.pack(">BI", RecordType.HELLO, len(body)) + body)


def test_our_own_hello_reflected_back_is_refused() -> None:
    a, _ = _channels()
    with pytest.raises(RemoteProtocolError, match="loops back to us"):
        a.receive_data(a.data_to_send())


def test_the_hello_nonce_is_ours_to_choose_and_must_be_16_bytes() -> None:
    nonce = bytes(range(16))
    a = SecureChannel(side=Side.INITIATOR, code=CODE, channel_id=TCP_CHANNEL_ID, nonce=nonce)
    hello = _records(a.data_to_send())[0]
    assert hello == struct.pack(">BIHB", RecordType.HELLO, 19, 2, 1) + nonce
    with pytest.raises(LocalProtocolError, match="16 bytes"):
        SecureChannel(side=Side.INITIATOR, code=CODE, channel_id=TCP_CHANNEL_ID, nonce=b"x")


def test_equal_codes_with_different_nonces_give_different_session_keys() -> None:
    """sid is both nonces: the same code on two connections never gives the same keys."""
    keys = []
    for _ in range(2):
        a, b = _established()
        a.send(b"same plaintext")
        keys.append(_records(a.data_to_send())[0])
    assert keys[0] != keys[1]
