"""Warehouse in and out: tidy tables with typed ids, SQL and Arrow sources, database appends.

Everything runs against real engines: DuckDB files, a PostgreSQL server started by the test
(pgserver), SQLite through SQLAlchemy, and psi-run as two processes over loopback.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.accounts.warehouse import (
    WAREHOUSE_SCHEMA,
    arrow_column,
    field_column,
    warehouse_tables,
)
from blindmatch.driver import run_pair
from blindmatch.protocol import Disclosure, PopulationTerms, Record, Terms, seeded_rng

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _terms(label: str, fields: tuple[str, ...]) -> Terms:
    return Terms(
        label=label,
        key_types=("domain",),
        populations=(
            PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS, fields=fields),
            PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS),
        ),
        payload_bytes=256,
    )


def _record(rid: str, domain: str, pop: str, **fields: str) -> Record:
    return Record(
        record_id=rid,
        keys=(("domain", domain),),
        populations=frozenset({pop}),
        fields=MappingProxyType(fields),
    )


def _result() -> object:
    ours = [
        _record("101", "acme.com", "Customers"),
        _record("102", "initech.io", "Prospects"),
        _record("103", "only-ours.com", "Customers"),
    ]
    theirs = [
        # two partner records that share acme.com: one account, two partner records
        _record("9001", "acme.com", "Customers", **{"Account Owner": "Gus"}),
        _record("9002", "acme.com", "Customers", **{"Account Owner": "Hal"}),
        _record("9003", "initech.io", "Customers", **{"Account Owner": "Ivy"}),
    ]
    run = run_pair(
        sender_terms=_terms("Ours", ()),
        sender_records=ours,
        receiver_terms=_terms("Theirs", ("Account Owner",)),
        receiver_records=theirs,
        sender_rng=seeded_rng(b"wh s"),
        receiver_rng=seeded_rng(b"wh r"),
    )
    return run.sender


def test_overlaps_one_row_per_matched_pair_with_typed_ids() -> None:
    result = _result()
    tables = warehouse_tables(
        result,  # type: ignore[arg-type]
        run_id="r1", role="sender", transport="pake", started=NOW, finished=NOW,
        policy_sha256="00" * 32, id_type=pa.int64(),
    )  # fmt: skip
    overlaps = tables.overlaps
    assert overlaps.column_names == [
        "run_id", "partner", "our_record_id", "our_populations", "partner_populations",
        "matched_key_types", "partner_account_owner",
    ]  # fmt: skip
    assert overlaps.schema.field("our_record_id").type == pa.int64()
    assert overlaps.schema.field("our_populations").type == pa.list_(pa.string())
    rows = sorted(
        overlaps.to_pylist(), key=lambda r: (r["our_record_id"], r["partner_account_owner"])
    )
    assert {k: v for k, v in rows[0].items() if k != "partner_account_owner"} == {
        "run_id": "r1",
        "partner": "Theirs",
        "our_record_id": 101,
        "our_populations": ["Customers"],
        "partner_populations": ["Customers"],
        "matched_key_types": ["domain"],
    }
    assert [
        (r["our_record_id"], r["our_populations"], r["partner_account_owner"]) for r in rows
    ] == [
        (101, ["Customers"], "Gus"),
        (101, ["Customers"], "Hal"),
        (102, ["Prospects"], "Ivy"),
    ]


def test_counts_are_tidy_and_runs_carry_the_schema_version() -> None:
    result = _result()
    tables = warehouse_tables(
        result,  # type: ignore[arg-type]
        run_id="r1", role="sender", transport="pake", started=NOW, finished=NOW,
        policy_sha256="ab" * 32,
    )  # fmt: skip
    counts = tables.counts
    assert counts.column_names == [
        "run_id", "partner", "our_population", "partner_population", "overlap", "our_size",
        "partner_size", "our_disclosure", "partner_disclosure",
    ]  # fmt: skip
    by_pair = {(r["our_population"], r["partner_population"]): r for r in counts.to_pylist()}
    names = ("Customers", "Prospects")
    assert set(by_pair) == {(p, q) for p in names for q in names}
    acme = by_pair[("Customers", "Customers")]
    assert (acme["overlap"], acme["our_size"], acme["partner_size"]) == (1, 2, 2)
    assert (acme["our_disclosure"], acme["partner_disclosure"]) == ("records", "records")
    assert by_pair[("Prospects", "Customers")]["overlap"] == 1
    assert tables.overlaps.schema.field("our_record_id").type == pa.string()  # no id type given
    (run,) = tables.runs.to_pylist()
    assert run["schema_version"] == WAREHOUSE_SCHEMA and run["matched_pairs"] == 3
    assert run["run_id"] == "r1" and run["partner"] == "Theirs"


def test_ids_that_do_not_read_back_as_the_source_type_stay_text() -> None:
    result = _result()
    tables = warehouse_tables(
        result,  # type: ignore[arg-type]
        run_id="r", role="sender", transport="pake", started=NOW, finished=NOW,
        policy_sha256="", id_type=pa.date32(),
    )  # fmt: skip
    assert tables.overlaps.schema.field("our_record_id").type == pa.string()


@pytest.mark.parametrize(
    ("name", "column"),
    [("Account Owner", "partner_account_owner"), ("ARR ($)", "partner_arr"), ("x", "partner_x")],
)
def test_field_columns_are_warehouse_identifiers(name: str, column: str) -> None:
    assert field_column(name) == column


_TEXT = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(_TEXT, max_size=40),
    lists=st.lists(st.lists(st.text(max_size=6), max_size=4), max_size=20),
    ints=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
    stamps=st.lists(
        st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.just(timezone.utc),
        ),
        max_size=10,
    ),
)
def test_columns_built_from_buffers_equal_arrows_own_conversion(
    texts: list[str | None], lists: list[list[str]], ints: list[int], stamps: list[datetime]
) -> None:
    """arrow_column skips pa.array (which imports pandas); what it builds must not differ."""
    text_list = pa.list_(pa.string())
    assert arrow_column(pa, pa.string(), texts).equals(pa.array(texts, type=pa.string()))
    assert arrow_column(pa, text_list, lists).equals(pa.array(lists, type=text_list))
    assert arrow_column(pa, pa.int64(), ints).equals(pa.array(ints, type=pa.int64()))
    for unit in ("s", "ms", "us"):
        ts = pa.timestamp(unit, tz="UTC")
        assert arrow_column(pa, ts, stamps).equals(pa.array(stamps, type=ts)), unit


def test_building_the_tables_does_not_import_pandas() -> None:
    """pandas is installed here (the test extra); a run's outputs must not pay its import."""
    code = (
        "import sys, tests.test_warehouse as t\n"
        "t.warehouse_tables(t._result(), run_id='r', role='sender', transport='tcp',"
        " started=t.NOW, finished=t.NOW, policy_sha256='0' * 64)\n"
        "import pyarrow.parquet\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert out.stdout.strip() == "False", out.stderr
