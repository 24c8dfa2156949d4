"""From what came back to what we learned: matching and result assembly.

Each of our values came back as the digest of H(k)^{ab}; the partner's values, blinded again
by us, sit in each partner lane's index. A digest found in the index is a match. What a match
may tell us depends on the lane the partner sent it in (protocol_spec.md §5.5):

* a *counts* lane was returned shuffled, so all we know of an account is the mask we gave it
  and the partner masks it matched: we tally (our mask, their masks) pairs into counts;
* a *records* lane came back in order, so we know which of our accounts matched which partner
  account, by which key types, and can open the fields the partner sealed for it.

Fields that fail to open or that the partner's terms did not declare are a defect of the
partner's; the session reports them to our user only (see ``Session._fail_quietly``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not
from types import MappingProxyType

from ..crypto import unwrap_content_key
from ..errors import RemoteProtocolError
from .agreement import DIGEST_BYTES
from .conflicts import raw_key
from .exchange import Exchange, PartnerLane, Returns
from .lanes import open_payload, reveals_fields
from .messages import POINT_BYTES, TAG_BYTES, WRAP_BYTES, LaneKind, mask_width
from .model import Match, OverlapResult

__all__ = ["compute_result"]


@dataclass(slots=True)
class _PartnerHit:
    """What one of our records learned about one matching partner account."""

    fields: tuple[Mapping[str, str], ...]
    populations: set[str] = field(default_factory=set)
    key_types: set[str] = field(default_factory=set)


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


def compute_result(ex: Exchange) -> OverlapResult:
    """Compare what came back with what we computed; count and list only what is allowed."""
    partner = ex.partner_terms
    ours = [p.name for p in ex.terms.populations]
    theirs = [p.name for p in partner.populations]
    counts: dict[str, dict[str, int]] = {p: dict.fromkeys(theirs, 0) for p in ours}
    found: dict[int, dict[int, _PartnerHit]] = {}
    #: partner account -> its opened fields (opened once, whichever of our lanes matched it)
    payloads: dict[int, tuple[Mapping[str, str], ...]] = {}
    #: defects of the partner's sealed data; matching runs to the end regardless, so that
    #: the time it takes does not depend on where (or whether) a defect sits
    defects: list[RemoteProtocolError] = []
    for partner_kind, own_kind in ex.incoming_plan:
        lane = ex.partner_lanes[partner_kind]
        returned = ex.returns[(own_kind, partner_kind)]
        digests = bytes(returned.digests)
        index = lane.index[own_kind]
        # Where each of our returned values sits among the partner's (None: no match).
        keys = [digests[at : at + DIGEST_BYTES] for at in range(0, len(digests), DIGEST_BYTES)]
        where = list(map(index.get, keys))
        if partner_kind == "counts":
            _tally_counts(ex, own_kind, lane, returned, where, counts)
        else:
            _collect_records(ex, own_kind, lane, returned, where, counts, found, payloads, defects)
    for (own_kind, partner_kind), tally in ex.tallies.items():
        _add_tally(ex, own_kind, partner_kind, tally, counts)
    if defects:
        more = f" (and {len(defects) - 1} more defects)" if len(defects) > 1 else ""
        raise RemoteProtocolError(f"{defects[0]}{more}")
    return OverlapResult(
        our_label=ex.terms.label,
        partner_label=partner.label,
        our_sizes=MappingProxyType(_our_sizes(ex, ours)),
        partner_sizes=MappingProxyType(_partner_sizes(ex, theirs)),
        counts=MappingProxyType({p: MappingProxyType(c) for p, c in counts.items()}),
        matches=_matches_from(ex, found, ours, theirs),
        partner_disclosure=MappingProxyType({p.name: p.disclosure for p in partner.populations}),
        our_disclosure=MappingProxyType({p.name: p.disclosure for p in ex.terms.populations}),
    )


def _tally_counts(
    ex: Exchange,
    own_kind: LaneKind,
    lane: PartnerLane,
    returned: Returns,
    where: list[int | None],
    counts: dict[str, dict[str, int]],
) -> None:
    """Shuffled: all we know of each account is the mask we gave it, so the counts depend
    only on (our mask, the partner masks it matched): tally those."""
    slots, partner_slots = ex.slots, ex.partner_slots
    their_names = _MaskNames(lane.info.populations)
    their_width = their_names.width
    their_masks = bytes(lane.masks)
    our_names = _MaskNames(ex.own_lane(own_kind).populations)
    our_width = our_names.width
    our_masks = bytes(returned.masks)
    tally: Counter[tuple[bytes, frozenset[bytes]]] = Counter()
    hits_at: list[tuple[int, int]] = []
    if slots == 1 and partner_slots == 1 and our_width == 1 and their_width == 1:
        # One slot and one mask byte on each side (the common case): one match is one
        # account, and the tally runs over byte pairs at C speed.
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


def _collect_records(
    ex: Exchange,
    own_kind: LaneKind,
    lane: PartnerLane,
    returned: Returns,
    where: list[int | None],
    counts: dict[str, dict[str, int]],
    found: dict[int, dict[int, _PartnerHit]],
    payloads: dict[int, tuple[Mapping[str, str], ...]],
    defects: list[RemoteProtocolError],
) -> None:
    """In order: which of our accounts matched which partner account, and its fields."""
    slots, partner_slots = ex.slots, ex.partner_slots
    own = ex.own_lane(own_kind)
    their_names = _MaskNames(lane.info.populations)
    their_width = their_names.width
    their_masks = bytes(lane.masks)
    hits_at = [(k, pos) for k, pos in enumerate(where) if pos is not None]
    for i, group in _by_account(hits_at, slots):
        hits = []  # (our slot, partner account, partner slot)
        for k, pos in group:
            j, t = divmod(pos, partner_slots)
            hits.append((k - i * slots, j, t))
        matched_theirs: set[str] = set()
        for _, j, _ in hits:
            at = j * their_width
            matched_theirs |= their_names[their_masks[at : at + their_width]]
        for s, j, t in hits:
            wire = own.slot_keys[i][s]
            if wire is None:  # a dummy is a random point: the partner moved a matching value
                defects.append(_dummy_hit(own_kind, lane.info.lane, i, j))
                continue
            key = raw_key(wire)  # a flavoured name (§5.8) is reported as the name it is
            pops = their_names[their_masks[j * their_width : (j + 1) * their_width]]
            if j not in payloads:
                try:
                    fields = _partner_fields(ex, lane, returned, own_kind, i, s, j, t, pops)
                except RemoteProtocolError as defect:
                    defects.append(defect)
                    fields = ()
                payloads[j] = fields
            for r in own.records_of(i):
                if key in ex.records[r].keys:
                    hit_for = found.setdefault(r, {})
                    entry = hit_for.setdefault(j, _PartnerHit(payloads[j]))
                    entry.populations |= pops
                    entry.key_types.add(key[0])
        for p in own.populations_of(i):
            for q in matched_theirs:
                counts[p][q] += 1


def _add_tally(
    ex: Exchange,
    own_kind: LaneKind,
    partner_kind: LaneKind,
    tally: tuple[int, ...] | None,
    counts: dict[str, dict[str, int]],
) -> None:
    """Counts of a lane pair only the partner compares (§5.5), as its tally gave them."""
    assert tally is not None  # the session computes the result only after every tally
    ours = ex.own_lane(own_kind).populations
    theirs = ex.partner_lanes[partner_kind].info.populations
    for n, value in enumerate(tally):
        counts[ours[n // len(theirs)]][theirs[n % len(theirs)]] += value


def _dummy_hit(own_kind: LaneKind, partner_kind: LaneKind, i: int, j: int) -> RemoteProtocolError:
    """A dummy slot of ours matched: its point is a random one, so the partner moved or
    copied a matching value onto it. Found only because that value matched our data, so it
    is a matching defect (quiet, protocol_spec.md 5.5), never answered with an abort."""
    return RemoteProtocolError(
        f"returned stream of lane {partner_kind} for {own_kind}: a filler (dummy) slot of our "
        f"account {i} matched partner account {j}; dummies match nothing, so the partner "
        "altered the values it returned"
    )


def _our_sizes(ex: Exchange, ours: list[str]) -> dict[str, int]:
    sizes = dict.fromkeys(ours, 0)
    for own in ex.lanes:
        names = _MaskNames(own.populations)
        for mask, n in _tally_masks(own.masks, names.width).items():
            for name in names[mask]:
                sizes[name] += n
    return sizes


def _partner_sizes(ex: Exchange, theirs: list[str]) -> dict[str, int]:
    sizes = dict.fromkeys(theirs, 0)
    for lane in ex.partner_lanes.values():
        names = _MaskNames(lane.info.populations)
        for mask, n in _tally_masks(bytes(lane.masks), names.width).items():
            for name in names[mask]:
                sizes[name] += n
    return sizes


def _partner_fields(
    ex: Exchange,
    lane: PartnerLane,
    returned: Returns,
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
    partner = ex.partner_terms
    agreement = ex.agreement
    if not reveals_fields(partner):
        return ()
    where = f"partner account {j} of lane {lane.info.lane}"
    at = (i * ex.slots + s) * POINT_BYTES
    (oprf,) = ex.engine.blind(
        bytes(returned.oprf[at : at + POINT_BYTES]),
        [ex.scalars[own_kind].inverse()],
        message="returned message: OPRF point",
    )
    w_at = (j * ex.partner_slots + t) * WRAP_BYTES
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
    ex: Exchange, found: dict[int, dict[int, _PartnerHit]], ours: list[str], theirs: list[str]
) -> tuple[Match, ...]:
    key_order = {k: n for n, k in enumerate(ex.agreement.key_types)}
    records = ex.records
    matches: list[Match] = []
    for r in sorted(found, key=lambda r: records[r].record_id):
        record = records[r]
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
