"""Shared builders for the hostile-input tests (no tests here: imported by test_fuzz_*.py,
test_hostile_*.py and test_secrets.py).

A *hostile partner* here is a recording: a seeded pair runs once, and its frames are replayed,
edited, reordered or corrupted into a fresh session built from the same seed. Each side's own
byte stream depends only on its seed and on what it received, so the fresh victim expects
exactly the recorded frames, and any edit is something a real peer could have sent.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pytest

from blindmatch.crypto import seal_payload
from blindmatch.errors import (
    BlindmatchError,
    LocalProtocolError,
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
    Confirm,
    FrameDecoder,
    Message,
    Returned,
    decode_message,
    encode_frame,
)
from blindmatch.protocol.transcript import Transcript as ProtocolTranscript

FIELD_PRIME = 2**255 - 19

#: Labels and field values are distinctive so secret-scanning tests can look for them.
SENDER_LABEL = "Hostile-Sender"
RECEIVER_LABEL = "Hostile-Receiver"


def party_terms(label: str, *, reveal: bool = True, counts: bool = True) -> Terms:
    """A records-level population (revealing two fields if ``reveal``) and a counts one."""
    pops = [
        PopulationTerms(
            name="Customers",
            disclosure=Disclosure.RECORDS,
            fields=("Name", "Owner") if reveal else (),
        )
    ]
    if counts:
        pops.append(PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS))
    return Terms(
        label=label,
        key_types=("domain", "duns"),
        populations=tuple(pops),
        payload_bytes=128,
    )


def party_records(prefix: str, offset: int, n: int = 6) -> list[Record]:
    """n records with domains d{offset}..; every third one also has a DUNS number (two key
    slots, so dummies exist); populations cycle through records, counts and both."""
    out = []
    for i in range(n):
        k = offset + i
        keys: tuple[tuple[str, str], ...] = (("domain", f"d{k}.example"),)
        if k % 3 == 0:
            keys += (("duns", f"{100000000 + k}"),)
        pops = [{"Customers"}, {"Prospects"}, {"Customers", "Prospects"}][i % 3]
        out.append(
            Record(
                record_id=f"{prefix}{i}",
                keys=keys,
                populations=frozenset(pops),
                fields={"Name": f"{prefix}-name-{k}", "Owner": f"{prefix}-owner-{k}"},
            )
        )
    return out


def new_pair(
    seed: bytes = b"",
    *,
    sender_terms: Terms | None = None,
    receiver_terms: Terms | None = None,
    auto_accept: bool = True,
    start: bool = True,
) -> tuple[Session, Session]:
    """Sender and receiver; the same seed gives byte-identical streams."""
    s = Session(
        role=Role.SENDER,
        terms=sender_terms or party_terms(SENDER_LABEL),
        records=party_records("s", 0),
        auto_accept=auto_accept,
        rng=seeded_rng(b"hostile sender" + seed),
    )
    r = Session(
        role=Role.RECEIVER,
        terms=receiver_terms or party_terms(RECEIVER_LABEL),
        records=party_records("r", 2),
        auto_accept=auto_accept,
        rng=seeded_rng(b"hostile receiver" + seed),
    )
    if start:
        s.start()
        r.start()
    return s, r


def split_frames(data: bytes) -> list[bytes]:
    """Whole frames (header included) of a well-formed stream."""
    out, at = [], 0
    while at < len(data):
        (length,) = struct.unpack_from(">I", data, at)
        out.append(data[at : at + 4 + length])
        at += 4 + length
    return out


def messages(data: bytes) -> list[Message]:
    return [decode_message(b) for b in FrameDecoder().feed(data)]


Edit = Callable[[Message], Iterable[Message]]


class WireTranscript:
    """What one side of a pump really sent and received, to sign its ``confirm`` over.

    A cheating party computes its confirm over the messages it actually sent (its edited
    ones), so an edited stream carries a fitting confirm and reaches the checks behind it."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.sent: list[bytes] = []
        self.received: list[bytes] = []

    def confirm(self, agreement_id: bytes) -> bytes:
        transcript = ProtocolTranscript(self.role)
        for frame in self.sent:
            transcript.sent(frame)
        for frame in self.received:
            transcript.received(frame[4:])
        return encode_frame(Confirm(transcript=transcript.value(agreement_id)))

    def send(self, frames: list[bytes], agreement_id: bytes | None) -> list[bytes]:
        """``frames`` as the party sends them, its confirm re-signed."""
        out = []
        for frame in frames:
            if decode_message(frame[4:]).t == "confirm" and agreement_id is not None:
                frame = self.confirm(agreement_id)
            else:
                self.sent.append(frame)
            out.append(frame)
        return out

    def receive(self, frames: list[bytes]) -> None:
        self.received += [f for f in frames if decode_message(f[4:]).t != "confirm"]


