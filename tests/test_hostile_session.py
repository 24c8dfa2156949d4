"""A hostile partner's well-formed lies: each is detected, named and ends the session cleanly.

The victim is a fresh receiver fed the sender's recorded stream with one edit (see
``test_hostile_support``). Every case checks the whole contract of protocol_spec.md §5.6 and
§6: a RemoteProtocolError naming the message type and the index or field at fault, the
session in ERROR, exactly one abort queued for the partner and nothing after it, and every
further use refused.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import msgpack  # type: ignore[import-untyped]
import pytest
from test_hostile_support import (
    FIELD_PRIME,
    RECEIVER_LABEL,
    SENDER_LABEL,
    Transcript,
    WireTranscript,
    assert_refused_quietly,
    assert_stopped_cleanly,
    drop_accounts,
    edit_frames,
    forge_payloads,
    hostile_run,
    messages,
    new_pair,
    party_terms,
    rechunk,
    record,
    replace_element,
    replay,
    replay_collecting,
    sender_stream,
    split_frames,
    victim_and_frames,
    when,
)

from blindmatch.crypto import small_order_points
from blindmatch.errors import RemoteProtocolError
from blindmatch.protocol import Disclosure, PopulationTerms, Role, State, Terms
from blindmatch.protocol.agreement import agreement_id
from blindmatch.protocol.messages import (
    Blinded,
    Lanes,
    Message,
    Returned,
    decode_message,
)


def _blinded(lane: str, seq: int = 0) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, Blinded) and m.lane == lane and m.seq == seq


def _returned(lane: str, target: str, seq: int = 0) -> Callable[[Message], bool]:
    return lambda m: (
        isinstance(m, Returned) and m.lane == lane and m.target == target and m.seq == seq
    )


# -- sizes other than declared -------------------------------------------------------------


def test_a_lane_shorter_than_declared_is_named_at_the_next_message() -> None:
    """lanes says 4 records-lane accounts; the chunk carries 3, then the counts lane starts."""
    victim, exc = hostile_run(when(_blinded("records"), lambda m: drop_accounts(m, 1)))
    assert_stopped_cleanly(
        victim, exc, "blinded message (lane counts, chunk 0)", "expected lane records, chunk 1"
    )


def test_a_lane_shorter_than_declared_is_named_at_end_of_stream() -> None:
    victim, frames = victim_and_frames(
        edit=when(_blinded("records"), lambda m: drop_accounts(m, 1))
    )
    assert replay(victim, frames[:4]) is None  # hello, accept, lanes, the short chunk
    with pytest.raises(RemoteProtocolError) as info:
        victim.receive_eof()
    assert_stopped_cleanly(victim, info.value, "closed the session", "blinded message")


@pytest.mark.parametrize("lane", ["records", "counts"])
def test_a_chunk_carrying_more_than_the_lane_declared_is_named(lane: str) -> None:
    def shrink(msg: Message) -> Message:
        assert isinstance(msg, Lanes)
        lanes = tuple(
            info.model_copy(update={"accounts": info.accounts - 1}) if info.lane == lane else info
            for info in msg.lanes
        )
        return msg.model_copy(update={"lanes": lanes})

    victim, exc = hostile_run(when(lambda m: isinstance(m, Lanes), shrink))
    assert_stopped_cleanly(
        victim, exc, f"blinded message (lane {lane}, chunk 0)", "4 accounts", "only 3 remain"
    )


def test_a_chunk_after_the_lane_is_complete_is_named() -> None:
    extra = when(_blinded("records"), lambda m: [*rechunk(m, [2, 2]), rechunk(m, [2, 2])[1]])
    victim, exc = hostile_run(extra)
    assert_stopped_cleanly(victim, exc, "blinded message (lane records, chunk 1)", "out of order")


def test_returned_with_fewer_accounts_than_ours_is_named() -> None:
    short = when(_returned("records", "records"), lambda m: drop_accounts(m, 1))
    victim, exc = hostile_run(short)
    assert_stopped_cleanly(
        victim,
        exc,
        "returned message (lane records for counts, chunk 0)",
        "expected lane records for records, chunk 1",
    )


def test_returned_cut_short_then_end_of_stream_is_named() -> None:
    victim, frames = victim_and_frames(
        edit=when(_returned("counts", "counts"), lambda m: drop_accounts(m, 1))
    )
    # The stream is cut after the returned messages: the tally and confirm never arrive.
    frames = [f for f in frames if decode_message(f[4:]).t not in ("tally", "confirm")]
    assert replay(victim, frames) is None
    assert victim.state is State.EXCHANGE and victim.waiting_for == "returned"
    with pytest.raises(RemoteProtocolError) as info:
        victim.receive_eof()
    assert_stopped_cleanly(victim, info.value, "returned message")


def test_returned_with_more_accounts_than_ours_is_named() -> None:
    def grow(msg: Message) -> Message:
        assert isinstance(msg, Returned)
        return msg.model_copy(
            update={
                "count": msg.count + 1,
                "digests": msg.digests + msg.digests[: len(msg.digests) // msg.count],
                "masks": msg.masks + msg.masks[: len(msg.masks) // msg.count],
            }
        )

    victim, exc = hostile_run(when(_returned("counts", "counts"), grow))
    assert_stopped_cleanly(
        victim, exc, "returned message (lane counts for counts, chunk 0)", "5 accounts"
    )


# -- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mask", "shown"), [(b"\x02", "0x2"), (b"\x00", "0x0"), (b"\x80", "0x80")])
def test_blinded_masks_naming_no_declared_population_are_named(mask: bytes, shown: str) -> None:
    """The records lane has one population: only bit 0 may be set, and it must be."""

    def bad_mask(msg: Message) -> Message:
        assert isinstance(msg, Blinded)
        return msg.model_copy(update={"masks": msg.masks[:2] + mask + msg.masks[3:]})

    victim, exc = hostile_run(when(_blinded("records"), bad_mask))
    assert_stopped_cleanly(
        victim, exc, "blinded message (lane records, chunk 0)", f"account 2 has mask {shown}"
    )


def test_returned_masks_naming_no_declared_population_are_named() -> None:
    def bad_mask(msg: Message) -> Message:
        assert isinstance(msg, Returned)
        return msg.model_copy(update={"masks": b"\x04" + msg.masks[1:]})

    victim, exc = hostile_run(when(_returned("counts", "counts"), bad_mask))
    assert_stopped_cleanly(
        victim, exc, "returned message (lane counts for counts, chunk 0)", "account 0 has mask 0x4"
    )


def test_a_lanes_message_naming_undeclared_populations_is_named() -> None:
    def rename(msg: Message) -> Message:
        assert isinstance(msg, Lanes)
        first = msg.lanes[0].model_copy(update={"populations": ("Customers", "Secret")})
        return msg.model_copy(update={"lanes": (first, *msg.lanes[1:])})

    victim, exc = hostile_run(when(lambda m: isinstance(m, Lanes), rename))
    assert_stopped_cleanly(victim, exc, "lanes message", "lane records")


def test_a_lanes_message_must_declare_every_level_its_terms_name() -> None:
    """protocol_spec.md §5.2: "A lane is declared whenever the terms name a population of
    that level, even if no account belongs to it". A partner whose terms name the counts
    population Prospects but whose lanes message leaves the counts lane out must be refused:
    accepted, the victim reports Prospects with size 0 as if it had been sent empty."""

    def only_records(msg: Message) -> list[Message]:
        if isinstance(msg, Lanes):
            return [msg.model_copy(update={"lanes": msg.lanes[:1]})]
        if isinstance(msg, Blinded | Returned) and msg.lane == "counts":
            return []
        return [msg]

    victim, frames = victim_and_frames(edit=only_records)
    exc = replay(victim, frames)
    assert exc is not None, (
        f"a lanes message without the counts lane was accepted; the victim ended {victim.state} "
        f"reporting partner sizes {dict(victim.result.partner_sizes) if victim.result else None}"
    )
    assert_stopped_cleanly(victim, exc, "lanes message", "counts")


# -- points ----------------------------------------------------------------------------------


def test_an_element_repeated_across_chunks_of_a_lane_is_named() -> None:
    def split_and_repeat(msg: Message) -> list[Message]:
        first, second = rechunk(msg, [2, 2])
        assert isinstance(first, Blinded) and isinstance(second, Blinded)
        repeated = replace_element(second.points, 0, first.points[32:64])
        return [first, second.model_copy(update={"points": repeated})]

    victim, exc = hostile_run(when(_blinded("records"), split_and_repeat))
    assert_stopped_cleanly(
        victim, exc, "blinded message (lane records, chunk 1)", "element 0", "repeats"
    )


def test_any_chunking_is_accepted() -> None:
    """The counterpart of the checks above: rechunked lanes are legal and give the same result."""
    victim, frames = victim_and_frames(
        edit=when(
            lambda m: isinstance(m, Blinded | Returned) and m.count == 4,
            lambda m: rechunk(m, [1, 3]),
        )
    )
    assert replay(victim, frames) is None
    assert victim.state is State.DONE
    _, clean = new_pair()
    assert replay(clean, record().sender) is None
    assert victim.result == clean.result


@pytest.mark.parametrize(
    ("element", "index"),
    [
        ((FIELD_PRIME).to_bytes(32, "little"), 3),
        ((FIELD_PRIME + 5).to_bytes(32, "little"), 0),
        ((2**256 - 1).to_bytes(32, "little"), 7),
    ],
    ids=["p", "p+5", "all-ones"],
)
def test_non_canonical_oprf_points_are_named(element: bytes, index: int) -> None:
    def bad(msg: Message) -> Message:
        assert isinstance(msg, Returned)
        return msg.model_copy(update={"oprf": replace_element(msg.oprf, index, element)})

    victim, exc = hostile_run(when(_returned("records", "records"), bad))
    assert_stopped_cleanly(
        victim,
        exc,
        "returned message (lane records for records, chunk 0) oprf",
        f"element {index}",
        "canonical",
    )


#: The canonical encodings of small-order points (0, 1, the two of order 8, p - 1).
SMALL_ORDER = [p for p in small_order_points() if int.from_bytes(p, "little") < FIELD_PRIME]


def test_small_order_oprf_points_are_refused_and_named_wherever_they_sit() -> None:
    """protocol_spec.md §6 item 6: every point is checked for small order, and the error
    names the message and the index. Today (owner: protocol/session.py) an OPRF point is
    only looked at when its slot matches, and then reported as "element 0" whatever its
    position; in a slot that does not match, a small-order point passes unnoticed."""
    assert len(SMALL_ORDER) == 5
    problems: list[str] = []
    for index in range(8):  # 4 accounts x 2 slots
        point = SMALL_ORDER[index % len(SMALL_ORDER)]

        def bad(msg: Message, index: int = index, point: bytes = point) -> Message:
            assert isinstance(msg, Returned)
            return msg.model_copy(update={"oprf": replace_element(msg.oprf, index, point)})

        victim, frames = victim_and_frames(edit=when(_returned("records", "records"), bad))
        exc = replay(victim, frames)
        if exc is None:
            problems.append(f"element {index}: accepted (session {victim.state.value})")
            continue
        text = str(exc)
        named = "oprf" in text and f"element {index}" in text and "returned message" in text
        if not (isinstance(exc, RemoteProtocolError) and named):
            problems.append(f"element {index}: {type(exc).__name__}: {text}")
    assert not problems, "small-order OPRF points:\n" + "\n".join(problems)


# -- sealed fields ---------------------------------------------------------------------------


def _flip_every(field: str, stride: int) -> Callable[[Message], Message]:
    def flip(msg: Message) -> Message:
        blob = bytearray(getattr(msg, field))
        for at in range(0, len(blob), stride):
            blob[at] ^= 0x01
        return msg.model_copy(update={field: bytes(blob)})

    return flip


def test_payloads_that_do_not_authenticate_are_named() -> None:
    victim, exc = hostile_run(when(_blinded("records"), _flip_every("payloads", 144)))
    assert_refused_quietly(victim, exc, "partner account", "lane records", "payload")


def test_wraps_that_do_not_authenticate_are_named() -> None:
    victim, exc = hostile_run(when(_blinded("records"), _flip_every("wraps", 48)))
    assert_refused_quietly(victim, exc, "partner account", "lane records", "sealed key")


@pytest.mark.parametrize("field", ["wraps", "payloads"])
def test_a_cheating_sealer_cannot_tell_whether_its_tampered_account_matched(field: str) -> None:
    """Selective failure: a sealer that corrupts one account's sealed data and watches for
    an abort would learn whether that account matched ours. The victim refuses the result
    but sends, byte for byte, what it sends in the untampered run; only its confirm differs,
    and that is a hash of the messages exchanged, which the cheater computes itself."""
    honest_victim, honest_frames = victim_and_frames()
    honest_sent, honest_error = replay_collecting(honest_victim, honest_frames)
    assert honest_error is None and honest_victim.state is State.DONE

    stride = 48 if field == "wraps" else 144
    victim, frames = victim_and_frames(edit=when(_blinded("records"), _flip_every(field, stride)))
    sent, error = replay_collecting(victim, frames)
    assert isinstance(error, RemoteProtocolError) and victim.state is State.ERROR

    def without_confirm(data: bytes) -> list[bytes]:
        return [f for f in split_frames(data) if decode_message(f[4:]).t != "confirm"]

    assert without_confirm(sent) == without_confirm(honest_sent)
    cheater = WireTranscript(Role.SENDER)
    cheater.send(frames, None)
    cheater.receive(split_frames(sent))
    assert victim.agreement is not None
    (victim_confirm,) = [f for f in split_frames(sent) if decode_message(f[4:]).t == "confirm"]
    predicted = WireTranscript(Role.RECEIVER)
    predicted.sent = [f for f in split_frames(sent) if decode_message(f[4:]).t != "confirm"]
    predicted.received = [f for f in frames if decode_message(f[4:]).t != "confirm"]
    assert victim_confirm == predicted.confirm(victim.agreement.agreement_id)


def _plaintext(body: bytes, size: int = 128) -> bytes:
    return struct.pack(">I", len(body)) + body + bytes(size - 4 - len(body))


@pytest.mark.parametrize(
    ("plaintext", "needle"),
    [
        (_plaintext(msgpack.packb([{"Name": "n", "Salary": "1"}])), "did not declare"),
        (_plaintext(msgpack.packb([{"Name": "n"}, {"Revenue": "9"}])), "did not declare"),
        (struct.pack(">I", 500) + bytes(124), "length field"),
        (_plaintext(b"\xc1\xc1"), "not valid msgpack"),
        (_plaintext(msgpack.packb({"Name": "n"})), "list of field maps"),
        (_plaintext(msgpack.packb([{"Name": 7}])), "list of field maps"),
        (_plaintext(msgpack.packb([["Name", "n"]])), "list of field maps"),
        (_plaintext(b"\x91" * 100 + b"\xc0"), "list of field maps"),
    ],
    ids=[
        "undeclared-field",
        "undeclared-second-row",
        "length-out-of-range",
        "not-msgpack",
        "map-not-list",
        "int-value",
        "list-row",
        "deep-nesting",
    ],
)
def test_sealed_payloads_revealing_undeclared_or_malformed_fields_are_named(
    monkeypatch: pytest.MonkeyPatch, plaintext: bytes, needle: str
) -> None:
    """A sealing partner whose payloads authenticate but say more (or other) than its terms
    declared. Only the sender seals here (the receiver reveals no fields), so replacing the
    plaintext the session seals forges exactly the sender's payloads."""
    quiet = party_terms(RECEIVER_LABEL, reveal=False)
    receiver_frames = record(receiver_terms=quiet).receiver  # payloads do not change it
    forge_payloads(monkeypatch, plaintext)
    forged = sender_stream(receiver_frames, receiver_terms=quiet)
    _, victim = new_pair(receiver_terms=quiet)
    exc = replay(victim, forged)
    assert exc is not None, f"forged payloads were accepted (victim {victim.state})"
    assert_refused_quietly(victim, exc, "partner account", "lane records", needle)


