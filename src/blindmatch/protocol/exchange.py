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

from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field

from ..crypto import Scalar, seal_payload, validate_points, wrap_content_key
from ..crypto.engine import CryptoEngine
from ..errors import RemoteProtocolError
from .agreement import DIGEST_BYTES, Agreement, Role
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
    Returned,
    check_blinded,
    check_returned,
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
    received: int = 0
    chunks: int = 0
    masks: bytearray = field(default_factory=bytearray)
    wraps: bytearray = field(default_factory=bytearray)
    payloads: bytearray = field(default_factory=bytearray)
    #: per our lane: digest -> position (account * slots + slot) of the partner's values under
    #: our scalar, inserted in the partner's order (so the keys, in order, are what we return)
    index: dict[LaneKind, dict[bytes, int]] = field(default_factory=dict)


@dataclass(slots=True)
class Returns:
    """Our values as the partner returned them, for one (our lane, partner lane) pair."""

    expected: int
    received: int = 0
    chunks: int = 0
    digests: bytearray = field(default_factory=bytearray)
    masks: bytearray = field(default_factory=bytearray)
    oprf: bytearray = field(default_factory=bytearray)


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
        self._emit = emit
        self.partner_lanes: dict[LaneKind, PartnerLane] = {}
        self.partner_order: list[LaneKind] = []
        self.returns: dict[tuple[LaneKind, LaneKind], Returns] = {}
        #: (partner lane, our lane) in the order the partner returns our values
        self.incoming_plan: list[tuple[LaneKind, LaneKind]] = []
        self._return_plan: list[tuple[LaneKind, LaneKind]] = []
        self._outgoing: dict[tuple[LaneKind, LaneKind], _Outgoing] = {}
        self.partner_slots = 0
        self.blinded_done = False
        self.phi: Scalar | None = None
        self.scalars: dict[LaneKind, Scalar] = {}
        self._build(rng)

    # -- our lanes ------------------------------------------------------------------------------

    def _build(self, rng: Rng) -> None:
        fixed = self.terms.keys_per_account
        accounts, self.dropped_keys = build_accounts(
            self.records,
            self.agreement.key_types,
            {p.name for p in self.terms.populations},
            fixed or MAX_KEYS_PER_ACCOUNT,
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

    # -- the partner's lanes --------------------------------------------------------------------

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
            declared = tuple(p.name for p in partner.populations if p.disclosure is level)
            if info.populations != declared:
                raise RemoteProtocolError(
                    f"lanes message: lane {info.lane} names populations other than the "
                    f"{level.value}-level ones the partner's terms declared"
                )
            lane = PartnerLane(info=info)
            for own in self.lanes:
                lane.index[own.kind] = {}
                self._outgoing[(own.kind, info.lane)] = _Outgoing()
            self.partner_lanes[info.lane] = lane
            self.partner_order.append(info.lane)
        # Returns flow in this order on both sides: returning lane, then target lane.
        self._return_plan = [(own.kind, k) for own in self.lanes for k in self.partner_order]
        self.incoming_plan = [(k, own.kind) for k in self.partner_order for own in self.lanes]
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
        if self.phi is not None:
            outputs += self.engine.blind(msg.points, [self.phi], message=where)
        base = lane.received * slots
        for own, blob in zip(self.lanes, outputs, strict=False):  # (then phi's, if any)
            index = lane.index[own.kind]
            keys = [blob[at : at + DIGEST_BYTES] for at in range(0, len(blob), DIGEST_BYTES)]
            before = len(index)
            if not index.keys().isdisjoint(keys):
                _raise_repeat(where, keys, index)
            index.update(zip(keys, range(base, base + len(keys)), strict=True))
            if len(index) != before + len(keys):  # a repeat within this message
                _raise_repeat(where, keys, {})
            if own.kind == "records":
                # In order, so the partner can map results to its accounts; OPRF points let it
                # derive the keys of our sealed fields for the keys it holds, and only those.
                oprf = outputs[-1] if self.phi is not None else b""
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
        slots = self.partner_slots
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

    def flush_returns(self) -> bytes:
        """Returned chunks that may go out now, in protocol order (after all our blinded)."""
        out = bytearray()
        while self._return_plan:
            pending = self._outgoing[self._return_plan[0]]
            while pending.frames:
                out += pending.frames.popleft()
            if not pending.complete:
                break
            self._return_plan.pop(0)
        return bytes(out)

    @property
    def returns_flushed(self) -> bool:
        return not self._return_plan

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
        returns.digests += msg.digests
        returns.masks += msg.masks
        returns.oprf += msg.oprf
        returns.received += msg.count
        returns.chunks += 1
        done = sum(r.received for r in self.returns.values())
        total = sum(r.expected for r in self.returns.values())
        self._emit(Progress(phase="receive", done=done, total=total))

    def _returns_full(self, own_kind: LaneKind, partner_kind: LaneKind) -> bool:
        r = self.returns[(own_kind, partner_kind)]
        return r.received >= r.expected


def _raise_repeat(where: str, keys: Sequence[bytes], earlier: Mapping[bytes, int]) -> None:
    """Name the first element of a message whose digest was seen before (in ``earlier`` or
    earlier in the message)."""
    seen: set[bytes] = set()
    for n, key in enumerate(keys):
        if key in earlier or key in seen:
            raise RemoteProtocolError(
                f"{where}: element {n} repeats an element sent earlier in this lane"
            )
        seen.add(key)
    raise AssertionError("no repeated element")  # pragma: no cover - callers checked
