"""Conflicting strong keys (protocol_spec.md §5.8): a name shared by two accounts that each
carry a domain (or each a DUNS) and do not share it is not a match; every other match stands,
in counts and records mode, whichever role expands, and nobody learns the partner's flavour."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import msgpack  # type: ignore[import-untyped]
import pytest
from _vectors import load_vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import expected_view, observed, shared_keys

from blindmatch.accounts.policy import Policy, refuse_conflicts_default
from blindmatch.driver import run_pair
from blindmatch.errors import AgreementError, PolicyError, RemoteProtocolError
from blindmatch.protocol import Disclosure, PopulationTerms, Record, Terms, seeded_rng
from blindmatch.protocol.agreement import Role
from blindmatch.protocol.conflicts import (
    IDENTIFYING_KEY_TYPES,
    ConflictRule,
    agree_conflict_rule,
    raw_key,
)
from blindmatch.protocol.lanes import build_accounts
from blindmatch.protocol.messages import (
    Blinded,
    Hello,
    Lanes,
    Returned,
    decode_message,
    encode_message,
)
from blindmatch.protocol.model import declare_sizes

KEYS = ("domain", "duns", "name")


def terms(
    label: str,
    disclosure: Disclosure,
    *,
    refuse: bool = True,
    reveal: bool = False,
    key_types: tuple[str, ...] = KEYS,
    fields: tuple[str, ...] = (),
) -> Terms:
    return Terms(
        label=label,
        key_types=key_types,
        populations=(
            PopulationTerms(
                name="Accounts",
                disclosure=disclosure,
                fields=fields if disclosure is Disclosure.RECORDS else (),
            ),
        ),
        refuse_conflicts=refuse,
        reveal_flavours=reveal,
    )


def record(record_id: str, **keys: str) -> Record:
    return Record(
        record_id=record_id,
        keys=tuple(keys.items()),
        populations=frozenset({"Accounts"}),
        fields={"Site": keys.get("domain", "-"), "Name": record_id},
    )


# -- the encoding ------------------------------------------------------------------------------


def _subsets(types: tuple[str, ...]) -> list[set[str]]:
    return [set(c) for n in range(len(types) + 1) for c in combinations(types, n)]


@pytest.mark.parametrize("identifying", [("domain",), ("duns",), ("domain", "duns")])
def test_flavours_meet_exactly_when_no_identifying_type_is_carried_by_both(
    identifying: tuple[str, ...],
) -> None:
    """Every pair of flavours, both ways round: the exact side's one name key is among the
    expanding side's name keys exactly when the two carry no identifying type in common."""
    rule = ConflictRule(identifying=identifying, sender_expands=False)
    values = {"domain": "acme.com", "duns": "123456789"}
    for a in _subsets(identifying):
        for b in _subsets(identifying):
            exact = rule.wire_keys(
                tuple((t, values[t]) for t in sorted(a)) + (("name", "acme"),), expanding=False
            )
            expanding = rule.wire_keys(
                tuple((t, values[t] + "x") for t in sorted(b)) + (("name", "acme"),),
                expanding=True,
            )
            names_a = {k for k in exact if raw_key(k)[0] == "name"}
            names_b = {k for k in expanding if raw_key(k)[0] == "name"}
            assert len(names_a) == 1  # the exact side: one flavour, nothing to learn from
            assert len(names_b) == 2 ** (len(identifying) - len(b))
            assert bool(names_a & names_b) == (not a & b), (a, b)


def test_wire_keys_keep_priority_order_and_leave_other_keys_alone() -> None:
    rule = ConflictRule(identifying=IDENTIFYING_KEY_TYPES, sender_expands=True)
    keys = (("domain", "acme.com"), ("name", "acme"), ("name", "acme labs"), ("phone", "+1"))
    assert rule.wire_keys(keys, expanding=False) == (
        ("domain", "acme.com"),
        ("name/10", "acme"),
        ("name/10", "acme labs"),
        ("phone", "+1"),
    )
    assert rule.wire_keys(keys, expanding=True) == (
        ("domain", "acme.com"),
        ("name/00", "acme"),
        ("name/01", "acme"),
        ("name/00", "acme labs"),
        ("name/01", "acme labs"),
        ("phone", "+1"),
    )
    assert rule.wire_keys((("domain", "a.com"),), expanding=True) == (("domain", "a.com"),)
    assert raw_key(("name/01", "acme")) == ("name", "acme")
    assert raw_key(("custom:crm.id-2", "7")) == ("custom:crm.id-2", "7")


