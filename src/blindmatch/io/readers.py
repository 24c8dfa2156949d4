"""Read account tables from CSV, JSON Lines, Parquet or pandas as one uniform row stream.

Why this module exists: CRM exports arrive in whatever shape the exporting tool chose (Excel's
cp1252 CSVs with semicolons, BOM-prefixed UTF-8 from Salesforce, tab-separated UTF-16 "Unicode
text", JSON Lines from a warehouse, Parquet from a data team). Everything downstream should see
one thing: a :class:`Table` with a header and a stream of :class:`Row` objects holding text (or
``None`` for a blank cell) and the row number a person would look up in the file. Every defect
in a file becomes an :class:`~blindmatch.errors.InputError` that names the file, the row and the
column, never a traceback.

Tables are *streamed*: iterating a table re-reads its source, so a million-row CSV is never held
in memory as rows, and the same table can be read twice (once for diagnostics, once to prepare).
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import importlib
import json
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..errors import InputError

__all__ = [
    "MAX_CELL_BYTES",
    "MAX_COLUMNS",
    "Row",
    "Table",
    "TableFormat",
    "describe_encoding",
    "describe_source",
    "header_token",
    "open_table",
    "read_csv",
    "read_dataframe",
    "read_jsonl",
    "read_parquet",
    "read_rows",
]

#: A cell larger than this (in UTF-8 bytes) is rejected: no CRM field is that long, and a cell
#: this size usually means a quote was never closed and the rest of the file became one cell.
MAX_CELL_BYTES = 64 * 1024
#: A text of at most this many characters is at most MAX_CELL_BYTES in UTF-8 (4 bytes a
#: character), so only longer cells need encoding to be measured.
_SURELY_SMALL_CHARS = MAX_CELL_BYTES // 4
#: More columns than this is not an account export (and would make every row expensive).
MAX_COLUMNS = 1000

TableFormat = Literal["csv", "jsonl", "parquet", "dataframe", "rows", "arrow", "xlsx", "sql"]

_SCAN_CHUNK = 1 << 20
_SAMPLE_CHARS = 64 * 1024
_DELIMITERS = ",;\t|"
# Bytes that cp1252 leaves undefined: a file using them can only be read as Latin-1.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (cp1252)",
    "latin-1": "Latin-1 (ISO-8859-1)",
    "utf-8+cp1252": "UTF-8 mixed with Windows-1252",
    "utf-8-sig+cp1252": "UTF-8 with BOM mixed with Windows-1252",
}
#: Suffix of a codec name meaning "these bytes as UTF-8, any byte that is not UTF-8 as cp1252":
#: what a UTF-8 export with rows pasted in from Excel needs.
MIXED_SUFFIX = "+cp1252"
_FALLBACK_ERRORS = "blindmatch-cp1252"
# A complete UTF-8 multi-byte sequence: a file with one of these and a byte that is not UTF-8
# mixes encodings (cp1252 text produces such pairs only as mojibake like "Ã©").
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode error handler: each byte UTF-8 rejects is read as cp1252 (Latin-1 where cp1252
    leaves it undefined), so mixed files lose nothing and UTF-8 text is not turned to mojibake."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(bytes([b]).decode("cp1252", errors="replace").replace("\ufffd", chr(b))
                   for b in bad), exc.end  # fmt: skip


codecs.register_error(_FALLBACK_ERRORS, _cp1252_fallback)


def _open_text(path: Path, encoding: str, *, newline: str | None) -> Any:
    """Open ``path`` as text in one of this module's codecs (including the mixed ones)."""
    if encoding.endswith(MIXED_SUFFIX):
        base = encoding[: -len(MIXED_SUFFIX)]
        return path.open(encoding=base, errors=_FALLBACK_ERRORS, newline=newline)
    return path.open(encoding=encoding, newline=newline)


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_FORMAT_NAMES = {
    "csv": "CSV",
    "jsonl": "JSON Lines",
    "parquet": "Parquet",
    "dataframe": "DataFrame",
    "rows": "in-memory rows",
    "arrow": "Arrow",
    "xlsx": "Excel workbook",
    "sql": "SQL query",
}
_TOKEN_DROP = re.compile(r"[\s_\-.]+")
# A header cell that looks like a value (a domain, an e-mail address, a number) rather than a name.
_DATA_LIKE = re.compile(
    r"^(?:[+(]?[0-9][0-9 ()./-]*|[^\s@]+@[^\s@]+"
    r"|(?:https?://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:[/?#]\S*)?)$",
    re.IGNORECASE,
)


