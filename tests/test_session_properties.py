"""A real two-party session learns exactly what the plain set computation says, no more."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reference import expected_view, observed

from blindmatch.driver import run_pair
from blindmatch.protocol import (
    Disclosure,
    PopulationTerms,
    Record,
    Terms,
    seeded_rng,
)

VALUES = ["acme.com", "globex.com", "xn--mnchen-3ya.de", "initech.io", "société", "ünï", "a", ""]
KEY_TYPES = ["domain", "duns", "name"]
POPS = ["Customers", "Prospects", "Partners"]


@st.composite
def party(draw: st.DrawFn, label: str) -> tuple[Terms, list[Record]]:
    key_types = draw(st.lists(st.sampled_from(KEY_TYPES), min_size=1, max_size=3, unique=True))
    # Always offer "domain" so the two parties have a key type in common.
    if "domain" not in key_types:
        key_types.insert(0, "domain")
    pops = []
    for name in POPS:
        disclosure = draw(st.sampled_from(list(Disclosure)))
        fields: tuple[str, ...] = ()
        if disclosure is Disclosure.RECORDS:
            fields = tuple(draw(st.lists(st.sampled_from(["Name", "Owner"]), unique=True)))
        pops.append(PopulationTerms(name=name, disclosure=disclosure, fields=fields))
    if all(p.disclosure is Disclosure.HIDDEN for p in pops):
        pops[0] = PopulationTerms(name=POPS[0], disclosure=Disclosure.COUNTS)
    terms = Terms(
        label=label, key_types=tuple(key_types), populations=tuple(pops), keys_per_account=16
    )
    n = draw(st.integers(0, 7))
    records = []
    for i in range(n):
        keys = draw(
            st.lists(
                st.tuples(st.sampled_from(KEY_TYPES), st.sampled_from(VALUES)),
                max_size=3,
                unique=True,
            )
        )
        members = draw(st.frozensets(st.sampled_from(POPS), max_size=3))
        fields_ = draw(
            st.dictionaries(
                st.sampled_from(["Name", "Owner", "Secret"]), st.text(max_size=8), max_size=3
            )
        )
        records.append(
            Record(record_id=f"{label}-{i}", keys=tuple(keys), populations=members, fields=fields_)
        )
    return terms, records


def _check(sender: tuple[Terms, list[Record]], receiver: tuple[Terms, list[Record]]) -> None:
    run = run_pair(
        sender_terms=sender[0],
        sender_records=sender[1],
        receiver_terms=receiver[0],
        receiver_records=receiver[1],
        sender_rng=seeded_rng(b"s"),
        receiver_rng=seeded_rng(b"r"),
    )
    agreed = set(sender[0].key_types) & set(receiver[0].key_types)
    assert observed(run.sender) == expected_view(sender, receiver, agreed)
    assert observed(run.receiver) == expected_view(receiver, sender, agreed)


def _simple(
    label: str, disclosure: Disclosure, keys: list[list[str]]
) -> tuple[Terms, list[Record]]:
    terms = Terms(
        label=label,
        key_types=("domain",),
        populations=(
            PopulationTerms(
                name="Customers",
                disclosure=disclosure,
                fields=("Name",) if disclosure is Disclosure.RECORDS else (),
            ),
        ),
    )
    records = [
        Record(
            record_id=f"{label}-{i}",
            keys=tuple(("domain", v) for v in values),
            populations=frozenset({"Customers"}),
            fields={"Name": f"{label} {i}"},
        )
        for i, values in enumerate(keys)
    ]
    return terms, records


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sender=party("S"), receiver=party("R"))
@example(  # both empty
    sender=_simple("S", Disclosure.RECORDS, []), receiver=_simple("R", Disclosure.RECORDS, [])
)
@example(  # one side empty
    sender=_simple("S", Disclosure.COUNTS, [["a.com"]]),
    receiver=_simple("R", Disclosure.COUNTS, []),
)
@example(  # disjoint
    sender=_simple("S", Disclosure.RECORDS, [["a.com"], ["b.com"]]),
    receiver=_simple("R", Disclosure.RECORDS, [["c.com"], ["d.com"]]),
)
@example(  # identical
    sender=_simple("S", Disclosure.RECORDS, [["a.com"], ["b.com"]]),
    receiver=_simple("R", Disclosure.COUNTS, [["a.com"], ["b.com"]]),
)
@example(  # duplicates on both sides collapse into accounts
    sender=_simple("S", Disclosure.RECORDS, [["a.com"], ["a.com"], ["a.com", "b.com"]]),
    receiver=_simple("R", Disclosure.RECORDS, [["b.com"], ["b.com"]]),
)
@example(  # singletons
    sender=_simple("S", Disclosure.RECORDS, [["münchen.de"]]),
    receiver=_simple("R", Disclosure.RECORDS, [["münchen.de"]]),
)
def test_session_equals_plain_set_computation(
    sender: tuple[Terms, list[Record]], receiver: tuple[Terms, list[Record]]
) -> None:
    _check(sender, receiver)


def test_multi_key_records_count_once_and_name_every_key_type() -> None:
    terms = Terms(
        label="S",
        key_types=("domain", "duns"),
        populations=(PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS),),
    )
    ours = [
        Record(
            record_id="s1",
            keys=(("domain", "acme.com"), ("duns", "123456789")),
            populations=frozenset({"Customers"}),
        )
    ]
    theirs = [
        Record(
            record_id="r1",
            keys=(("domain", "acme.com"), ("duns", "123456789")),
            populations=frozenset({"Customers"}),
        )
    ]
    run = run_pair(
        sender_terms=terms,
        sender_records=ours,
        receiver_terms=terms.model_copy(update={"label": "R"}),
        receiver_records=theirs,
    )
    assert run.sender.counts["Customers"]["Customers"] == 1
    (match,) = run.sender.matches
    assert match.key_types == ("domain", "duns")


def test_counts_only_population_yields_counts_only() -> None:
    """The partner's counts-level population gives us a number and not a single record."""
    sender = _simple("S", Disclosure.RECORDS, [["a.com"], ["b.com"], ["c.com"], ["x.com"]])
    receiver = _simple("R", Disclosure.COUNTS, [["a.com"], ["b.com"], ["z.com"]])
    run = run_pair(
        sender_terms=sender[0],
        sender_records=sender[1],
        receiver_terms=receiver[0],
        receiver_records=receiver[1],
        record_messages=True,
    )
    # The sender (whose partner disclosed counts only) learns the count, and no records.
    assert run.sender.counts["Customers"]["Customers"] == 2
    assert run.sender.matches == ()
    assert run.sender.partner_disclosure == {"Customers": Disclosure.COUNTS}
    # The receiver's partner disclosed records: it learns which of its records matched, with
    # the revealed field of the partner's matching record.
    assert {m.record_id for m in run.receiver.matches} == {"R-0", "R-1"}
    assert {m.partner_fields[0]["Name"] for m in run.receiver.matches} == {"S 0", "S 1"}
    # On the wire (protocol_spec.md §5.4, "arranged comparisons"): only the receiver, already
    # granted records about the sender's lane, compares this pair. Nothing of the sender's
    # comes back to it to compare (so per-account blinding keys gain a cheating sender
    # nothing); the receiver sends the sender its counts in a tally.
    from blindmatch.protocol.agreement import Role
    from blindmatch.protocol.messages import Returned, Tally, decode_message

    sent = [decode_message(body) for role, body in run.messages if role is Role.RECEIVER]
    assert not any(isinstance(m, Returned) for m in sent)
    (tally,) = [m for m in sent if isinstance(m, Tally)]
    assert tally.counts == (2,)


def test_different_normalization_tables_are_flagged_not_refused() -> None:
    """Same profile, different Public Suffix List release: the session runs, and the agreement
    says the tables differ so the user can be warned."""
    from blindmatch.protocol.events import PartnerTerms

    sender = _simple("S", Disclosure.COUNTS, [["a.com"]])
    receiver = _simple("R", Disclosure.COUNTS, [["a.com"]])
    run = run_pair(
        sender_terms=sender[0].model_copy(update={"normalization_tables": "aa" * 16}),
        sender_records=sender[1],
        receiver_terms=receiver[0].model_copy(update={"normalization_tables": "bb" * 16}),
        receiver_records=receiver[1],
    )
    (proposed,) = [e for e in run.events[next(iter(run.events))] if isinstance(e, PartnerTerms)]
    assert proposed.agreement.tables_differ
    assert run.sender.counts["Customers"]["Customers"] == 1
