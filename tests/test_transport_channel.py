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
    wire = [cs.data_to_send(), cr.data_to_send()]  # shares
    cr.receive_data(wire[0])
    cs.receive_data(wire[1])
    wire += [cs.data_to_send(), cr.data_to_send()]  # confirmations (+ sealed hellos)
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        cr.receive_data(wire[2])
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        cs.receive_data(wire[3])
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
    a_share = a.data_to_send()
    b.receive_data(a_share)
    b_share_and_tag = b.data_to_send()
    with pytest.raises(AuthenticationError):
        a.receive_data(b_share_and_tag)  # share, then a tag that fails
    with pytest.raises(AuthenticationError, match="pairing code does not match"):
        b.receive_data(a.data_to_send())  # a's tag was queued before it failed


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


def test_an_end_of_stream_during_pairing_names_the_missing_step() -> None:
    a, b = _channels()
    b.receive_data(a.data_to_send())
    with pytest.raises(PeerGoneError, match="during pairing, before its pairing confirmation"):
        b.receive_eof()


# -- misuse and mismatches ---------------------------------------------------------------------


def test_a_peer_that_is_not_blindmatch_is_told_apart() -> None:
    _, b = _channels()
    with pytest.raises(RemoteProtocolError, match="did not start with a pairing message"):
        b.receive_data(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")


def test_pairing_code_on_one_side_only_is_a_clear_error() -> None:
    with_code, _ = _channels()
    _, plain = _channels(None, None)
    with pytest.raises(RemoteProtocolError, match="uses a pairing code but we do not"):
        plain.receive_data(with_code.data_to_send())
    with_code2, _ = _channels()
    plain2, _ = _channels(None, None)
    plain2.send(b"hello")
    with pytest.raises(RemoteProtocolError, match="did not start with a pairing message"):
        with_code2.receive_data(plain2.data_to_send())


def test_plain_records_inside_tls_still_detect_truncation() -> None:
    a, b = _channels(None, None)
    assert a.established and a.method == "none"
    a.send(b"inside TLS")
    wire = a.data_to_send()
    assert b"inside TLS" in wire  # TLS encrypts it; this layer only frames and closes
    b.receive_data(wire)
    assert b.next_app_data() == b"inside TLS"
    with pytest.raises(PeerGoneError, match="without a close record"):
        b.receive_eof()


def test_send_after_close_is_a_local_error() -> None:
    a, _ = _established()
    a.close()
    a.close()  # idempotent
    with pytest.raises(LocalProtocolError, match="after close"):
        a.send(b"late")
