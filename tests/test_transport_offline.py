"""Offline runs: message files, deterministic replay, and the state file's safety rules."""

from __future__ import annotations

import hashlib
import json
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_transport_support import (
    RECEIVER_LABEL,
    SENDER_LABEL,
    expected,
    receiver,
    sender,
)

from blindmatch.errors import (
    AgreementError,
    AuthenticationError,
    InputError,
    PeerAbortedError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from blindmatch.protocol import Event, PartnerTerms, ResultReady, Role, Session, seeded_rng
from blindmatch.protocol.randomness import Rng
from blindmatch.transport import MessageFile, OfflineParty, PairingCode, read_message
from blindmatch.transport.offline import MAGIC, encode_message

CODE = PairingCode.generate(seeded_rng(b"offline code"))
OTHER = PairingCode.generate(seeded_rng(b"offline other"))
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def _party(
    tmp: Path,
    name: str,
    make: Callable[[Rng], Session],
    *,
    code: PairingCode = CODE,
    fingerprint: bytes = b"inputs",
    decide: Callable[[PartnerTerms], str | None] | None = None,
    on_event: Callable[[Event], None] | None = None,
    now: Callable[[], float] = time.time,
) -> OfflineParty:
    return OfflineParty(
        tmp / name / "state.json",
        make_session=make,
        code=code,
        fingerprint=fingerprint,
        decide=decide,
        on_event=on_event,
        now=now,
    )


def _pair(tmp: Path) -> tuple[OfflineParty, OfflineParty]:
    return _party(tmp, "s", sender), _party(tmp, "r", receiver)


def _exchange(
    s: OfflineParty,
    r: OfflineParty,
    s_files: list[Path] | None = None,
    r_files: list[Path] | None = None,
    *,
    together: bool = True,
) -> tuple[list[Path], list[Path]]:
    """Step both sides until done, each reading all the other's files so far.

    ``together``: both step on what they had at the start of the round (then swap files, as
    two people would); otherwise the receiver already sees the sender's file of this round.
    """
    s_files = list(s_files or [])
    r_files = list(r_files or [])
    for _ in range(12):
        if s.done and r.done:
            return s_files, r_files
        for_r = list(s_files)
        if not s.done and (p := s.step(r_files)):
            s_files.append(p)
        if not r.done and (p := r.step(for_r if together else s_files)):
            r_files.append(p)
    raise AssertionError("the offline run did not finish")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the round trip ----------------------------------------------------------------------------


def test_an_offline_run_gives_both_sides_the_in_memory_result(tmp_path: Path) -> None:
    events: list[Event] = []
    s = _party(tmp_path, "s", sender)
    r = _party(tmp_path, "r", receiver, on_event=events.append)
    s_files, r_files = _exchange(s, r)
    assert (s.result, r.result) == expected()
    # channel hello; share; confirmation + hello; accept; lanes + blinded; returned; tally;
    # confirm
    assert len(s_files) == len(r_files) == 8
    # Each event is reported once, when it happens, not again on every replay.
    assert sum(isinstance(e, PartnerTerms) for e in events) == 1
    assert sum(isinstance(e, ResultReady) for e in events) == 1
    # The state is gone; nothing secret is left behind.
    for party in (s, r):
        assert not party.state_path.exists() and not party.partner_path.exists()
    with pytest.raises(UsageError, match="complete"):
        s.step(r_files)


def test_any_schedule_works_and_answers_can_be_merged(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    s_files, r_files = _exchange(s, r, together=False)
    assert (s.result, r.result) == expected()
    assert len(r_files) < 5  # the receiver answered the sender's share with its own at once


def test_message_files_follow_the_format_and_show_nothing_in_clear(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    first = s.step()
    assert first is not None and first.name.startswith("blindmatch-sender-")
    seed = bytes.fromhex(json.loads(s.state_path.read_bytes())["seed"])
    s_files, r_files = _exchange(s, r, [first])
    all_files = [*s_files, *r_files]
    for n, path in enumerate(s_files, 1):
        msg = read_message(path)
        assert (msg.role, msg.step) == (Role.SENDER, n)
        data = path.read_bytes()
        # magic 4 | role 1 | step 2 | run_id 16 | peer_run_id 16 | length 8 | sha256 32 | payload
        assert data[:4] == MAGIC and data[4] == 1 and int.from_bytes(data[5:7], "big") == n
        assert data[7:23] == msg.run_id and data[23:39] == msg.peer_run_id
        assert int.from_bytes(data[39:47], "big") == len(data) - 79 == len(msg.payload)
        assert data[47:79] == hashlib.sha256(data[:47] + data[79:]).digest()
        assert (data[23:39] == bytes(16)) == (n == 1)  # we learn the partner's id from its first
    blob = b"".join(p.read_bytes() for p in all_files)
    for secret in (seed, SENDER_LABEL.encode(), RECEIVER_LABEL.encode(), CODE.secret()):
        assert secret not in blob


def test_state_files_are_owner_only_and_the_seed_stays_in_them(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    s1, r1 = s.step(), r.step()
    assert s1 is not None and r1 is not None
    s.step([r1])
    for path in (s.state_path, s.partner_path, r.state_path, s1):
        assert _mode(path) == 0o600, path
    state = json.loads(s.state_path.read_bytes())
    assert state["role"] == "sender" and state["step"] == 2 and len(state["consumed"]) == 1
    assert len(bytes.fromhex(state["seed"])) == 32
    # Nothing else in the folder but our state, the partner's bytes and our messages.
    names = sorted(p.name for p in s.state_path.parent.iterdir())
    assert names == sorted(["state.json", "state.json.partner", s1.name, f"{s1.name[:-6]}02.bmx"])


def test_steps_are_idempotent_and_a_lost_message_is_written_again(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    s1, r1 = s.step(), r.step()
    assert s1 is not None and r1 is not None
    s2 = s.step([r1])
    assert s2 is not None
    before = s2.read_bytes()
    assert s.step([r1]) is None  # the same file again: nothing new
    assert s.step([r1, s1, s2]) is None  # our own files mixed in are skipped
    s2.unlink()
    assert s.step() is None
    assert s2.read_bytes() == before  # replay re-created it byte for byte


def test_decisions_are_asked_once_and_replayed(tmp_path: Path) -> None:
    asked: list[str] = []

    def decide(terms: PartnerTerms) -> None:
        asked.append(terms.terms.label)
        return None

    s = _party(tmp_path, "s", lambda rng: sender(rng, auto_accept=False), decide=decide)
    r = _party(tmp_path, "r", lambda rng: receiver(rng, auto_accept=False), decide=decide)
    _exchange(s, r)
    assert sorted(asked) == [RECEIVER_LABEL, SENDER_LABEL]
    assert (s.result, r.result) == expected()


def test_a_rejection_reaches_the_partner_and_ends_both_runs(tmp_path: Path) -> None:
    s = _party(tmp_path, "s", lambda rng: sender(rng, auto_accept=False), decide=lambda t: None)
    r = _party(
        tmp_path, "r", lambda rng: receiver(rng, auto_accept=False), decide=lambda t: "no thanks"
    )
    s1, r1 = s.step(), r.step()  # channel hellos
    assert s1 and r1
    s2, r2 = s.step([r1]), r.step([s1])  # CPace shares
    assert s2 and r2
    s3, r3 = s.step([r1, r2]), r.step([s1, s2])  # confirmations and session hellos
    assert s3 and r3
    s4 = s.step([r1, r2, r3])
    with pytest.raises(AgreementError, match=r"no thanks.*send blindmatch-receiver-\w+-04\.bmx"):
        r.step([s1, s2, s3])
    assert not r.state_path.exists()
    r4 = next(r.out_dir.glob("*-04.bmx"))
    with pytest.raises(PeerAbortedError, match="no thanks"):
        s.step([r1, r2, r3, r4])
    assert not s.state_path.exists()
    assert s4 is not None


# -- failures ----------------------------------------------------------------------------------


def test_a_wrong_code_fails_on_both_sides_and_deletes_both_states(tmp_path: Path) -> None:
    s = _party(tmp_path, "s", sender)
    r = _party(tmp_path, "r", receiver, code=OTHER)
    s1, r1 = s.step(), r.step()
    assert s1 and r1
    s2, r2 = s.step([r1]), r.step([s1])
    assert s2 and r2
    s3, r3 = s.step([r1, r2]), r.step([s1, s2])
    assert s3 and r3
    for party, files in ((s, [r1, r2, r3]), (r, [s1, s2, s3])):
        with pytest.raises(AuthenticationError, match="pairing code does not match"):
            party.step(files)
        assert not party.state_path.exists() and not party.partner_path.exists()


def test_the_run_expires_and_its_state_is_deleted(tmp_path: Path) -> None:
    clock = Clock()
    s = _party(tmp_path, "s", sender, now=clock)
    s.step()
    clock.t += 7 * DAY - 1
    assert s.step() is None  # still alive
    clock.t += 2
    with pytest.raises(TransportTimeoutError, match="expired .*7 days.*deleted"):
        s.step()
    assert not s.state_path.exists()


def test_changed_inputs_are_refused(tmp_path: Path) -> None:
    s = _party(tmp_path, "s", sender)
    s.step()
    changed = _party(tmp_path, "s", sender, fingerprint=b"other inputs")
    with pytest.raises(UsageError, match="inputs .* differ"):
        changed.step()


def test_a_different_code_on_a_later_step_is_refused(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    r1 = r.step()
    assert r1 is not None
    s.step()
    s.step([r1])
    with pytest.raises(UsageError, match="does not reproduce"):
        _party(tmp_path, "s", sender, code=OTHER).step()


def test_a_session_that_ignores_the_rng_is_refused(tmp_path: Path) -> None:
    def careless(rng: Rng) -> Session:
        return sender()  # the OS CSPRNG: every replay differs

    s, r = _party(tmp_path, "s", careless), _party(tmp_path, "r", receiver)
    s1, r1 = s.step(), r.step()
    assert s1 and r1
    s2 = s.step([r1])
    r2 = r.step([s1])
    assert s2 and r2
    s.step([r1, r2])  # our session's first bytes go out here, sealed
    r3 = r.step([s1, s2])
    assert r3 is not None
    with pytest.raises(UsageError, match="does not reproduce"):
        s.step([r1, r2, r3])


def test_a_used_step_cannot_be_answered_again_with_another_message(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    r1 = r.step()
    assert r1 is not None
    s.step()
    s.step([r1])
    original = read_message(r1)
    forged = tmp_path / "forged.bmx"
    forged.write_bytes(
        encode_message(
            role=original.role,
            step=1,
            run_id=original.run_id,
            peer_run_id=original.peer_run_id,
            payload=original.payload[:-1] + bytes([original.payload[-1] ^ 1]),
        )
    )
    with pytest.raises(TransportError, match="a different message 1 was already used"):
        s.step([forged])


def test_damaged_missing_and_foreign_files_are_refused_without_harm(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    s1, r1 = s.step(), r.step()
    assert s1 and r1
    r2 = r.step([s1])
    assert r2 is not None
    damaged = tmp_path / "damaged.bmx"
    data = bytearray(r1.read_bytes())
    data[-1] ^= 1
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged"):
        s.step([damaged])
    truncated = tmp_path / "truncated.bmx"
    truncated.write_bytes(r1.read_bytes()[:-3])
    with pytest.raises(InputError, match="truncated"):
        s.step([truncated])
    with pytest.raises(TransportError, match="message 1 is missing"):
        s.step([r2])
    stranger = _party(tmp_path, "x", receiver).step()
    assert stranger is not None
    s2 = s.step([r1])
    assert s2 is not None
    with pytest.raises(TransportError, match="another run of the partner"):
        s.step([stranger])
    not_ours = tmp_path / "notes.bmx"
    not_ours.write_bytes(b"hello, this is not a message file")
    with pytest.raises(InputError, match="not a blindmatch message file"):
        s.step([not_ours])
    # None of that hurt the run.
    _exchange(s, r, [s1, s2], [r1, r2])
    assert (s.result, r.result) == expected()


def test_a_forged_record_in_a_well_formed_file_is_refused_and_the_run_survives(
    tmp_path: Path,
) -> None:
    s, r = _pair(tmp_path)
    s1, r1 = s.step(), r.step()
    assert s1 and r1
    s2, r2 = s.step([r1]), r.step([s1])
    assert s2 and r2
    s3, r3 = s.step([r1, r2]), r.step([s1, s2])
    assert s3 and r3
    msg: MessageFile = read_message(r3)
    forged = tmp_path / "forged3.bmx"
    payload = bytearray(msg.payload)
    payload[-1] ^= 1  # the last byte of the sealed hello's tag
    forged.write_bytes(
        encode_message(
            role=msg.role,
            step=msg.step,
            run_id=msg.run_id,
            peer_run_id=msg.peer_run_id,
            payload=bytes(payload),
        )
    )
    with pytest.raises(AuthenticationError, match="record 0 .*failed authentication"):
        s.step([r1, r2, forged])
    assert s.state_path.exists()
    _exchange(s, r, [s1, s2, s3], [r1, r2, r3])
    assert (s.result, r.result) == expected()


def test_a_message_from_the_wrong_role_is_refused(tmp_path: Path) -> None:
    a = _party(tmp_path, "a", sender)
    b = _party(tmp_path, "b", sender)
    a.step()
    b1 = b.step()
    assert b1 is not None
    with pytest.raises(TransportError, match="written by a sender, like us"):
        a.step([b1])


def test_a_late_message_without_a_run_is_refused(tmp_path: Path) -> None:
    s, r = _pair(tmp_path)
    s1, r1 = s.step(), r.step()
    assert s1 and r1
    r2 = r.step([s1])
    assert r2 is not None
    fresh = _party(tmp_path, "fresh", sender)
    with pytest.raises(UsageError, match="no offline run .* message 2"):
        fresh.step([r1, r2])
    assert not fresh.state_path.exists()


def test_a_party_that_holds_its_run_skips_replays_but_not_after_a_refused_file(
    tmp_path: Path,
) -> None:
    built: list[int] = []

    def counted(rng: Rng) -> Session:
        built.append(1)
        return sender(rng)

    s = OfflineParty(
        tmp_path / "s" / "state.json",
        make_session=counted,
        code=CODE,
        fingerprint=b"inputs",
        hold_run=True,
    )
    r = _party(tmp_path, "r", receiver)
    s1, r1 = s.step(), r.step()
    assert s1 and r1
    s2, r2 = s.step([r1]), r.step([s1])
    assert s2 and r2
    s3, r3 = s.step([r1, r2]), r.step([s1, s2])
    assert s3 and r3 and len(built) == 1  # every step went on from the held run
    msg = read_message(r3)
    forged = tmp_path / "forged3.bmx"
    forged.write_bytes(
        encode_message(
            role=msg.role,
            step=msg.step,
            run_id=msg.run_id,
            peer_run_id=msg.peer_run_id,
            payload=msg.payload[:-1] + bytes([msg.payload[-1] ^ 1]),
        )
    )
    with pytest.raises(AuthenticationError):
        s.step([r1, r2, forged])
    _exchange(s, r, [s1, s2, s3], [r1, r2, r3])
    assert len(built) == 2  # the half-fed run was dropped: one replay, then held again
    assert (s.result, r.result) == expected()


def test_the_channel_nonce_of_a_run_is_its_run_id(tmp_path: Path) -> None:
    """CPace's sid offline is run_id(initiator) || run_id(responder) (protocol_spec.md §13)."""
    s, r = _pair(tmp_path)
    for party in (s, r):
        first = party.step()
        assert first is not None
        msg = read_message(first)
        hello = bytes([0x05]) + (19).to_bytes(4, "big") + (2).to_bytes(2, "big") + b"\x01"
        assert msg.payload == hello + msg.run_id
