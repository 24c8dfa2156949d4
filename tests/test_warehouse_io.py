"""Warehouse sources and sinks against real engines: DuckDB files, a PostgreSQL server this
module starts (pgserver), SQLite through SQLAlchemy; and psi-run end to end with them."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import zstandard

from blindmatch.accounts.policy import Policy
from blindmatch.accounts.prepare import prepare_party
from blindmatch.errors import InputError, OutputError, UsageError
from blindmatch.io import open_source, read_sql
from blindmatch.io.tabular import spool
from blindmatch.io.warehouse import append_tables
from blindmatch.protocol import seeded_rng
from blindmatch.transport import PairingCode

DATA = Path(__file__).parent / "data" / "inputs"
CODE = PairingCode.generate(seeded_rng(b"warehouse io")).reveal()
POLICY = Policy.from_toml_text(
    'label = "X"\n[keys]\nuse = ["domain"]\n[populations.All]\ndisclosure = "counts"\n'
)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server on a Unix socket, for this module only.

    Its data directory is a temporary directory of its own, not under pytest's basetemp: a
    concurrent pytest run of the same user prunes old basetemps, and a server whose data
    directory vanishes mid-test fails in confusing ways."""
    # pgserver asks platformdirs for a runtime directory; give it one instead of a warning
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    import pgserver

    data = tempfile.mkdtemp(prefix="blindmatch-test-pg-")
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


def _crm(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE accounts AS SELECT * FROM (VALUES "
        "(101::BIGINT, 'Acme', 'https://acme.com/', 'Customer', 125000), "
        "(102::BIGINT, 'Initech', 'initech.io', 'Prospect', 48000), "
        "(103::BIGINT, 'Umbrella', 'umbrella.org', 'Partner', 900000)) "
        "AS t(id, name, website, kind, arr)"
    )
    con.close()
    return path


# -- sources ---------------------------------------------------------------------------------


def test_a_duckdb_query_keeps_its_types_and_reads_again(tmp_path: Path) -> None:
    db = _crm(tmp_path / "crm.duckdb")
    table = read_sql('SELECT id AS "Account ID", website AS "Website" FROM accounts', str(db))
    assert table.types["Account ID"] == pa.int64()
    first = [r.values for r in table]
    assert first == [r.values for r in table]  # the query runs again, same rows
    assert first[0] == {"Account ID": "101", "Website": "https://acme.com/"}
    party = prepare_party([table], POLICY)
    assert party.id_type == pa.int64() and len(party.records) == 3


def test_bad_queries_and_databases_are_named(tmp_path: Path) -> None:
    db = _crm(tmp_path / "crm.duckdb")
    with pytest.raises(InputError, match=r"query on .*crm.duckdb: the query failed: .*selec"):
        read_sql("selec 1", str(db))
    with pytest.raises(InputError, match="no such DuckDB database file"):
        read_sql("SELECT 1", str(tmp_path / "missing.duckdb"))
    with pytest.raises(UsageError, match="the query is empty"):
        read_sql("  ", str(db))


def test_postgres_through_adbc_and_sqlalchemy(postgres: str) -> None:
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(postgres) as con:
        cur = con.cursor()
        cur.execute("DROP TABLE IF EXISTS crm_accounts")
        cur.execute("CREATE TABLE crm_accounts (id bigint, website text, kind text)")
        cur.execute(
            "INSERT INTO crm_accounts VALUES (7, 'acme.com', 'Customer'), (8, 'b.io', 'Lead')"
        )
        con.commit()
    query = 'SELECT id AS "Account ID", website AS "Website", kind AS "Type" FROM crm_accounts'
    adbc = read_sql(query, postgres)
    assert adbc.types["Account ID"] == pa.int64()
    rows = [r.values for r in adbc]
    assert rows[0] == {"Account ID": "7", "Website": "acme.com", "Type": "Customer"}
    via_sqlalchemy = read_sql(query, postgres.replace("postgresql://", "postgresql+psycopg://"))
    assert [r.values for r in via_sqlalchemy] == rows
    with pytest.raises(InputError, match="the query failed"):
        read_sql("SELECT * FROM no_such_table", postgres)


def test_arrow_polars_and_duckdb_objects_are_sources() -> None:
    arrow = pa.table({"Id": pa.array([5, 6], pa.int32()), "Website": ["a.com", None]})
    frame = pl.DataFrame({"Id": [5, 6], "Website": ["a.com", None]})
    relation = duckdb.connect().sql("SELECT 5 AS Id, 'a.com' AS Website UNION ALL "
                                    "SELECT 6, NULL ORDER BY Id")  # fmt: skip
    for source in (arrow, frame, frame.lazy(), relation):
        table = open_source(source)
        assert [r.values for r in table] == [
            {"Id": "5", "Website": "a.com"},
            {"Id": "6", "Website": None},
        ], type(source)
        assert pa.types.is_integer(table.types["Id"])
    party = prepare_party(frame, POLICY)  # one frame, not a list of its columns
    assert [r.record_id for r in party.records] == ["5"]


def test_files_excel_arrow_and_compressed_csv(tmp_path: Path) -> None:
    xlsx = open_source(DATA / "salesforce_accounts.xlsx")
    rows = list(xlsx)
    assert [r.number for r in rows] == [2, 3, 5]  # the blank row 4 is skipped
    assert rows[0].values["Close Date"] == "2026-01-15" and rows[1].values["ARR"] == "48000.5"
    feather.write_feather(pa.table({"Id": [1], "Website": ["f.com"]}), tmp_path / "a.feather")
    assert [r.values for r in open_source(tmp_path / "a.feather")] == [
        {"Id": "1", "Website": "f.com"}
    ]
    text = (DATA / "salesforce_accounts.csv").read_bytes()
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(text))
    (tmp_path / "a.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(text))
    plain = [r.values for r in open_source(DATA / "salesforce_accounts.csv")]
    for name in ("a.csv.gz", "a.csv.zst"):
        table = open_source(tmp_path / name)
        assert table.name == str(tmp_path / name) and [r.values for r in table] == plain
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="bad.csv.gz: cannot decompress"):
        open_source(tmp_path / "bad.csv.gz")


