"""Warehouse-shaped sources: SQL queries, Arrow data, workbooks, compressed files and stdin.

Why: data teams keep accounts in a warehouse and in dataframes, not in CSV exports. Every
source here becomes the same :class:`~.readers.Table` as a CSV does (a header and re-iterable
rows of text cells), and typed sources also say the Arrow type of each column
(``Table.types``), so record ids come back in their own type in the warehouse tables.

* ``read_sql(query, db)``: DuckDB when ``db`` is a path (a ``.duckdb`` file, opened
  read-only); through ADBC for a ``postgresql://`` URL (the ``adbc-driver-postgresql``
  package), through SQLAlchemy for any other URL (``postgresql+psycopg://``, ``sqlite:///``,
  ...). The query runs again each time the table is read, in batches.
* ``read_arrow(obj)``: a pyarrow Table or RecordBatch, a polars DataFrame or LazyFrame, a
  DuckDB relation, or anything with ``__arrow_c_stream__``.
* ``read_feather(path)``: Arrow IPC files (Feather v2) and streams.
* ``read_xlsx(path)``: the first sheet of an Excel workbook (``python-calamine``).
* ``spool(path_or_stdin)``: ``.csv.gz`` / ``.csv.zst`` and ``-`` (stdin) are decompressed or
  copied once into an owner-only temporary file, removed when the table is dropped, and then
  read like any file.
"""

from __future__ import annotations

import atexit
import gzip
import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError, UsageError
from .readers import Row, Table, TableFormat, _check_header, _typed_cells, open_table

__all__ = [
    "ARROW_BATCH",
    "COMPRESSED",
    "is_one_source",
    "is_url",
    "open_source",
    "read_arrow",
    "read_feather",
    "read_sql",
    "read_xlsx",
    "redact_url",
    "remove_spooled",
    "spool",
]

#: Rows per Arrow batch read from a query or a file.
ARROW_BATCH = 16384


def _module(name: str, extra: str, what: str, *, display: str | None = None) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise InputError(
            f"{what} needs the optional {name.split('.')[0]} package: "
            f"pip install 'blindmatch[{extra}]'",
            file=display,
        ) from None


def is_url(db: str) -> bool:
    """A database URL (``postgresql://...``) rather than a DuckDB file path."""
    scheme, sep, _ = db.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").isalnum()


def redact_url(db: str) -> str:
    """A database URL without its password, for messages."""
    if not is_url(db):
        return db
    scheme, _, rest = db.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return db
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


# -- one entry point -------------------------------------------------------------------------

_ARROW_MODULES = ("pyarrow", "polars", "duckdb", "_duckdb")
_XLSX = (".xlsx", ".xlsm")
_IPC = (".arrow", ".feather", ".ipc", ".arrows")


def _arrow_like(obj: Any) -> bool:
    if hasattr(obj, "itertuples"):  # pandas: its own reader
        return False
    return type(obj).__module__.split(".")[0] in _ARROW_MODULES or hasattr(
        obj, "__arrow_c_stream__"
    )


def is_one_source(obj: Any) -> bool:
    """True for one account source (a path, a table, a frame), False for a list of them."""
    return (
        isinstance(obj, (str, os.PathLike, Table)) or hasattr(obj, "itertuples") or _arrow_like(obj)
    )


def open_source(source: Any, *, name: str | None = None, allow_short_rows: bool = False) -> Table:
    """Any account source as a :class:`Table`: the files :func:`~.readers.open_table` reads,
    plus ``-`` (stdin), ``.csv.gz`` / ``.csv.zst`` (any readable format inside), Excel
    workbooks, Arrow IPC / Feather files, and pyarrow / polars / DuckDB objects.
    ``allow_short_rows`` is :func:`~.readers.open_table`'s, for the CSV files among them."""
    if isinstance(source, Table):
        return source
    if _arrow_like(source):
        return read_arrow(source, name=name or "table")
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        lower = text.lower()
        if text == "-":
            return open_table(spool("-"), name=name or "<stdin>", allow_short_rows=allow_short_rows)
        if lower.endswith(COMPRESSED):
            return open_table(spool(text), name=name or text, allow_short_rows=allow_short_rows)
        if lower.endswith(_XLSX):
            return read_xlsx(text, name=name)
        if lower.endswith(_IPC):
            return read_feather(text, name=name)
    return open_table(source, name=name, allow_short_rows=allow_short_rows)


# -- Arrow batches to rows -------------------------------------------------------------------


def _arrow_table(
    schema: Any,
    batches: Callable[[], Iterable[Any]],
    *,
    name: str,
    format: TableFormat,
) -> Table:
    """A table over a re-startable stream of Arrow record batches with ``schema``."""
    raw = [str(n) for n in schema.names]
    header = _check_header(raw, name, row=None)
    if len(header) != len(raw):
        raise InputError("a column name is blank", file=name)
    types = {h: schema.field(i).type for i, h in enumerate(header)}

    def rows() -> Iterator[Row]:
        number = 0
        try:
            for batch in batches():
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                for cells in zip(*columns, strict=True):
                    number += 1
                    yield Row(number, _typed_cells(header, cells, name, number))
        except (InputError, UsageError):
            raise
        except Exception as exc:  # noqa: BLE001 - drivers raise their own types
            raise InputError(f"cannot read the data: {exc}", file=name, row=number + 1) from None

    return Table(name=name, header=header, format=format, types=types, _rows=rows)