def pump(
    s: Session,
    r: Session,
    *,
    edit_s: Edit | None = None,
    edit_r: Edit | None = None,
    rounds: int = 200,
) -> tuple[list[bytes], list[bytes]]:
    """Run the pair to the end; ``edit_*`` rewrite what that side sends (one message in,
    any number out). Returns the frames each side sent, after editing."""
    sent_s: list[bytes] = []
    sent_r: list[bytes] = []
    wire_s, wire_r = WireTranscript(Role.SENDER), WireTranscript(Role.RECEIVER)
    for _ in range(rounds):
        if s.done and r.done:
            return sent_s, sent_r
        out = _edited(s.data_to_send(), edit_s)
        if edit_s is not None:
            out = b"".join(wire_s.send(split_frames(out), _agreement_id(s)))
        sent_s += split_frames(out)
        wire_r.receive(split_frames(out))
        if out:
            r.receive_data(out)
        back = _edited(r.data_to_send(), edit_r)
        if edit_r is not None:
            back = b"".join(wire_r.send(split_frames(back), _agreement_id(r)))
        sent_r += split_frames(back)
        wire_s.receive(split_frames(back))
        if back:
            s.receive_data(back)
    raise AssertionError("the pair did not finish")


def _agreement_id(session: Session) -> bytes | None:
    return session.agreement.agreement_id if session.agreement is not None else None


def _edited(data: bytes, edit: Edit | None) -> bytes:
    if not data or edit is None:
        return data
    return b"".join(encode_frame(m) for msg in messages(data) for m in edit(msg))


@dataclass(frozen=True)
class Transcript:
    """The frames each side of a clean seeded run sent, in order."""

    sender: list[bytes]
    receiver: list[bytes]


def record(
    seed: bytes = b"", *, sender_terms: Terms | None = None, receiver_terms: Terms | None = None
) -> Transcript:
    s, r = new_pair(seed, sender_terms=sender_terms, receiver_terms=receiver_terms)
    sent_s, sent_r = pump(s, r)
    return Transcript(sender=sent_s, receiver=sent_r)


# -- edits --------------------------------------------------------------------------------


def rechunk(msg: Message, sizes: Sequence[int]) -> list[Message]:
    """Split a blinded or returned chunk into chunks of ``sizes`` accounts (seq renumbered
    from the original's; only for a lane's single chunk). Any chunking is legal."""
    assert isinstance(msg, Blinded | Returned) and sum(sizes) == msg.count
    fields = (
        ("points", "masks", "wraps", "payloads")
        if isinstance(msg, Blinded)
        else ("digests", "masks", "oprf")
    )
    out: list[Message] = []
    start = 0
    for seq, size in enumerate(sizes, start=msg.seq):
        update: dict[str, object] = {"seq": seq, "count": size}
        for name in fields:
            blob: bytes = getattr(msg, name)
            width = len(blob) // msg.count
            update[name] = blob[start * width : (start + size) * width]
        out.append(msg.model_copy(update=update))
        start += size
    return out


def drop_accounts(msg: Message, n: int) -> Message:
    """The chunk without its last ``n`` accounts (every per-account field cut to match)."""
    assert isinstance(msg, Blinded | Returned)
    return rechunk(msg, [msg.count - n, n])[0] if n else msg


def replace_element(blob: bytes, index: int, element: bytes, width: int = 32) -> bytes:
    return blob[: index * width] + element + blob[(index + 1) * width :]


def when(
    test: Callable[[Message], bool], change: Callable[[Message], Message | list[Message]]
) -> Edit:
    """An edit applied only to the messages ``test`` selects (``change`` may return a list:
    several messages, or none to drop it)."""

    def edit(msg: Message) -> list[Message]:
        if not test(msg):
            return [msg]
        changed = change(msg)
        return changed if isinstance(changed, list) else [changed]

    return edit


def edit_frames(frames: Iterable[bytes], edit: Edit | None) -> list[bytes]:
    if edit is None:
        return list(frames)
    return [encode_frame(m) for f in frames for m in edit(decode_message(f[4:]))]


def replay(victim: Session, frames: Iterable[bytes]) -> BlindmatchError | None:
    """Feed recorded partner frames one by one, letting the victim send after each (as a
    network pump would); returns the error that stopped it, if any. The partner's confirm is
    re-signed over what was really exchanged, as a cheating partner would sign it."""
    partner = WireTranscript(victim.role.other)
    try:
        partner.receive(split_frames(victim.data_to_send()))
        for frame in frames:
            (frame,) = partner.send([frame], _agreement_id(victim))
            victim.receive_data(frame)
            while out := victim.data_to_send():
                partner.receive(split_frames(out))
    except BlindmatchError as exc:
        return exc
    return None