def test_stdin_is_spooled_privately() -> None:
    path = spool("-", stdin=io.BytesIO(b"Id,Website\n1,a.com\n"))
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert [r.values for r in open_source(path)] == [{"Id": "1", "Website": "a.com"}]


# -- sinks -----------------------------------------------------------------------------------


def _tables(run: str, ids: pa.Array, fields: dict[str, list[str | None]]) -> dict[str, pa.Table]:
    n = len(ids)
    overlaps = pa.table(
        {"run_id": [run] * n, "our_record_id": ids,
         "our_populations": pa.array([["A"]] * n, pa.list_(pa.string())), **fields}
    )  # fmt: skip
    counts = pa.table({"run_id": [run], "overlap": pa.array([n], pa.int64())})
    return {"overlaps": overlaps, "counts": counts}


def test_duckdb_appends_add_columns_and_refuse_a_type_change(tmp_path: Path) -> None:
    db = str(tmp_path / "out.duckdb")
    append_tables(db, _tables("r1", pa.array([1, 2], pa.int64()), {}))
    append_tables(db, _tables("r2", pa.array([3], pa.int64()), {"partner_owner": ["Gus"]}))
    con = duckdb.connect(db, read_only=True)
    rows = con.execute(
        "SELECT run_id, our_record_id, our_populations, partner_owner "
        "FROM blindmatch_overlaps ORDER BY our_record_id"
    ).fetchall()
    con.close()
    assert rows == [("r1", 1, ["A"], None), ("r1", 2, ["A"], None), ("r2", 3, ["A"], "Gus")]
    with pytest.raises(OutputError, match=r"our_record_id is BIGINT in the database but VARCHAR"):
        append_tables(db, _tables("r3", pa.array(["x"]), {}))
    con = duckdb.connect(db, read_only=True)
    # the refused run left nothing behind, in either table
    assert con.execute("SELECT count(*) FROM blindmatch_counts").fetchone() == (2,)
    con.close()