def read_arrow(obj: Any, *, name: str = "table") -> Table:
    """A pyarrow Table / RecordBatch, a polars DataFrame / LazyFrame, a DuckDB relation, or
    any object with ``__arrow_c_stream__``, as a table (read batch by batch)."""
    pa = _module("pyarrow", "warehouse", "reading Arrow data", display=name)
    kind = type(obj).__module__.split(".")[0]
    if kind == "polars":
        if hasattr(obj, "collect") and not hasattr(obj, "to_arrow"):  # a LazyFrame
            obj = obj.collect()
        obj = obj.to_arrow()
    elif kind in ("duckdb", "_duckdb"):
        relation = obj

        def relation_batches() -> Any:
            return _relation_reader(relation)

        return _arrow_table(
            _relation_reader(relation.limit(0)).schema,
            relation_batches,
            name=name,
            format="arrow",
        )
    if isinstance(obj, pa.RecordBatch):
        obj = pa.Table.from_batches([obj])
    if not isinstance(obj, pa.Table):
        if hasattr(obj, "__arrow_c_stream__"):
            obj = pa.table(obj)
        else:
            raise InputError(
                f"cannot read {type(obj).__name__!r} as an account table; give a pyarrow, "
                "polars or pandas frame, a DuckDB relation, a file path or a Table",
                file=name,
            )
    table = obj
    return _arrow_table(
        table.schema, lambda: table.to_batches(ARROW_BATCH), name=name, format="arrow"
    )


def _relation_reader(relation: Any) -> Any:
    """A DuckDB relation's result as an Arrow batch reader (it runs the relation again)."""
    reader = getattr(relation, "to_arrow_reader", None)  # DuckDB 1.4+
    if reader is None:  # pragma: no cover - older DuckDB
        reader = relation.fetch_arrow_reader
    return reader(ARROW_BATCH)


def read_feather(path: str | os.PathLike[str], *, name: str | None = None) -> Table:
    """An Arrow IPC file (Feather v2) or stream, read batch by batch."""
    display = name or str(path)
    ipc = _module("pyarrow.ipc", "warehouse", "reading Arrow IPC files", display=display)

    def open_reader() -> Any:
        try:
            return ipc.open_file(path)
        except Exception:  # noqa: BLE001 - not the file format: try the stream format
            try:
                return ipc.open_stream(path)
            except Exception as exc:  # noqa: BLE001
                raise InputError(f"not a readable Arrow IPC file: {exc}", file=display) from None

    schema = open_reader().schema

    def batches() -> Iterator[Any]:
        reader = open_reader()
        if hasattr(reader, "num_record_batches"):
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
        else:
            yield from reader

    return _arrow_table(schema, batches, name=display, format="arrow")


def read_xlsx(path: str | os.PathLike[str], *, name: str | None = None) -> Table:
    """The first sheet of an Excel workbook; its first row is the header."""
    display = name or str(path)
    calamine = _module("python_calamine", "warehouse", "reading Excel workbooks", display=display)

    def sheet_rows() -> list[list[Any]]:
        try:
            book = calamine.CalamineWorkbook.from_path(str(path))
            return list(book.get_sheet_by_index(0).to_python(skip_empty_area=True))
        except Exception as exc:  # noqa: BLE001 - calamine raises its own types
            raise InputError(f"not a readable Excel workbook: {exc}", file=display) from None

    first = sheet_rows()
    if not first:
        raise InputError("the first sheet is empty", file=display)
    raw = [str(c).strip() if c is not None else "" for c in first[0]]
    while raw and not raw[-1]:
        raw.pop()
    header = _check_header(raw, display, row=1)
    if len(header) != len(raw):
        raise InputError("a column name is blank", file=display, row=1)

    def rows() -> Iterator[Row]:
        data = sheet_rows()
        for number, cells in enumerate(data[1:], start=2):
            cells = [None if c == "" else c for c in cells[: len(header)]]
            if all(c is None for c in cells):
                continue
            yield Row(number, _typed_cells(header, cells, display, number))

    return Table(name=display, header=header, format="xlsx", _rows=rows)


# -- SQL -------------------------------------------------------------------------------------


def read_sql(query: str, db: str, *, name: str | None = None) -> Table:
    """The result of ``query`` on ``db`` (a DuckDB file path, or a database URL)."""
    if not query.strip():
        raise UsageError("--sql: the query is empty")
    display = name or f"query on {redact_url(db)}"
    if not is_url(db):
        return _duckdb_query(query, db, display)
    scheme = db.partition("://")[0].lower()
    if scheme in ("postgresql", "postgres"):
        return _adbc_query(query, db, display)
    return _sqlalchemy_query(query, db, display)


def _sql_error(exc: Exception, display: str) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"the query failed: {first}", file=display)