if TYPE_CHECKING:
    from _csv import Reader as _CsvReader
else:
    _CsvReader = Iterator


class Row(NamedTuple):
    """One data row: its 1-based number in the source and its cells by column name.

    For CSV the number is the spreadsheet row number (the header is row 1, the first data row
    is row 2); for JSON Lines the line number; for Parquet and DataFrames the 1-based position.
    A cell is ``None`` when it is blank (empty or whitespace only), otherwise its text as read.
    """

    number: int
    values: dict[str, str | None]


@dataclass(frozen=True, eq=False, kw_only=True)
class Table:
    """A source of account rows: a header and a re-iterable stream of :class:`Row`.

    ``name`` is what errors and diagnostics call the source (the path as given, or the name
    passed to :func:`read_dataframe`). ``encoding`` and ``delimiter`` say how a CSV was read.
    """

    name: str
    header: tuple[str, ...]
    format: TableFormat
    encoding: str | None = None
    delimiter: str | None = None
    #: What a person should know about how the source was read (shown as warnings).
    notes: tuple[str, ...] = ()
    #: Typed sources (Parquet, Arrow, SQL, DataFrames): column -> its pyarrow DataType, so
    #: record ids can go back out in their own type. Empty for text sources.
    types: Mapping[str, Any] = field(default_factory=dict)
    _rows: Callable[[], Iterator[Row]] = field(repr=False)
    #: Rows holding only some columns' cells, for sources that can skip the others (CSV).
    _picked_rows: Callable[[tuple[str, ...]], Iterator[Row]] | None = field(
        default=None, repr=False
    )

    def __iter__(self) -> Iterator[Row]:
        return self._rows()

    def rows(self, columns: Collection[str] | None = None) -> Iterator[Row]:
        """Stream the rows from the start (re-reads the source each time).

        ``columns``: the caller reads only these cells, and a source may leave the others out
        of ``Row.values`` (a CSV does: a wide CRM export is read several times faster). Every
        row is still checked whole (its cell count, its cell sizes).
        """
        if columns is None or self._picked_rows is None:
            return self._rows()
        wanted = set(columns)
        return self._picked_rows(tuple(h for h in self.header if h in wanted))

    @property
    def short_name(self) -> str:
        """The file name without its directory: what record ids and row references use."""
        return Path(self.name).name or self.name

    def describe(self) -> str:
        """One line saying how the source was read, e.g. ``CSV, UTF-8 with BOM, semicolon``."""
        return describe_source(self.format, self.encoding, self.delimiter)


def describe_source(format: str, encoding: str | None, delimiter: str | None) -> str:
    """``"CSV, UTF-8 with BOM, semicolon-separated"``: how a source was read, for people."""
    parts = [_FORMAT_NAMES.get(format, format)]
    if encoding:
        parts.append(describe_encoding(encoding))
    if delimiter:
        parts.append(f"{_DELIMITER_NAMES.get(delimiter, repr(delimiter))}-separated")
    return ", ".join(parts)


def describe_encoding(codec: str) -> str:
    """A readable name for a codec name this module uses."""
    return _ENCODING_NAMES.get(codec, codec)


def header_token(name: str) -> str:
    """Compare header names case- and space-insensitively: ``"Account ID"`` ~ ``"account_id"``."""
    return _TOKEN_DROP.sub("", name.casefold())


# -- opening -------------------------------------------------------------------------------


def open_table(
    source: Table | str | os.PathLike[str] | Any,
    *,
    format: TableFormat | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    name: str | None = None,
    allow_short_rows: bool = False,
) -> Table:
    """Open a path (CSV, JSON Lines or Parquet, by extension or content), or pass a table through.

    A pandas DataFrame is accepted too (see :func:`read_dataframe`). ``encoding``,
    ``delimiter`` and ``allow_short_rows`` apply to CSV (see :func:`read_csv`).
    """
    if isinstance(source, Table):
        return source
    if hasattr(source, "itertuples") and hasattr(source, "columns"):
        return read_dataframe(source, name=name or "dataframe")
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(
            f"cannot read {type(source).__name__!r} as an account table; give a file path, "
            "a pandas DataFrame or a Table"
        )
    path = Path(source)
    display = name or str(source)
    _check_path(path, display)
    fmt = format or _guess_format(path, display)
    if fmt == "csv":
        return read_csv(
            path,
            encoding=encoding,
            delimiter=delimiter,
            name=display,
            allow_short_rows=allow_short_rows,
        )
    if fmt == "jsonl":
        return read_jsonl(path, name=display)
    if fmt == "parquet":
        return read_parquet(path, name=display)
    raise InputError(f"unknown table format {fmt!r}; use csv, jsonl or parquet", file=display)


