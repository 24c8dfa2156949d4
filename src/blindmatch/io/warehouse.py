"""A run's warehouse tables out: as Parquet and CSV files, and appended to a database.

Why: the overlap belongs next to the pipeline tables it is joined with. :func:`write_arrow`
writes one Arrow table as Parquet (types kept) or CSV (cells neutralized against formulas,
list items joined with :data:`~.writers.LIST_SEPARATOR`), atomically or in an output set.
``append_tables``
adds each Arrow table to ``blindmatch_<name>`` in one transaction (all three tables of a run
or none), creating a table on first use and adding the ``partner_<field>`` columns a later
run brings. A column whose type differs from the existing table's (an ``our_record_id`` that
was an integer and is now text) is refused with both types named, never silently cast.

* a path: a DuckDB database file (created if missing);
* ``postgresql://`` (or ``postgres://``): PostgreSQL through ADBC (``adbc-driver-postgresql``),
  lists as ``text[]``;
* any other URL: SQLAlchemy (``sqlite:///...``, ``mysql+pymysql://...``), lists as JSON text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import OutputError, UsageError
from .atomic import AtomicOutputSet, StrPath, output_file
from .tabular import _module, is_url, redact_url
from .writers import LIST_SEPARATOR, neutralize_cell

__all__ = ["TABLE_PREFIX", "append_tables", "write_arrow"]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def write_arrow(
    path: StrPath,
    table: Any,
    *,
    format: str,
    private: bool = True,
    outputs: AtomicOutputSet | None = None,
) -> None:
    """One Arrow table as ``parquet`` or ``csv``, private by default (partner data)."""
    if format == "parquet":
        pq = _module("pyarrow.parquet", "warehouse", "writing Parquet")
        with output_file(path, "wb", private=private, outputs=outputs) as handle:
            pq.write_table(table, handle)
    elif format == "csv":
        with output_file(path, "w", private=private, outputs=outputs) as handle:
            writer = csv.writer(handle, dialect="excel")
            writer.writerow([neutralize_cell(c) for c in table.column_names])
            for batch in table.to_batches():
                for row in batch.to_pylist():
                    writer.writerow([neutralize_cell(_csv_cell(v)) for v in row.values()])
    else:
        raise UsageError(f"unknown table format {format!r}; choose parquet or csv")


TABLE_PREFIX = "blindmatch_"


def append_tables(db: str, tables: Mapping[str, Any]) -> list[str]:
    """Append each Arrow table to ``blindmatch_<name>`` in ``db``; returns the table names."""
    named = {TABLE_PREFIX + name: table for name, table in tables.items()}
    if not is_url(db):
        _append_duckdb(db, named)
    elif db.partition("://")[0].lower() in ("postgresql", "postgres"):
        _append_postgres(db, named)
    else:
        _append_sqlalchemy(db, named)
    return list(named)


def _fail(db: str, what: str, exc: BaseException | None = None) -> OutputError:
    detail = ""
    if exc is not None:
        text = str(exc).strip()
        detail = ": " + (text.splitlines()[0] if text else type(exc).__name__)
    return OutputError(f"--out-db {redact_url(db)}: {what}{detail}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- DuckDB ----------------------------------------------------------------------------------


def _append_duckdb(db: str, tables: Mapping[str, Any]) -> None:
    duckdb = _module("duckdb", "warehouse", "--out-db with a DuckDB file")
    path = Path(db)
    if path.parent and not path.parent.is_dir():
        raise _fail(db, "its directory does not exist")
    try:
        con = duckdb.connect(str(path))
    except Exception as exc:  # noqa: BLE001 - duckdb raises its own types
        raise _fail(db, "cannot open the database", exc) from None
    try:
        con.begin()
        for name, table in tables.items():
            con.register("blindmatch_incoming", table)
            described = con.execute("DESCRIBE SELECT * FROM blindmatch_incoming").fetchall()
            incoming = {row[0]: row[1] for row in described}
            existing = dict(
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = ? ORDER BY ordinal_position",
                    [name],
                ).fetchall()
            )
            if not existing:
                con.execute(f"CREATE TABLE {_quote(name)} AS SELECT * FROM blindmatch_incoming")
            else:
                _check_types(db, name, existing, incoming)
                for column, kind in incoming.items():
                    if column not in existing:
                        con.execute(
                            f"ALTER TABLE {_quote(name)} ADD COLUMN {_quote(column)} {kind}"
                        )
                con.execute(f"INSERT INTO {_quote(name)} BY NAME SELECT * FROM blindmatch_incoming")
            con.unregister("blindmatch_incoming")
        con.commit()
    except OutputError:
        con.rollback()
        raise
    except Exception as exc:  # noqa: BLE001
        con.rollback()
        raise _fail(db, "cannot append the tables", exc) from None
    finally:
        con.close()


def _check_types(
    db: str, name: str, existing: Mapping[str, str], incoming: Mapping[str, str]
) -> None:
    for column, kind in incoming.items():
        have = existing.get(column)
        if have is not None and have.lower() != kind.lower():
            raise _fail(
                db,
                f"{name}.{column} is {have} in the database but {kind} in this run; "
                "write this run to another database or table",
            )


# -- PostgreSQL (ADBC) -----------------------------------------------------------------------


def _append_postgres(url: str, tables: Mapping[str, Any]) -> None:
    dbapi = _module("adbc_driver_postgresql.dbapi", "warehouse", "--out-db with a PostgreSQL URL")
    try:
        con = dbapi.connect(url)
    except Exception as exc:  # noqa: BLE001
        raise _fail(url, "cannot connect", exc) from None
    try:
        cur = con.cursor()
        for name, table in tables.items():
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = $1",
                parameters=(name,),
            )
            existing = {r[0]: r[1] for r in cur.fetchall()}
            if not existing:
                cur.adbc_ingest(name, table, mode="create")
                continue
            for column in table.column_names:
                if column not in existing:
                    # only partner_<field> columns come and go: text
                    cur.execute(f"ALTER TABLE {_quote(name)} ADD COLUMN {_quote(column)} text")
            # COPY goes by position: stage the rows, then insert them by column name
            staged = "blindmatch_incoming"
            cur.adbc_ingest(staged, table, mode="replace", temporary=True)
            columns = ", ".join(_quote(c) for c in table.column_names)
            cur.execute(
                f"INSERT INTO {_quote(name)} ({columns}) SELECT {columns} FROM {_quote(staged)}"
            )
            cur.execute(f"DROP TABLE {_quote(staged)}")
        con.commit()
    except Exception as exc:  # noqa: BLE001
        con.rollback()
        raise _fail(url, "cannot append the tables", exc) from None
    finally:
        con.close()


# -- anything SQLAlchemy reaches -------------------------------------------------------------


def _append_sqlalchemy(url: str, tables: Mapping[str, Any]) -> None:
    sa = _module("sqlalchemy", "warehouse", "--out-db with a database URL")
    pa = _module("pyarrow", "warehouse", "--out-db")
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    except Exception as exc:  # noqa: BLE001 - unknown dialect, missing driver
        raise _fail(url, "cannot use this URL", exc) from None
    try:
        with engine.begin() as con:
            inspector = sa.inspect(con)
            for name, table in tables.items():
                columns = [_sa_column(sa, pa, f) for f in table.schema]
                if not inspector.has_table(name):
                    sa.Table(name, sa.MetaData(), *columns).create(con)
                else:
                    have = {c["name"] for c in inspector.get_columns(name)}
                    for column in columns:
                        if column.name not in have:
                            kind = column.type.compile(dialect=con.dialect)
                            con.execute(
                                sa.text(
                                    f"ALTER TABLE {_quote(name)} ADD COLUMN "
                                    f"{_quote(column.name)} {kind}"
                                )
                            )
                target = sa.Table(name, sa.MetaData(), autoload_with=con)
                rows = [
                    {k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()}
                    for row in table.to_pylist()
                ]
                if rows:
                    con.execute(target.insert(), rows)
    except Exception as exc:  # noqa: BLE001
        raise _fail(url, "cannot append the tables", exc) from None


def _sa_column(sa: Any, pa: Any, field: Any) -> Any:
    kind = field.type
    if pa.types.is_integer(kind):
        sa_type: Any = sa.BigInteger()
    elif pa.types.is_floating(kind):
        sa_type = sa.Float()
    elif pa.types.is_timestamp(kind):
        sa_type = sa.DateTime(timezone=True)
    elif pa.types.is_date(kind):
        sa_type = sa.Date()
    else:  # text, and lists as JSON text
        sa_type = sa.Text()
    return sa.Column(field.name, sa_type)
