"""The exchange phase: our lanes out, the partner's lanes blinded again and returned.

Once both parties accepted, each one (protocol_spec.md §5)

1. builds its lanes (:mod:`.lanes`) and draws every secret in a fixed order;
2. sends ``lanes``, then its accounts hashed to the curve and blinded, one chunk at a time
   (records lane: with sealed fields);
3. blinds every chunk of the partner's again under each of its own lane scalars, keeps the
   digests (where each value sits among the partner's), and returns them: records lanes in the
   partner's order (plus OPRF points when the partner seals fields), counts lanes shuffled and
   sorted within each account;
4. collects its own values as the partner returned them.

This module owns that state and checks the order and shape of the partner's exchange messages;
:mod:`.matching` turns it into a result. No sockets, clocks or files, like the session.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

from ..crypto import Scalar, seal_payload, validate_points, wrap_content_key
from ..crypto.engine import CryptoEngine
from ..errors import RemoteProtocolError
from .agreement import DIGEST_BYTES, Agreement, Role
from .digests import DigestIndex, IndexingEngine, LocalIndex, split_digests
from .events import Event, Progress
from .lanes import OwnLane, build_accounts, build_lanes, reveals_fields
from .messages import (
    CHUNK_POINTS,
    POINT_BYTES,
    TAG_BYTES,
    WRAP_BYTES,
    Blinded,
    LaneInfo,
    LaneKind,
    Lanes,
    Message,
    Returned,
    Tally,
    check_blinded,
    check_returned,
    check_returned_unique,
    encode_frame,
    mask_width,
)
from .model import MAX_KEYS_PER_ACCOUNT, Disclosure, Record, Terms
from .randomness import Rng, shuffle, stream_rng

__all__ = ["Exchange", "PartnerLane", "Returns"]

CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class PartnerLane:
    """One of the partner's lanes as it arrives."""

    info: LaneInfo
    #: the partner's declared size of each of the lane's populations (mask bit order), and
    #: how many of its accounts so far carry each bit (protocol_spec.md §3.1, §6 item 9)
    declared: tuple[int, ...] = ()
    seen: list[int] = field(default_factory=list)
    received: int = 0
    chunks: int = 0
    masks: bytearray = field(default_factory=bytearray)
    wraps: bytearray = field(default_factory=bytearray)
    payloads: bytearray = field(default_factory=bytearray)
    #: per our lane: the partner's values under our scalar, by position (account * slots +
    #: slot) in the partner's order; in this process or on the engine's workers
    index: dict[LaneKind, DigestIndex] = field(default_factory=dict)


@dataclass(slots=True)
class Returns:
    """Our values as the partner returned them, for one (our lane, partner lane) pair."""

    expected: int
    received: int = 0
    chunks: int = 0
    digests: bytearray = field(default_factory=bytearray)
    masks: bytearray = field(default_factory=bytearray)
    oprf: bytearray = field(default_factory=bytearray)
    #: every digest and OPRF point of the stream so far (none may repeat: §6 item 6); emptied
    #: once the stream is complete
    seen: set[bytes] = field(default_factory=set)
    oprf_seen: set[bytes] = field(default_factory=set)


@dataclass(slots=True)
class _Outgoing:
    """Returned chunks for one (our lane, partner lane) pair, released in protocol order."""

    frames: deque[bytes] = field(default_factory=deque)
    complete: bool = False