def victim_and_frames(
    seed: bytes = b"",
    *,
    edit: Edit | None = None,
    sender_terms: Terms | None = None,
    receiver_terms: Terms | None = None,
) -> tuple[Session, list[bytes]]:
    """A fresh receiver, and the sender's recorded frames (edited) meant for it."""
    transcript = record(seed, sender_terms=sender_terms, receiver_terms=receiver_terms)
    _, r = new_pair(seed, sender_terms=sender_terms, receiver_terms=receiver_terms)
    return r, edit_frames(transcript.sender, edit)


def sender_stream(
    receiver_frames: Iterable[bytes],
    seed: bytes = b"",
    *,
    sender_terms: Terms | None = None,
    receiver_terms: Terms | None = None,
) -> list[bytes]:
    """What a fresh sender sends when fed the receiver's recorded frames: the stream of a
    sender whose *own* behaviour was changed (e.g. a patched sealing step), which a
    recording with an honest, checking receiver could not produce."""
    s, _ = new_pair(seed, sender_terms=sender_terms, receiver_terms=receiver_terms)
    sent = split_frames(s.data_to_send())
    receiver = WireTranscript(Role.RECEIVER)  # its confirm signed over what it really got
    receiver.receive(sent)
    for frame in receiver_frames:
        (frame,) = receiver.send([frame], _agreement_id(s))
        s.receive_data(frame)
        while out := s.data_to_send():
            sent += split_frames(out)
            receiver.receive(split_frames(out))
    return sent


def forge_payloads(monkeypatch: pytest.MonkeyPatch, plaintext: bytes) -> None:
    """Make every session seal ``plaintext`` (padded, as sealed) instead of its own fields.
    Patches the name the session module seals with; if sealing moves, the forging tests
    fail loudly (the victim then accepts the stream)."""
    monkeypatch.setattr(
        "blindmatch.protocol.exchange.seal_payload",
        lambda _plain, key, agreement_id: seal_payload(plaintext, key, agreement_id),
    )


def hostile_run(edit: Edit) -> tuple[Session, BlindmatchError]:
    """The receiver fed the sender's edited stream; fails the test if nothing is refused."""
    victim, frames = victim_and_frames(edit=edit)
    exc = replay(victim, frames)
    assert exc is not None, f"the edited stream was accepted (victim {victim.state})"
    return victim, exc


# -- verdicts -----------------------------------------------------------------------------


def replay_collecting(
    victim: Session, frames: Iterable[bytes]
) -> tuple[bytes, BlindmatchError | None]:
    """:func:`replay`, keeping every byte the victim sends, including what a transport
    still delivers after an error (its last ``data_to_send()``)."""
    sent = bytearray()
    error: BlindmatchError | None = None
    partner = WireTranscript(victim.role.other)
    try:
        sent += victim.data_to_send()
        partner.receive(split_frames(bytes(sent)))
        for frame in frames:
            (frame,) = partner.send([frame], _agreement_id(victim))
            victim.receive_data(frame)
            while chunk := victim.data_to_send():
                sent += chunk
                partner.receive(split_frames(chunk))
    except BlindmatchError as exc:
        error = exc
        sent += victim.data_to_send()
    return bytes(sent), error


def _assert_named_error(session: Session, exc: BaseException, needles: tuple[str, ...]) -> None:
    """A RemoteProtocolError naming what and where (printable, bounded), session in ERROR."""
    assert isinstance(exc, RemoteProtocolError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    assert text.isprintable() and len(text) <= 600, text
    assert session.state is State.ERROR, f"session left in {session.state} after: {text}"


def _assert_unusable(session: Session) -> None:
    """Nothing more to send, and every further use refused."""
    assert session.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        session.receive_data(b"\x00")


def assert_refused_quietly(session: Session, exc: BaseException, *needles: str) -> None:
    """The contract for a defect found while matching (sealed data): a RemoteProtocolError
    naming what and where for our user, the session in ERROR, but *no* abort: what we owed
    the partner still goes out, so a cheating sealer cannot tell from our side whether the
    account it tampered with matched; every further use refused."""
    _assert_named_error(session, exc, needles)
    kinds = [m.t for m in messages(session.data_to_send())]
    assert "abort" not in kinds, f"after the error the session sent {kinds}"
    _assert_unusable(session)


def assert_stopped_cleanly(session: Session, exc: BaseException, *needles: str) -> None:
    """The contract for a hostile message: a RemoteProtocolError naming what and where,
    the session in ERROR, exactly one abort queued for the partner and nothing after it
    (messages queued before the failure may precede it), and every further use refused."""
    _assert_named_error(session, exc, needles)
    sent = messages(session.data_to_send())
    kinds = [m.t for m in sent]
    assert kinds.count("abort") == 1 and kinds[-1] == "abort", (
        f"after the error the session sent {kinds}"
    )
    abort = sent[-1]
    assert isinstance(abort, Abort) and abort.code == "protocol_violation"
    _assert_unusable(session)
