"""Every way a peer can break the protocol ends the session cleanly, with a named error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from blindmatch.errors import (
    AgreementError,
    BlindmatchError,
    LocalProtocolError,
    PeerAbortedError,
    RemoteProtocolError,
)
from blindmatch.protocol import (
    Disclosure,
    PopulationTerms,
    Record,
    Role,
    Session,
    State,
    Terms,
    seeded_rng,
)
from blindmatch.protocol.messages import (
    Abort,
    Blinded,
    FrameDecoder,
    Message,
    decode_message,
    encode_frame,
)

FIELD_PRIME = 2**255 - 19


def _terms(
    label: str, *, normalization: str = "bm-norm/1", disclosure: Disclosure = Disclosure.RECORDS
) -> Terms:
    return Terms(
        label=label,
        normalization=normalization,
        key_types=("domain",),
        populations=(
            PopulationTerms(
                name="Customers",
                disclosure=disclosure,
                fields=("Name",) if disclosure is Disclosure.RECORDS else (),
            ),
        ),
    )


def _records(label: str, n: int = 5) -> list[Record]:
    return [
        Record(
            record_id=f"{label}{i}",
            keys=(("domain", f"d{i}.com"),),
            populations=frozenset({"Customers"}),
            fields={"Name": f"n{i}"},
        )
        for i in range(n)
    ]


def _pair(seed: bytes = b"", **kwargs: Terms) -> tuple[Session, Session]:
    """Two sessions; the same seed gives byte-identical streams, so frames can be replayed."""
    s = Session(
        role=Role.SENDER,
        terms=kwargs.get("sender", _terms("S")),
        records=_records("s"),
        auto_accept=True,
        rng=seeded_rng(b"s" + seed),
    )
    r = Session(
        role=Role.RECEIVER,
        terms=kwargs.get("receiver", _terms("R")),
        records=_records("r"),
        auto_accept=True,
        rng=seeded_rng(b"r" + seed),
    )
    s.start()
    r.start()
    return s, r


def _messages(data: bytes) -> list[Message]:
    return [decode_message(b) for b in FrameDecoder().feed(data)]


def _pump(
    s: Session, r: Session, tamper: Callable[[Message], Message] | None = None, rounds: int = 200
) -> None:
    """Run the pair; ``tamper`` may rewrite any message the sender sends."""
    for _ in range(rounds):
        if s.done and r.done:
            return
        out = s.data_to_send()
        if out and tamper is not None:
            out = b"".join(encode_frame(tamper(m)) for m in _messages(out))
        if out:
            r.receive_data(out)
        back = r.data_to_send()
        if back:
            s.receive_data(back)
    raise AssertionError("did not finish")


def _tamper_blinded(edit: Callable[[bytes], bytes]) -> Callable[[Message], Message]:
    def tamper(msg: Message) -> Message:
        if isinstance(msg, Blinded) and msg.seq == 0:
            return msg.model_copy(update={"points": edit(msg.points)})
        return msg

    return tamper


def _aborts_sent(session: Session) -> list[Abort]:
    return [m for m in _messages(session.data_to_send()) if isinstance(m, Abort)]


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda p: p[:32] + (FIELD_PRIME + 1).to_bytes(32, "little") + p[64:], "element 1"),
        (lambda p: p[:64] + b"\x00" * 32 + p[96:], "element 2"),  # u = 0: small order
        (lambda p: p[:32] + (1).to_bytes(32, "little") + p[64:], "element 1"),  # u = 1: small order
        (lambda p: p[:32] + p[:32] + p[64:], "element 1"),  # duplicate of element 0
        (lambda p: p[:-1], "points"),  # truncated
    ],
    ids=["non-canonical", "zero", "order-4", "duplicate", "short"],
)
def test_bad_points_are_named_and_stop_both_sides(
    edit: Callable[[bytes], bytes], needle: str
) -> None:
    s, r = _pair()
    with pytest.raises(RemoteProtocolError, match="blinded message") as info:
        _pump(s, r, _tamper_blinded(edit))
    assert needle in str(info.value)
    assert r.state is State.ERROR
    # The victim tells the peer why, once, and then refuses to go on.
    (abort,) = _aborts_sent(r)
    assert abort.code == "protocol_violation"
    with pytest.raises(PeerAbortedError):
        s.receive_data(encode_frame(abort))
    with pytest.raises(LocalProtocolError):
        r.receive_data(b"")


def test_normalization_mismatch_stops_before_any_record_data() -> None:
    s, r = _pair(receiver=_terms("R", normalization="bm-norm/2"))
    hello_s, hello_r = s.data_to_send(), r.data_to_send()
    with pytest.raises(AgreementError, match="normalization"):
        r.receive_data(hello_s)
    with pytest.raises(AgreementError, match="normalization"):
        s.receive_data(hello_r)
    for session in (s, r):
        sent = _messages(session.data_to_send())
        assert [m.t for m in sent] == ["abort"]


def test_rejecting_terms_tells_the_partner_and_sends_nothing_else() -> None:
    s = Session(role=Role.SENDER, terms=_terms("S"), records=_records("s"))
    r = Session(role=Role.RECEIVER, terms=_terms("R"), records=_records("r"))
    s.start()
    r.start()
    r.receive_data(s.data_to_send())
    s.receive_data(r.data_to_send())
    assert r.state is State.AWAIT_DECISION
    r.reject("we only share with partners who reveal records")
    s.accept()
    out = r.data_to_send()
    assert [m.t for m in _messages(out)] == ["abort"]
    with pytest.raises(PeerAbortedError, match="reveal records"):
        s.receive_data(out)
    assert r.state is State.CLOSED


def _stream(session_pair: tuple[Session, Session]) -> list[bytes]:
    """Every frame the sender sends in a clean run, in order."""
    s, r = session_pair
    frames: list[bytes] = []
    for _ in range(200):
        if s.done and r.done:
            break
        out = s.data_to_send()
        frames.extend(encode_frame(m) for m in _messages(out))
        if out:
            r.receive_data(out)
        back = r.data_to_send()
        if back:
            s.receive_data(back)
    return frames


@pytest.mark.parametrize("step", range(6))
def test_wrong_message_at_each_step_fails_cleanly(step: int) -> None:
    """Skipping, repeating or reordering any message is a named RemoteProtocolError."""
    frames = _stream(_pair())
    kinds = [decode_message(f[4:]).t for f in frames]
    assert kinds == ["hello", "accept", "lanes", "blinded", "returned", "confirm"]
    s2, r2 = _pair()
    r2.data_to_send()
    for frame in frames[:step]:
        r2.receive_data(frame)
        r2.data_to_send()
    wrong = frames[step + 1] if step + 1 < len(frames) else frames[0]
    with pytest.raises(RemoteProtocolError):
        r2.receive_data(wrong)
    assert r2.state is State.ERROR


def test_message_from_another_session_is_rejected() -> None:
    """Replaying an accept recorded in another session: the agreement ids differ."""
    old = _stream(_pair(b"old"))
    s2, r2 = _pair(b"new")
    r2.receive_data(s2.data_to_send())  # the real hello of this session
    with pytest.raises(AgreementError, match="different agreement"):
        r2.receive_data(old[1])


def test_repeated_message_is_rejected() -> None:
    frames = _stream(_pair())
    s2, r2 = _pair()
    r2.receive_data(frames[0])
    with pytest.raises(RemoteProtocolError, match="unexpected hello"):
        r2.receive_data(frames[0])


def test_truncated_stream_is_named_at_eof() -> None:
    frames = _stream(_pair())
    s2, r2 = _pair()
    r2.receive_data(frames[0] + frames[1][:5])
    with pytest.raises(RemoteProtocolError, match="closed the session"):
        r2.receive_eof()


def test_garbage_and_oversized_frames() -> None:
    s, r = _pair()
    with pytest.raises(RemoteProtocolError, match="frame of"):
        r.receive_data(b"\xff\xff\xff\xff")
    s, r = _pair()
    with pytest.raises(RemoteProtocolError):
        r.receive_data(b"\x00\x00\x00\x03abc")


def test_local_misuse_is_a_local_error() -> None:
    s = Session(role=Role.SENDER, terms=_terms("S"), records=_records("s"))
    with pytest.raises(LocalProtocolError):
        s.receive_data(b"")
    s.start()
    with pytest.raises(LocalProtocolError):
        s.start()
    with pytest.raises(LocalProtocolError):
        s.accept()


def test_same_role_on_both_sides_is_rejected() -> None:
    a = Session(role=Role.SENDER, terms=_terms("A"), records=_records("a"), auto_accept=True)
    b = Session(role=Role.SENDER, terms=_terms("B"), records=_records("b"), auto_accept=True)
    a.start()
    b.start()
    with pytest.raises(RemoteProtocolError, match="role"):
        a.receive_data(b.data_to_send())


def test_errors_share_one_root() -> None:
    for exc in (AgreementError, RemoteProtocolError, PeerAbortedError, LocalProtocolError):
        assert issubclass(exc, BlindmatchError)


def test_hello_fields_are_strictly_typed() -> None:
    """A text nonce is not a 32-byte binary nonce, even if it has 32 characters."""
    import msgpack  # type: ignore[import-untyped]

    s, _ = _pair()
    hello = _messages(s.data_to_send())[0].to_wire()
    hello["nonce"] = "x" * 32
    body = msgpack.packb(hello, use_bin_type=True)
    with pytest.raises(RemoteProtocolError, match="hello message: field nonce"):
        decode_message(body)


def test_abort_reason_cannot_drive_the_terminal() -> None:
    s, r = _pair()
    r.receive_data(s.data_to_send())
    evil = Abort(code="rejected", reason="no\x1b[2J\x1b]0;pwned\x07 thanks")
    with pytest.raises(PeerAbortedError) as info:
        r.receive_data(encode_frame(evil))
    assert "\x1b" not in str(info.value) and "\x07" not in str(info.value)


def test_returned_oprf_points_are_checked() -> None:
    """A sealing partner returns OPRF points; a non-canonical one is named, not used."""

    def tamper(msg: Message) -> Message:
        from blindmatch.protocol.messages import Returned

        if isinstance(msg, Returned) and msg.oprf:
            bad = (FIELD_PRIME + 3).to_bytes(32, "little")
            return msg.model_copy(update={"oprf": bad + msg.oprf[32:]})
        return msg

    s, r = _pair()
    with pytest.raises(RemoteProtocolError, match="oprf: element 0"):
        _pump(s, r, tamper)