def test_accounts_merge_on_plain_keys_and_are_flavoured_as_a_whole() -> None:
    """Two records named alike are one account (as without the rule); the account carries a
    domain, so its one name key has that flavour, whichever record it came from."""
    records = [record("a", name="delta"), record("b", name="delta", domain="delta.com")]
    rule = ConflictRule(identifying=IDENTIFYING_KEY_TYPES, sender_expands=False)
    accounts, dropped = build_accounts(
        records, KEYS, {"Accounts"}, 16, conflicts=rule, expanding=False
    )
    assert dropped == 0
    assert accounts.keys == [(("domain", "delta.com"), ("name/10", "delta"))]
    # Slots fixed below the expansion: the flavours beyond it are dropped and counted.
    accounts, dropped = build_accounts(
        [record("c", name="zeta")], KEYS, {"Accounts"}, 3, conflicts=rule, expanding=True
    )
    assert accounts.keys == [(("name/00", "zeta"), ("name/01", "zeta"), ("name/10", "zeta"))]
    assert dropped == 1


# -- the agreement -----------------------------------------------------------------------------


def test_both_sides_must_propose_the_same_rule() -> None:
    on, off = terms("S", Disclosure.COUNTS), terms("R", Disclosure.COUNTS, refuse=False)
    with pytest.raises(AgreementError, match="the sender refuses .* the receiver does not"):
        agree_conflict_rule(on, off, KEYS)
    with pytest.raises(AgreementError, match="keys.refuse_conflicts"):
        run_pair(
            sender_terms=off.model_copy(update={"label": "S"}),
            sender_records=[record("s", domain="a.com")],
            receiver_terms=on.model_copy(update={"label": "R"}),
            receiver_records=[record("r", domain="a.com")],
        )


def test_the_side_with_records_level_populations_expands() -> None:
    counts, records = Disclosure.COUNTS, Disclosure.RECORDS
    rule = agree_conflict_rule(terms("S", records), terms("R", counts), KEYS)
    assert rule is not None and rule.sender_expands and rule.identifying == ("domain", "duns")
    rule = agree_conflict_rule(terms("S", counts), terms("R", records), KEYS)
    assert rule is not None and not rule.sender_expands
    rule = agree_conflict_rule(terms("S", counts), terms("R", counts), ("name", "duns"))
    assert rule is not None and not rule.sender_expands and rule.identifying == ("duns",)


#: A policy's ``keys.refuse_conflicts`` as its terms carry it, under a profile whose default is
#: on (bm-norm/2): (refuse_conflicts, reveal_flavours).
STANCES = {"auto": (True, False), "true": (True, True), "false": (False, False)}

#: Records-level populations on both sides: (sender's stance, receiver's) -> what is agreed.
BOTH_RECORDS = {
    ("true", "true"): "reveals",
    ("true", "auto"): "error",
    ("true", "false"): "error",
    ("auto", "true"): "error",
    ("false", "true"): "error",
    ("auto", "auto"): "waived",
    ("auto", "false"): "waived",
    ("false", "auto"): "waived",
    ("false", "false"): "off",
}


def stance_terms(label: str, disclosure: Disclosure, stance: str) -> Terms:
    refuse, reveal = STANCES[stance]
    return terms(label, disclosure, refuse=refuse, reveal=reveal)


@pytest.mark.parametrize("receiver_stance", sorted(STANCES))
@pytest.mark.parametrize("sender_stance", sorted(STANCES))
@pytest.mark.parametrize(
    ("sender_disclosure", "receiver_disclosure"),
    [
        (Disclosure.COUNTS, Disclosure.COUNTS),
        (Disclosure.RECORDS, Disclosure.COUNTS),
        (Disclosure.COUNTS, Disclosure.RECORDS),
        (Disclosure.RECORDS, Disclosure.RECORDS),
    ],
)
def test_every_stance_pair_in_every_role_and_disclosure(
    sender_disclosure: Disclosure,
    receiver_disclosure: Disclosure,
    sender_stance: str,
    receiver_stance: str,
) -> None:
    """auto/true/false on each side, records or counts on each side: what the agreement says.
    With records on at most one side, auto and true are the same (the rule runs, nothing is
    disclosed beyond its answer) and only on/off must agree; with records on both, only two
    explicit trues run it, one explicit true is an error naming the option and the other
    side's stance, and otherwise the rule is off and the terms say why."""
    from blindmatch.protocol.agreement import combine

    sender = stance_terms("S", sender_disclosure, sender_stance)
    receiver = stance_terms("R", receiver_disclosure, receiver_stance)
    both_records = Disclosure.COUNTS not in (sender_disclosure, receiver_disclosure)
    if both_records:
        want = BOTH_RECORDS[sender_stance, receiver_stance]
    elif STANCES[sender_stance][0] != STANCES[receiver_stance][0]:
        want = "error"
    else:
        want = "runs" if STANCES[sender_stance][0] else "off"
    hellos = {Role.SENDER: b"s", Role.RECEIVER: b"r"}
    if want == "error":
        with pytest.raises(AgreementError, match="keys.refuse_conflicts") as info:
            combine(sender=sender, receiver=receiver, hellos=hellos)
        if both_records:
            other = receiver_stance if sender_stance == "true" else sender_stance
            said = {"auto": 'unset or "auto"', "false": "off (false"}[other]
            assert said in str(info.value)
            assert "= true" in str(info.value) and "tells the sender" in str(info.value)
        return
    agreement = combine(sender=sender, receiver=receiver, hellos=hellos)
    rule = agreement.conflicts
    assert agreement.conflicts_waived is (want == "waived")
    if want in ("off", "waived"):
        assert rule is None
        return
    assert rule is not None and rule.identifying == ("domain", "duns")
    assert rule.reveals_flavours is (want == "reveals")
    # The side with records-level populations expands; with none (or both), see the spec.
    assert rule.sender_expands is (sender_disclosure is Disclosure.RECORDS)


