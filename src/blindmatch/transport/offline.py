"""Offline exchange: the same session and channel, carried in message files.

Why: some partners cannot open a connection to each other at all; they can only drop files on
an SFTP server or attach them to an email. Each run of ``psi-run`` then does one *step*: read
the partner's new message files, write ours, exit. Days may pass between steps.

Design: deterministic replay instead of persisting live state. A local state file holds a
random 32-byte seed; every step rebuilds the session with ``rng = stream_rng(seed, "offline
session")`` and the channel with the CPace scalar from ``stream_rng(seed, "offline pake")``,
feeds every partner message received so far, file by file, exactly as before, and so
re-creates byte for byte the stream it already sent. Only the bytes past what earlier steps
wrote go into the next message file. Nothing but the seed and the partner's bytes has to be
stored, and the session code needs no serialization. The channel still runs CPace with a
pairing code both users know (one generates it and tells the other), so message files are as
encrypted and authenticated as a TCP stream.

Safety rules this module enforces:

* **No rewinding.** Replaying from a seed would answer a *different* partner message with the
  same secrets (one more guess at the code for an attacker, more evaluations under our
  scalars). So a partner message, once used, is pinned by its hash in the state, and the
  state is saved *before* the message that answers it is written: a different file for an
  already-used step is refused.
* **The seed is the session's secrets.** It lives only in the state file: created with
  ``os.open(..., 0o600)``, written atomically (temporary file in the same folder, ``fsync``,
  ``os.replace``), never logged or shown in a ``repr``, deleted when the run completes, fails
  for good (a wrong code, an abort) or expires (default 7 days; the clock is an argument).
  An expired state is deleted, not used.
* **Same inputs.** The caller passes a fingerprint of its inputs (files, policy); a step with
  a different fingerprint, pairing code or session is refused rather than replayed into a
  different stream (the replayed bytes are checked against a hash of what was sent).

Message file (``blindmatch-<role>-<run>-<NN>.bmx``; integers big-endian)::

    magic        4   b"BMX1"
    role         1   writer's session role: 1 = sender, 2 = receiver
    step         2   the writer's message number, from 1
    run_id      16   the writer's run identifier (random, fixed for the run)
    peer_run_id 16   the reader's run identifier, or zeros before the writer has seen it
    length       8   payload length
    checksum    32   SHA-256 of the 47 bytes above and the payload (catches transfer damage
                     before anything is consumed; integrity against attackers is the channel's)
    payload  length  channel wire bytes (see :mod:`.channel`), continuing the writer's stream

The session's receiver is the CPace initiator and its sender the responder, as over TCP, with
channel identifier :data:`~.channel.OFFLINE_CHANNEL_ID`; each side's channel nonce is its
``run_id``, so CPace's session identifier is ``run_id(initiator) || run_id(responder)``. A
typical run takes eight messages per side: channel hello; CPace share; key confirmation and
hello; accept; lanes and blinded values; returned values; tallies (when one side's lane is
records and the other's counts); the session's confirm. The ninth step reads the partner's
eighth message and produces the result. No CLOSE record is sent:
the session's confirm ends the run (protocol_spec.md §5.7, §13).

State file (JSON, owner-only): ``format``, ``role``, ``seed`` (hex), ``fingerprint`` (hex),
``run_id``, ``partner_run_id``, ``created``, ``expires`` (Unix seconds), ``step`` (our messages
written), ``sent`` (the end offset of each of our messages in our stream), ``sent_sha256``,
``consumed`` (per partner message: SHA-256 of the file and payload length), ``partner_sha256``
and ``decision``. The partner's payloads are kept next to it in ``<state>.partner`` (also
owner-only) so replays do not depend on the caller keeping the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..driver import Decide, Rejection, SessionDriver
from ..errors import (
    AgreementError,
    BlindmatchError,
    InputError,
    PeerAbortedError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from ..io.atomic import write_private
from ..protocol import Event, OverlapResult, PartnerTerms, Role, Session, State
from ..protocol.agreement import Agreement
from ..protocol.randomness import Rng, stream_rng
from .channel import OFFLINE_CHANNEL_ID, SecureChannel
from .pairing import PairingCode
from .pake import Side

__all__ = [
    "DEFAULT_LIFETIME",
    "MAGIC",
    "MessageFile",
    "OfflineParty",
    "encode_message",
    "read_message",
]

MAGIC: Final = b"BMX1"
#: magic, role, step, run_id, peer_run_id, payload length (the checksum follows)
_FIELDS: Final = struct.Struct(">4sBH16s16sQ")
_CHECKSUM_BYTES: Final = 32
HEADER_BYTES: Final = _FIELDS.size + _CHECKSUM_BYTES
_RUN_ID_BYTES: Final = 16
_NO_RUN: Final = bytes(_RUN_ID_BYTES)
_ROLE_CODES: Final = {Role.SENDER: 1, Role.RECEIVER: 2}
_CODE_ROLES: Final = {v: k for k, v in _ROLE_CODES.items()}
_STATE_FORMAT: Final = "blindmatch-offline-state/1"
#: How long an offline run may take before its state is refused and deleted.
DEFAULT_LIFETIME: Final = 7 * 24 * 3600.0


def _side(role: Role) -> Side:
    return Side.INITIATOR if role is Role.RECEIVER else Side.RESPONDER


# -- message files -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageFile:
    """A parsed ``.bmx`` file."""

    path: Path
    role: Role
    step: int
    run_id: bytes
    peer_run_id: bytes
    payload: bytes
    #: SHA-256 of the whole file, hex: pins the message once it is used
    digest: str


def encode_message(
    *, role: Role, step: int, run_id: bytes, peer_run_id: bytes, payload: bytes
) -> bytes:
    """The bytes of a ``.bmx`` file (format in the module docstring)."""
    fields = _FIELDS.pack(MAGIC, _ROLE_CODES[role], step, run_id, peer_run_id, len(payload))
    checksum = hashlib.sha256(fields + payload).digest()
    return fields + checksum + payload


def read_message(path: str | os.PathLike[str]) -> MessageFile:
    """Parse and check a ``.bmx`` file.

    Raises :class:`~blindmatch.errors.InputError` naming the file and what is wrong with it:
    a message file handed to us is an input, and its damage is not the network's fault."""
    path = Path(path)
    where = str(path)
    try:
        # Only regular files: reading a FIFO or a device would block or never end. The
        # header is checked against the file's size before the payload is read, so a header
        # announcing more (or less) than the file holds costs nothing.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError("not a regular file, so not a message file", file=where)
            head = fh.read(HEADER_BYTES)
            if len(head) < HEADER_BYTES or head[:4] != MAGIC:
                raise InputError(
                    f"not a blindmatch message file (.bmx files start with {MAGIC!r})", file=where
                )
            magic, role_code, step, run_id, peer_run_id, length = _FIELDS.unpack_from(head)
            if role_code not in _CODE_ROLES or step < 1:
                raise InputError(
                    f"the message header is malformed (role {role_code}, step {step})", file=where
                )
            if info.st_size != HEADER_BYTES + length:
                raise InputError(
                    f"the message file is truncated or has extra bytes: its header announces "
                    f"{length} payload bytes, the file holds {info.st_size - HEADER_BYTES}; ask "
                    f"the partner to send it again",
                    file=where,
                )
            data = head + fh.read(length + 1)
    except OSError as exc:
        raise InputError(f"cannot read the message file: {exc.strerror}", file=where) from exc
    if len(data) != HEADER_BYTES + length:
        raise InputError("the message file changed while it was being read", file=where)
    payload = data[HEADER_BYTES:]
    checksum = data[_FIELDS.size : HEADER_BYTES]
    if hashlib.sha256(data[: _FIELDS.size] + payload).digest() != checksum:
        raise InputError(
            "the message file is damaged (its SHA-256 checksum does not match its contents); "
            "ask the partner to send it again",
            file=where,
        )
    return MessageFile(
        path=path,
        role=_CODE_ROLES[role_code],
        step=step,
        run_id=run_id,
        peer_run_id=peer_run_id,
        payload=payload,
        digest=hashlib.sha256(data).hexdigest(),
    )


