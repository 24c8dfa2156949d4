"""The bundled sample CRMs, through normalization, accounts and the protocol, give exactly the
overlap the generator built into them (sample/expected.json, computed without blindmatch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from blindmatch.accounts import sample
from blindmatch.accounts.policy import load_policy
from blindmatch.accounts.prepare import PreparedParty, prepare_party
from blindmatch.driver import PairRun, run_pair
from blindmatch.protocol import OverlapResult


def _prepare(data: str, policy: str) -> PreparedParty:
    with sample.path(data) as data_path, sample.path(policy) as policy_path:
        return prepare_party([data_path], load_policy(policy_path))


@pytest.fixture(scope="module")
def run() -> Iterator[PairRun]:
    northwind = _prepare("northwind_salesforce.csv", "northwind_policy.toml")
    globex = _prepare("globex_hubspot.csv", "globex_policy.toml")
    yield run_pair(
        sender_terms=northwind.terms,
        sender_records=northwind.records,
        receiver_terms=globex.terms,
        receiver_records=globex.records,
    )


def _fields(rows: Any) -> list[tuple[tuple[str, str], ...]]:
    return sorted(tuple(sorted(dict(r).items())) for r in rows)


@pytest.mark.parametrize("side", ["northwind", "globex"])
def test_overlap_equals_known_ground_truth(run: PairRun, side: str) -> None:
    result: OverlapResult = run.sender if side == "northwind" else run.receiver
    want = sample.expected()["overlap"][side]
    assert {p: dict(c) for p, c in result.counts.items()} == want["counts"]
    assert dict(result.our_sizes) == want["our_sizes"]
    assert dict(result.partner_sizes) == want["partner_sizes"]
    assert {p: d.value for p, d in result.partner_disclosure.items()} == want["partner_disclosure"]
    expected = {m["record_id"]: m for m in want["matches"]}
    got = {m.record_id: m for m in result.matches}
    assert set(got) == set(expected)
    for record_id, match in got.items():
        w = expected[record_id]
        assert list(match.partner_populations) == w["partner_populations"], record_id
        assert list(match.key_types) == w["key_types"], record_id
        assert _fields(match.partner_fields) == _fields(w["partner_fields"]), record_id


def test_counts_only_populations_reveal_no_record(run: PairRun) -> None:
    """Globex discloses Opportunities and Prospects as counts: no Northwind match names them."""
    for match in run.sender.matches:
        assert set(match.partner_populations) <= {"Customers"}
    for match in run.receiver.matches:
        assert set(match.partner_populations) <= {"Customers"}