def test_records_on_both_sides_runs_with_explicit_true_and_discloses_only_the_flavour() -> None:
    """Both explicit: the conflicting Delta is refused on both sides, the compatible names
    match, and what the sender (expanding) learns about each name-only match is exactly the
    receiver's flavour, the disclosure both agreed to; the receiver learns the rule's answer."""
    from blindmatch.protocol.agreement import combine

    sender_terms = stance_terms("S", Disclosure.RECORDS, "true")
    receiver_terms = stance_terms("R", Disclosure.RECORDS, "true")
    run = run_pair(
        sender_terms=sender_terms,
        sender_records=[
            record("s1", name="delta", domain="delta.com"),
            record("s2", name="acme"),
            record("s3", name="zeta", duns="111111111"),
        ],
        receiver_terms=receiver_terms,
        receiver_records=[
            record("r1", name="delta", domain="deltadental.com"),
            record("r2", name="acme", domain="acme.com"),
            record("r3", name="zeta", domain="zeta.io"),
        ],
    )
    for side in (run.sender, run.receiver):
        assert side.counts["Accounts"]["Accounts"] == 2
        assert {m.record_id for m in side.matches} == {"s2", "s3"} or {
            m.record_id for m in side.matches
        } == {"r2", "r3"}
        assert all(m.key_types == ("name",) for m in side.matches)
    agreement = combine(
        sender=sender_terms,
        receiver=receiver_terms,
        hellos={Role.SENDER: b"s", Role.RECEIVER: b"r"},
    )
    rule = agreement.conflicts
    assert rule is not None and rule.reveals_flavours and rule.expands(is_sender=True)
    # What the disclosure is: the sender's flavoured name elements that meet the receiver's
    # single one carry the receiver's tag. acme (bare) meets r2's name/10 (a domain); zeta
    # (a DUNS) meets r3's name/10 too: the sender learns "domain, no DUNS" for both.
    for ours, theirs in (
        ((("name", "acme"),), (("domain", "acme.com"), ("name", "acme"))),
        ((("duns", "111111111"), ("name", "zeta")), (("domain", "zeta.io"), ("name", "zeta"))),
    ):
        sent = set(rule.wire_keys(ours, expanding=True))
        received = set(rule.wire_keys(theirs, expanding=False))
        assert sent & received == {("name/10", ours[-1][1])}


def test_records_on_both_sides_by_default_runs_without_the_rule() -> None:
    """auto on both sides, records on both: no error, the rule is off (Delta matches by name
    as it would without it), and the terms shown say so and how to turn it on."""
    from blindmatch.cli.party import describe_terms
    from blindmatch.protocol import PartnerTerms
    from blindmatch.protocol.agreement import combine

    both = (
        stance_terms("S", Disclosure.RECORDS, "auto"),
        stance_terms("R", Disclosure.RECORDS, "auto"),
    )
    run = run_pair(
        sender_terms=both[0],
        sender_records=[record("s", name="delta", domain="delta.com")],
        receiver_terms=both[1],
        receiver_records=[record("r", name="delta", domain="deltadental.com")],
    )
    assert [m.record_id for m in run.sender.matches] == ["s"]
    agreement = combine(
        sender=both[0], receiver=both[1], hellos={Role.SENDER: b"s", Role.RECEIVER: b"r"}
    )
    assert agreement.conflicts is None and agreement.conflicts_waived
    text = describe_terms(PartnerTerms(terms=both[1], agreement=agreement))
    assert (
        "conflicting-names rule off: both sides disclose records; set refuse_conflicts = true"
        in text
    )
    assert "which tells 'S' (the sender) whether the name-matched accounts of 'R'" in text
    # Without a name key (or without an identifying one) the rule changes nothing: no
    # flavours, nothing to say or to disagree on, and the session runs as it always did.
    explicit = stance_terms("S", Disclosure.RECORDS, "true")
    for key_types in (("domain", "duns"), ("name", "phone")):
        for other in ("auto", "false"):
            pair = [
                t.model_copy(update={"key_types": key_types})
                for t in (explicit, stance_terms("R", Disclosure.RECORDS, other))
            ]
            assert agree_conflict_rule(*pair, key_types) is None
            assert agree_conflict_rule(*reversed(pair), key_types) is None
        plain = combine(
            sender=both[0].model_copy(update={"key_types": key_types}),
            receiver=both[1].model_copy(update={"key_types": key_types}),
            hellos={Role.SENDER: b"s", Role.RECEIVER: b"r"},
        )
        assert plain.conflicts is None and not plain.conflicts_waived
        assert "names" not in describe_terms(PartnerTerms(terms=plain.receiver, agreement=plain))


