"""Tables and JSON documents out: CSV (safe for spreadsheets), JSON Lines and Parquet.

*CSV injection.* Cells that a spreadsheet would run as a formula (OWASP "CSV Injection") are
prefixed with ``'`` by :func:`neutralize_cell`, which :func:`write_table` applies to every CSV
cell, headers included: population names, field names and revealed values come from the
partner, so they are untrusted. Only CSV is neutralized; JSON Lines and Parquet are not opened
as formulas and keep values byte-exact.

*List cells.* A column named in ``list_columns`` holds a list of texts per row. JSON Lines
writes it as a JSON array and Parquet as a ``list<string>`` column; CSV, which has no lists,
joins the items with :data:`LIST_SEPARATOR`, the one separator blindmatch uses everywhere.
"""

from __future__ import annotations

import csv
import importlib
import json
import re
from collections.abc import Collection, Iterable, Sequence
from typing import IO, Any, Literal

from ..errors import UsageError
from .atomic import AtomicOutputSet, StrPath, output_file

__all__ = [
    "DANGEROUS_PREFIXES",
    "LIST_SEPARATOR",
    "TABLE_FORMATS",
    "Cell",
    "TableFormatOut",
    "neutralize_cell",
    "restore_cell",
    "write_json",
    "write_table",
]

TableFormatOut = Literal["csv", "jsonl", "parquet"]
TABLE_FORMATS: tuple[TableFormatOut, ...] = ("csv", "jsonl", "parquet")
#: One cell of an output table: a text, or the items of a list column.
Cell = str | Sequence[str]
#: How a CSV cell shows the items of a list column (formats with lists keep them as lists).
LIST_SEPARATOR = " | "

#: First characters that make a spreadsheet treat a cell as a formula (OWASP), plus line feed
#: and the full-width forms of ``= + - @`` that some spreadsheet imports fold to ASCII.
DANGEROUS_PREFIXES: tuple[str, ...] = (
    "=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20",
)  # fmt: skip
#: A cell that is entirely a plain decimal number ("-12.5", "+3", "-1e5") is data, not a
#: formula, and is left alone so numeric columns stay numeric.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def neutralize_cell(value: str) -> str:
    """Make a CSV cell inert in spreadsheets; reversible with :func:`restore_cell`.

    A cell whose first character, or first non-blank one (some imports trim blanks), is in
    :data:`DANGEROUS_PREFIXES` gets a leading ``'`` (which spreadsheets hide and read as "this
    is text"), unless the whole cell is a plain number such as ``-12.5``: OWASP would prefix
    those too, but a number cannot run anything and numeric columns should stay numeric.

    A cell that already starts with ``'`` gets a second one, so the rule is reversible: strip
    exactly one leading ``'`` to recover the original (spreadsheets then also display the
    original apostrophe, as in ``'s-Hertogenbosch``).
    """
    if not value:
        return value
    if value[0] == "'":
        return "'" + value
    if value.startswith(DANGEROUS_PREFIXES) or value.lstrip().startswith(DANGEROUS_PREFIXES):
        if _NUMBER.fullmatch(value) is None:
            return "'" + value
    return value


def restore_cell(value: str) -> str:
    """Undo :func:`neutralize_cell`: drop one leading ``'``, if there is one."""
    return value[1:] if value.startswith("'") else value


# -- tables --------------------------------------------------------------------------------------


def _parquet_modules() -> tuple[Any, Any]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise UsageError(
            "writing Parquet needs pyarrow, which is not installed; "
            "run: pip install 'blindmatch[parquet]' (or choose format csv or jsonl)"
        ) from None
    return pa, pq


def _csv_text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else LIST_SEPARATOR.join(cell)


def _checked(
    columns: Sequence[str], rows: Iterable[Sequence[Cell]], list_columns: Collection[str]
) -> Iterable[Sequence[Cell]]:
    """Rows as given, refusing one whose width or cell kinds do not fit the columns (a bug in
    the caller, reported before a half-formed table could be committed)."""
    is_list = [c in list_columns for c in columns]
    for n, row in enumerate(rows, start=1):
        if len(row) != len(columns):
            raise UsageError(f"output row {n} has {len(row)} cells for {len(columns)} columns")
        for cell, listed, name in zip(row, is_list, columns, strict=True):
            if isinstance(cell, str) == listed:
                kind = "a list" if listed else "a text"
                raise UsageError(f"output row {n}: column {name!r} holds {kind} per row")
        yield row


def write_table(
    path: StrPath,
    columns: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    format: str = "csv",
    list_columns: Collection[str] = (),
    private: bool = True,
    bom: bool = False,
    outputs: AtomicOutputSet | None = None,
) -> None:
    """Write a table of texts (and list cells in ``list_columns``) as CSV, JSON Lines or Parquet.

    CSV cells are neutralized against formula injection and list cells joined with
    :data:`LIST_SEPARATOR`; ``bom=True`` starts a CSV with a UTF-8 byte order mark, which Excel
    needs to read non-ASCII text correctly. Parquet needs the optional ``pyarrow``
    (:class:`~blindmatch.errors.UsageError` tells how to install it). Private (``0o600``) by
    default; written atomically, or staged in ``outputs``.
    """
    if format not in TABLE_FORMATS:
        choices = ", ".join(TABLE_FORMATS)
        raise UsageError(f"unknown table format {format!r}; choose one of {choices}")
    if len(set(columns)) != len(columns):
        raise UsageError(f"output columns collide: {list(columns)}")
    checked = _checked(columns, rows, list_columns)
    if format == "csv":
        with output_file(path, "w", private=private, outputs=outputs) as handle:
            writer = _csv_writer(handle, bom)
            writer.writerow([neutralize_cell(c) for c in columns])
            for row in checked:
                writer.writerow([neutralize_cell(_csv_text(c)) for c in row])
    elif format == "jsonl":
        with output_file(path, "w", private=private, outputs=outputs) as handle:
            for row in checked:
                record = {
                    c: v if isinstance(v, str) else list(v)
                    for c, v in zip(columns, row, strict=True)
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        pa, pq = _parquet_modules()
        materialized = list(checked)
        text, listed = pa.string(), pa.list_(pa.string())
        table = pa.table(
            {
                name: pa.array(
                    [row[i] if isinstance(row[i], str) else list(row[i]) for row in materialized],
                    type=listed if name in list_columns else text,
                )
                for i, name in enumerate(columns)
            }
        )
        with output_file(path, "wb", private=private, outputs=outputs) as handle:
            pq.write_table(table, handle)


def _csv_writer(handle: IO[Any], bom: bool) -> Any:
    if bom:
        handle.write("\ufeff")
    return csv.writer(handle, dialect="excel")


# -- JSON documents ------------------------------------------------------------------------------


def write_json(
    path: StrPath,
    data: Any,
    *,
    private: bool = True,
    outputs: AtomicOutputSet | None = None,
) -> None:
    """Write ``data`` as indented UTF-8 JSON ending in a newline (summaries, run manifests)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    with output_file(path, "w", private=private, outputs=outputs) as handle:
        handle.write(text)
