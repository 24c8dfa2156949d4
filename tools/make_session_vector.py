"""Generate the full-session test vectors of protocol_spec.md §14.

Runs sessions between small fixed parties with seeded randomness, and writes every message (as
sent), the agreement id and both results of each case to the conformance kit's
``src/blindmatch/conformance/vectors/<file>``, and the same
JSON into ``protocol_spec.md`` between that case's markers. The test
``tests/test_session_vector.py`` re-runs the sessions and checks both, byte for byte, so the
spec cannot drift from the code. Case ``basic`` is the small readable one; case ``wide`` covers
what it does not (both parties sealing, several payload maps, two-byte masks, a fixed
``keys_per_account`` dropping a key, dummies on both sides, a custom key type, non-ASCII
values, a two-byte ``payload_bytes`` and stated normalization tables). Case ``conflicts``
runs the conflicting-strong-keys rule (§5.8): flavoured names, an expanding receiver.

    python tools/make_session_vector.py          # rewrite both files
    python tools/make_session_vector.py --check  # exit 1 if either is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blindmatch.conformance.builders import session_transcript
from blindmatch.protocol import Disclosure, PopulationTerms, Record, Terms

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "protocol_spec.md"
VECTORS_DIR = ROOT / "src" / "blindmatch" / "conformance" / "vectors"  # the source tree's copy
RELATIVE = VECTORS_DIR.relative_to(ROOT).as_posix()  # where the spec says the files are

SENDER_SEED = b"blindmatch/1 vector sender"
RECEIVER_SEED = b"blindmatch/1 vector receiver"

SENDER_TERMS = Terms(
    label="Northwind",
    key_types=("domain", "duns"),
    populations=(
        PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS, fields=("Owner",)),
        PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS),
    ),
    payload_bytes=64,
)
SENDER_RECORDS = (
    Record(
        record_id="N1",
        keys=(("domain", "acme.com"),),
        populations=frozenset({"Customers"}),
        fields={"Owner": "Ada"},
    ),
    Record(
        record_id="N2",
        keys=(("domain", "acme.com"), ("duns", "123456789")),
        populations=frozenset({"Prospects"}),
    ),
    Record(
        record_id="N3",
        keys=(("domain", "initech.io"),),
        populations=frozenset({"Customers", "Prospects"}),
        fields={"Owner": "Bo"},
    ),
    Record(
        record_id="N4", keys=(("domain", "umbrella.org"),), populations=frozenset({"Prospects"})
    ),
)
RECEIVER_TERMS = Terms(
    label="Globex",
    key_types=("domain", "duns", "name"),
    populations=(
        PopulationTerms(name="Customers", disclosure=Disclosure.COUNTS),
        PopulationTerms(name="Opportunities", disclosure=Disclosure.RECORDS),
    ),
    payload_bytes=64,
)
RECEIVER_RECORDS = (
    Record(record_id="G1", keys=(("duns", "123456789"),), populations=frozenset({"Customers"})),
    Record(
        record_id="G2", keys=(("domain", "initech.io"),), populations=frozenset({"Opportunities"})
    ),
    Record(
        record_id="G3",
        keys=(("domain", "hooli.com"), ("name", "hooli")),
        populations=frozenset({"Customers", "Opportunities"}),
    ),
)


def _pop(name: str, disclosure: Disclosure, *fields: str) -> PopulationTerms:
    return PopulationTerms(name=name, disclosure=disclosure, fields=fields)


R, C = Disclosure.RECORDS, Disclosure.COUNTS
#: Nine counts-level populations: the sender's counts-lane masks take two bytes.
WIDE_SENDER_TERMS = Terms(
    label="Initech Müller GmbH",
    normalization_tables="0123456789abcdef0123456789abcdef",
    key_types=("domain", "duns", "custom:crm_id", "name"),
    populations=(
        _pop("Customers", R, "Owner", "Tier"),
        _pop("Partners", R, "Region"),
        _pop("Prospects", C),
        *(_pop(f"Segment {i}", C) for i in range(1, 9)),
    ),
    keys_per_account=2,
    payload_bytes=300,
)
WIDE_SENDER_RECORDS = (
    # one account of three records (domain, then duns links them): three keys, two slots
    Record(
        record_id="I1",
        keys=(("domain", "acme.com"),),
        populations=frozenset({"Customers"}),
        fields={"Owner": "Zoë", "Tier": "gold"},
    ),
    Record(
        record_id="I2",
        keys=(("domain", "acme.com"), ("duns", "123456789")),
        populations=frozenset({"Partners", "Segment 6"}),
        fields={"Region": "EMEA"},
    ),
    Record(
        record_id="I3",
        keys=(("duns", "123456789"), ("custom:crm_id", "0015e00000abcde")),
        populations=frozenset({"Prospects"}),
    ),
    Record(
        record_id="I4",
        keys=(("name", "société générale"),),
        populations=frozenset({"Customers", "Segment 1"}),
        fields={"Owner": "Åsa"},
    ),
    Record(  # records-level, but nothing to reveal: its map is left out
        record_id="I5", keys=(("domain", "hooli.com"),), populations=frozenset({"Partners"})
    ),
    Record(
        record_id="I6",
        keys=(("domain", "xn--mnchen-3ya.de"),),
        populations=frozenset({"Segment 3", "Prospects"}),
    ),
)
#: Both parties seal: the receiver reveals a Vendors contact, so the sender opens fields too.
WIDE_RECEIVER_TERMS = Terms(
    label="Globex",
    key_types=("name", "custom:crm_id", "domain", "duns"),
    populations=(
        _pop("Vendors", R, "Contact"),
        _pop("Customers", C),
        _pop("Opportunities", C),
    ),
    payload_bytes=64,
)
WIDE_RECEIVER_RECORDS = (
    Record(
        record_id="G1",
        # meets I1-I3 by domain; their crm_id was dropped (keys_per_account = 2)
        keys=(("custom:crm_id", "0015e00000abcde"), ("domain", "acme.com")),
        populations=frozenset({"Customers"}),
    ),
    Record(
        record_id="G2",
        keys=(("name", "société générale"), ("domain", "socgen.fr"), ("duns", "987654321")),
        populations=frozenset({"Opportunities", "Customers"}),
    ),
    Record(
        record_id="G3", keys=(("domain", "hooli.com"),), populations=frozenset({"Opportunities"})
    ),
    Record(
        record_id="G4",
        keys=(("domain", "xn--mnchen-3ya.de"),),
        populations=frozenset({"Vendors"}),
        fields={"Contact": "Jürgen"},
    ),
)


#: §5.8: the sender (counts only) sends names exact, the receiver (records) expands them.
CONFLICT_SENDER_TERMS = Terms(
    label="Northwind",
    key_types=("domain", "duns", "name"),
    populations=(PopulationTerms(name="Customers", disclosure=Disclosure.COUNTS),),
    payload_bytes=64,
    refuse_conflicts=True,
)
CONFLICT_SENDER_RECORDS = tuple(
    Record(record_id=rid, keys=keys, populations=frozenset({"Customers"}))
    for rid, keys in (
        ("N1", (("domain", "delta.com"), ("name", "delta"))),  # flavour 10
        ("N2", (("name", "acme"),)),  # 00
        ("N3", (("domain", "globex.com"), ("name", "globex"))),  # 10
        ("N4", (("duns", "123456789"), ("name", "initech"))),  # 01
        ("N5", (("domain", "umbrella.com"), ("duns", "222222222"), ("name", "umbrella"))),  # 11
    )
)
CONFLICT_RECEIVER_TERMS = Terms(
    label="Globex",
    key_types=("domain", "duns", "name"),
    populations=(
        PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS, fields=("Owner",)),
    ),
    payload_bytes=64,
    refuse_conflicts=True,
)
CONFLICT_RECEIVER_RECORDS = tuple(
    Record(record_id=rid, keys=keys, populations=frozenset({"Customers"}), fields={"Owner": who})
    for rid, keys, who in (
        ("G1", (("domain", "deltadental.com"), ("name", "delta")), "Dee"),  # refused: domains
        ("G2", (("domain", "acme.com"), ("name", "acme")), "Abe"),  # N2 has no domain: match
        ("G3", (("duns", "987654321"), ("name", "globex")), "Gil"),  # duns vs domain: match
        ("G4", (("duns", "111111111"), ("name", "initech")), "Ivo"),  # refused: DUNS differ
        ("G5", (("name", "umbrella"),), "Uma"),  # bare, four flavours: match
    )
)


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    sender_terms: Terms
    sender_records: tuple[Record, ...]
    receiver_terms: Terms
    receiver_records: tuple[Record, ...]

    @property
    def path(self) -> Path:
        return VECTORS_DIR / self.file

    @property
    def markers(self) -> tuple[str, str]:
        suffix = "" if self.name == "basic" else f":{self.name}"
        return f"<!-- session-vector{suffix}:begin -->", f"<!-- session-vector{suffix}:end -->"


CASES = (
    Case(
        "basic", "session_v1.json", SENDER_TERMS, SENDER_RECORDS, RECEIVER_TERMS, RECEIVER_RECORDS
    ),
    Case(
        "wide",
        "session_v1_wide.json",
        WIDE_SENDER_TERMS,
        WIDE_SENDER_RECORDS,
        WIDE_RECEIVER_TERMS,
        WIDE_RECEIVER_RECORDS,
    ),
    Case(
        "conflicts",
        "session_v1_conflicts.json",
        CONFLICT_SENDER_TERMS,
        CONFLICT_SENDER_RECORDS,
        CONFLICT_RECEIVER_TERMS,
        CONFLICT_RECEIVER_RECORDS,
    ),
)


def build(case: Case = CASES[0]) -> dict[str, Any]:
    """The case's vector, computed by the code the conformance kit checks it with."""
    return session_transcript(
        sender_terms=case.sender_terms,
        sender_records=case.sender_records,
        sender_seed=SENDER_SEED,
        receiver_terms=case.receiver_terms,
        receiver_records=case.receiver_records,
        receiver_seed=RECEIVER_SEED,
    )


def render(vector: dict[str, Any]) -> str:
    return json.dumps(vector, indent=1, ensure_ascii=False) + "\n"


def spec_with(text: str, case: Case, vector_json: str) -> str:
    begin, end = case.markers
    head, found, rest = text.partition(begin)
    if not found:
        raise SystemExit(f"protocol_spec.md has no {begin} marker")
    _, _, tail = rest.partition(end)
    block = (
        f"{begin}\nGenerated by `tools/make_session_vector.py`; identical to "
        f"`{RELATIVE}/{case.file}`.\n\n```json\n{vector_json}```\n{end}"
    )
    return head + block + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args()
    original = spec = SPEC.read_text(encoding="utf-8")
    stale: list[str] = []
    for case in CASES:
        fresh = render(build(case))
        spec = spec_with(spec, case, fresh)
        if args.check:
            if not (case.path.exists() and case.path.read_text(encoding="utf-8") == fresh):
                stale.append(str(case.path))
        else:
            case.path.write_text(fresh, encoding="utf-8")
    if args.check:
        if spec != original:
            stale.append(str(SPEC))
        if stale:
            print("stale: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    SPEC.write_text(spec, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