def test_reveal_flavours_needs_the_rule_and_is_on_the_wire_only_when_true() -> None:
    with pytest.raises(ValueError, match="reveal_flavours"):
        terms("S", Disclosure.RECORDS, refuse=False, reveal=True)
    sized = declare_sizes(stance_terms("S", Disclosure.RECORDS, "true"), [])
    hello = Hello(role="sender", suite="x", nonce=b"\x00" * 32, terms=sized)
    wire = msgpack.unpackb(encode_message(hello), raw=False)
    assert wire["terms"]["reveal_flavours"] is True
    decoded = decode_message(encode_message(hello))
    assert isinstance(decoded, Hello) and decoded.terms.reveal_flavours is True
    auto = declare_sizes(stance_terms("S", Disclosure.RECORDS, "auto"), [])
    wire = msgpack.unpackb(encode_message(hello.model_copy(update={"terms": auto})), raw=False)
    assert "reveal_flavours" not in wire["terms"]
    wire["terms"]["refuse_conflicts"] = False
    wire["terms"]["reveal_flavours"] = True  # disclosure without the rule: refused
    with pytest.raises(RemoteProtocolError, match="reveal_flavours"):
        decode_message(msgpack.packb(wire, use_bin_type=True))


# -- sessions ----------------------------------------------------------------------------------

#: (sender record, receiver record, match wanted): the cases of the rule, both ways round.
CASES = [
    (dict(name="delta", domain="delta.com"), dict(name="delta", domain="deltadental.com"), False),
    (dict(name="apex", duns="048383812"), dict(name="apex", duns="062371537"), False),
    (
        dict(name="mercury", domain="mercury.com", duns="111111111"),
        dict(name="mercury", domain="mercury.co.nz"),
        False,
    ),
    (dict(name="acme", domain="acme.com"), dict(name="acme"), True),
    (dict(name="zeta"), dict(name="zeta", domain="zeta.io"), True),
    (dict(name="omega"), dict(name="omega"), True),
    (dict(name="globex", domain="globex.com"), dict(name="globex", duns="062371538"), True),
    (
        dict(name="zendesk", domain="zendesk.com"),
        dict(name="zendesk inc", domain="zendesk.com"),
        True,
    ),
    (
        dict(name="initech", domain="initech.com", duns="123456789"),
        dict(name="initech", domain="initech.de", duns="123456789"),
        True,
    ),
]


def _records(side: int, prefix: str) -> list[Record]:
    return [record(f"{prefix}{n}", **case[side]) for n, case in enumerate(CASES)]  # type: ignore[arg-type]


WANTED = {n for n, case in enumerate(CASES) if case[2]}


@pytest.mark.parametrize(
    ("sender_level", "receiver_level"),
    [
        (Disclosure.COUNTS, Disclosure.COUNTS),
        (Disclosure.RECORDS, Disclosure.COUNTS),
        (Disclosure.COUNTS, Disclosure.RECORDS),
    ],
)
def test_conflicting_names_are_refused_and_every_other_match_stands(
    sender_level: Disclosure, receiver_level: Disclosure
) -> None:
    sender = terms("S", sender_level, fields=("Site", "Name"))
    receiver = terms("R", receiver_level, fields=("Site", "Name"))
    ours, theirs = _records(0, "s"), _records(1, "r")
    run = run_pair(
        sender_terms=sender,
        sender_records=ours,
        receiver_terms=receiver,
        receiver_records=theirs,
        record_messages=True,
    )
    for result in (run.sender, run.receiver):
        assert result.counts["Accounts"]["Accounts"] == len(WANTED)
    for result, level, prefix, other in (
        (run.sender, receiver_level, "s", theirs),
        (run.receiver, sender_level, "r", ours),
    ):
        if level is Disclosure.COUNTS:
            assert result.matches == ()
            continue
        got = {m.record_id: m for m in result.matches}
        assert set(got) == {f"{prefix}{n}" for n in WANTED}
        for n in WANTED:
            match = got[f"{prefix}{n}"]
            # A name match is reported as "name", never with its flavour; the partner's
            # sealed fields open through the flavoured name as through any key.
            assert set(match.key_types) <= {"domain", "duns", "name"}
            assert [dict(f) for f in match.partner_fields] == [dict(other[n].fields)]
    assert {m.key_types for m in run.sender.matches + run.receiver.matches} <= {
        ("name",),
        ("domain",),
        ("domain", "name"),
        ("duns",),
        ("duns", "name"),
    }
    # The expanding side never has its own values returned in order (it would learn which
    # flavour matched): every value the exact side returns comes from its counts lane.
    expanding = Role.SENDER if sender_level is Disclosure.RECORDS else Role.RECEIVER
    exact = expanding.other
    returned = [
        m
        for role, body in run.messages
        if role is exact and isinstance(m := decode_message(body), Returned)
    ]
    assert all(m.lane == "counts" for m in returned)
    slots = {
        role: msg.slots
        for role, body in run.messages
        if isinstance(msg := decode_message(body), Lanes)
    }
    # The exact side sends each name once; the expanding side up to four flavours of a bare
    # one (two identifying types agreed): its slots show the expansion, nothing per account.
    assert slots[exact] == 3
    assert slots[expanding] == 4