def _check_path(path: Path, display: str) -> None:
    if not path.exists():
        raise InputError("file not found", file=display)
    if path.is_dir():
        raise InputError("is a directory, not a file", file=display)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=display) from None
    if size == 0:
        raise InputError("file is empty", file=display)


def _guess_format(path: Path, display: str) -> TableFormat:
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv", ".tab", ".txt"):
        return "csv"
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if last in (".parquet", ".pq"):
        return "parquet"
    if last in (".xlsx", ".xlsm", ".xls", ".ods", ".numbers"):
        raise InputError(
            "spreadsheet workbooks are not read directly; save the sheet as CSV (UTF-8) first",
            file=display,
        )
    head = _read_head(path, display, 4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    return "csv"


def _read_head(path: Path, display: str, size: int) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=display) from None


# -- encoding --------------------------------------------------------------------------------


def detect_encoding(path: Path, display: str) -> str:
    """Pick the codec for a text file, and refuse binary files.

    UTF-8 (with or without BOM) if the whole file decodes as UTF-8; UTF-16 if it starts with a
    UTF-16 BOM (Excel's "Unicode text"); UTF-8 mixed with cp1252 (``"utf-8+cp1252"``) if it has
    both UTF-8 text and bytes that are not UTF-8 (rows pasted in from Excel); otherwise
    Windows-1252, or Latin-1 if the file uses a byte cp1252 leaves undefined. The whole file is
    scanned once, in chunks, so a stray Latin-1 byte on row 900,000 cannot break a read that
    started as UTF-8.
    """
    return _scan_encoding(path, display).codec


class _Encoding(NamedTuple):
    codec: str
    #: For a file that is not all UTF-8: the line holding the first byte that is not.
    first_non_utf8_line: int | None = None


def _scan_encoding(path: Path, display: str) -> _Encoding:
    head = _read_head(path, display, 4096)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _Encoding("utf-16")
    kind = _binary_kind(head)
    if kind:
        raise InputError(f"this is {kind}, not a text table", file=display)
    if _looks_like_bomless_utf16(head):
        raise InputError(
            "this looks like UTF-16 text without a byte-order mark (every other byte is NUL), "
            "which cannot be read reliably; save the table again as 'CSV UTF-8'",
            file=display,
        )
    bom = head.startswith(codecs.BOM_UTF8)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = True
    has_utf8_text = False
    cp1252_ok = True
    offset = 0
    lines = 1  # the line the current chunk starts on
    first_bad_line: int | None = None
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_SCAN_CHUNK):
                nul = chunk.find(b"\x00")
                if nul >= 0:
                    raise InputError(
                        f"binary file: contains a NUL byte at offset {offset + nul}; expected "
                        "CSV or JSON Lines text",
                        file=display,
                    )
                if utf8_ok:
                    try:
                        utf8.decode(chunk)
                    except UnicodeDecodeError as exc:
                        utf8_ok = False
                        at = max(0, exc.start)
                        first_bad_line = lines + chunk.count(b"\n", 0, at)
                # An ASCII chunk (the usual CRM export) holds neither kind of byte; isascii()
                # runs at memory speed, the regex ran at ~10 ms per MB.
                if not chunk.isascii():
                    if not has_utf8_text:
                        has_utf8_text = _UTF8_MULTIBYTE.search(chunk) is not None
                    if cp1252_ok and any(b in chunk for b in _CP1252_UNDEFINED):
                        cp1252_ok = False
                offset += len(chunk)
                lines += chunk.count(b"\n")
        if utf8_ok:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8_ok = False
                first_bad_line = lines
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=display) from None
    if utf8_ok:
        return _Encoding("utf-8-sig" if bom else "utf-8")
    if has_utf8_text or bom:
        return _Encoding(("utf-8-sig" if bom else "utf-8") + MIXED_SUFFIX, first_bad_line)
    return _Encoding("cp1252" if cp1252_ok else "latin-1", first_bad_line)