@pytest.mark.parametrize(
    ("revealed", "accepted"),
    [("Owner", False), ("Name", False), (None, True)],
    ids=["owner-on-every-account", "name-on-every-account", "as-declared"],
)
def test_sealed_fields_must_be_declared_for_the_populations_of_their_account(
    monkeypatch: pytest.MonkeyPatch, revealed: str | None, accepted: bool
) -> None:
    """The sender reveals Name for Customers and Owner for Prospects. Revealing Owner on a
    Customers-only account (or Name on a Prospects-only one) is a field its terms did not
    declare for that account, even though another population of its declares it."""
    split = Terms(
        label=SENDER_LABEL,
        key_types=("domain", "duns"),
        populations=(
            PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS, fields=("Name",)),
            PopulationTerms(name="Prospects", disclosure=Disclosure.RECORDS, fields=("Owner",)),
        ),
        payload_bytes=128,
    )
    quiet = party_terms(RECEIVER_LABEL, reveal=False)
    receiver_frames = record(sender_terms=split, receiver_terms=quiet).receiver
    if revealed is not None:
        forge_payloads(monkeypatch, _plaintext(msgpack.packb([{revealed: "x"}])))
    stream = sender_stream(receiver_frames, sender_terms=split, receiver_terms=quiet)
    _, victim = new_pair(sender_terms=split, receiver_terms=quiet)
    exc = replay(victim, stream)
    if accepted:
        assert exc is None and victim.state is State.DONE
        assert victim.result is not None and any(m.partner_fields for m in victim.result.matches), (
            "the honest run reveals fields: the forged runs above are a real test"
        )
        return
    assert exc is not None, f"forged payloads were accepted (victim {victim.state})"
    assert_refused_quietly(
        victim, exc, "partner account", "lane records", "did not declare for the populations"
    )