def _duckdb_query(query: str, db: str, display: str) -> Table:
    duckdb = _module("duckdb", "warehouse", "--sql with a DuckDB file", display=display)
    path = Path(db)
    if not path.is_file():
        raise InputError("no such DuckDB database file", file=db)

    def run() -> tuple[Any, Any]:
        try:
            con = duckdb.connect(str(path), read_only=True)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot open the DuckDB database: {exc}", file=db) from None
        try:
            return con, _relation_reader(con.sql(query))
        except Exception as exc:  # noqa: BLE001
            con.close()
            raise _sql_error(exc, display) from None

    con, reader = run()
    schema = reader.schema
    con.close()

    def batches() -> Iterator[Any]:
        con, reader = run()
        try:
            yield from reader
        finally:
            con.close()

    return _arrow_table(schema, batches, name=display, format="sql")


def _adbc_query(query: str, url: str, display: str) -> Table:
    dbapi = _module(
        "adbc_driver_postgresql.dbapi", "warehouse", "--sql with a PostgreSQL URL", display=display
    )

    def run() -> tuple[Any, Any, Any]:
        try:
            con = dbapi.connect(url)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot connect: {_first_line(exc)}", file=redact_url(url)) from None
        try:
            cur = con.cursor()
            cur.execute(query)
            return con, cur, cur.fetch_record_batch()  # the reader lives as long as cur
        except Exception as exc:  # noqa: BLE001
            con.close()
            raise _sql_error(exc, display) from None

    con, cur, reader = run()
    schema = reader.schema
    cur.close()
    con.close()

    def batches() -> Iterator[Any]:
        con, cur, reader = run()
        try:
            yield from reader
        finally:
            cur.close()
            con.close()

    return _arrow_table(schema, batches, name=display, format="sql")


def _sqlalchemy_query(query: str, url: str, display: str) -> Table:
    sqlalchemy = _module("sqlalchemy", "warehouse", "--sql with a database URL", display=display)
    try:
        # no pool: a connection is closed when a read ends, not kept for later
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    except Exception as exc:  # noqa: BLE001 - unknown dialect, missing driver
        raise InputError(f"cannot use this URL: {_first_line(exc)}", file=redact_url(url)) from None

    def run() -> tuple[Any, Any]:
        try:
            con = engine.connect()
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot connect: {_first_line(exc)}", file=redact_url(url)) from None
        try:
            return con, con.execution_options(stream_results=True).execute(sqlalchemy.text(query))
        except Exception as exc:  # noqa: BLE001
            con.close()
            raise _sql_error(exc, display) from None

    con, result = run()
    raw = [str(k) for k in result.keys()]
    result.close()
    con.close()
    header = _check_header(raw, display, row=None)
    if len(header) != len(raw):
        raise InputError("a column name is blank", file=display)

    def rows() -> Iterator[Row]:
        con, result = run()
        try:
            for number, cells in enumerate(result, start=1):
                yield Row(number, _typed_cells(header, tuple(cells), display, number))
        finally:
            result.close()
            con.close()

    return Table(name=display, header=header, format="sql", _rows=rows)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- compressed files and stdin --------------------------------------------------------------

#: Suffixes read through a decompressed private copy.
COMPRESSED = (".gz", ".zst")


def spool(source: str | os.PathLike[str], *, stdin: BinaryIO | None = None) -> Path:
    """A private temporary copy of stdin (``"-"``) or of a ``.gz``/``.zst`` file,
    decompressed; removed at exit. The reader then detects the format as for any file."""
    display = str(source)
    fd, tmp = tempfile.mkstemp(prefix="blindmatch-input-", suffix=_inner_suffix(display))
    path = Path(tmp)
    if not _SPOOLED:
        atexit.register(remove_spooled)
    _SPOOLED.append(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            if display == "-":
                shutil.copyfileobj(stdin or sys.stdin.buffer, out, 1 << 20)
            elif display.lower().endswith(".gz"):
                with gzip.open(display, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                zstandard = _module("zstandard", "warehouse", "reading .zst files", display=display)
                with open(display, "rb") as raw:
                    zstandard.ZstdDecompressor().copy_stream(raw, out)
    except FileNotFoundError:
        _unlink(tmp)
        raise InputError("file not found", file=display) from None
    except (OSError, EOFError) as exc:
        _unlink(tmp)
        raise InputError(f"cannot decompress: {exc}", file=display) from None
    except Exception as exc:  # zstandard.ZstdError
        _unlink(tmp)
        if isinstance(exc, (InputError, UsageError)):
            raise
        raise InputError(f"cannot decompress: {exc}", file=display) from None
    return path


_SPOOLED: list[str] = []


def _inner_suffix(display: str) -> str:
    """``accounts.csv.gz`` -> ``.csv``: the format the decompressed copy has."""
    name = Path(display).name.lower()
    for ending in COMPRESSED:
        if name.endswith(ending):
            return Path(name[: -len(ending)]).suffix
    return ""


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_spooled() -> None:
    """Remove every spooled copy now (the CLI calls this when a run ends)."""
    while _SPOOLED:
        _unlink(_SPOOLED.pop())