def _encoding_notes(scan: _Encoding) -> tuple[str, ...]:
    """Warn where a file mixes UTF-8 with another encoding: some cells may read oddly."""
    if not scan.codec.endswith(MIXED_SUFFIX):
        return ()
    return (
        f"mixes UTF-8 with Windows-1252 text (from line {scan.first_non_utf8_line} on, some "
        "bytes are not UTF-8 and were read as Windows-1252); check those rows, or save the "
        "file again as 'CSV UTF-8'",
    )


def _looks_like_bomless_utf16(head: bytes) -> bool:
    """Mostly-ASCII text in UTF-16 without a BOM: NUL in nearly every high byte, few others."""
    pairs = len(head) // 2
    if pairs < 2:
        return False
    even = head[0 : 2 * pairs : 2].count(0)
    odd = head[1 : 2 * pairs : 2].count(0)
    high, low = max(even, odd), min(even, odd)
    return high >= 0.7 * pairs and low <= 0.05 * pairs


def _binary_kind(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (an Excel .xlsx workbook?); save the sheet as CSV"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Excel .xls workbook; save the sheet as CSV"
    if head.startswith(b"PAR1"):
        return "a Parquet file; give it a .parquet name"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file; decompress it first"
    return None


# -- CSV -----------------------------------------------------------------------------------


def read_csv(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    name: str | None = None,
    allow_short_rows: bool = False,
) -> Table:
    """Open a CSV file: detect encoding and delimiter, read and check the header.

    Rows are read lazily when the table is iterated. Trailing blank header cells (Excel adds
    them) are dropped. A row must have a cell for every column: more cells are refused unless
    the extra ones are blank, fewer are refused (naming the file, the row, and the expected
    and found cell counts: a row cut short usually means a broken export, and reading it
    would shift nothing but silently blank its last columns) unless ``allow_short_rows``,
    which reads the missing cells as blank. Empty lines are skipped either way.
    """
    p = Path(path)
    display = name or str(path)
    _check_path(p, display)
    notes: tuple[str, ...] = ()
    if encoding is None:
        scan = _scan_encoding(p, display)
        encoding = scan.codec
        notes = _encoding_notes(scan)
    else:
        try:
            codecs.lookup(encoding.removesuffix(MIXED_SUFFIX))
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}", file=display) from None
    try:
        with _open_text(p, encoding, newline="") as fh:
            sample = fh.read(_SAMPLE_CHARS)
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not valid {encoding}: {exc.reason}", file=display) from None
    if encoding == "utf-16" and "\x00" in sample:
        raise InputError("binary file: contains NUL characters", file=display)
    if delimiter is None:
        delimiter = detect_delimiter(sample)
    elif len(delimiter) != 1:
        raise InputError(f"the delimiter must be one character, not {delimiter!r}", file=display)

    header_row, raw_header = _read_csv_header(p, display, encoding, delimiter)
    header = _check_header(raw_header, display, row=header_row)
    _reject_data_like_header(header, display, header_row)
    width = len(header)

    def rows(picked: tuple[str, ...] | None = None) -> Iterator[Row]:
        return _iter_csv(
            p, display, encoding, delimiter, header, header_row, width, allow_short_rows, picked
        )

    return Table(
        name=display,
        header=header,
        format="csv",
        encoding=encoding,
        delimiter=delimiter,
        notes=notes,
        _rows=rows,
        _picked_rows=rows,
    )


