"""Generate the full-session test vector of protocol_spec.md §14.

Runs one session between two small fixed parties with seeded randomness, and writes every
message (as sent), the agreement id and both results to ``tests/vectors/session_v1.json``, and
the same JSON into ``protocol_spec.md`` between the session-vector markers. The test
``tests/test_session_vector.py`` re-runs the session and checks both, byte for byte, so the
spec cannot drift from the code.

    python tools/make_session_vector.py          # rewrite both files
    python tools/make_session_vector.py --check  # exit 1 if either is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from blindmatch.protocol import (
    Disclosure,
    OverlapResult,
    PopulationTerms,
    Record,
    Role,
    Terms,
    run_pair,
    seeded_rng,
)
from blindmatch.protocol.agreement import agreement_id
from blindmatch.protocol.messages import decode_message

ROOT = Path(__file__).resolve().parents[1]
VECTOR = ROOT / "tests" / "vectors" / "session_v1.json"
SPEC = ROOT / "protocol_spec.md"
BEGIN, END = "<!-- session-vector:begin -->", "<!-- session-vector:end -->"

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


def _records(records: tuple[Record, ...]) -> list[dict[str, Any]]:
    return [
        {
            "record_id": r.record_id,
            "keys": [list(k) for k in r.keys],
            "populations": sorted(r.populations),
            "fields": dict(r.fields),
        }
        for r in records
    ]


def _result(result: OverlapResult) -> dict[str, Any]:
    return {
        "counts": {p: dict(c) for p, c in result.counts.items()},
        "our_sizes": dict(result.our_sizes),
        "partner_sizes": dict(result.partner_sizes),
        "matches": [
            {
                "record_id": m.record_id,
                "our_populations": list(m.our_populations),
                "partner_populations": list(m.partner_populations),
                "key_types": list(m.key_types),
                "partner_fields": [dict(f) for f in m.partner_fields],
            }
            for m in result.matches
        ],
    }


def build() -> dict[str, Any]:
    run = run_pair(
        sender_terms=SENDER_TERMS,
        sender_records=SENDER_RECORDS,
        receiver_terms=RECEIVER_TERMS,
        receiver_records=RECEIVER_RECORDS,
        sender_rng=seeded_rng(SENDER_SEED),
        receiver_rng=seeded_rng(RECEIVER_SEED),
        record_messages=True,
    )
    hellos = {role: body for role, body in run.messages if decode_message(body).t == "hello"}
    return {
        "description": "blindmatch/1 full session; randomness per protocol_spec.md §12 from "
        "SHAKE-256('blindmatch/1 test rng' || seed); messages are frame bodies in the order sent "
        "by the reference pump (each side's own order is normative, the interleaving is not)",
        "sender": {
            "seed": SENDER_SEED.decode(),
            "terms": SENDER_TERMS.model_dump(mode="json"),
            "records": _records(SENDER_RECORDS),
        },
        "receiver": {
            "seed": RECEIVER_SEED.decode(),
            "terms": RECEIVER_TERMS.model_dump(mode="json"),
            "records": _records(RECEIVER_RECORDS),
        },
        "agreement_id": agreement_id(hellos[Role.SENDER], hellos[Role.RECEIVER]).hex(),
        "messages": [
            {"from": role.value, "type": decode_message(body).t, "hex": body.hex()}
            for role, body in run.messages
        ],
        "results": {"sender": _result(run.sender), "receiver": _result(run.receiver)},
    }


def render(vector: dict[str, Any]) -> str:
    return json.dumps(vector, indent=1, ensure_ascii=False) + "\n"


def spec_with(text: str, vector_json: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    block = (
        f"{BEGIN}\nGenerated by `tools/make_session_vector.py`; identical to "
        f"`tests/vectors/session_v1.json`.\n\n```json\n{vector_json}```\n{END}"
    )
    return head + block + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args()
    fresh = render(build())
    spec = SPEC.read_text(encoding="utf-8")
    if args.check:
        stale = [
            str(p)
            for p, ok in (
                (VECTOR, VECTOR.exists() and VECTOR.read_text(encoding="utf-8") == fresh),
                (SPEC, spec_with(spec, fresh) == spec),
            )
            if not ok
        ]
        if stale:
            print("stale: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    VECTOR.write_text(fresh, encoding="utf-8")
    SPEC.write_text(spec_with(spec, fresh), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
