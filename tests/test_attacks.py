"""The cryptographic review's attacks (issue 15), carried out against the real session.

Each test plays a cheating partner and shows what the attack yields now: nothing where the
protocol stops it, exactly the documented leak where it is inherent (protocol_spec.md §8).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_hostile_support import new_pair, party_records, party_terms, pump

from blindmatch.crypto import Scalar, blind_many, digest_points, hash_to_curve_many
from blindmatch.crypto.engine import InlineEngine
from blindmatch.errors import PeerAbortedError, RemoteProtocolError, UsageError
from blindmatch.protocol import Disclosure, PopulationTerms, Role, Session, Terms, seeded_rng
from blindmatch.protocol import model as protocol_model
from blindmatch.protocol.messages import (
    Blinded,
    FrameDecoder,
    Returned,
    Tally,
    decode_message,
    encode_frame,
)
from blindmatch.protocol.model import Record, declare_sizes, declared_size

# -- M2: probing beyond the declared sizes -------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "declared"),
    [
        (0, 0),
        (7, 7),
        (99, 99),
        (100, 100),
        (143, 150),
        (2431, 2500),
        (2500, 2500),
        (99_901, 100_000),
    ],
)
def test_declared_sizes_round_up_to_two_significant_digits(count: int, declared: int) -> None:
    assert declared_size(count) == declared
    assert declared_size(count) >= count and declared_size(count) <= count * 1.1 + 1


def test_a_hello_declares_every_population_size_before_anyone_accepts() -> None:
    s, r = new_pair()
    hello = decode_message(FrameDecoder().feed(s.data_to_send())[0])
    sizes = {p.name: p.size for p in hello.terms.populations}  # type: ignore[union-attr]
    records = party_records("s", 0)
    assert sizes == {
        name: sum(name in rec.populations for rec in records) for name in ("Customers", "Prospects")
    }


def test_a_size_declared_too_small_for_our_own_records_is_refused_before_sending() -> None:
    terms = party_terms("S")
    small = terms.model_copy(
        update={"populations": tuple(p.model_copy(update={"size": 1}) for p in terms.populations)}
    )
    with pytest.raises(UsageError, match="records with keys, more than the 1 its terms declare"):
        declare_sizes(small, party_records("s", 0))


def _understating(label: str, sizes: dict[str, int]) -> Iterator[None]:
    """Make the party labelled ``label`` declare ``sizes`` whatever its records hold (a cheater
    that wants to probe with more accounts than the partner accepted)."""
    honest = protocol_model.declare_sizes

    def cheat(terms: Terms, records: object) -> Terms:
        declared = honest(terms, records)  # type: ignore[arg-type]
        if terms.label != label:
            return declared
        return declared.model_copy(
            update={
                "populations": tuple(
                    p.model_copy(update={"size": sizes.get(p.name, p.size)})
                    for p in declared.populations
                )
            }
        )

    return cheat  # type: ignore[return-value]


def test_a_lane_larger_than_its_declared_populations_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "blindmatch.protocol.session.declare_sizes", _understating("Cheater", {"Customers": 1})
    )
    cheater = Session(
        role=Role.SENDER,
        terms=party_terms("Cheater"),
        records=party_records("s", 0),
        rng=seeded_rng(b"c"),
        auto_accept=True,
    )
    victim = Session(
        role=Role.RECEIVER,
        terms=party_terms("Victim"),
        records=party_records("r", 2),
        rng=seeded_rng(b"v"),
        auto_accept=True,
    )
    cheater.start()
    victim.start()
    with pytest.raises(RemoteProtocolError, match="lane records holds 4 accounts, more than the 1"):
        pump(cheater, victim)


def test_a_population_larger_than_declared_is_refused_on_the_first_mask_too_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two counts-level populations: the lane total fits, one population does not."""
    pops = (
        PopulationTerms(name="A", disclosure=Disclosure.COUNTS),
        PopulationTerms(name="B", disclosure=Disclosure.COUNTS),
    )
    terms = Terms(label="Cheater", key_types=("domain",), populations=pops)
    records = [
        protocol_model.Record(
            record_id=str(i),
            keys=(("domain", f"d{i}.com"),),
            populations=frozenset({"A"} if i < 5 else {"B"}),
        )
        for i in range(10)
    ]
    monkeypatch.setattr(
        "blindmatch.protocol.session.declare_sizes", _understating("Cheater", {"A": 2, "B": 8})
    )
    cheater = Session(role=Role.SENDER, terms=terms, records=records, auto_accept=True)
    victim = Session(
        role=Role.RECEIVER,
        terms=terms.model_copy(update={"label": "Victim"}),
        records=records,
        auto_accept=True,
    )
    cheater.start()
    victim.start()
    with pytest.raises(
        RemoteProtocolError,
        match="population 'A' now holds 5 accounts, more than the 2 the partner's terms declared",
    ):
        pump(cheater, victim)