def test_without_the_rule_the_same_records_match_on_every_shared_name() -> None:
    """The baseline the rule improves on: the conflicting names match too."""
    run = run_pair(
        sender_terms=terms("S", Disclosure.COUNTS, refuse=False),
        sender_records=_records(0, "s"),
        receiver_terms=terms("R", Disclosure.RECORDS, refuse=False),
        receiver_records=_records(1, "r"),
    )
    assert run.sender.counts["Accounts"]["Accounts"] == len(CASES)


def test_the_option_off_leaves_the_hello_bytes_as_they_were() -> None:
    """Absent means false, so a hello without the rule is byte-for-byte the older one."""
    plain = declare_sizes(terms("S", Disclosure.COUNTS, refuse=False), [])
    hello = Hello(role="sender", suite="x", nonce=b"\x00" * 32, terms=plain)
    wire = msgpack.unpackb(encode_message(hello), raw=False)
    assert "refuse_conflicts" not in wire["terms"]
    assert list(wire["terms"]) == [
        "label",
        "normalization",
        "normalization_tables",
        "key_types",
        "populations",
        "keys_per_account",
        "payload_bytes",
    ]
    sized = declare_sizes(terms("S", Disclosure.COUNTS), [])
    on = Hello(role="sender", suite="x", nonce=b"\x00" * 32, terms=sized)
    wire = msgpack.unpackb(encode_message(on), raw=False)
    assert wire["terms"]["refuse_conflicts"] is True
    decoded = decode_message(encode_message(on))
    assert isinstance(decoded, Hello) and decoded.terms.refuse_conflicts is True
    wire["terms"]["refuse_conflicts"] = 1  # msgpack int, not bool: refused, as every wire type
    with pytest.raises(RemoteProtocolError, match="refuse_conflicts"):
        decode_message(msgpack.packb(wire, use_bin_type=True))


def test_blinded_points_carry_the_flavour() -> None:
    """Sanity on the wire: with the rule, the expanding side's bare name is several points."""
    run = run_pair(
        sender_terms=terms("S", Disclosure.COUNTS),
        sender_records=[record("s", name="acme")],
        receiver_terms=terms("R", Disclosure.COUNTS),
        receiver_records=[record("r", name="acme")],
        record_messages=True,
    )
    blinded = {
        role: msg for role, body in run.messages if isinstance(msg := decode_message(body), Blinded)
    }
    assert len(blinded[Role.SENDER].points) == 32  # exact: one name key, one slot
    assert len(blinded[Role.RECEIVER].points) == 4 * 32  # expanding: four flavours
    assert run.sender.counts["Accounts"]["Accounts"] == 1


# -- property: a session equals the plain-Python rule ------------------------------------------

NAMES = ["delta", "acme", "mercury"]
DOMAINS = ["delta.com", "deltadental.com", "acme.com"]
DUNS = ["048383812", "062371537"]


@st.composite
def party(draw: st.DrawFn, label: str, level: Disclosure) -> tuple[Terms, list[Record]]:
    key_types = ["name", *draw(st.lists(st.sampled_from(["domain", "duns"]), unique=True))]
    pops = [
        PopulationTerms(
            name="Accounts",
            disclosure=level,
            fields=("Name",) if level is Disclosure.RECORDS else (),
        )
    ]
    if draw(st.booleans()):
        pops.append(PopulationTerms(name="Others", disclosure=Disclosure.COUNTS))
    t = Terms(
        label=label,
        key_types=tuple(draw(st.permutations(key_types))),
        populations=tuple(pops),
        keys_per_account=draw(st.sampled_from([None, 16])),
        refuse_conflicts=True,
    )
    records = []
    for i in range(draw(st.integers(0, 6))):
        keys: list[tuple[str, str]] = []
        if draw(st.booleans()):
            keys.append(("name", draw(st.sampled_from(NAMES))))
        if draw(st.booleans()):
            keys.append(("domain", draw(st.sampled_from(DOMAINS))))
        if draw(st.booleans()):
            keys.append(("duns", draw(st.sampled_from(DUNS))))
        members = draw(st.frozensets(st.sampled_from([p.name for p in pops]), min_size=1))
        records.append(
            Record(
                record_id=f"{label}-{i}",
                keys=tuple(keys),
                populations=members,
                fields={"Name": f"{label} {i}"},
            )
        )
    return t, records


