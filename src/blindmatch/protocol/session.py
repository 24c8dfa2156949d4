"""One party of a blindmatch session, as a state machine over bytes and events.

No sockets, files, threads or clocks: the program feeds the partner's bytes to
:meth:`Session.receive_data`, sends whatever :meth:`Session.data_to_send` returns, and reads
:meth:`Session.next_event` (the h11 pattern). Randomness and the elliptic-curve engine are
injected.

Theory of operation (details and test vector in ``protocol_spec.md``)::

    both:  hello(nonce, terms)            -> agreement_id = H(hello_sender, hello_receiver)
    both:  accept(agreement_id)           -> nothing derived from records before both accepts
    both:  lanes, blinded*                 H(k)^a per slot, one scalar per disclosure lane
    both:  returned*                       partner's points ^ our lane scalars:
                                           records lanes in order (+ OPRF points for fields),
                                           counts lanes shuffled (+ the partner's own masks)
    each:  compares digests of H(k)^{ab} it received with those it computed

Any error moves the session to ``ERROR``: it queues one ``abort`` for the partner, raises, and
refuses all further use.
"""

from __future__ import annotations

import enum
import gc
from collections import Counter, deque
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not
from types import MappingProxyType

from ..crypto import Scalar, validate_points
from ..errors import (
    AgreementError,
    BlindmatchError,
    CryptoError,
    LocalProtocolError,
    PeerAbortedError,
    ProtocolError,
    RemoteProtocolError,
)
from .agreement import DIGEST_BYTES, SUITE, Agreement, Role, combine
from .engine import CryptoEngine, InlineEngine, digest_points, split_points
from .events import AgreementReached, Event, PartnerTerms, Progress, ResultReady
from .lanes import (
    OwnLane,
    build_accounts,
    build_lanes,
    open_payload,
    reveals_fields,
    seal_payload,
    unwrap_content_key,
    wrap_content_key,
)
from .messages import (
    CHUNK_POINTS,
    POINT_BYTES,
    TAG_BYTES,
    WRAP_BYTES,
    Abort,
    Accept,
    Blinded,
    FrameDecoder,
    Hello,
    LaneInfo,
    LaneKind,
    Lanes,
    Message,
    Returned,
    check_blinded,
    check_returned,
    check_returned_unique,
    decode_message,
    encode_frame,
    encode_message,
    mask_width,
    refuse_repeats,
)
from .model import MAX_KEYS_PER_ACCOUNT, Disclosure, Match, OverlapResult, Record, Terms
from .randomness import BufferedSystemRng, Rng, shuffle, stream_rng

__all__ = ["Session", "State"]

CHUNK_BYTES = 4 * 1024 * 1024


class State(enum.Enum):
    """Where our side of the session stands."""

    START = "start"
    AWAIT_HELLO = "await-hello"  # our hello is out
    AWAIT_DECISION = "await-decision"  # the partner's terms are in; accept() or reject()
    AWAIT_ACCEPT = "await-accept"  # we accepted; the partner has not yet
    EXCHANGE = "exchange"  # both accepted: lanes, blinded, returned
    DONE = "done"
    CLOSED = "closed"  # we rejected the partner's terms
    ERROR = "error"


class _In(enum.Enum):
    """What the partner's stream must carry next."""

    HELLO = "hello"
    ACCEPT = "accept"
    LANES = "lanes"
    BLINDED = "blinded"
    RETURNED = "returned"
    END = "nothing more"


@dataclass(slots=True)
class _PartnerLane:
    info: LaneInfo
    received: int = 0
    chunks: int = 0
    masks: bytearray = field(default_factory=bytearray)
    wraps: bytearray = field(default_factory=bytearray)
    payloads: bytearray = field(default_factory=bytearray)
    #: per our lane: digest -> position (account * slots + slot) of the partner's values under
    #: our scalar, inserted in the partner's order (so the keys, in order, are what we return)
    index: dict[LaneKind, dict[bytes, int]] = field(default_factory=dict)


@dataclass(slots=True)
class _Returns:
    """Our values as the partner returned them, for one (our lane, partner lane) pair."""

    expected: int
    received: int = 0
    chunks: int = 0
    digests: bytearray = field(default_factory=bytearray)
    masks: bytearray = field(default_factory=bytearray)
    oprf: bytearray = field(default_factory=bytearray)
    #: digests and OPRF points of the stream so far, to refuse repeats (freed once complete)
    seen: set[bytes] = field(default_factory=set)
    oprf_seen: set[bytes] = field(default_factory=set)


@dataclass(slots=True)
class _Outgoing:
    """Returned chunks for one (our lane, partner lane) pair, released in protocol order."""

    frames: deque[bytes] = field(default_factory=deque)
    complete: bool = False