# -- M1: reflecting a party's lanes into one another -------------------------------------------


def test_reflected_lanes_cannot_be_linked() -> None:
    """A cheating receiver sends back the sender's own blinded lanes as its lanes. The sender
    re-blinds them with its other lane's scalar, so one account's records-lane and counts-lane
    copies become the same point H(k)^(a_R a_C). Under one digest label the cheater would see
    equal digests in two returned streams and link the sender's lanes; every lane pair now
    digests under its own label, and nothing links."""
    victim, cheater = new_pair()
    victim_frames, _ = pump(victim, cheater)
    points: dict[str, bytes] = {"records": b"", "counts": b""}
    for frame in victim_frames:
        msg = decode_message(frame[4:])
        if isinstance(msg, Blinded):
            points[msg.lane] += msg.points
    ex = victim._exchange  # white box: the victim's own scalars, to compute what it returns
    assert ex is not None
    r_values, c_values = _split(points["records"], 32), _split(points["counts"], 32)
    # What the victim returns for the reflected lanes: R values under a_C, C values under a_R.
    r_under_c = blind_many(ex.scalars["counts"], r_values, message="test")
    c_under_r = blind_many(ex.scalars["records"], c_values, message="test")
    shared = set(r_under_c) & set(c_under_r)
    assert shared, "the two lanes share accounts: the attack has something to find"
    one_label = b"blindmatch/1 digest " + ex.agreement.agreement_id
    linked = set(_split(digest_points(r_under_c, one_label), 16)) & set(
        _split(digest_points(c_under_r, one_label), 16)
    )
    assert len(linked) == len(shared)  # one label for all pairs: every shared account links
    # The victim is the sender: reflected R values placed in the cheater's lane Y come back in
    # the victim's (counts, Y) stream, reflected C values in its (records, Y') stream.
    for y1 in ("records", "counts"):
        for y2 in ("records", "counts"):
            a = _split(digest_points(r_under_c, ex.agreement.digest_prefix("counts", y1)), 16)
            b = _split(digest_points(c_under_r, ex.agreement.digest_prefix("records", y2)), 16)
            assert not set(a) & set(b)


# -- M3: a tampered session gives no result ----------------------------------------------------


def test_a_session_tampered_in_transit_releases_no_result_on_either_side() -> None:
    """A returned chunk altered in transit (a channel bug, or an attacker inside a broken
    channel) that both sides would otherwise accept: the transcripts differ, so neither side
    computes a result, and both say why."""
    s, r = new_pair()

    def tamper(msg: object) -> list[object]:
        if isinstance(msg, Returned) and msg.lane == "counts":
            digests = msg.digests[16:32] + msg.digests[:16] + msg.digests[32:]
            return [msg.model_copy(update={"digests": digests})]  # a swap: still well formed
        return [msg]

    errors = []
    for _ in range(100):  # the network: delivers r's bytes to s with one chunk altered
        if s.state.value in ("done", "error") and r.state.value in ("done", "error"):
            break
        for here, there, edit in ((s, r, None), (r, s, tamper)):
            if here.state.value == "error":
                continue
            try:
                data = here.data_to_send()
                if edit is not None and data:
                    frames = FrameDecoder().feed(data)
                    data = b"".join(
                        encode_frame(m) for f in frames for m in edit(decode_message(f))
                    )
                if data and there.state.value != "error":
                    there.receive_data(data)
            except RemoteProtocolError as exc:
                errors.append(str(exc))
            except PeerAbortedError as exc:
                errors.append(str(exc))
    assert any("saw a different session than we did" in e for e in errors), errors
    assert s.result is None and r.result is None


def _split(blob: bytes, width: int) -> list[bytes]:
    return [blob[i : i + width] for i in range(0, len(blob), width)]


# -- H1: what "counts" gives a cheater, said where the user decides --------------------------