LEVELS = st.sampled_from(
    [
        (Disclosure.COUNTS, Disclosure.COUNTS),
        (Disclosure.RECORDS, Disclosure.COUNTS),
        (Disclosure.COUNTS, Disclosure.RECORDS),
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), levels=LEVELS)
def test_session_equals_the_plain_rule(
    data: st.DataObject, levels: tuple[Disclosure, Disclosure]
) -> None:
    sender = data.draw(party("S", levels[0]))
    receiver = data.draw(party("R", levels[1]))
    run = run_pair(
        sender_terms=sender[0],
        sender_records=sender[1],
        receiver_terms=receiver[0],
        receiver_records=receiver[1],
        sender_rng=seeded_rng(b"s"),
        receiver_rng=seeded_rng(b"r"),
    )
    agreed = set(sender[0].key_types) & set(receiver[0].key_types)
    assert observed(run.sender) == expected_view(sender, receiver, agreed, refuse_conflicts=True)
    assert observed(run.receiver) == expected_view(receiver, sender, agreed, refuse_conflicts=True)


@given(
    ours=st.sets(st.sampled_from([("name", "a"), ("domain", "x"), ("duns", "1"), ("domain", "y")])),
    theirs=st.sets(
        st.sampled_from([("name", "a"), ("domain", "x"), ("duns", "2"), ("domain", "z")])
    ),
)
def test_reference_rule_is_the_issue_statement(
    ours: set[tuple[str, str]], theirs: set[tuple[str, str]]
) -> None:
    """The reference itself, against the words of issue 21: refused exactly when the two
    share only a name while each carries a domain, or each a DUNS, and those differ."""
    agreed = {"name", "domain", "duns"}
    meets = bool(shared_keys(ours, theirs, agreed, True))
    only_name = (ours & theirs) == {("name", "a")}
    conflict = any(
        {k for k in ours if k[0] == t} and {k for k in theirs if k[0] == t}
        for t in ("domain", "duns")
    )
    assert meets == (bool(ours & theirs) and not (only_name and conflict))


# -- policy ------------------------------------------------------------------------------------


def test_policy_option_reaches_the_terms_and_round_trips() -> None:
    """Three values: an explicit true also accepts the disclosure with records on both sides
    (reveal_flavours), "auto" is the unset default, false is off; each round-trips."""
    text = 'label = "N"\n[keys]\nuse = ["domain", "name"]\nrefuse_conflicts = true\n'
    policy = Policy.from_toml_text(text)
    assert policy.refuse_conflicts and policy.terms().refuse_conflicts
    assert policy.terms().reveal_flavours
    assert Policy.from_toml_text(policy.to_toml()) == policy
    off = Policy.from_toml_text(text.replace("true", "false"))
    assert not off.terms().refuse_conflicts and not off.terms().reveal_flavours
    auto = Policy.from_toml_text(text.replace("true", '"auto"'))
    assert auto.keys.refuse_conflicts == "auto"
    assert (
        auto.terms() == Policy.from_toml_text(text.replace("refuse_conflicts = true", "")).terms()
    )
    assert not auto.terms().reveal_flavours
    assert auto.refuse_conflicts is refuse_conflicts_default(auto.normalization)
    assert 'refuse_conflicts = "auto"' in auto.to_toml()
    assert Policy.from_toml_text(auto.to_toml()) == auto
    for bad, shown in (('"yes"', "string 'yes'"), ("1", "integer 1"), ('"Auto"', "string 'Auto'")):
        with pytest.raises(
            PolicyError,
            match=rf'keys\.refuse_conflicts: expected true, false or "auto", got {shown}',
        ):
            Policy.from_toml_text(text.replace("true", bad))


def test_default_is_on_from_bm_norm_2_and_off_for_bm_norm_1() -> None:
    assert refuse_conflicts_default("bm-norm/2")
    assert not refuse_conflicts_default("bm-norm/1")
    policy = Policy.from_toml_text('label = "N"\nnormalization = "bm-norm/1"\n')
    assert policy.keys.refuse_conflicts is None
    assert policy.refuse_conflicts is (policy.normalization != "bm-norm/1")
    assert "refuse_conflicts" not in policy.to_toml()