# -- what a hostile message leaves behind ----------------------------------------------------


def test_nothing_follows_the_abort_after_an_error() -> None:
    """protocol_spec.md §5.6: a failed check sends an abort and ends the session. Today
    (owner: protocol/session.py) returned chunks queued for the partner's earlier, valid
    blinded chunk still go out after the abort, on the next data_to_send().

    Minimal reproduction: a receiver that has sent all its blinded chunks gets the sender's
    first blinded chunk and a garbage frame in one receive_data(); data_to_send() then
    returns [abort, returned]."""
    frames = record().sender
    _, victim = new_pair()
    assert replay(victim, frames[:3]) is None  # hello, accept, lanes; our blinded all sent
    with pytest.raises(RemoteProtocolError) as info:
        victim.receive_data(frames[3] + frames[0])  # a valid blinded chunk, then a 2nd hello
    assert_stopped_cleanly(victim, info.value, "unexpected hello message")


def test_an_error_found_while_computing_the_result_ends_the_session_quietly() -> None:
    """Checks that run when the result is computed (sealed keys and payloads) end the
    session in ERROR once, raise a RemoteProtocolError, and queue no abort: the result is
    computed once both confirms are through, after everything we owed went out as in an
    honest run (see test_a_cheating_sealer_cannot_tell_whether_its_tampered_account_matched).

    Feed the receiver the sender's whole stream but its confirm (one payload corrupted) in
    one receive_data() right after start, let it send, then feed the confirm."""
    transcript = record()
    corrupt = when(_blinded("records"), _flip_every("payloads", 144))
    frames = edit_frames(transcript.sender, corrupt)
    # The cheater signs its confirm over what it really sent and what the victim sends
    # (the victim's stream does not depend on what it received, its confirm aside).
    cheater = WireTranscript(Role.SENDER)
    cheater.receive(transcript.receiver)
    *exchange, confirm = cheater.send(frames, _agreement_of(transcript))
    _, victim = new_pair()
    victim.receive_data(b"".join(exchange))  # every message is well formed
    owed = []
    for _ in range(20):
        owed += messages(victim.data_to_send())
    assert {m.t for m in owed} >= {"returned", "confirm"}
    with pytest.raises(RemoteProtocolError) as info:
        victim.receive_data(confirm)
    assert victim.data_to_send() == b""  # no abort
    assert_refused_quietly(victim, info.value, "partner account", "payload")