def test_postgres_and_sqlite_appends(postgres: str, tmp_path: Path) -> None:
    import adbc_driver_postgresql.dbapi as dbapi
    import sqlalchemy as sa

    append_tables(postgres, _tables("p1", pa.array([1], pa.int64()), {}))
    append_tables(postgres, _tables("p2", pa.array([2], pa.int64()), {"partner_owner": ["Hal"]}))
    with dbapi.connect(postgres) as con:
        cur = con.cursor()
        cur.execute(
            "SELECT run_id, our_record_id, our_populations, partner_owner "
            "FROM blindmatch_overlaps ORDER BY our_record_id"
        )
        assert cur.fetchall() == [("p1", 1, ["A"], None), ("p2", 2, ["A"], "Hal")]
    with pytest.raises(OutputError, match="our_record_id.* is of type bigint but expression"):
        append_tables(postgres, _tables("p3", pa.array(["x"]), {}))
    with dbapi.connect(postgres) as con:
        cur = con.cursor()
        cur.execute("SELECT count(*) FROM blindmatch_counts")  # the refused run: nothing
        assert cur.fetchone() == (2,)
        cur.execute("DROP TABLE blindmatch_overlaps, blindmatch_counts")  # for the CLI test
        con.commit()
    sqlite = f"sqlite:///{tmp_path / 'out.sqlite'}"
    append_tables(sqlite, _tables("s1", pa.array([9], pa.int64()), {"partner_owner": ["Ivy"]}))
    with sa.create_engine(sqlite).connect() as con:
        got = con.execute(sa.text("SELECT our_record_id, our_populations, partner_owner "
                                  "FROM blindmatch_overlaps")).fetchall()  # fmt: skip
    assert [tuple(r) for r in got] == [(9, '["A"]', "Ivy")]
    with pytest.raises(OutputError, match=r"--out-db postgresql://postgres:\*\*\*@"):
        append_tables("postgresql://postgres:secret@127.0.0.1:9/x", _tables("z", pa.array([1]), {}))


# -- psi-run end to end ----------------------------------------------------------------------

SENDER_POLICY = """label = "Alpha"
[keys]
use = ["domain"]
[populations.Big]
where = { Type = { not_in = ["Partner"] }, ARR = { ge = 40000 } }
disclosure = "records"
fields = ["Account Name"]
"""
RECEIVER_POLICY = """label = "Beta"
[keys]
use = ["domain"]
[populations.Customers]
disclosure = "records"
fields = ["Company name"]
"""


def _psi_run(args: list[str], stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "BLINDMATCH_DEBUG"}
    env["BLINDMATCH_PAIRING_CODE"] = CODE
    return subprocess.Popen(
        [sys.executable, "-m", "blindmatch.cli.main", *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_duckdb_query_in_parquet_and_stdin_out_to_duckdb_and_postgres(
    tmp_path: Path, postgres: str
) -> None:
    """Alpha reads a DuckDB query, Beta a Parquet file and a CSV on stdin; both append their
    results to a database (DuckDB, PostgreSQL) with typed ids and one run_id."""
    db = _crm(tmp_path / "crm.duckdb")
    (tmp_path / "a.toml").write_text(SENDER_POLICY)
    (tmp_path / "b.toml").write_text(RECEIVER_POLICY)
    pq.write_table(
        pa.table({"Record ID": pa.array([9001, 9002], pa.int64()),
                  "Company name": ["ACME", "Umbrella Corp"],
                  "Company Domain Name": ["acme.com", "umbrella.org"]}),
        tmp_path / "b.parquet",
    )  # fmt: skip
    stdin_csv = b"Record ID,Company name,Company Domain Name\n9003,Initech,initech.io\n"
    port = _free_port()
    sql = ('SELECT id AS "Account ID", name AS "Account Name", website AS "Website", '
           'kind AS "Type", arr AS "ARR" FROM accounts')  # fmt: skip
    sender = _psi_run(
        ["--role", "sender", "--sql", sql, "--db", str(db), "--policy", str(tmp_path / "a.toml"),
         "--out-dir", str(tmp_path / "a"), "--out-db", str(tmp_path / "a.duckdb"),
         "--listen", f"127.0.0.1:{port}", "--yes", "--quiet", "--json"]
    )  # fmt: skip
    receiver = _psi_run(
        ["--role", "receiver", "--input", str(tmp_path / "b.parquet"), "--input", "-",
         "--policy", str(tmp_path / "b.toml"), "--out-dir", str(tmp_path / "b"),
         "--out-db", postgres, "--connect", f"127.0.0.1:{port}", "--connect-retry", "30",
         "--yes", "--quiet", "--json"],
        stdin=stdin_csv,
    )  # fmt: skip
    out_b, err_b = receiver.communicate(stdin_csv, timeout=120)
    out_a, err_a = sender.communicate(timeout=120)
    assert (sender.returncode, receiver.returncode) == (0, 0), err_a + err_b
    # Alpha's Big: Acme (125000) and Initech (48000); Umbrella is a Partner
    assert json.loads(out_b)["counts"] == {"Customers": {"Big": 2}}
    con = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True)
    a_rows = con.execute(
        "SELECT run_id, our_record_id, partner_company_name FROM blindmatch_overlaps "
        "ORDER BY our_record_id"
    ).fetchall()
    a_type = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = "
        "'blindmatch_overlaps' AND column_name = 'our_record_id'"
    ).fetchone()
    con.close()
    assert [r[1:] for r in a_rows] == [(101, "ACME"), (102, "Initech")]
    assert a_type == ("BIGINT",)
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(postgres) as con:
        cur = con.cursor()
        cur.execute(
            "SELECT run_id, our_record_id, partner_account_name FROM blindmatch_overlaps "
            "WHERE run_id = $1 ORDER BY our_record_id",
            parameters=(a_rows[0][0],),
        )
        b_rows = cur.fetchall()
        cur.execute("SELECT sum(overlap)::bigint FROM blindmatch_counts WHERE run_id = $1",
                    parameters=(a_rows[0][0],))  # fmt: skip
        (b_total,) = cur.fetchone()
    # the same run_id on both sides; Beta's ids typed (bigint from Parquet, 9003 from stdin
    # text would not be: the Parquet and CSV ids differ in type, so ids stay text)
    assert [r[1:] for r in b_rows] == [("9001", "Acme"), ("9003", "Initech")]
    assert b_total == 2
    overlaps = pq.read_table(tmp_path / "a" / "overlaps.parquet")
    assert overlaps.schema.field("our_record_id").type == pa.int64()
    assert (tmp_path / "b" / "counts.csv").read_text().startswith("run_id,partner,")