def test_the_user_is_told_before_accepting() -> None:
    """psi-run shows the partner's terms before the user accepts: the rule is among them, and
    with records on both sides so is the disclosure both agreed to (or why the rule is off)."""
    from blindmatch.cli.party import describe_terms
    from blindmatch.protocol import PartnerTerms
    from blindmatch.protocol.agreement import combine

    hellos = {Role.SENDER: b"s", Role.RECEIVER: b"r"}
    records, counts = Disclosure.RECORDS, Disclosure.COUNTS
    for sender, receiver, rule, disclosed, off in (
        (stance_terms("S", counts, "auto"), stance_terms("R", records, "auto"), True, False, False),
        (
            stance_terms("S", counts, "false"),
            stance_terms("R", records, "false"),
            False,
            False,
            False,
        ),
        (stance_terms("S", records, "true"), stance_terms("R", records, "true"), True, True, False),
        (
            stance_terms("S", records, "auto"),
            stance_terms("R", records, "false"),
            False,
            False,
            True,
        ),
    ):
        agreement = combine(sender=sender, receiver=receiver, hellos=hellos)
        for partner in (sender, receiver):  # what each side is shown of the other's terms
            text = describe_terms(PartnerTerms(terms=partner, agreement=agreement))
            assert ("a shared name alone does not match" in text) is rule
            assert (
                "'S' (the sender) learns, for each of its accounts matched by a name alone, "
                "which of domain, duns the matched account of 'R' (the receiver) carries "
                "(never the values)" in text
            ) is disclosed, text
            assert ("conflicting-names rule off: both sides disclose records" in text) is off


# -- psi-run, two real processes ---------------------------------------------------------------

SHOP = [
    ("1", "Delta", "delta.com", "Customer"),  # the partner's Delta is Delta Dental: refused
    ("2", "Acme Corp", "acme.com", "Customer"),  # the partner has no website for Acme: kept
    ("3", "Zeta Labs", "", "Customer"),  # no website here: kept
    ("4", "Initech", "initech.io", "Customer"),  # same website, other name: kept
]
PARTNER = [
    ("a", "Delta", "deltadental.com", "Customer", "Dana"),
    ("b", "Acme", "", "Customer", "Abe"),
    ("c", "Zeta Labs", "zetalabs.com", "Customer", "Zoe"),
    ("d", "Initech LLC", "initech.io", "Customer", "Ian"),
]


def _cli_files(
    tmp: Path,
    shop_refuses: bool | str | None,
    partner_refuses: bool | str | None,
    *,
    shop_records: bool = False,
) -> list[Path]:
    """Both CSVs and policies; ``*_refuses`` is keys.refuse_conflicts (None: not written)."""
    import csv

    shop, partner = tmp / "shop.csv", tmp / "partner.csv"
    with shop.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("Account ID", "Account Name", "Website", "Type"), *SHOP])
    with partner.open("w", newline="", encoding="utf-8") as f:
        rows = [("Account ID", "Account Name", "Website", "Type", "Account Owner"), *PARTNER]
        csv.writer(f).writerows(rows)
    policies = []
    shop_disclosure = 'disclosure = "records"' if shop_records else 'disclosure = "counts"'
    for name, refuses, disclosure in (
        ("shop", shop_refuses, shop_disclosure),
        ("partner", partner_refuses, 'disclosure = "records"\nfields = ["Account Owner"]'),
    ):
        if refuses is None:
            option = ""
        elif isinstance(refuses, str):
            option = f'refuse_conflicts = "{refuses}"\n'
        else:
            option = f"refuse_conflicts = {'true' if refuses else 'false'}\n"
        policy = tmp / f"{name}.toml"
        policy.write_text(
            f'label = "{name}"\n[keys]\nuse = ["domain", "name"]\n{option}'
            f'[populations.Customers]\nwhere = {{ Type = "Customer" }}\n{disclosure}\n',
            encoding="utf-8",
        )
        policies.append(policy)
    return [shop, policies[0], partner, policies[1]]