# -- private files -----------------------------------------------------------------------------


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One step at a time per folder: two concurrent steps could answer two different files."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: go on unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# -- state -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Consumed:
    digest: str
    length: int


@dataclass(slots=True)
class _State:
    role: Role
    seed: bytes = field(repr=False)  # never in a traceback's locals or a log line
    fingerprint: str
    run_id: bytes
    created: float
    expires: float
    partner_run_id: bytes | None = None
    sent: list[int] = field(default_factory=list)
    sent_sha256: str = ""
    consumed: list[_Consumed] = field(default_factory=list)
    partner_sha256: str = hashlib.sha256(b"").hexdigest()
    #: (accepted, reason) once the user decided on the partner's terms
    decision: tuple[bool, str, str] | None = None

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "format": _STATE_FORMAT,
            "role": self.role.value,
            "seed": self.seed.hex(),
            "fingerprint": self.fingerprint,
            "run_id": self.run_id.hex(),
            "partner_run_id": self.partner_run_id.hex() if self.partner_run_id else None,
            "created": self.created,
            "expires": self.expires,
            "step": len(self.sent),
            "sent": self.sent,
            "sent_sha256": self.sent_sha256,
            "consumed": [{"sha256": c.digest, "length": c.length} for c in self.consumed],
            "partner_sha256": self.partner_sha256,
            "decision": (
                None
                if self.decision is None
                else {
                    "accept": self.decision[0],
                    "reason": self.decision[1],
                    "partner_reason": self.decision[2],
                }
            ),
        }
        return json.dumps(doc, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> _State:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != _STATE_FORMAT:
            raise ValueError("unknown format")
        decision = doc["decision"]
        state = cls(
            role=Role(doc["role"]),
            seed=bytes.fromhex(doc["seed"]),
            fingerprint=str(doc["fingerprint"]),
            run_id=bytes.fromhex(doc["run_id"]),
            created=float(doc["created"]),
            expires=float(doc["expires"]),
            partner_run_id=(
                bytes.fromhex(doc["partner_run_id"]) if doc["partner_run_id"] else None
            ),
            sent=[int(n) for n in doc["sent"]],
            sent_sha256=str(doc["sent_sha256"]),
            consumed=[_Consumed(str(c["sha256"]), int(c["length"])) for c in doc["consumed"]],
            partner_sha256=str(doc["partner_sha256"]),
            decision=(
                None
                if decision is None
                else (
                    bool(decision["accept"]),
                    str(decision["reason"]),
                    str(decision.get("partner_reason", decision["reason"])),
                )
            ),
        )
        if len(state.seed) != 32 or len(state.run_id) != _RUN_ID_BYTES:
            raise ValueError("bad seed or run id")
        return state


# -- the replay --------------------------------------------------------------------------------


class _Run:
    """A session and a channel rebuilt from the seed, driven one partner message at a time.

    The driver is the same one every transport uses; what is particular here is that the
    partner's messages are replayed (events are shown only for new ones, and the user's
    decision on the partner's terms is taken from the state once it was made)."""

    def __init__(self, party: OfflineParty, state: _State, *, live: bool, fresh: bool) -> None:
        self.party = party
        session = party._make_session(stream_rng(state.seed, b"offline session"))
        if fresh:
            state.role = session.role
        elif session.role is not state.role:
            raise UsageError(
                f"make_session built a {session.role.value} session, but this offline run "
                f"is the {state.role.value}"
            )
        self.session = session
        self.decision = state.decision
        self.live = live
        self.out = bytearray()
        self.driver = SessionDriver(
            session,
            channel=SecureChannel(
                side=_side(state.role),
                code=party._code,
                channel_id=OFFLINE_CHANNEL_ID,
                # The run identifier is our channel nonce, so CPace's sid is both run ids.
                nonce=state.run_id,
                rng=stream_rng(state.seed, b"offline pake"),
                engine=session.engine,
            ),
            decide=self._decide,
            on_event=self._on_event,
            close_when_done=False,
        )
        self.pump()

    @property
    def established(self) -> bool:
        return self.driver.channel is not None and self.driver.channel.established

    def feed(self, payload: bytes, name: str) -> None:
        self.driver.incoming(payload, boundary=name)
        self.pump()

    def pump(self) -> None:
        """Move everything the session has to say onto our stream (deterministically)."""
        self.out += self.driver.outgoing(limit=sys.maxsize)

    def flush_abort(self) -> None:
        """After a session error: the session queued an abort; put it on the wire."""
        self.out += self.driver.farewell()

    def _on_event(self, event: Event) -> None:
        on_event = self.party._on_event
        if self.live and on_event is not None:
            on_event(event)

    def _decide(self, event: PartnerTerms) -> Rejection | None:
        if self.decision is None:
            decide = self.party._decide
            if decide is None:
                raise UsageError(
                    "the partner's terms need a decision: pass decide=... or make the "
                    "Session with auto_accept=True"
                )
            reason = decide(event)
            if isinstance(reason, str):
                reason = Rejection(reason, reason)
            self.decision = (
                (True, "", "") if reason is None else (False, reason.ours, reason.theirs)
            )
        accepted, ours, theirs = self.decision
        return None if accepted else Rejection(ours, theirs)


def _held_key(state: _State) -> tuple[object, ...]:
    """What identifies the point a run reached: a held run is used only for the same state."""
    return (
        state.run_id,
        state.sent_sha256,
        len(state.consumed),
        state.partner_sha256,
        state.decision,
    )


# -- the party ---------------------------------------------------------------------------------


class OfflineParty:
    """One side of an offline run, driven one step (one exchange of files) at a time.

    :param state_path: where this side keeps its state (created on the first step).
    :param make_session: builds our Session from the given rng; must build the same session
        (terms, records, role) every time and use that rng.
    :param code: the pairing code both sides use for the whole run.
    :param fingerprint: a hash of our inputs (files, policy); a later step with a different
        one is refused.
    :param out_dir: where our message files go (default: next to the state file).
    :param decide: asked about the partner's terms once (None = accept, a string = reject);
        the answer is kept in the state for later replays.
    :param on_event: receives the session events produced by new partner messages.
    :param lifetime: seconds from the first step after which the run is refused and deleted.
    :param now: the clock (Unix seconds), replaceable in tests.
    :param hold_run: keep the live session between steps of this object instead of replaying
        it from the seed each time (a mailbox run steps many times in one process; the replay
        costs as much as every step before it). Off by default: a replay also checks that
        ``make_session`` is deterministic, which a held run does not re-check.
    """

    def __init__(
        self,
        state_path: str | os.PathLike[str],
        *,
        make_session: Callable[[Rng], Session],
        code: PairingCode,
        fingerprint: bytes,
        out_dir: str | os.PathLike[str] | None = None,
        decide: Decide | None = None,
        on_event: Callable[[Event], None] | None = None,
        lifetime: float = DEFAULT_LIFETIME,
        now: Callable[[], float] = time.time,
        hold_run: bool = False,
    ) -> None:
        self.state_path = Path(state_path)
        self.out_dir = Path(out_dir) if out_dir is not None else self.state_path.parent
        self._make_session = make_session
        self._code = code
        self._fingerprint = fingerprint.hex()
        self._decide = decide
        self._on_event = on_event
        self._lifetime = lifetime
        self._now = now
        #: what we learned, once the run completed
        self.result: OverlapResult | None = None
        self._held: tuple[tuple[object, ...], _Run] | None = None
        self._hold_run = hold_run
        #: The finished session's agreement (both sides derive the same shared values from it).
        self.agreement: Agreement | None = None
        self.done = False

    def __repr__(self) -> str:
        return f"OfflineParty(state={str(self.state_path)!r}, done={self.done})"

    @property
    def partner_path(self) -> Path:
        """Where the partner's payloads are kept between steps."""
        return self.state_path.with_name(self.state_path.name + ".partner")

    def belongs(self, message: MessageFile) -> bool:
        """Whether a partner message can belong to this run (for a shared mailbox, where
        other runs' files may lie around): it is from the partner's run we know, or, before we
        know it, answers nobody yet or us."""
        state = self._load()
        if state is None:
            return message.peer_run_id == _NO_RUN and message.step == 1
        if message.role is state.role:
            return False
        if state.partner_run_id is not None:
            return message.run_id == state.partner_run_id
        return message.peer_run_id in (_NO_RUN, state.run_id)

    def _message_path(self, state_role: Role, run_id: bytes, step: int) -> Path:
        return self.out_dir / f"blindmatch-{state_role.value}-{run_id.hex()[:8]}-{step:02d}.bmx"

    # -- the step -------------------------------------------------------------------------------

    def step(self, incoming: Iterable[str | os.PathLike[str]] = ()) -> Path | None:
        """Read the partner's new message files (any order; used ones are skipped) and write
        our next message. Returns its path, or None when there is nothing new to send (the run
        may then be complete: see :attr:`done` and :attr:`result`).
        """
        if self.done:
            raise UsageError("this offline run is complete; its state was deleted")
        files = [read_message(p) for p in incoming]
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.state_path.parent):
            return self._step(files)

    def _step(self, files: list[MessageFile]) -> Path | None:
        # A party that stays alive between steps (a mailbox run) keeps its live run instead of
        # replaying it; it is taken here and handed back only by a step that ends cleanly
        # (a refused file may leave it half-fed).
        held, self._held = self._held, None
        if not self._hold_run:
            held = None
        state = self._load()
        if state is None:
            late = [f for f in files if f.step > 1]
            if late:
                raise UsageError(
                    f"there is no offline run at {self.state_path} (it completed, expired or "
                    f"never started), but {late[0].path.name} is the partner's message "
                    f"{late[0].step}: start both sides again with a new pairing code"
                )
            now = self._now()
            state = _State(
                role=Role.SENDER,  # the session decides: see _Run
                seed=secrets.token_bytes(32),
                fingerprint=self._fingerprint,
                run_id=secrets.token_bytes(_RUN_ID_BYTES),
                created=now,
                expires=now + self._lifetime,
            )
            run = _Run(self, state, live=True, fresh=True)
            new = self._select_new(state, files)
            partner_data = b""
        else:
            # Check the files before the (possibly long) replay.
            new = self._select_new(state, files)
            partner_data = self._load_partner(state)
            if held is not None and held[0] == _held_key(state):
                run = held[1]  # this object's own run, exactly where the saved state is
            else:
                run = self._replay(state, partner_data)
        total = state.sent[-1] if state.sent else 0

        run.live = True
        used: list[MessageFile] = []
        try:
            for message in new:
                run.feed(message.payload, message.path.name)
                used.append(message)
        except BlindmatchError as exc:
            if run.session.state is State.ERROR:
                # The session failed, or the partner aborted it: the run is over. Tell the
                # partner why, unless it is the one who stopped.
                if isinstance(exc, PeerAbortedError):
                    self._delete()
                    raise
                run.flush_abort()
                path = self._write_message(state, run.out, total)
                self._delete()
                raise type(exc)(f"{exc}; send {path.name} to the partner so it knows") from exc
            if not run.established:
                # A failed pairing (wrong code) ends the run on both sides: keep no seed.
                self._delete()
            # Otherwise (a forged record, a missing decision) the file is refused and the
            # run can go on with a good one.
            raise

        for message in used:
            state.consumed.append(_Consumed(message.digest, len(message.payload)))
            if state.partner_run_id is None:
                state.partner_run_id = message.run_id
        state.decision = run.decision
        new_bytes = len(run.out) > total
        session = run.session

        if session.state is State.CLOSED:  # we rejected the partner's terms
            abort = self._write_message(state, run.out, total)
            self._delete()
            reason = state.decision[1] if state.decision else ""
            raise AgreementError(
                f"we rejected the partner's terms ({reason}); send {abort.name} to the partner "
                f"so it knows"
            )
        quiet = run.driver.quiet_failure
        if session.state is State.DONE or quiet is not None:
            # A defect found while computing our result (protocol_spec.md §5.5) ends the run
            # exactly as a success does on disk: the same last message, no abort file.
            self.result = session.result
            self.agreement = session.agreement
            self.done = True
            last = self._write_message(state, run.out, total) if new_bytes else None
            self._delete()
            if quiet is not None:
                raise quiet
            return last

        if used:
            blob = partner_data + b"".join(m.payload for m in used)
            write_private(self.partner_path, blob)
            state.partner_sha256 = hashlib.sha256(blob).hexdigest()
        if new_bytes:
            state.sent.append(len(run.out))
            state.sent_sha256 = hashlib.sha256(run.out).hexdigest()
        # The state (which pins the partner messages we answer) is durable before the answer
        # exists anywhere: no crash can let a different partner message get another answer.
        write_private(self.state_path, state.to_json())
        self._held = (_held_key(state), run)
        if new_bytes:
            return self._write_message(state, run.out, total, step=len(state.sent))
        self._ensure_latest(state, run.out)
        return None

    # -- pieces ---------------------------------------------------------------------------------

    def _replay(self, state: _State, partner_data: bytes) -> _Run:
        run = _Run(self, state, live=False, fresh=False)
        at = 0
        try:
            for n, consumed in enumerate(state.consumed, 1):
                run.feed(partner_data[at : at + consumed.length], f"the partner's message {n}")
                at += consumed.length
        except BlindmatchError as exc:
            raise UsageError(
                f"replaying this offline run failed ({exc}): the pairing code, the inputs or "
                f"the software changed since the last step"
            ) from exc
        total = state.sent[-1] if state.sent else 0
        if state.sent and (
            len(run.out) != total or hashlib.sha256(run.out).hexdigest() != state.sent_sha256
        ):
            raise UsageError(
                "replaying this offline run does not reproduce the messages already sent: "
                "use the same pairing code, inputs and software as in the earlier steps"
            )
        return run

    def _select_new(self, state: _State, files: list[MessageFile]) -> list[MessageFile]:
        """The partner's messages not used yet, in order; checks they belong to this run."""
        by_step: dict[int, MessageFile] = {}
        partner_run = state.partner_run_id
        for f in files:
            name = f.path.name
            if f.role is state.role:
                if f.run_id == state.run_id:
                    continue  # one of our own messages, passed along with the partner's
                raise TransportError(
                    f"{name} was written by a {f.role.value}, like us: pass the partner's messages"
                )
            if partner_run is not None and f.run_id != partner_run:
                raise TransportError(f"{name} belongs to another run of the partner")
            if f.peer_run_id not in (_NO_RUN, state.run_id):
                raise TransportError(f"{name} answers another run, not this one")
            partner_run = partner_run or f.run_id
            other = by_step.setdefault(f.step, f)
            if other.digest != f.digest:
                raise TransportError(
                    f"{other.path.name} and {name} both claim to be the partner's message {f.step}"
                )
        new: list[MessageFile] = []
        expected = len(state.consumed) + 1
        for step in sorted(by_step):
            f = by_step[step]
            if step < expected:
                if state.consumed[step - 1].digest != f.digest:
                    raise TransportError(
                        f"{f.path.name} is the partner's message {step}, but a different "
                        f"message {step} was already used; a run never takes a message back"
                    )
                continue
            if step != expected:
                raise TransportError(
                    f"the partner's message {expected} is missing (got {f.path.name}, its "
                    f"message {step})"
                )
            new.append(f)
            expected += 1
        return new

    def _load(self) -> _State | None:
        try:
            data = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            state = _State.from_json(data)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise TransportError(
                f"the offline state file {self.state_path} is damaged ({exc}); delete it and "
                f"start a new run"
            ) from exc
        if self._now() >= state.expires:
            self._delete()
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(state.created))
            raise TransportTimeoutError(
                f"the offline run started {started} expired (runs last "
                f"{(state.expires - state.created) / 86400:g} days); its state was deleted: "
                f"start a new run with a new pairing code"
            )
        if state.fingerprint != self._fingerprint:
            raise UsageError(
                "the inputs (files or policy) differ from those this offline run started with: "
                f"finish it with the original inputs, or delete {self.state_path} to start over"
            )
        return state

    def _load_partner(self, state: _State) -> bytes:
        try:
            blob = self.partner_path.read_bytes()
        except FileNotFoundError:
            blob = b""
        need = sum(c.length for c in state.consumed)
        # A crash between the two atomic writes can leave a longer file; its prefix is ours.
        blob = blob[:need]
        if len(blob) != need or hashlib.sha256(blob).hexdigest() != state.partner_sha256:
            raise TransportError(
                f"{self.partner_path} is missing or damaged; this offline run cannot continue"
            )
        return blob

    def _write_message(
        self, state: _State, out: bytearray, start: int, *, step: int | None = None
    ) -> Path:
        """Write our stream from ``start`` on as our next message file (atomically)."""
        if step is None:
            step = len(state.sent) + 1
        path = self._message_path(state.role, state.run_id, step)
        data = encode_message(
            role=state.role,
            step=step,
            run_id=state.run_id,
            peer_run_id=state.partner_run_id or _NO_RUN,
            payload=bytes(out[start:]),
        )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_private(path, data)
        return path

    def _ensure_latest(self, state: _State, out: bytearray) -> None:
        """Re-create our latest message if it went missing (a crash, or a lost file)."""
        if not state.sent:
            return
        step = len(state.sent)
        path = self._message_path(state.role, state.run_id, step)
        if path.exists():
            return
        begin = state.sent[-2] if step > 1 else 0
        data = encode_message(
            role=state.role,
            step=step,
            run_id=state.run_id,
            peer_run_id=state.partner_run_id or _NO_RUN,
            payload=bytes(out[begin : state.sent[-1]]),
        )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_private(path, data)

    def _delete(self) -> None:
        _remove(self.state_path)
        _remove(self.partner_path)