@pytest.mark.slow
def test_psi_run_on_dask_writes_what_the_local_engines_write(tmp_path: Path) -> None:
    """--executor dask (a LocalCluster of two workers per party) against the local engine:
    the same overlaps and counts rows, whatever engine each side runs."""
    (tmp_path / "a.toml").write_text(SENDER_POLICY)
    (tmp_path / "b.toml").write_text(RECEIVER_POLICY)
    db = _crm(tmp_path / "crm.duckdb")
    pq.write_table(
        pa.table({"Record ID": pa.array([9001, 9002, 9003], pa.int64()),
                  "Company name": ["ACME", "Umbrella Corp", "Initech"],
                  "Company Domain Name": ["acme.com", "umbrella.org", "initech.io"]}),
        tmp_path / "b.parquet",
    )  # fmt: skip
    sql = 'SELECT id AS "Account ID", name AS "Account Name", website AS "Website", kind AS "Type", arr AS "ARR" FROM accounts'  # noqa: E501
    found = {}
    for tag, extra in (
        ("local", ["--workers", "1"]),
        ("dask", ["--executor", "dask", "--workers", "2"]),
    ):  # noqa: E501
        port = _free_port()
        sender = _psi_run(
            ["--role", "sender", "--sql", sql, "--db", str(db), "--policy",
             str(tmp_path / "a.toml"), "--out-dir", str(tmp_path / f"{tag}-a"),
             "--listen", f"127.0.0.1:{port}", "--yes", "--quiet", *extra]
        )  # fmt: skip
        receiver = _psi_run(
            ["--role", "receiver", "--input", str(tmp_path / "b.parquet"), "--policy",
             str(tmp_path / "b.toml"), "--out-dir", str(tmp_path / f"{tag}-b"),
             "--connect", f"127.0.0.1:{port}", "--connect-retry", "60", "--yes", "--quiet",
             *extra]
        )  # fmt: skip
        _, err_b = receiver.communicate(timeout=180)
        _, err_a = sender.communicate(timeout=180)
        assert (sender.returncode, receiver.returncode) == (0, 0), err_a + err_b
        found[tag] = [
            pq.read_table(tmp_path / f"{tag}-{side}" / f"{name}.parquet").drop(["run_id"])
            for side in "ab"
            for name in ("overlaps", "counts")
        ]
    assert found["dask"] == found["local"]
    assert found["local"][0].num_rows == 2  # Alpha saw Acme and Initech


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sql", "SELECT 1"], "--sql needs --db"),
        (["--db", "x.duckdb"], "--db names the database --sql queries"),
        ([], "no accounts to match: give --input FILE"),
        (["--input", "a.csv", "--out-db", "/no/such/folder/x.duckdb"],
         "--out-db /no/such/folder/x.duckdb: folder /no/such/folder does not exist"),
        (["--input", "a.csv", "--dask-scheduler", "tcp://127.0.0.1:1"],
         "--dask-scheduler goes with --executor dask"),
    ],
)  # fmt: skip
def test_psi_run_refuses_incomplete_warehouse_options(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "a.csv").write_text("Id,Website\n1,a.com\n")
    run = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "--role", "sender", "--label", "A",
         "--out-dir", str(tmp_path / "out"), "--listen", "127.0.0.1:0", "--code", CODE,
         *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert not (tmp_path / "out").exists()