class Exchange:
    """Everything one party holds between both accepts and its result."""

    def __init__(
        self,
        *,
        role: Role,
        terms: Terms,
        partner_terms: Terms,
        agreement: Agreement,
        records: Sequence[Record],
        rng: Rng,
        engine: CryptoEngine,
        emit: Callable[[Event], None],
    ) -> None:
        self.role = role
        self.terms = terms
        self.partner_terms = partner_terms
        self.agreement = agreement
        self.records = records
        self.engine = engine
        self._new_index = engine.digest_index if isinstance(engine, IndexingEngine) else LocalIndex
        self._emit = emit
        self.partner_lanes: dict[LaneKind, PartnerLane] = {}
        self.partner_order: list[LaneKind] = []
        self.returns: dict[tuple[LaneKind, LaneKind], Returns] = {}
        #: (partner lane, our lane) in the order the partner returns our values
        self.incoming_plan: list[tuple[LaneKind, LaneKind]] = []
        self._return_plan: list[tuple[LaneKind, LaneKind]] = []
        self._outgoing: dict[tuple[LaneKind, LaneKind], _Outgoing] = {}
        #: (our lane, partner lane) pairs we count for the partner, not yet sent (§5.5)
        self._tallies_owed: list[tuple[LaneKind, LaneKind]] = []
        #: (our lane, partner lane) -> the counts the partner computed for us, when it arrived
        self.tallies: dict[tuple[LaneKind, LaneKind], tuple[int, ...] | None] = {}
        self.partner_slots = 0
        self.blinded_done = False
        self.phi: Scalar | None = None
        self.scalars: dict[LaneKind, Scalar] = {}
        self._build(rng)

    # -- our lanes ------------------------------------------------------------------------------

    def _build(self, rng: Rng) -> None:
        fixed = self.terms.keys_per_account
        rule = self.agreement.conflicts
        accounts, self.dropped_keys = build_accounts(
            self.records,
            self.agreement.key_types,
            {p.name for p in self.terms.populations},
            fixed or MAX_KEYS_PER_ACCOUNT,
            conflicts=rule,
            expanding=rule is not None and rule.expands(self.role is Role.SENDER),
        )
        self.slots = fixed or max(map(len, accounts.keys), default=1)
        self.lanes: list[OwnLane] = build_lanes(
            records=self.records, accounts=accounts, terms=self.terms, slots=self.slots, rng=rng
        )
        # Every secret is drawn here, in a fixed order (protocol_spec.md, "Randomness"), so
        # that no draw depends on when the partner's messages happen to arrive.
        for lane in self.lanes:
            self.scalars[lane.kind] = Scalar.generate_invertible(rng)
        if reveals_fields(self.terms):
            self.phi = Scalar.generate(rng)
            for lane in self.lanes:
                if lane.kind != "records":
                    continue
                for layout in lane.slot_keys:
                    lane.content_keys.append(rng(32))
                    lane.dummy_wraps.extend(rng(WRAP_BYTES) for k in layout if k is None)
        self._shuffle_seed = rng(32)

    def pair_prefix(self, own: LaneKind, partner: LaneKind) -> bytes:
        """The digest prefix of the lane pair (our lane, the partner's lane)."""
        if self.role is Role.SENDER:
            return self.agreement.digest_prefix(own, partner)
        return self.agreement.digest_prefix(partner, own)

    def own_lane(self, kind: LaneKind) -> OwnLane:
        return next(o for o in self.lanes if o.kind == kind)

    def lanes_frame(self) -> bytes:
        """Our ``lanes`` message: the lane sizes and the slots per account."""
        infos = tuple(
            LaneInfo(lane=lane.kind, accounts=lane.size, populations=lane.populations)
            for lane in self.lanes
        )
        return encode_frame(Lanes(slots=self.slots, lanes=infos))

    def blinded_frames(self) -> Generator[bytes, None, None]:
        """Hash, blind and (records lane) seal our lanes, one chunk per ``next``."""
        agreement = self.agreement
        slots = self.slots
        total = sum(lane.size for lane in self.lanes)
        done = 0
        for lane in self.lanes:
            scalar = self.scalars[lane.kind]
            sealing = lane.kind == "records" and self.phi is not None
            per_account = slots * (POINT_BYTES + (WRAP_BYTES if sealing else 0)) + (
                self.terms.payload_bytes + TAG_BYTES if sealing else 0
            )
            step = max(1, min(CHUNK_POINTS // slots, CHUNK_BYTES // per_account))
            width = lane.mask_width
            dummies_before = [0]
            if sealing:
                for layout in lane.slot_keys:
                    dummies_before.append(dummies_before[-1] + layout.count(None))
            bounds = [(start, min(start + step, lane.size)) for start in range(0, lane.size, step)]
            scalars = [scalar, self.phi] if sealing and self.phi else [scalar]
            results = self.engine.hash_blind_iter(
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
                self._emit(Progress(phase="blind", done=done, total=total))
                yield frame
        # Hashed and sent: the encoded keys (tens of bytes per slot) are not needed again,
        # and at a million accounts they are tens of MiB through the rest of the session.
        for lane in self.lanes:
            lane.messages = ()

    # -- the partner's lanes --------------------------------------------------------------------

    def receive(self, msg: Message) -> None:
        """One of the partner's exchange messages (the session checked it is the one due)."""
        if isinstance(msg, Lanes):
            self.on_lanes(msg)
        elif isinstance(msg, Blinded):
            self.on_blinded(msg)
        elif isinstance(msg, Returned):
            self.on_returned(msg)
        elif isinstance(msg, Tally):
            self.on_tally(msg)

    def on_lanes(self, msg: Lanes) -> None:
        self.partner_slots = msg.slots
        partner = self.partner_terms
        kinds = [info.lane for info in msg.lanes]
        levels = {p.disclosure for p in partner.populations}
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
            names = tuple(p.name for p in partner.populations if p.disclosure is level)
            if info.populations != names:
                raise RemoteProtocolError(
                    f"lanes message: lane {info.lane} names populations other than the "
                    f"{level.value}-level ones the partner's terms declared"
                )
            sizes = {p.name: p.size or 0 for p in partner.populations}
            declared: tuple[int, ...] = tuple(sizes[name] for name in info.populations)
            if info.accounts > sum(declared):
                raise RemoteProtocolError(
                    f"lanes message: lane {info.lane} holds {info.accounts} accounts, more than "
                    f"the {sum(declared)} its populations declared in the partner's terms"
                )
            lane = PartnerLane(info=info, declared=declared, seen=[0] * len(declared))
            for own in self.lanes:
                lane.index[own.kind] = self._new_index()
                self._outgoing[(own.kind, info.lane)] = _Outgoing()
            self.partner_lanes[info.lane] = lane
            self.partner_order.append(info.lane)
        # Returns flow in this order on both sides: returning lane, then target lane; only for
        # the pairs whose recipient compares (see compares()).
        self._return_plan = [
            (own.kind, k) for own in self.lanes for k in self.partner_order if compares(k, own.kind)
        ]
        self.incoming_plan = [
            (k, own.kind) for k in self.partner_order for own in self.lanes if compares(own.kind, k)
        ]
        self._tallies_owed = [(own, k) for k, own in self.incoming_plan if not compares(k, own)]
        self.tallies = {
            (own.kind, k): None
            for own in self.lanes
            for k in self.partner_order
            if not compares(own.kind, k)
        }
        for partner_kind, own_kind in self.incoming_plan:
            expected = self.own_lane(own_kind).size
            self.returns[(own_kind, partner_kind)] = Returns(expected=expected)
        for kind in self.partner_order:
            if self.partner_lanes[kind].info.accounts == 0:
                self._complete_partner_lane(self.partner_lanes[kind])

    def expecting(self) -> str:
        """What the partner's stream must carry next: blinded, returned or nothing more."""
        if any(p.received < p.info.accounts for p in self.partner_lanes.values()):
            return "blinded"
        if any(r.received < r.expected for r in self.returns.values()):
            return "returned"
        if any(t is None for t in self.tallies.values()):
            return "tally"
        return "nothing more"

    def on_blinded(self, msg: Blinded) -> None:
        lane = next(
            (
                self.partner_lanes[k]
                for k in self.partner_order
                if self.partner_lanes[k].received < self.partner_lanes[k].info.accounts
            ),
            None,
        )
        where = f"blinded message (lane {msg.lane}, chunk {msg.seq})"
        if lane is None:  # expecting() said "blinded": an open lane exists
            raise RemoteProtocolError(f"{where}: every lane of the partner is already complete")
        if msg.lane != lane.info.lane or msg.seq != lane.chunks:
            raise RemoteProtocolError(
                f"{where} is out of order: expected lane {lane.info.lane}, chunk {lane.chunks}"
            )
        slots = self.partner_slots
        partner = self.partner_terms
        check_blinded(
            msg,
            slots=slots,
            populations=len(lane.info.populations),
            payload_bytes=(
                partner.payload_bytes if msg.lane == "records" and reveals_fields(partner) else None
            ),
            remaining=lane.info.accounts - lane.received,
        )
        _check_declared(where, lane, msg.masks)
        validate_points(msg.points, msg.count * slots, message=where)
        outputs = [
            blob
            for own in self.lanes
            for blob in self.engine.blind_digests(
                msg.points,
                [self.scalars[own.kind]],
                message=where,
                digest_prefix=self.pair_prefix(own.kind, msg.lane),
                raw=[False],
            )
        ]
        # OPRF values on the partner's values, returned with our records lane only: they let
        # it open our sealed fields for the keys it holds (protocol_spec.md §5.3). How many it
        # can ask for is bounded by the sizes it declared before we accepted.
        oprf = b""
        if self.phi is not None:
            (oprf,) = self.engine.blind(msg.points, [self.phi], message=where)
        for own, blob in zip(self.lanes, outputs, strict=True):
            lane.index[own.kind].add(blob, where=where)
            if own.kind == "records" and compares(msg.lane, "records"):
                # In order, so the partner can map results to its accounts; OPRF points let it
                # derive the keys of our sealed fields for the keys it holds, and only those.
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
        done = sum(p.received for p in self.partner_lanes.values())
        total = sum(p.info.accounts for p in self.partner_lanes.values())
        self._emit(Progress(phase="double-blind", done=done, total=total))
        if lane.received == lane.info.accounts:
            self._complete_partner_lane(lane)

    def _complete_partner_lane(self, lane: PartnerLane) -> None:
        """A partner lane is in: release in-order returns, build shuffled ones."""
        kind = lane.info.lane
        if ("records", kind) in self._outgoing:
            self._outgoing[("records", kind)].complete = True
        if ("counts", kind) not in self._outgoing:
            return
        if not compares(kind, "counts"):  # the partner does not compare this pair: we do
            self._outgoing[("counts", kind)].complete = True
            return
        slots = self.partner_slots
        width = mask_width(len(lane.info.populations))
        # The index holds the digests in the partner's order: account i has positions
        # [i * slots, (i + 1) * slots).
        index = lane.index["counts"]
        masks = bytes(lane.masks)
        order = list(range(lane.info.accounts))
        shuffle(stream_rng(self._shuffle_seed, b"returned " + kind.encode()), order)
        step = max(1, CHUNK_POINTS // slots)
        out = self._outgoing[("counts", kind)]
        # One request for the whole stream (an index on a cluster answers it part by part):
        # every digest, in the shuffled order of the accounts.
        every = index.digests_at(
            order if slots == 1 else [i * slots + s for i in order for s in range(slots)]
        )
        width_d = slots * DIGEST_BYTES
        for seq, start in enumerate(range(0, len(order), step)):
            part = order[start : start + step]
            blob = every[start * width_d : (start + len(part)) * width_d]
            if slots == 1:
                digests = blob
            else:
                # Sorted within each account: the partner knows where it put each key among
                # its slots, so slot order would tell it which of its accounts a shuffled
                # match can be.
                keys = split_digests(blob)
                digests = b"".join(
                    [d for a in range(len(part)) for d in sorted(keys[a * slots : (a + 1) * slots])]
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

    def flush_returns(self) -> bytes:
        """Returned chunks that may go out now, in protocol order (after all our blinded),
        then the tallies we owe, each once its lane pair is complete."""
        out = bytearray()
        while self._return_plan:
            pending = self._outgoing[self._return_plan[0]]
            while pending.frames:
                out += pending.frames.popleft()
            if not pending.complete:
                return bytes(out)
            self._return_plan.pop(0)
        while self._tallies_owed:
            own_kind, partner_kind = self._tallies_owed[0]
            lane = self.partner_lanes[partner_kind]
            if not self._returns_full(own_kind, partner_kind) or lane.received < lane.info.accounts:
                break
            tally = Tally(
                lane="counts", target="records", counts=self._tally(own_kind, partner_kind)
            )
            out += encode_frame(tally)
            self._tallies_owed.pop(0)
        return bytes(out)

    def _tally(self, own_kind: LaneKind, partner_kind: LaneKind) -> tuple[int, ...]:
        """The partner's counts for a pair only we compare: for each of its populations q and
        each of ours p, how many of its accounts in q matched some of ours in p."""
        own, lane = self.own_lane(own_kind), self.partner_lanes[partner_kind]
        found = lane.index[own_kind].lookup(bytes(self.returns[(own_kind, partner_kind)].digests))
        theirs = lane.info.populations
        width = mask_width(len(theirs))
        ours_of: dict[int, set[str]] = {}  # partner account -> our populations it matched
        for at, pos in enumerate(found):
            if pos is not None:
                i = at // self.slots
                ours_of.setdefault(pos // self.partner_slots, set()).update(own.populations_of(i))
        counts = dict.fromkeys(((q, p) for q in theirs for p in own.populations), 0)
        for j, matched in ours_of.items():
            mask = int.from_bytes(lane.masks[j * width : (j + 1) * width], "little")
            for bit, q in enumerate(theirs):
                if mask >> bit & 1:
                    for p in matched:
                        counts[(q, p)] += 1
        return tuple(counts.values())

    @property
    def returns_flushed(self) -> bool:
        return not self._return_plan and not self._tallies_owed

    def on_tally(self, msg: Tally) -> None:
        key = (msg.target, msg.lane)  # (our lane, the partner's lane)
        where = f"tally message (lane {msg.lane} for {msg.target})"
        if self.tallies.get(key, ()) is not None:
            raise RemoteProtocolError(f"{where}: no tally of this lane pair is owed to us")
        ours = self.own_lane(msg.target).populations
        theirs = self.partner_lanes[msg.lane].info.populations
        if len(msg.counts) != len(ours) * len(theirs):
            raise RemoteProtocolError(
                f"{where}: {len(msg.counts)} counts, expected {len(ours)} x {len(theirs)}"
            )
        sizes = _sizes_by_population(self.own_lane(msg.target))
        for n, value in enumerate(msg.counts):
            name = ours[n // len(theirs)]
            if value > sizes[name]:
                raise RemoteProtocolError(
                    f"{where}: counts {value} of our accounts in {name!r}, which has {sizes[name]}"
                )
        self.tallies[key] = msg.counts

    # -- our values, returned -------------------------------------------------------------------

    def on_returned(self, msg: Returned) -> None:
        partner_kind, own_kind = next(
            (p, o) for p, o in self.incoming_plan if not self._returns_full(o, p)
        )
        returns = self.returns[(own_kind, partner_kind)]
        if msg.lane != partner_kind or msg.target != own_kind or msg.seq != returns.chunks:
            raise RemoteProtocolError(
                f"returned message (lane {msg.lane} for {msg.target}, chunk {msg.seq}) is out "
                f"of order: expected lane {partner_kind} for {own_kind}, chunk {returns.chunks}"
            )
        own = self.own_lane(own_kind)
        check_returned(
            msg,
            slots=self.slots,
            populations=len(own.populations),
            remaining=returns.expected - returns.received,
            sealed=reveals_fields(self.partner_terms),
        )
        if msg.oprf:
            where = f"returned message (lane {msg.lane} for {msg.target}, chunk {msg.seq}) oprf"
            validate_points(msg.oprf, msg.count * self.slots, message=where)
        check_returned_unique(msg, digests_seen=returns.seen, oprf_seen=returns.oprf_seen)
        returns.digests += msg.digests
        returns.masks += msg.masks
        returns.oprf += msg.oprf
        returns.received += msg.count
        returns.chunks += 1
        if returns.received == returns.expected:
            returns.seen.clear()
            returns.oprf_seen.clear()
        done = sum(r.received for r in self.returns.values())
        total = sum(r.expected for r in self.returns.values())
        self._emit(Progress(phase="receive", done=done, total=total))

    def _returns_full(self, own_kind: LaneKind, partner_kind: LaneKind) -> bool:
        r = self.returns[(own_kind, partner_kind)]
        return r.received >= r.expected


def compares(own: str, partner: str) -> bool:
    """Whether a party compares the lane pair (its lane ``own``, the partner's ``partner``).

    The party that compares learns the match pattern at the granularity of the *other* side's
    lane, and a cheater with per-account scalars learns membership against a counts lane (H1,
    protocol_spec.md §8). So when one side's lane is records and the other's counts, only the
    side whose partner lane is records (already granted records-level answers) compares, and
    it sends the other its counts in a ``tally``."""
    return not (own == "records" and partner == "counts")


def _sizes_by_population(lane: OwnLane) -> dict[str, int]:
    sizes = dict.fromkeys(lane.populations, 0)
    for i in range(lane.size):
        for name in lane.populations_of(i):
            sizes[name] += 1
    return sizes


def _check_declared(where: str, lane: PartnerLane, masks: bytes) -> None:
    """No population of the partner's may hold more accounts than its terms declared."""
    width = mask_width(len(lane.declared))
    tally = Counter(masks[at : at + width] for at in range(0, len(masks), width))
    for mask, n in tally.items():
        bits = int.from_bytes(mask, "little")
        for bit in range(len(lane.declared)):
            if bits >> bit & 1:
                lane.seen[bit] += n
    for name, seen, declared in zip(lane.info.populations, lane.seen, lane.declared, strict=True):
        if seen > declared:
            raise RemoteProtocolError(
                f"{where}: population {name!r} now holds {seen} accounts, more than the "
                f"{declared} the partner's terms declared"
            )