def _agreement_of(transcript: Transcript) -> bytes:
    """The agreement id of a recorded session (from its two hellos)."""
    return agreement_id(transcript.sender[0][4:], transcript.receiver[0][4:])


def test_shuffled_returns_sort_the_digests_within_each_account() -> None:
    """The sender knows where it put each key among its slots (dummies elsewhere); if its
    shuffled accounts came back in slot order, the slot of a match would narrow down which
    of its accounts matched. So the slots of a shuffled account come back sorted."""
    transcript = record()
    sender_slots = 2  # party_records: every third record also has a DUNS number
    shuffled = [
        m for m in messages(b"".join(transcript.receiver))
        if isinstance(m, Returned) and m.lane == "counts"
    ]  # fmt: skip
    assert shuffled, "the recorded session returns a counts lane"
    for msg in shuffled:
        digests = bytes(msg.digests)
        assert len(digests) == msg.count * sender_slots * 16
        for i in range(msg.count):
            account = digests[i * sender_slots * 16 : (i + 1) * sender_slots * 16]
            slots = [account[at : at + 16] for at in range(0, len(account), 16)]
            assert slots == sorted(slots)


def test_replaying_the_recorded_stream_reproduces_the_result() -> None:
    """The premise of every test here: a fresh victim accepts the recorded stream."""
    transcript = record()
    s, victim = new_pair()
    assert replay(victim, transcript.sender) is None
    assert victim.state is State.DONE and victim.result is not None
    assert [m.t for m in messages(b"".join(transcript.sender))][:3] == ["hello", "accept", "lanes"]
    assert len(split_frames(b"".join(transcript.sender))) == len(transcript.sender)
    assert victim.result.matches  # sealed fields were opened: the oprf path is exercised