class Session:
    """One party of a two-party blindmatch session.

    :param role: ``Role.SENDER`` (listens) or ``Role.RECEIVER`` (connects); only orders the
        transcript.
    :param terms: what we propose: label, key types, populations and their disclosure.
    :param records: our records, keys already normalized with ``terms.normalization``.
    :param rng: randomness (nonce, scalars, shuffles, dummies); the OS CSPRNG by default.
    :param engine: where the curve work runs; in this thread by default.
    :param auto_accept: accept the partner's terms without asking (tests, notebooks).
    """

    def __init__(
        self,
        *,
        role: Role,
        terms: Terms,
        records: Sequence[Record],
        rng: Rng | None = None,
        engine: CryptoEngine | None = None,
        auto_accept: bool = False,
    ) -> None:
        self.role = role
        self.terms = terms
        self._records = list(records)
        self._rng: Rng = rng or BufferedSystemRng()
        self._engine: CryptoEngine = engine or InlineEngine()
        self._auto_accept = auto_accept
        self.state = State.START
        self._expect = _In.HELLO
        self._decoder = FrameDecoder()
        self._events: deque[Event] = deque()
        self._outbox = bytearray()
        self._error: BaseException | None = None
        self._hello_bytes: dict[Role, bytes] = {}
        self._partner_terms: Terms | None = None
        self.agreement: Agreement | None = None
        self._we_accepted = False
        self._partner_accepted = False
        self._lanes: list[OwnLane] = []
        self._scalars: dict[LaneKind, Scalar] = {}
        self._phi: Scalar | None = None
        self._shuffle_seed = b""
        self._blinded_iter: Generator[bytes, None, None] | None = None
        self._blinded_done = False
        self._partner_lanes: dict[LaneKind, _PartnerLane] = {}
        self._partner_order: list[LaneKind] = []
        self._returns: dict[tuple[LaneKind, LaneKind], _Returns] = {}
        self._return_plan: list[tuple[LaneKind, LaneKind]] = []
        self._incoming_plan: list[tuple[LaneKind, LaneKind]] = []
        self._outgoing: dict[tuple[LaneKind, LaneKind], _Outgoing] = {}
        self._dropped_keys = 0
        self._own_slots = 0
        self._partner_slots = 0
        self.result: OverlapResult | None = None

    def __repr__(self) -> str:
        return (
            f"Session(role={self.role.value}, label={self.terms.label!r}, state={self.state.value})"
        )

    # -- the driving API ----------------------------------------------------------------------

    def start(self) -> None:
        """Queue our hello. Nothing about our records is in it."""
        self._require(State.START, "start")
        nonce = self._rng(32)
        hello = Hello(role=self.role.value, suite=SUITE, nonce=nonce, terms=self.terms)
        body = encode_message(hello)
        self._hello_bytes[self.role] = body
        self._outbox += len(body).to_bytes(4, "big") + body
        self.state = State.AWAIT_HELLO
        self._maybe_agree()

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the partner. Raises ProtocolError if they break the protocol."""
        if self.state in (State.ERROR, State.CLOSED):
            raise LocalProtocolError(f"session is {self.state.value}; it cannot be used again")
        if self.state is State.START:
            raise LocalProtocolError("call start() before receive_data()")
        try:
            for body in self._decoder.feed(data):
                self._handle(decode_message(body), body)
        except BlindmatchError as exc:
            raise self._fail(exc) from None

    def receive_eof(self) -> None:
        """The partner closed its side. Fine after we have our result; otherwise an error."""
        if self.state in (State.DONE, State.ERROR, State.CLOSED):
            return
        where = f"while waiting for its {self._expect.value} message"
        if self._decoder.pending:
            where += f" ({self._decoder.pending} bytes of an unfinished frame)"
        raise self._fail(RemoteProtocolError(f"the partner closed the session {where}"))

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Bytes to send now. Computes at most one chunk of our blinded lanes per call."""
        if self.state is State.EXCHANGE and not self._blinded_done:
            try:
                frame = next(self._blinded_iter) if self._blinded_iter else None
            except StopIteration:
                frame = None
                self._blinded_done = True
            except BlindmatchError as exc:
                raise self._fail(exc, code="local_error") from None
            if frame is not None:
                self._outbox += frame
        if self._blinded_done and self.state is State.EXCHANGE:
            self._flush_returns()
            try:
                self._maybe_finish()  # matching can find a defect (a payload that won't open)
            except BlindmatchError as exc:
                raise self._fail(exc) from None
        out = bytes(self._outbox)
        self._outbox.clear()
        return out

    @property
    def waiting_for(self) -> str:
        """The partner message we expect next ("hello", "blinded", ...), for error messages."""
        return self._expect.value

    @property
    def done(self) -> bool:
        """We have our result and nothing is left to send."""
        return self.state is State.DONE and not self._outbox

    def accept(self) -> None:
        """Accept the partner's terms as shown in the PartnerTerms event."""
        self._require(State.AWAIT_DECISION, "accept")
        assert self.agreement is not None  # internal: AWAIT_DECISION is entered with it set
        self._we_accepted = True
        self._outbox += encode_frame(Accept(agreement=self.agreement.agreement_id))
        self.state = State.AWAIT_ACCEPT
        self._maybe_exchange()

    def reject(self, reason: str) -> None:
        """Refuse the partner's terms; the partner is told why. The session is then closed."""
        self._require(State.AWAIT_DECISION, "reject")
        self._outbox += encode_frame(Abort(code="rejected", reason=reason[:500]))
        self.state = State.CLOSED

    # -- internals: state -----------------------------------------------------------------------

    def _require(self, state: State, action: str) -> None:
        if self.state is not state:
            raise LocalProtocolError(
                f"cannot {action}() in state {self.state.value} (needs {state.value})"
            )

    def _fail(self, exc: BaseException, *, code: str | None = None) -> BaseException:
        """Enter ERROR, queue one abort for the partner, and return the error to raise."""
        exc = _as_remote(exc)
        if self.state not in (State.ERROR, State.CLOSED) and not isinstance(exc, PeerAbortedError):
            if code is None:
                code = "agreement" if isinstance(exc, AgreementError) else "protocol_violation"
            reason = str(exc) if isinstance(exc, ProtocolError) else "the partner hit a local error"
            # Nothing queued before the failure goes out after it: the abort is the last word.
            self._outbox.clear()
            self._outbox += encode_frame(Abort(code=code, reason=reason[:500]))
        self.state = State.ERROR
        self._error = exc
        if self._blinded_iter is not None:
            # Release the engine's work queued for our lanes (an engine may work ahead).
            blinded, self._blinded_iter = self._blinded_iter, None
            blinded.close()
        return exc

    def _fail_quietly(self, exc: BaseException) -> BaseException:
        """Enter ERROR for a defect found while matching (sealed data that does not open,
        fields not declared), *without* an abort: everything we owe the partner is already
        queued and still goes out. An abort here would tell a cheating sealer whether the
        account it tampered with matched ours (a selective failure), so the partner sees
        exactly what an honest run shows it; only our user learns of the defect."""
        exc = _as_remote(exc)
        self.state = State.ERROR
        self._error = exc
        return exc

    def _handle(self, msg: Message, body: bytes) -> None:
        if isinstance(msg, Abort):
            # The reason is the partner's text, shown to our user: no control characters.
            reason = "".join(c if c.isprintable() else "?" for c in msg.reason)
            raise PeerAbortedError(f"the partner stopped the session ({msg.code}): {reason}")
        expected = self._expect
        if msg.t != expected.value:
            raise RemoteProtocolError(
                f"unexpected {msg.t} message while waiting for the partner's {expected.value}"
            )
        if isinstance(msg, Hello):
            self._on_hello(msg, body)
        elif isinstance(msg, Accept):
            self._on_accept(msg)
        elif isinstance(msg, Lanes):
            self._on_lanes(msg)
        elif isinstance(msg, Blinded):
            self._on_blinded(msg)
        elif isinstance(msg, Returned):
            self._on_returned(msg)

    def _on_hello(self, msg: Hello, body: bytes) -> None:
        if msg.role != self.role.other.value:
            raise RemoteProtocolError(
                f"hello message: the partner also claims role {msg.role!r}; one side must be "
                f"the sender and the other the receiver"
            )
        if msg.suite != SUITE:
            raise AgreementError(
                f"the partner proposes suite {msg.suite[:80]!r}; this implementation supports "
                f"only {SUITE!r}"
            )
        # The transcript binds the exact bytes received, not a re-encoding of them.
        self._hello_bytes[self.role.other] = body
        self._partner_terms = msg.terms
        self._expect = _In.ACCEPT
        self._maybe_agree()

    def _maybe_agree(self) -> None:
        if len(self._hello_bytes) < 2 or self._partner_terms is None:
            return
        sender = self.terms if self.role is Role.SENDER else self._partner_terms
        receiver = self._partner_terms if self.role is Role.SENDER else self.terms
        self.agreement = combine(
            sender=sender,
            receiver=receiver,
            hello_sender=self._hello_bytes[Role.SENDER],
            hello_receiver=self._hello_bytes[Role.RECEIVER],
        )
        self.state = State.AWAIT_DECISION
        self._events.append(PartnerTerms(terms=self._partner_terms, agreement=self.agreement))
        if self._auto_accept:
            self.accept()

    def _on_accept(self, msg: Accept) -> None:
        # Internal: an accept is expected only after both hellos, when the agreement is set.
        assert self.agreement is not None
        if msg.agreement != self.agreement.agreement_id:
            raise AgreementError(
                "accept message: the partner accepted a different agreement (the two sides "
                "see different hellos: a broken or tampered channel)"
            )
        self._partner_accepted = True
        self._expect = _In.LANES
        self._maybe_exchange()

    def _maybe_exchange(self) -> None:
        if not (self._we_accepted and self._partner_accepted):
            return
        assert self.agreement is not None  # internal: both accepted an agreement that exists
        self.state = State.EXCHANGE
        self._events.append(AgreementReached(agreement=self.agreement))
        self._prepare_lanes()

    # -- our lanes ------------------------------------------------------------------------------

    def _prepare_lanes(self) -> None:
        with _cyclic_gc_paused():
            self._build_lanes()

    def _build_lanes(self) -> None:
        agreement = self.agreement
        assert agreement is not None  # internal: lanes are built only in EXCHANGE
        fixed = self.terms.keys_per_account
        accounts, self._dropped_keys = build_accounts(
            self._records,
            agreement.key_types,
            {p.name for p in self.terms.populations},
            fixed or MAX_KEYS_PER_ACCOUNT,
        )
        self._own_slots = fixed or max(map(len, accounts.keys), default=1)
        self._lanes = build_lanes(
            records=self._records,
            accounts=accounts,
            terms=self.terms,
            slots=self._own_slots,
            rng=self._rng,
        )
        # Every secret is drawn here, in a fixed order (protocol_spec.md, "Randomness"), so
        # that no draw depends on when the partner's messages happen to arrive.
        for lane in self._lanes:
            self._scalars[lane.kind] = Scalar.generate_invertible(self._rng)
        if reveals_fields(self.terms):
            self._phi = Scalar.generate(self._rng)
            for lane in self._lanes:
                if lane.kind != "records":
                    continue
                for layout in lane.slot_keys:
                    lane.content_keys.append(self._rng(32))
                    lane.dummy_wraps.extend(self._rng(WRAP_BYTES) for k in layout if k is None)
        self._shuffle_seed = self._rng(32)
        infos = tuple(
            LaneInfo(lane=lane.kind, accounts=lane.size, populations=lane.populations)
            for lane in self._lanes
        )
        self._outbox += encode_frame(Lanes(slots=self._own_slots, lanes=infos))
        self._blinded_iter = self._blinded_frames()

    def _chunk_accounts(self, per_account: int) -> int:
        return max(1, min(CHUNK_POINTS // self._own_slots, CHUNK_BYTES // per_account))

    def _blinded_frames(self) -> Generator[bytes, None, None]:
        """Hash, blind and (records lane) seal our lanes, one chunk per ``next``."""
        agreement = self.agreement
        assert agreement is not None  # internal: created by _build_lanes, in EXCHANGE
        slots = self._own_slots
        total = sum(lane.size for lane in self._lanes)
        done = 0
        for lane in self._lanes:
            scalar = self._scalars[lane.kind]
            sealing = lane.kind == "records" and self._phi is not None
            per_account = slots * (POINT_BYTES + (WRAP_BYTES if sealing else 0)) + (
                self.terms.payload_bytes + TAG_BYTES if sealing else 0
            )
            step = self._chunk_accounts(per_account)
            width = lane.mask_width
            dummies_before = [0]
            if sealing:
                for layout in lane.slot_keys:
                    dummies_before.append(dummies_before[-1] + layout.count(None))
            bounds = [(start, min(start + step, lane.size)) for start in range(0, lane.size, step)]
            scalars = [scalar, self._phi] if sealing and self._phi else [scalar]
            results = self._engine.hash_blind_iter(
                (lane.messages[a * slots : b * slots] for a, b in bounds),
                agreement.h2c_dst,
                scalars,
            )
            for seq, ((start, stop), outputs) in enumerate(zip(bounds, results, strict=True)):
                wraps = bytearray()
                payloads = bytearray()
                if sealing:
                    oprf = outputs[1]
                    filler = dummies_before[start]
                    for i in range(start, stop):
                        content_key = lane.content_keys[i]
                        for s, key in enumerate(lane.slot_keys[i]):
                            if key is None:
                                wraps += lane.dummy_wraps[filler]
                                filler += 1
                            else:
                                at = ((i - start) * slots + s) * POINT_BYTES
                                wraps += wrap_content_key(
                                    content_key, oprf[at : at + POINT_BYTES], agreement.agreement_id
                                )
                        payloads += seal_payload(
                            lane.payloads[i], content_key, agreement.agreement_id
                        )
                frame = encode_frame(
                    Blinded(
                        lane=lane.kind,
                        seq=seq,
                        count=stop - start,
                        points=outputs[0],
                        masks=lane.masks[start * width : stop * width],
                        wraps=bytes(wraps),
                        payloads=bytes(payloads),
                    )
                )
                done += stop - start
                self._events.append(Progress(phase="blind", done=done, total=total))
                yield frame

    # -- the partner's lanes --------------------------------------------------------------------

    def _on_lanes(self, msg: Lanes) -> None:
        if not self._we_accepted:
            raise RemoteProtocolError("lanes message arrived before we accepted the agreement")
        assert self._partner_terms is not None  # internal: lanes come after the hellos
        self._partner_slots = msg.slots
        kinds = [info.lane for info in msg.lanes]
        levels = {p.disclosure for p in self._partner_terms.populations}
        declared_kinds = [
            kind
            for kind, level in (("records", Disclosure.RECORDS), ("counts", Disclosure.COUNTS))
            if level in levels
        ]
        if kinds != declared_kinds:
            raise RemoteProtocolError(
                f"lanes message: lanes {kinds} differ from the {declared_kinds} the partner's "
                f"terms call for (one per disclosure level, in order)"
            )
        for info in msg.lanes:
            level = Disclosure.RECORDS if info.lane == "records" else Disclosure.COUNTS
            declared = tuple(
                p.name for p in self._partner_terms.populations if p.disclosure is level
            )
            if info.populations != declared:
                raise RemoteProtocolError(
                    f"lanes message: lane {info.lane} names populations other than the "
                    f"{level.value}-level ones the partner's terms declared"
                )
            lane = _PartnerLane(info=info)
            for own in self._lanes:
                lane.index[own.kind] = {}
                self._outgoing[(own.kind, info.lane)] = _Outgoing()
            self._partner_lanes[info.lane] = lane
            self._partner_order.append(info.lane)
        # Returns flow in this order on both sides: returning lane, then target lane.
        self._return_plan = [(own.kind, k) for own in self._lanes for k in self._partner_order]
        self._incoming_plan = [(k, own.kind) for k in self._partner_order for own in self._lanes]
        for partner_kind, own_kind in self._incoming_plan:
            expected = next(o.size for o in self._lanes if o.kind == own_kind)
            self._returns[(own_kind, partner_kind)] = _Returns(expected=expected)
        for kind in self._partner_order:
            if self._partner_lanes[kind].info.accounts == 0:
                self._complete_partner_lane(self._partner_lanes[kind])
        self._advance_expect()

    def _advance_expect(self) -> None:
        """What the partner's stream must carry next, given what has arrived."""
        if any(p.received < p.info.accounts for p in self._partner_lanes.values()):
            self._expect = _In.BLINDED
        elif any(r.received < r.expected for r in self._returns.values()):
            self._expect = _In.RETURNED
        else:
            self._expect = _In.END
            self._maybe_finish()

    def _current_partner_lane(self) -> _PartnerLane:
        for kind in self._partner_order:
            lane = self._partner_lanes[kind]
            if lane.received < lane.info.accounts:
                return lane
        # Internal: a blinded message is expected only while a partner lane is open.
        raise AssertionError("no partner lane is open")

    def _on_blinded(self, msg: Blinded) -> None:
        # Internal: blinded messages are expected only after lanes, so after both hellos.
        assert self.agreement is not None and self._partner_terms is not None
        lane = self._current_partner_lane()
        where = f"blinded message (lane {msg.lane}, chunk {msg.seq})"
        if msg.lane != lane.info.lane or msg.seq != lane.chunks:
            raise RemoteProtocolError(
                f"{where} is out of order: expected lane {lane.info.lane}, chunk {lane.chunks}"
            )
        slots = self._partner_slots
        check_blinded(
            msg,
            slots=slots,
            populations=len(lane.info.populations),
            payload_bytes=(
                self._partner_terms.payload_bytes
                if msg.lane == "records" and reveals_fields(self._partner_terms)
                else None
            ),
            remaining=lane.info.accounts - lane.received,
        )
        validate_points(msg.points, msg.count * slots, message=where)
        scalars = [self._scalars[own.kind] for own in self._lanes]
        raw = [False] * len(scalars)
        if self._phi is not None:
            scalars.append(self._phi)
            raw.append(True)
        prefix = self.agreement.digest_prefix()
        blind_digests = getattr(self._engine, "blind_digests", None)
        if blind_digests is not None:
            outputs = blind_digests(
                msg.points, scalars, message=where, digest_prefix=prefix, raw=raw
            )
        else:  # an engine with only the required methods
            outputs = self._engine.blind(msg.points, scalars, message=where)
            outputs = [
                blob if keep else digest_points(split_points(blob), prefix)
                for blob, keep in zip(outputs, raw, strict=True)
            ]
        base = lane.received * slots
        for own, blob in zip(self._lanes, outputs, strict=False):  # (then phi's, if any)
            index = lane.index[own.kind]
            keys = [blob[at : at + DIGEST_BYTES] for at in range(0, len(blob), DIGEST_BYTES)]
            before = len(index)
            if not index.keys().isdisjoint(keys):
                refuse_repeats(where, "element", keys, index.keys(), "this lane")
            index.update(zip(keys, range(base, base + len(keys)), strict=True))
            if len(index) != before + len(keys):  # a repeat within this message
                refuse_repeats(where, "element", keys, frozenset(), "this lane")
            if own.kind == "records":
                # In order, so the partner can map results to its accounts; OPRF points let it
                # derive the keys of our sealed fields for the keys it holds, and only those.
                oprf = outputs[-1] if self._phi is not None else b""
                self._outgoing[("records", msg.lane)].frames.append(
                    encode_frame(
                        Returned(
                            lane="records",
                            target=msg.lane,
                            seq=lane.chunks,
                            count=msg.count,
                            digests=blob,
                            oprf=oprf,
                        )
                    )
                )
        lane.masks += msg.masks
        lane.wraps += msg.wraps
        lane.payloads += msg.payloads
        lane.received += msg.count
        lane.chunks += 1
        done = sum(p.received for p in self._partner_lanes.values())
        total = sum(p.info.accounts for p in self._partner_lanes.values())
        self._events.append(Progress(phase="double-blind", done=done, total=total))
        if lane.received == lane.info.accounts:
            self._complete_partner_lane(lane)
        self._advance_expect()

    def _complete_partner_lane(self, lane: _PartnerLane) -> None:
        """A partner lane is in: release in-order returns, build shuffled ones."""
        kind = lane.info.lane
        if ("records", kind) in self._outgoing:
            self._outgoing[("records", kind)].complete = True
        if ("counts", kind) not in self._outgoing:
            return
        slots = self._partner_slots
        width = mask_width(len(lane.info.populations))
        # The index holds the digests in the partner's order: account i has keys
        # [i * slots, (i + 1) * slots).
        keys = list(lane.index["counts"])
        masks = bytes(lane.masks)
        order = list(range(lane.info.accounts))
        shuffle(stream_rng(self._shuffle_seed, b"returned " + kind.encode()), order)
        step = max(1, CHUNK_POINTS // slots)
        out = self._outgoing[("counts", kind)]
        for seq, start in enumerate(range(0, len(order), step)):
            part = order[start : start + step]
            if slots == 1:
                digests = b"".join(map(keys.__getitem__, part))
            else:
                # Sorted within each account: the partner knows where it put each key among
                # its slots, so slot order would tell it which of its accounts a shuffled
                # match can be.
                digests = b"".join(
                    [d for i in part for d in sorted(keys[i * slots : (i + 1) * slots])]
                )
            if width == 1:
                part_masks = bytes(map(masks.__getitem__, part))
            else:
                part_masks = b"".join([masks[i * width : (i + 1) * width] for i in part])
            out.frames.append(
                encode_frame(
                    Returned(
                        lane="counts",
                        target=kind,
                        seq=seq,
                        count=len(part),
                        digests=digests,
                        masks=part_masks,
                    )
                )
            )
        out.complete = True

    def _flush_returns(self) -> None:
        while self._return_plan:
            out = self._outgoing[self._return_plan[0]]
            while out.frames:
                self._outbox += out.frames.popleft()
            if not out.complete:
                return
            self._return_plan.pop(0)

    # -- our values, returned -------------------------------------------------------------------

    def _on_returned(self, msg: Returned) -> None:
        partner_kind, own_kind = next(
            (p, o) for p, o in self._incoming_plan if not self._returns_full(o, p)
        )
        returns = self._returns[(own_kind, partner_kind)]
        if msg.lane != partner_kind or msg.target != own_kind or msg.seq != returns.chunks:
            raise RemoteProtocolError(
                f"returned message (lane {msg.lane} for {msg.target}, chunk {msg.seq}) is out "
                f"of order: expected lane {partner_kind} for {own_kind}, chunk {returns.chunks}"
            )
        own = next(o for o in self._lanes if o.kind == own_kind)
        check_returned(
            msg,
            slots=self._own_slots,
            populations=len(own.populations),
            remaining=returns.expected - returns.received,
            sealed=self._partner_terms is not None and reveals_fields(self._partner_terms),
        )
        if msg.oprf:
            where = f"returned message (lane {msg.lane} for {msg.target}, chunk {msg.seq}) oprf"
            validate_points(msg.oprf, msg.count * self._own_slots, message=where)
        check_returned_unique(msg, digests_seen=returns.seen, oprf_seen=returns.oprf_seen)
        if returns.received + msg.count == returns.expected:  # the stream is in: free the sets
            returns.seen, returns.oprf_seen = set(), set()
        returns.digests += msg.digests
        returns.masks += msg.masks
        returns.oprf += msg.oprf
        returns.received += msg.count
        returns.chunks += 1
        done = sum(r.received for r in self._returns.values())
        total = sum(r.expected for r in self._returns.values())
        self._events.append(Progress(phase="receive", done=done, total=total))
        self._advance_expect()

    def _returns_full(self, own_kind: LaneKind, partner_kind: LaneKind) -> bool:
        r = self._returns[(own_kind, partner_kind)]
        return r.received >= r.expected

    def _maybe_finish(self) -> None:
        if self.state is not State.EXCHANGE or self._expect is not _In.END:
            return
        if not self._blinded_done or self._return_plan:
            return
        try:
            self.result = self._compute_result()
        except BlindmatchError as exc:
            raise self._fail_quietly(exc) from None
        self.state = State.DONE
        self._events.append(ResultReady(result=self.result))

    # -- matching -------------------------------------------------------------------------------

    def _compute_result(self) -> OverlapResult:
        """Compare what came back with what we computed; count and list only what is allowed."""
        partner = self._partner_terms
        assert partner is not None  # internal: matching runs in EXCHANGE, after the hellos
        slots = self._own_slots
        partner_slots = self._partner_slots
        ours = [p.name for p in self.terms.populations]
        theirs = [p.name for p in partner.populations]
        counts: dict[str, dict[str, int]] = {p: dict.fromkeys(theirs, 0) for p in ours}
        found: dict[int, dict[int, _PartnerHit]] = {}
        payloads: dict[tuple[LaneKind, int], tuple[Mapping[str, str], ...]] = {}
        for partner_kind, own_kind in self._incoming_plan:
            own = next(o for o in self._lanes if o.kind == own_kind)
            lane = self._partner_lanes[partner_kind]
            index = lane.index[own_kind]
            returned = self._returns[(own_kind, partner_kind)]
            their_names = _MaskNames(lane.info.populations)
            their_width = their_names.width
            their_masks = bytes(lane.masks)
            digests = bytes(returned.digests)
            # Where each of our returned values sits among the partner's (None: no match).
            keys = [digests[at : at + DIGEST_BYTES] for at in range(0, len(digests), DIGEST_BYTES)]
            where = list(map(index.get, keys))
            if partner_kind == "counts":
                # Shuffled: all we know of each account is the mask we gave it, so the counts
                # depend only on (our mask, the partner masks it matched): tally those.
                our_names = _MaskNames(own.populations)
                our_width = our_names.width
                our_masks = bytes(returned.masks)
                tally: Counter[tuple[bytes, frozenset[bytes]]] = Counter()
                hits_at: list[tuple[int, int]] = []
                if slots == 1 and partner_slots == 1 and our_width == 1 and their_width == 1:
                    # One slot and one mask byte on each side (the common case): one match is
                    # one account, and the tally runs over byte pairs at C speed.
                    ours_at = compress(range(len(where)), map(is_not, where, repeat(None)))
                    theirs_at = [pos for pos in where if pos is not None]  # the same order
                    pairs = Counter(
                        zip(
                            map(our_masks.__getitem__, ours_at),
                            map(their_masks.__getitem__, theirs_at),
                            strict=True,
                        )
                    )
                    for (our_byte, their_byte), n in pairs.items():
                        tally[(bytes((our_byte,)), frozenset((bytes((their_byte,)),)))] += n
                else:
                    hits_at = [(k, pos) for k, pos in enumerate(where) if pos is not None]
                for i, group in _by_account(hits_at, slots):
                    matched = frozenset(
                        their_masks[at : at + their_width]
                        for at in [pos // partner_slots * their_width for _, pos in group]
                    )
                    tally[(our_masks[i * our_width : (i + 1) * our_width], matched)] += 1
                for (mask, matched), n in tally.items():
                    matched_theirs: set[str] = set()
                    for their_mask in matched:
                        matched_theirs |= their_names[their_mask]
                    for p in our_names[mask]:
                        for q in matched_theirs:
                            counts[p][q] += n
                continue
            hits_at = [(k, pos) for k, pos in enumerate(where) if pos is not None]
            for i, group in _by_account(hits_at, slots):
                hits = []  # (our slot, partner account, partner slot)
                for k, pos in group:
                    j, t = divmod(pos, partner_slots)
                    hits.append((k - i * slots, j, t))
                matched_theirs = set()
                for _, j, _ in hits:
                    at = j * their_width
                    matched_theirs |= their_names[their_masks[at : at + their_width]]
                our_pops = own.populations_of(i)
                for s, j, t in hits:
                    key = own.slot_keys[i][s]
                    if key is None:
                        raise _dummy_hit(own_kind, partner_kind, i, j)
                    pops = their_names[their_masks[j * their_width : (j + 1) * their_width]]
                    if (partner_kind, j) not in payloads:
                        payloads[(partner_kind, j)] = self._partner_fields(
                            lane, returned, own_kind, i, s, j, t, pops
                        )
                    for r in own.records_of(i):
                        if key in self._records[r].keys:
                            hit_for = found.setdefault(r, {})
                            entry = hit_for.setdefault(j, _PartnerHit(payloads[(partner_kind, j)]))
                            entry.populations |= pops
                            entry.key_types.add(key[0])
                for p in our_pops:
                    for q in matched_theirs:
                        counts[p][q] += 1
        return OverlapResult(
            our_label=self.terms.label,
            partner_label=partner.label,
            our_sizes=MappingProxyType(self._our_sizes(ours)),
            partner_sizes=MappingProxyType(self._partner_sizes(theirs)),
            counts=MappingProxyType({p: MappingProxyType(c) for p, c in counts.items()}),
            matches=self._matches_from(found, ours, theirs),
            partner_disclosure=MappingProxyType(
                {p.name: p.disclosure for p in partner.populations}
            ),
            our_disclosure=MappingProxyType({p.name: p.disclosure for p in self.terms.populations}),
        )

    def _our_sizes(self, ours: list[str]) -> dict[str, int]:
        sizes = dict.fromkeys(ours, 0)
        for own in self._lanes:
            names = _MaskNames(own.populations)
            for mask, n in _tally_masks(own.masks, names.width).items():
                for name in names[mask]:
                    sizes[name] += n
        return sizes

    def _partner_sizes(self, theirs: list[str]) -> dict[str, int]:
        sizes = dict.fromkeys(theirs, 0)
        for lane in self._partner_lanes.values():
            names = _MaskNames(lane.info.populations)
            for mask, n in _tally_masks(bytes(lane.masks), names.width).items():
                for name in names[mask]:
                    sizes[name] += n
        return sizes

    def _partner_fields(
        self,
        lane: _PartnerLane,
        returned: _Returns,
        own_kind: LaneKind,
        i: int,
        s: int,
        j: int,
        t: int,
        populations: frozenset[str],
    ) -> tuple[Mapping[str, str], ...]:
        """Open partner account j's sealed fields with the OPRF value of our matching key.

        The fields must be ones the partner's terms reveal for ``populations``, the ones
        account j is in: a field declared for another population is refused too."""
        agreement = self.agreement
        partner = self._partner_terms
        assert agreement is not None and partner is not None  # internal: as _compute_result
        if not reveals_fields(partner):
            return ()
        where = f"partner account {j} of lane {lane.info.lane}"
        at = (i * self._own_slots + s) * POINT_BYTES
        (oprf,) = self._engine.blind(
            bytes(returned.oprf[at : at + POINT_BYTES]),
            [self._scalars[own_kind].inverse()],
            message="returned message: OPRF point",
        )
        w_at = (j * self._partner_slots + t) * WRAP_BYTES
        content_key = unwrap_content_key(
            bytes(lane.wraps[w_at : w_at + WRAP_BYTES]), oprf, agreement.agreement_id
        )
        if content_key is None:
            raise RemoteProtocolError(f"{where}: its sealed key does not open for a matching key")
        size = partner.payload_bytes + TAG_BYTES
        rows = open_payload(
            bytes(lane.payloads[j * size : (j + 1) * size]),
            content_key,
            agreement.agreement_id,
            where=where,
        )
        allowed = {f for p in partner.populations if p.name in populations for f in p.fields}
        for row in rows:
            extra = set(row) - allowed
            if extra:
                raise RemoteProtocolError(
                    f"{where}: reveals {len(extra)} field(s) its terms did not declare for "
                    "the populations the account is in"
                )
        return rows

    def _matches_from(
        self, found: dict[int, dict[int, _PartnerHit]], ours: list[str], theirs: list[str]
    ) -> tuple[Match, ...]:
        assert self.agreement is not None  # internal: as _compute_result
        key_order = {k: n for n, k in enumerate(self.agreement.key_types)}
        matches: list[Match] = []
        for r in sorted(found, key=lambda r: self._records[r].record_id):
            record = self._records[r]
            pops: set[str] = set()
            kinds: set[str] = set()
            fields: list[Mapping[str, str]] = []
            for j in sorted(found[r]):
                hit = found[r][j]
                pops |= hit.populations
                kinds |= hit.key_types
                fields.extend(hit.fields)
            matches.append(
                Match(
                    record_id=record.record_id,
                    our_populations=tuple(p for p in ours if p in record.populations),
                    partner_populations=tuple(q for q in theirs if q in pops),
                    key_types=tuple(sorted(kinds, key=key_order.__getitem__)),
                    partner_fields=tuple(MappingProxyType(dict(f)) for f in fields),
                )
            )
        return tuple(matches)


@dataclass(slots=True)
class _PartnerHit:
    """What one of our records learned about one matching partner account."""

    fields: tuple[Mapping[str, str], ...]
    populations: set[str] = field(default_factory=set)
    key_types: set[str] = field(default_factory=set)


def _dummy_hit(own_kind: LaneKind, partner_kind: LaneKind, i: int, j: int) -> RemoteProtocolError:
    """A dummy slot of ours matched: its point is a random one, so the partner moved or
    copied a matching value onto it. Found only because that value matched our data, so it
    is a matching defect (quiet, protocol_spec.md 5.5), never answered with an abort."""
    return RemoteProtocolError(
        f"returned stream of lane {partner_kind} for {own_kind}: a filler (dummy) slot of our "
        f"account {i} matched partner account {j}; dummies match nothing, so the partner "
        "altered the values it returned"
    )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a phase that allocates millions of
    long-lived objects (accounts, slot layouts, messages) and creates no reference cycles.
    Left on, the collector rescans the whole growing heap again and again during such a
    phase, which costs more than building the lanes themselves at a million records; it is
    switched back on (if it was on) as soon as the phase ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _as_remote(exc: BaseException) -> BaseException:
    """A bad point from the partner surfaces from the crypto layer as a CryptoError; to our
    user and in the abort it is the partner's protocol violation."""
    return RemoteProtocolError(str(exc)) if isinstance(exc, CryptoError) else exc


class _MaskNames(dict[bytes, frozenset[str]]):
    """mask bytes -> the population names whose bits it sets, computed once per mask."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = tuple(names)
        self.width = mask_width(len(names))

    def __missing__(self, mask: bytes) -> frozenset[str]:
        value = int.from_bytes(mask, "little")
        found = frozenset(n for bit, n in enumerate(self.names) if value >> bit & 1)
        self[mask] = found
        return found


def _tally_masks(masks: bytes, width: int) -> Counter[bytes]:
    """How many accounts carry each mask."""
    if width == 1:
        return Counter({bytes((m,)): n for m, n in Counter(masks).items()})
    return Counter(masks[at : at + width] for at in range(0, len(masks), width))


def _by_account(
    hits: Sequence[tuple[int, int]], slots: int
) -> Iterator[tuple[int, list[tuple[int, int]]]]:
    """Group (our position, their position) pairs, ascending in our position, by our account:
    (account, its pairs)."""
    if slots == 1:
        for hit in hits:
            yield hit[0], [hit]
        return
    group: list[tuple[int, int]] = []
    current = -1
    for hit in hits:
        i = hit[0] // slots
        if i != current:
            if group:
                yield current, group
            group, current = [], i
        group.append(hit)
    if group:
        yield current, group