def detect_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample: ``,`` ``;`` tab or ``|``.

    csv.Sniffer looks at the whole sample (quote-aware); its answer is kept only if the header
    line contains that character. Otherwise the candidate occurring most often in the header
    line wins, and a file with a single column falls back to ``,``.
    """
    if "\n" in sample:
        cut = sample.rfind("\n")
        sample = sample[: cut + 1]
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        return ","
    first = lines[0]
    try:
        sniffed = csv.Sniffer().sniff("\n".join(lines[:200]), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and sniffed in first:
        return sniffed
    counts = {d: _count_unquoted(first, d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _count_unquoted(line: str, char: str) -> int:
    count = 0
    quoted = False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def _reader(fh: Iterable[str], delimiter: str) -> _CsvReader:
    return csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a cell is larger than {MAX_CELL_BYTES // 1024} KiB (an unclosed quote?)"
    if "expected after" in text:
        return f"malformed quoting ({text}); a quoted cell must end right before a delimiter"
    if "unexpected end of data" in text:
        return "a quoted cell is never closed before the end of the file"
    if "new-line character seen in unquoted field" in text:
        return "line breaks in this file are inconsistent; re-save it as CSV"
    return f"malformed CSV: {text}"


def _read_csv_header(
    path: Path, display: str, encoding: str, delimiter: str
) -> tuple[int, list[str]]:
    number = 0
    try:
        with _open_text(path, encoding, newline="") as fh:
            for cells in _reader(fh, delimiter):
                number += 1
                if any(c.strip() for c in cells):
                    return number, cells
    except csv.Error as exc:
        raise InputError(_csv_problem(exc), file=display, row=number + 1) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not valid {encoding}: {exc.reason}", file=display) from None
    raise InputError("no header: the file has only blank lines", file=display)


def _check_header(raw: Sequence[str], display: str, *, row: int | None) -> tuple[str, ...]:
    names = [c.strip().lstrip("\ufeff").strip() for c in raw]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InputError("no header: the first row has no column names", file=display, row=row)
    if len(names) > MAX_COLUMNS:
        raise InputError(
            f"{len(names)} columns; at most {MAX_COLUMNS} are supported", file=display, row=row
        )
    seen: dict[str, str] = {}
    for index, col in enumerate(names, start=1):
        if not col:
            raise InputError(
                f"header cell {index} is blank; every column needs a name", file=display, row=row
            )
        if len(col.encode("utf-8")) > MAX_CELL_BYTES:
            raise InputError(
                f"header cell {index} is larger than {MAX_CELL_BYTES // 1024} KiB",
                file=display,
                row=row,
            )
        token = header_token(col) or col
        if token in seen:
            other = seen[token]
            same = "twice" if other == col else f"twice (as {other!r} and {col!r})"
            raise InputError(
                f"duplicated column name: {col!r} appears {same}; column names must be unique "
                "(ignoring case and spaces)",
                file=display,
                row=row,
                column=col,
            )
        seen[token] = col
    return tuple(names)


def _reject_data_like_header(header: Sequence[str], display: str, row: int) -> None:
    if all(_DATA_LIKE.match(h) for h in header):
        raise InputError(
            f"no header: the first row looks like data ({header[0]!r}), not column names; add "
            "a header row",
            file=display,
            row=row,
        )


def _check_cell_sizes(
    header: Sequence[str], cells: Sequence[str], display: str, number: int
) -> None:
    for h, c in zip(header, cells, strict=False):
        if len(c) > _SURELY_SMALL_CHARS and len(c.encode("utf-8")) > MAX_CELL_BYTES:
            raise InputError(
                f"cell is larger than {MAX_CELL_BYTES // 1024} KiB",
                file=display,
                row=number,
                column=h,
            )


def _iter_csv(
    path: Path,
    display: str,
    encoding: str,
    delimiter: str,
    header: tuple[str, ...],
    header_row: int,
    width: int,
    allow_short_rows: bool,
    picked: tuple[str, ...] | None = None,
) -> Iterator[Row]:
    number = 0
    record_start = 1
    picks = None if picked is None else [(h, header.index(h)) for h in picked]
    try:
        with _open_text(path, encoding, newline="") as fh:
            reader = _reader(fh, delimiter)
            for cells in reader:
                number += 1
                record_start = reader.line_num + 1
                if number <= header_row or not cells:
                    continue
                n = len(cells)
                if n > width:
                    if any(c.strip() for c in cells[width:]):
                        raise InputError(
                            f"row has {n} cells but the header has {width} columns (an "
                            "unquoted delimiter inside a value?)",
                            file=display,
                            row=number,
                        )
                    del cells[width:]
                elif n < width and not allow_short_rows:
                    raise InputError(
                        f"row has {n} {'cell' if n == 1 else 'cells'} but the header has "
                        f"{width} columns; fix the export, or pass --allow-short-rows "
                        "(allow_short_rows=True) to read the missing cells as blank",
                        file=display,
                        row=number,
                    )
                if sum(map(len, cells)) > _SURELY_SMALL_CHARS:
                    _check_cell_sizes(header, cells, display, number)
                if picks is not None:
                    values = {}
                    for h, i in picks:
                        c = cells[i] if i < n else ""
                        values[h] = c if c and not c.isspace() else None
                    yield Row(number, values)
                    continue
                if "" in cells or any(map(str.isspace, cells)):
                    values = {
                        h: (c if c and not c.isspace() else None)
                        for h, c in zip(header, cells, strict=False)
                    }
                else:
                    values = dict(zip(header, cells, strict=False))
                if n < width:
                    for h in header[n:]:
                        values[h] = None
                yield Row(number, values)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _oversized_cell(
                path, display, encoding, delimiter, header, row=number + 1, line=record_start
            ) from None
        raise InputError(_csv_problem(exc), file=display, row=number + 1) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the file is not valid {encoding}: {exc.reason}", file=display, row=number + 1
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=display) from None


def _oversized_cell(
    path: Path,
    display: str,
    encoding: str,
    delimiter: str,
    header: Sequence[str],
    *,
    row: int,
    line: int,
) -> InputError:
    """The error for a cell the csv module refused as too large, naming its column.

    The csv module stops inside the record without saying where, so the record is scanned
    again from its first physical line (``line``), quote-aware, until one cell passes the
    limit; a cell that opens a quote which never closes gets the "unclosed quote" hint.
    """
    limit = csv.field_size_limit()
    column: str | None = None
    runaway = False  # the oversized cell is a quoted cell running over line ends
    try:
        with _open_text(path, encoding, newline="") as fh:
            for _ in range(line - 1):
                if not fh.readline():
                    break
            index, size = 0, 0
            quoted = closing = False
            at_start = True
            done = False
            while not done and (text := fh.readline()):
                for ch in text:
                    if quoted:
                        if ch == '"':
                            quoted, closing = False, True
                            continue
                        runaway = runaway or ch in "\r\n"
                    elif closing and ch == '"':  # a doubled quote inside a quoted cell
                        quoted, closing = True, False
                    else:
                        closing = False
                        if ch == '"' and at_start:
                            quoted, at_start = True, False
                            continue
                        if ch == delimiter:
                            index, size, at_start, runaway = index + 1, 0, True, False
                            continue
                        if ch in "\r\n":
                            done = True  # the record ended without an oversized cell
                            break
                    size += 1
                    at_start = False
                    if size > limit:
                        column = header[index] if index < len(header) else f"#{index + 1}"
                        done = True
                        break
    except (OSError, UnicodeDecodeError):
        pass
    hint = " (a quote that is never closed?)" if runaway or column is None else ""
    return InputError(
        f"a cell is larger than {MAX_CELL_BYTES // 1024} KiB{hint}",
        file=display,
        row=row,
        column=column,
    )


# -- cell conversion for typed sources ------------------------------------------------------


def _cell_text(value: Any, *, display: str, row: int, column: str) -> str | None:
    """Text of a typed value (JSON, Parquet, pandas) as a CSV export would have written it.

    Integral floats lose their ``.0`` (a DUNS number read as float64 must stay ``123456789``);
    NaN, NA and NaT are blank; dates use ISO 8601; nested values become compact JSON.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # more digits than int -> str allows (sys.get_int_max_str_digits)
            raise InputError(
                "cell holds a number too long to read", file=display, row=row, column=column
            ) from None
    elif isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            text = str(int(value))
        else:
            text = repr(value)
    elif isinstance(value, Decimal):
        if value.is_nan():
            return None
        text = str(value)
    elif isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        if type(value).__name__ == "NaTType":
            return None
        text = value.isoformat()
    elif isinstance(value, (bytes, bytearray, memoryview)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                "cell holds binary data, not text", file=display, row=row, column=column
            ) from None
    elif isinstance(value, (list, tuple, dict)):
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            try:
                text = str(value)
            except ValueError:
                raise InputError(
                    "cell holds a number too long to read", file=display, row=row, column=column
                ) from None
    elif type(value).__name__ in ("NAType", "NaTType"):
        return None
    elif hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _cell_text(value.item(), display=display, row=row, column=column)
    else:
        text = str(value)
    if not text or text.isspace():
        return None
    if len(text) > _SURELY_SMALL_CHARS and len(text.encode("utf-8")) > MAX_CELL_BYTES:
        raise InputError(
            f"cell is larger than {MAX_CELL_BYTES // 1024} KiB",
            file=display,
            row=row,
            column=column,
        )
    return text