def _psi_run(
    files: list[Path], tmp: Path, *, quiet: bool = True
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    from test_cli_end_to_end import CODE, Party

    shop, shop_policy, partner, partner_policy = files
    common = ["--code", CODE, "--yes", "--timeout", "20", "--json"]
    if quiet:
        common.append("--quiet")
    sender = Party(
        ["--role", "sender", "--input", str(shop), "--policy", str(shop_policy),
         "--out-dir", str(tmp / "shop-out"), "--listen", "127.0.0.1:0", *common]
    )  # fmt: skip
    receiver = Party(
        ["--role", "receiver", "--input", str(partner), "--policy", str(partner_policy),
         "--out-dir", str(tmp / "partner-out"), "--connect", f"127.0.0.1:{sender.wait_port()}",
         "--connect-retry", "5", *common]
    )  # fmt: skip
    return sender.finish(), receiver.finish()


def _owners(tmp: Path) -> dict[str, str]:
    """The shop's matches: its record id -> the partner's revealed owner."""
    import csv

    text = (tmp / "shop-out" / "matches.csv").read_text(encoding="utf-8")
    return {r["record_id"]: r["partner.Account Owner"] for r in csv.DictReader(text.splitlines())}


@pytest.mark.slow
def test_psi_run_records_on_both_sides_with_explicit_true(tmp_path: Path) -> None:
    """Both set refuse_conflicts = true and both disclose records: the rule runs (Delta is
    refused), and each side was shown, among the partner's terms, what the sender learns."""
    import json

    (rc_s, out_s, err_s), (rc_r, out_r, err_r) = _psi_run(
        _cli_files(tmp_path, True, True, shop_records=True), tmp_path, quiet=False
    )
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert json.loads(out_s)["counts"] == {"Customers": {"Customers": 3}}
    assert json.loads(out_r)["counts"] == {"Customers": {"Customers": 3}}
    assert _owners(tmp_path) == {"2": "Abe", "3": "Zoe", "4": "Ian"}
    for err in (err_s, err_r):
        flat = " ".join(err.split())
        assert "a shared name alone does not match" in flat, err
        assert (
            "'shop' (the sender) learns, for each of its accounts matched by a name alone, "
            "which of domain the matched account of 'partner' (the receiver) carries "
            "(never the values)" in flat
        ), err


@pytest.mark.slow
def test_psi_run_records_on_both_sides_by_default(tmp_path: Path) -> None:
    """Neither policy says (auto), both disclose records: the session runs, without the rule
    (Delta matches by name). Where the profile's default is on (bm-norm/2) the terms shown
    say the rule is off and how to run it; where it is off (bm-norm/1) there is nothing to
    say, since neither side proposed the rule."""
    import json

    (rc_s, out_s, err_s), (rc_r, out_r, err_r) = _psi_run(
        _cli_files(tmp_path, None, "auto", shop_records=True), tmp_path, quiet=False
    )
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert json.loads(out_s)["counts"] == {"Customers": {"Customers": 4}}
    assert _owners(tmp_path) == {"1": "Dana", "2": "Abe", "3": "Zoe", "4": "Ian"}
    profile = Policy.from_toml_text('label = "x"').normalization
    for err in (err_s, err_r):
        flat = " ".join(err.split())
        assert "a shared name alone does not match" not in flat
        assert (
            "conflicting-names rule off: both sides disclose records; set refuse_conflicts = "
            "true on both sides to run it, which tells 'shop' (the sender) whether the "
            "name-matched accounts of 'partner' (the receiver) carry a domain/DUNS" in flat
        ) is refuse_conflicts_default(profile), err


@pytest.mark.slow
def test_psi_run_records_on_both_sides_one_explicit_true_stops_at_the_agreement(
    tmp_path: Path,
) -> None:
    (rc_s, _, err_s), (rc_r, _, err_r) = _psi_run(
        _cli_files(tmp_path, True, "auto", shop_records=True), tmp_path
    )
    assert rc_s != 0 and rc_r != 0
    for err in (err_s, err_r):
        flat = " ".join(err.split())
        assert "the sender set keys.refuse_conflicts = true" in flat, err
        assert "both must set keys.refuse_conflicts = true to run it, or neither" in flat, err
    assert not (tmp_path / "shop-out" / "matches.csv").exists()


@pytest.mark.slow
def test_psi_run_refuses_the_conflicting_name_and_keeps_the_rest(tmp_path: Path) -> None:
    import csv
    import json

    (rc_s, out_s, err_s), (rc_r, out_r, err_r) = _psi_run(
        _cli_files(tmp_path, True, True), tmp_path
    )
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert json.loads(out_s)["counts"] == {"Customers": {"Customers": 3}}
    assert json.loads(out_r)["counts"] == {"Customers": {"Customers": 3}}
    text = (tmp_path / "shop-out" / "matches.csv").read_text(encoding="utf-8")
    rows = {r["record_id"]: r for r in csv.DictReader(text.splitlines())}
    assert {k: r["partner.Account Owner"] for k, r in rows.items()} == {
        "2": "Abe",
        "3": "Zoe",
        "4": "Ian",
    }
    assert "Dana" not in text + out_s + err_s


@pytest.mark.slow
def test_psi_run_stops_at_the_agreement_when_the_sides_disagree(tmp_path: Path) -> None:
    (rc_s, _, err_s), (rc_r, _, err_r) = _psi_run(_cli_files(tmp_path, True, False), tmp_path)
    assert rc_s != 0 and rc_r != 0
    for err in (err_s, err_r):
        assert "refuse_conflicts" in err, err
    assert not (tmp_path / "shop-out" / "matches.csv").exists()


def test_the_conflicts_vector_covers_what_the_spec_says() -> None:
    """protocol_spec.md §14's third vector: both hellos carry the term, the sender sends names
    exact and the receiver expands (slots 3 and 4), two name matches are refused."""
    vector = load_vectors("session_v1_conflicts.json")
    messages = [(m["from"], decode_message(bytes.fromhex(m["hex"]))) for m in vector["messages"]]
    hellos = [m for _, m in messages if isinstance(m, Hello)]
    assert [h.terms.refuse_conflicts for h in hellos] == [True, True]
    slots = {who: m.slots for who, m in messages if isinstance(m, Lanes)}
    assert slots == {"sender": 3, "receiver": 4}
    matched = [m["record_id"] for m in vector["results"]["sender"]["matches"]]
    assert matched == ["N2", "N3", "N5"]  # N1 (domains differ) and N4 (DUNS differ) refused
    assert vector["results"]["receiver"]["counts"] == {"Customers": {"Customers": 3}}
