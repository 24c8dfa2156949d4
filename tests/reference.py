"""What each party must learn, computed with plain sets and no cryptography.

The property tests check that a real session gives exactly this. It is written from the
definitions in protocol_spec.md ("What each party learns"), not from the session code:

- accounts: one party's records that share a key (of an agreed type) are one account;
- counts[p][q]: our accounts in population p that share a key with at least one partner
  account in population q;
- matches: our records whose own keys meet a partner account in a records-level population,
  with the partner populations (records-level only), key types and revealed fields;
- refuse_conflicts (section 5.8): when both accounts carry a key of the same identifying
  type (domain, duns), a name key they share does not count as meeting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from blindmatch.protocol.model import Disclosure, Record, Terms


@dataclass(frozen=True)
class Expected:
    counts: dict[str, dict[str, int]]
    our_sizes: dict[str, int]
    partner_sizes: dict[str, int]
    #: record id -> (our pops, partner pops, key types, sorted field rows)
    matches: dict[
        str,
        tuple[
            tuple[str, ...],
            tuple[str, ...],
            tuple[str, ...],
            tuple[tuple[tuple[str, str], ...], ...],
        ],
    ]


def _accounts(records: Sequence[Record], key_types: set[str], shared: set[str]) -> list[list[int]]:
    """Connected components of records linked by a shared key (quadratic: tests are small)."""
    groups = [
        {i}
        for i, r in enumerate(records)
        if any(k[0] in key_types for k in r.keys) and r.populations & shared
    ]

    def keys(group: set[int]) -> set[tuple[str, str]]:
        return {k for j in group for k in records[j].keys if k[0] in key_types}

    merged = True
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if keys(groups[a]) & keys(groups[b]):
                    groups[a] |= groups.pop(b)
                    merged = True
                    break
            if merged:
                break
    return [sorted(g) for g in groups]


IDENTIFYING = {"domain", "duns"}
GUARDED = {"name"}


def shared_keys(
    ours: set[tuple[str, str]],
    theirs: set[tuple[str, str]],
    key_types: set[str],
    refuse_conflicts: bool,
) -> set[tuple[str, str]]:
    """The keys through which two accounts (their key sets) meet, under the rule of 5.8."""
    common = ours & theirs
    if refuse_conflicts and key_types & GUARDED:
        both = {k[0] for k in ours} & {k[0] for k in theirs} & IDENTIFYING & key_types
        if both:
            common = {k for k in common if k[0] not in GUARDED}
    return common


def expected_view(
    ours: tuple[Terms, Sequence[Record]],
    theirs: tuple[Terms, Sequence[Record]],
    key_types: set[str],
    refuse_conflicts: bool = False,
) -> Expected:
    our_terms, our_records = ours
    their_terms, their_records = theirs
    our_shared = {p.name for p in our_terms.populations}
    their_shared = {p.name for p in their_terms.populations}
    their_records_level = {
        p.name for p in their_terms.populations if p.disclosure is Disclosure.RECORDS
    }
    allowed_fields = {p.name: set(p.fields) for p in their_terms.populations}

    def keys_of(records: Sequence[Record], idx: Sequence[int]) -> set[tuple[str, str]]:
        return {k for j in idx for k in records[j].keys if k[0] in key_types}

    def pops_of(records: Sequence[Record], idx: Sequence[int], shared: set[str]) -> set[str]:
        return {p for j in idx for p in records[j].populations if p in shared}

    our_accounts = _accounts(our_records, key_types, our_shared)
    their_accounts = _accounts(their_records, key_types, their_shared)
    counts = {p.name: {q.name: 0 for q in their_terms.populations} for p in our_terms.populations}
    our_sizes = {p.name: 0 for p in our_terms.populations}
    partner_sizes = {q.name: 0 for q in their_terms.populations}
    for acc in our_accounts:
        for p in pops_of(our_records, acc, our_shared):
            our_sizes[p] += 1
    for acc in their_accounts:
        for q in pops_of(their_records, acc, their_shared):
            partner_sizes[q] += 1

    def meet(acc: Sequence[int], other: Sequence[int]) -> set[tuple[str, str]]:
        return shared_keys(
            keys_of(our_records, acc), keys_of(their_records, other), key_types, refuse_conflicts
        )

    for acc in our_accounts:
        matched: set[str] = set()
        for other in their_accounts:
            if meet(acc, other):
                matched |= pops_of(their_records, other, their_shared)
        for p in pops_of(our_records, acc, our_shared):
            for q in matched:
                counts[p][q] += 1

    matches = {}
    account_of = {i: acc for acc in our_accounts for i in acc}
    for i in sorted(account_of):
        record = our_records[i]
        own_keys = {k for k in record.keys if k[0] in key_types}
        pops: set[str] = set()
        kinds: set[str] = set()
        rows: list[tuple[tuple[str, str], ...]] = []
        for other in their_accounts:
            level_pops = pops_of(their_records, other, their_records_level)
            if not level_pops:
                continue
            common = own_keys & meet(account_of[i], other)
            if not common:
                continue
            pops |= level_pops
            kinds |= {k[0] for k in common}
            for j in other:
                permitted: set[str] = set()
                for p in their_records[j].populations:
                    if p in their_records_level:
                        permitted |= allowed_fields[p]
                row = tuple(
                    sorted(
                        (k, v) for k, v in their_records[j].fields.items() if k in permitted and v
                    )
                )
                if row:
                    rows.append(row)
        if pops:
            matches[record.record_id] = (
                tuple(p.name for p in our_terms.populations if p.name in record.populations),
                tuple(q.name for q in their_terms.populations if q.name in pops),
                tuple(sorted(kinds)),
                tuple(sorted(rows)),
            )
    return Expected(counts, our_sizes, partner_sizes, matches)


def observed(result: object) -> Expected:
    """The same shape, read from an OverlapResult."""
    from blindmatch.protocol.model import OverlapResult

    assert isinstance(result, OverlapResult)
    matches = {
        m.record_id: (
            m.our_populations,
            m.partner_populations,
            tuple(sorted(m.key_types)),
            tuple(sorted(tuple(sorted(row.items())) for row in m.partner_fields)),
        )
        for m in result.matches
    }
    return Expected(
        {p: dict(c) for p, c in result.counts.items()},
        dict(result.our_sizes),
        dict(result.partner_sizes),
        matches,
    )


def fields_map(**kwargs: str) -> Mapping[str, str]:
    return dict(kwargs)