# -- JSON Lines ------------------------------------------------------------------------------


def read_jsonl(path: str | os.PathLike[str], *, name: str | None = None) -> Table:
    """Open a JSON Lines file: one JSON object per line, keys are columns.

    The file is checked once when opened (every line must be an object; the header is the
    union of keys in order of first appearance), then streamed again when iterated. Blank lines
    are skipped; row numbers are line numbers.
    """
    p = Path(path)
    display = name or str(path)
    _check_path(p, display)
    scan = _scan_encoding(p, display)
    encoding = scan.codec
    columns: dict[str, None] = {}
    tokens: dict[str, str] = {}
    objects = 0
    for number, obj in _iter_json_objects(p, display, encoding, check_duplicates=True):
        objects += 1
        for key in obj:
            if key not in columns:
                token = header_token(key) or key
                if token in tokens:
                    raise InputError(
                        f"duplicated column name: {key!r} and {tokens[token]!r} differ only "
                        "in case or spacing",
                        file=display,
                        row=number,
                        column=key,
                    )
                if not key.strip():
                    raise InputError("a key is blank", file=display, row=number)
                tokens[token] = key
                columns[key] = None
                if len(columns) > MAX_COLUMNS:
                    raise InputError(
                        f"more than {MAX_COLUMNS} distinct keys; at most {MAX_COLUMNS} columns "
                        "are supported",
                        file=display,
                        row=number,
                    )
    if objects == 0:
        raise InputError("no header: the file has no JSON objects", file=display)
    header = tuple(columns)
    if not header:
        raise InputError("no header: every object is empty", file=display)

    def rows() -> Iterator[Row]:
        for number, obj in _iter_json_objects(p, display, encoding, check_duplicates=False):
            values: dict[str, str | None] = {}
            for col in header:
                values[col] = _cell_text(obj.get(col), display=display, row=number, column=col)
            yield Row(number, values)

    return Table(
        name=display,
        header=header,
        format="jsonl",
        encoding=encoding,
        notes=_encoding_notes(scan),
        _rows=rows,
    )