def test_the_terms_a_user_accepts_show_sizes_and_what_counts_yields_against_a_cheater() -> None:
    from blindmatch.cli.party import describe_terms
    from blindmatch.protocol import PartnerTerms

    s, r = new_pair(auto_accept=False)
    r.receive_data(s.data_to_send())
    s.receive_data(r.data_to_send())
    event = next(e for e in iter(s.next_event, None) if isinstance(e, PartnerTerms))
    shown = describe_terms(event)
    assert "Customers: records, revealing Name, Owner, at most 4 accounts" in shown
    assert "Prospects: counts, at most 4 accounts" in shown
    assert "a partner that cheats can learn which of its own accounts are in a counts" in shown


# -- H1: per-account blinding keys against a counts lane ----------------------------------------


class _PerAccountKeys(InlineEngine):
    """A cheater's engine: every element of its own lanes gets its own blinding key."""

    def __init__(self) -> None:
        self.keys: list[tuple[bytes, Scalar]] = []  # (hash-to-curve input, its key)

    def hash_blind_iter(self, batches, dst, scalars):  # type: ignore[no-untyped-def]
        for batch in batches:
            out = b""
            for message in batch:
                key = Scalar.generate_invertible(seeded_rng(b"per account" + message))
                self.keys.append((message, key))
                (point,) = hash_to_curve_many([message], dst)
                out += b"".join(blind_many(key, [point], message="cheater"))
            yield [out] + [out for _ in scalars[1:]]


def _counts_pair(
    cheater_disclosure: Disclosure, *, cheat: bool = True
) -> tuple[Session, Session, _PerAccountKeys]:
    def terms(label: str, disclosure: Disclosure) -> Terms:
        return Terms(
            label=label,
            key_types=("domain",),
            populations=(PopulationTerms(name="P", disclosure=disclosure),),
        )

    def records(prefix: str, keys: list[str]) -> list[Record]:
        return [
            Record(record_id=f"{prefix}{n}", keys=(("domain", k),), populations=frozenset({"P"}))
            for n, k in enumerate(keys)
        ]

    engine = _PerAccountKeys()
    cheater = Session(
        role=Role.SENDER,
        terms=terms("Cheater", cheater_disclosure),
        records=records("c", ["a.com", "b.com", "c.com", "d.com", "e.com"]),
        engine=engine if cheat else None,
        auto_accept=True,
    )
    victim = Session(
        role=Role.RECEIVER,
        terms=terms("Victim", Disclosure.COUNTS),
        records=records("v", ["b.com", "d.com", "x.com", "y.com"]),
        auto_accept=True,
    )
    cheater.start()
    victim.start()
    return cheater, victim, engine


def test_counts_against_counts_yields_membership_to_a_cheater_as_documented() -> None:
    """Both sides disclose counts: each compares, so a cheater that blinds every account with
    its own key undoes the shuffle and learns exactly which of its own accounts the victim
    holds (protocol_spec.md §8, H1) -- and nothing of the victim's other accounts."""
    cheater, victim, engine = _counts_pair(Disclosure.COUNTS)
    _, victim_frames = pump(cheater, victim)
    sent = [decode_message(f[4:]) for f in victim_frames]
    victim_points = b"".join(m.points for m in sent if isinstance(m, Blinded))
    returned = b"".join(m.digests for m in sent if isinstance(m, Returned))
    assert cheater.agreement is not None
    prefix = cheater.agreement.digest_prefix("counts", "counts")
    returned_set = set(_split(returned, 16))
    learned = set()
    for message, key in engine.keys:
        candidates = blind_many(key, _split(victim_points, 32), message="attack")
        if set(_split(digest_points(candidates, prefix), 16)) & returned_set:
            learned.add(message[len(b"\x06domain") :].decode())
    assert learned == {"b.com", "d.com"}  # membership of its own accounts, and only those


def test_records_against_counts_gives_a_cheater_nothing_to_undo() -> None:
    """The cheater discloses records, the victim counts: only the victim compares this pair
    (it is granted records about the cheater's lane anyway) and sends a tally, so none of the
    cheater's values come back shuffled for it to undo; it learns the count and no more."""
    for cheat, count in ((False, 2), (True, 0)):
        cheater, victim, _ = _counts_pair(Disclosure.RECORDS, cheat=cheat)
        _, victim_frames = pump(cheater, victim)
        sent = [decode_message(f[4:]) for f in victim_frames]
        assert not any(isinstance(m, Returned) for m in sent)
        # The count the victim computed: right for an honest partner; a cheater's own keys
        # only spoil its own answer (its values no longer match the victim's).
        assert [m.counts for m in sent if isinstance(m, Tally)] == [(count,)]