_JSON_TYPES: dict[type, str] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _iter_json_objects(
    path: Path, display: str, encoding: str, *, check_duplicates: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    hook = _no_duplicate_keys if check_duplicates else None
    number = 0
    try:
        with _open_text(path, encoding, newline=None) as fh:
            for line in fh:
                number += 1
                if number == 1:
                    line = line.lstrip("\ufeff")
                if not line.strip():
                    continue
                if len(line) > MAX_COLUMNS * 2 * MAX_CELL_BYTES:
                    raise InputError("line is too long", file=display, row=number)
                try:
                    obj = json.loads(line.rstrip("\r\n"), object_pairs_hook=hook)
                except _DuplicateKey as dup:
                    raise InputError(
                        f"duplicated key {dup.key!r} in one object",
                        file=display,
                        row=number,
                        column=dup.key,
                    ) from None
                except json.JSONDecodeError as exc:
                    hint = ""
                    if number == 1 and line.lstrip().startswith("["):
                        hint = "; a JSON array file is not JSON Lines: write one object per line"
                    raise InputError(
                        f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}{hint}",
                        file=display,
                        row=number,
                    ) from None
                except RecursionError:
                    raise InputError("JSON nested too deeply", file=display, row=number) from None
                except ValueError:  # a number with more digits than int() accepts
                    raise InputError(
                        f"line {number} holds a number too long to read", file=display, row=number
                    ) from None
                if not isinstance(obj, dict):
                    kind = _JSON_TYPES.get(type(obj), type(obj).__name__)
                    hint = ""
                    if isinstance(obj, list):
                        hint = "; a JSON array file is not JSON Lines: write one object per line"
                    raise InputError(
                        f"line {number} is a JSON {kind}, expected an object ({{...}}){hint}",
                        file=display,
                        row=number,
                    )
                yield number, obj
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the file is not valid {encoding}: {exc.reason}", file=display, row=number + 1
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=display) from None


# -- Parquet ---------------------------------------------------------------------------------

_PARQUET_BATCH = 16384


def _import_pyarrow_parquet(display: str) -> Any:
    try:
        return importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise InputError(
            "reading Parquet files needs the optional pyarrow package: "
            "pip install 'blindmatch[parquet]'",
            file=display,
        ) from None


def read_parquet(path: str | os.PathLike[str], *, name: str | None = None) -> Table:
    """Open a Parquet file (needs the ``parquet`` extra: ``pip install 'blindmatch[parquet]'``).

    Columns of any scalar type are read as text, in batches; nested columns become JSON text.
    """
    p = Path(path)
    display = name or str(path)
    _check_path(p, display)
    pq = _import_pyarrow_parquet(display)
    try:
        header_raw = list(pq.ParquetFile(p).schema_arrow.names)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for bad files
        raise InputError(f"not a readable Parquet file: {exc}", file=display) from None
    header = _check_header([str(h) for h in header_raw], display, row=None)
    if len(header) != len(header_raw):
        raise InputError("a column name is blank", file=display)
    schema = pq.ParquetFile(p).schema_arrow
    types = {h: schema.field(i).type for i, h in enumerate(header)}

    def rows() -> Iterator[Row]:
        number = 0
        try:
            batches = pq.ParquetFile(p).iter_batches(batch_size=_PARQUET_BATCH)
            for batch in batches:
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                for cells in zip(*columns, strict=True):
                    number += 1
                    yield Row(number, _typed_cells(header, cells, display, number))
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"cannot read the Parquet data: {exc}", file=display, row=number + 1
            ) from None

    return Table(name=display, header=header, format="parquet", types=types, _rows=rows)


def _typed_cells(
    header: Sequence[str], cells: Iterable[Any], display: str, number: int
) -> dict[str, str | None]:
    """One row of typed cells (Parquet, pandas) as text; short plain strings take the fast
    path, everything else goes through :func:`_cell_text`."""
    return {
        h: (
            (c if c and not c.isspace() else None)
            if type(c) is str and len(c) <= _SURELY_SMALL_CHARS
            else _cell_text(c, display=display, row=number, column=h)
        )
        for h, c in zip(header, cells, strict=False)
    }


# -- in-memory sources -------------------------------------------------------------------


def read_dataframe(df: Any, *, name: str = "dataframe") -> Table:
    """Wrap a pandas DataFrame as a table (library API; no pandas import needed to call it).

    Column labels become strings; NaN/NA/NaT cells are blank; integral floats lose ``.0``. Row
    numbers are 1-based positions, not the index. The frame is read lazily, row by row.
    """
    try:
        labels = [str(c) for c in df.columns]
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"not a DataFrame: {exc}", file=name) from None
    header = _check_header(labels, name, row=None)
    if len(header) != len(labels):
        raise InputError("a column name is blank", file=name)

    def rows() -> Iterator[Row]:
        for number, cells in enumerate(df.itertuples(index=False, name=None), start=1):
            yield Row(number, _typed_cells(header, cells, name, number))

    return Table(name=name, header=header, format="dataframe", types=_frame_types(df, header),
                 _rows=rows)  # fmt: skip


def _frame_types(df: Any, header: Sequence[str]) -> dict[str, Any]:
    """The pyarrow types of a pandas frame's columns, if pyarrow can tell (else none)."""
    try:
        schema = importlib.import_module("pyarrow").Schema.from_pandas(df, preserve_index=False)
    except Exception:  # noqa: BLE001 - no pyarrow, or mixed object columns
        return {}
    if len(schema) != len(header):
        return {}
    return {h: schema.field(i).type for i, h in enumerate(header)}


def read_rows(
    header: Sequence[str],
    rows: Iterable[Sequence[Any] | Mapping[str, Any]],
    *,
    name: str = "rows",
) -> Table:
    """A table from in-memory rows (sequences aligned with ``header``, or mappings).

    Handy for tests and for platforms that already hold accounts in memory. ``rows`` is
    materialized once, so the table can be iterated more than once.
    """
    checked = _check_header([str(h) for h in header], name, row=None)
    if len(checked) != len(header):
        raise InputError("a column name is blank", file=name)
    data = list(rows)
    width = len(checked)

    def iterate() -> Iterator[Row]:
        for number, item in enumerate(data, start=1):
            if isinstance(item, Mapping):
                unknown = [k for k in item if k not in checked]
                if unknown:
                    raise InputError(
                        f"unknown column {unknown[0]!r}", file=name, row=number, column=unknown[0]
                    )
                cells: Sequence[Any] = [item.get(h) for h in checked]
            else:
                cells = item
                if len(cells) > width:
                    raise InputError(
                        f"row has {len(cells)} cells but the header has {width} columns",
                        file=name,
                        row=number,
                    )
            values = {
                h: _cell_text(c, display=name, row=number, column=h)
                for h, c in zip(checked, cells, strict=False)
            }
            for h in checked[len(cells) :]:
                values[h] = None
            yield Row(number, values)

    return Table(name=name, header=checked, format="rows", _rows=iterate)
