"""Writing a session's results to disk: atomically, and safely for spreadsheets.

*Atomic writes.* Every file blindmatch writes goes through :func:`atomic_writer` (or its
one-shot form :func:`atomic_write`): the bytes go to a hidden temporary file in the destination
directory, which is flushed, ``fsync``-ed and then ``os.replace``-d over the destination. A
reader therefore sees either the old file or the complete new one, and a failure (an exception,
Ctrl-C, a full disk) removes the temporary file and leaves the destination untouched. Files that
may hold partner data are created ``0o600`` (``private=True``); others ``0o644``. Both are
further restricted by the umask, never widened.

*Output sets.* A run writes several files (overlap summary, matrix, matched records). The CLI
must leave either all of them or none, so :class:`AtomicOutputSet` stages every file as a
temporary first and renames them only once all were written; if anything fails before or
during the renames, every staged file is removed and destinations already replaced are put back.

*CSV injection.* Cells that a spreadsheet would run as a formula (OWASP "CSV Injection") are
prefixed with ``'`` by :func:`neutralize_cell`, which every CSV writer here uses for every cell,
headers included: population names, field names and revealed values come from the partner, so
they are untrusted. Only CSV is neutralized; JSON Lines and Parquet are not opened as formulas
and keep values byte-exact.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import json
import os
import re
import secrets
import shutil
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

from ..errors import UsageError
from ..protocol.model import Disclosure, Match, OverlapResult

__all__ = [
    "DANGEROUS_PREFIXES",
    "MATCH_FORMATS",
    "SUMMARY_FORMAT",
    "AtomicOutputSet",
    "atomic_write",
    "atomic_writer",
    "match_columns",
    "match_rows",
    "neutralize_cell",
    "restore_cell",
    "summary_dict",
    "write_matches",
    "write_overlap_csv",
    "write_overlap_json",
]

StrPath = str | os.PathLike[str]

#: Identifies the layout of :func:`summary_dict` (and so of the overlap JSON file).
SUMMARY_FORMAT = "blindmatch-overlap/1"
MATCH_FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")

#: First characters that make a spreadsheet treat a cell as a formula (OWASP), plus line feed
#: and the full-width forms of ``= + - @`` that some spreadsheet imports fold to ASCII.
DANGEROUS_PREFIXES: tuple[str, ...] = (
    "=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20",
)  # fmt: skip
#: A cell that is entirely a plain decimal number ("-12.5", "+3", "-1e5") is data, not a
#: formula, and is left alone so numeric columns stay numeric.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
_JOIN_POPULATIONS = ";"
_JOIN_RECORDS = " | "


# -- CSV injection ---------------------------------------------------------------------------


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


# -- atomic files ----------------------------------------------------------------------------


def _check_destination(path: StrPath) -> str:
    """Fail before writing anything if the destination can never be written."""
    dest = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        raise UsageError(f"{os.fspath(path)}: output directory {parent} does not exist")
    if os.path.isdir(dest):
        raise UsageError(f"{os.fspath(path)}: is a directory, not a file")
    return dest


def _hidden_sibling(dest: str, suffix: str) -> str:
    """A fresh hidden name next to ``dest`` (same directory, so ``os.replace`` is atomic)."""
    parent, name = os.path.split(dest)
    return os.path.join(parent, f".{name[:100]}.{secrets.token_hex(6)}{suffix}")


def _create_exclusive(dest: str, private: bool) -> tuple[str, int]:
    """Create the temporary file with its final permissions from the start (no chmod window)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for _ in range(16):
        temp = _hidden_sibling(dest, ".tmp")
        try:
            return temp, os.open(temp, flags, PRIVATE_MODE if private else PUBLIC_MODE)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {dest}")  # pragma: no cover


def _fsync_directory(directory: str) -> None:
    """Make a rename durable. Best effort: some platforms cannot open or sync a directory."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _remove_all(staged: list[_Staged]) -> None:
    for item in staged:
        _remove_quietly(item.temp)


@dataclass(slots=True)
class _Staged:
    """A temporary file that holds the complete new contents of ``dest``."""

    temp: str
    dest: str


def _check_mode(mode: str) -> None:
    if mode not in ("w", "wb"):
        raise UsageError(f"atomic writes support mode 'w' or 'wb', not {mode!r}")


@contextlib.contextmanager
def _staged_file(
    dest: str, mode: str, encoding: str, newline: str, private: bool
) -> Iterator[tuple[IO[Any], _Staged]]:
    """Write a temporary file; on success it is closed and fsynced, on failure removed."""
    temp, fd = _create_exclusive(dest, private)
    try:
        if mode == "wb":
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        _remove_quietly(temp)
        raise
    try:
        with handle:
            yield handle, _Staged(temp, dest)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _remove_quietly(temp)
        raise


@overload
def atomic_writer(
    path: StrPath,
    mode: Literal["w"] = "w",
    encoding: str = "utf-8",
    newline: str = "",
    *,
    private: bool = False,
) -> contextlib.AbstractContextManager[TextIO]: ...
@overload
def atomic_writer(
    path: StrPath,
    mode: Literal["wb"],
    encoding: str = "utf-8",
    newline: str = "",
    *,
    private: bool = False,
) -> contextlib.AbstractContextManager[BinaryIO]: ...
def atomic_writer(
    path: StrPath,
    mode: str = "w",
    encoding: str = "utf-8",
    newline: str = "",
    *,
    private: bool = False,
) -> contextlib.AbstractContextManager[IO[Any]]:
    """Open ``path`` for writing so it is replaced all at once, or not at all.

    ``newline=""`` (no translation) suits the ``csv`` module and writes ``\\n`` as is.
    ``private=True`` creates the file ``0o600``: use it for anything derived from partner data.
    ``encoding`` and ``newline`` are ignored in ``"wb"`` mode.
    """
    _check_mode(mode)
    dest = _check_destination(path)
    return _atomic_writer(dest, mode, encoding, newline, private)


@contextlib.contextmanager
def _atomic_writer(
    dest: str, mode: str, encoding: str, newline: str, private: bool
) -> Iterator[IO[Any]]:
    with _staged_file(dest, mode, encoding, newline, private) as (handle, staged):
        yield handle
    try:
        os.replace(staged.temp, staged.dest)
    except BaseException:
        _remove_quietly(staged.temp)
        raise
    _fsync_directory(os.path.dirname(dest))


def atomic_write(
    path: StrPath, data: bytes | str, *, private: bool = False, encoding: str = "utf-8"
) -> None:
    """Replace ``path`` with ``data`` atomically (text is encoded, newlines untranslated)."""
    if isinstance(data, str):
        with atomic_writer(path, "w", encoding, "", private=private) as text:
            text.write(data)
    else:
        with atomic_writer(path, "wb", private=private) as binary:
            binary.write(data)


class AtomicOutputSet:
    """Several output files that appear together at :meth:`commit`, or not at all.

    Use it as a context manager: files opened with :meth:`open` (or written with :meth:`write`)
    are staged as hidden temporaries; leaving the block normally commits, leaving it with an
    exception removes every temporary and no destination changes::

        with AtomicOutputSet() as out:
            write_overlap_json(run_dir / "overlap.json", result, outputs=out)
            write_matches(run_dir / "matches.csv", result, run_id=rid, outputs=out)

    Once a staged file failed, the set refuses to commit, so a caught exception cannot lead to
    a partial set. Renames happen only after every file was written and fsynced; if one rename
    fails, destinations already replaced get their old contents back (or are removed if they
    did not exist). Not safe against a crash in the middle of the renames (nothing short of a
    transaction is), which leaves at most some hidden ``.tmp``/``.bak`` files behind.
    """

    def __init__(self, *, private: bool = False) -> None:
        self._private = private
        self._staged: list[_Staged] = []
        self._removals: list[str] = []
        self._dests: set[str] = set()
        self._failed = False
        self._closed = False
        # A set dropped without commit or abort still removes its temporaries.
        self._finalizer = weakref.finalize(self, _remove_all, self._staged)

    @property
    def paths(self) -> tuple[str, ...]:
        """Destinations staged so far, in order."""
        return tuple(s.dest for s in self._staged)

    def _reserve(self, path: StrPath, mode: str) -> str:
        if self._closed:
            raise UsageError("this output set was already committed or aborted")
        if self._failed:
            raise UsageError("an earlier output of this set failed; it can only be aborted")
        _check_mode(mode)
        dest = _check_destination(path)
        key = os.path.normcase(dest)
        if key in self._dests:
            raise UsageError(f"{os.fspath(path)}: written twice in one output set")
        self._dests.add(key)
        return dest

    @overload
    def open(
        self,
        path: StrPath,
        mode: Literal["w"] = "w",
        encoding: str = "utf-8",
        newline: str = "",
        *,
        private: bool | None = None,
    ) -> contextlib.AbstractContextManager[TextIO]: ...
    @overload
    def open(
        self,
        path: StrPath,
        mode: Literal["wb"],
        encoding: str = "utf-8",
        newline: str = "",
        *,
        private: bool | None = None,
    ) -> contextlib.AbstractContextManager[BinaryIO]: ...
    def open(
        self,
        path: StrPath,
        mode: str = "w",
        encoding: str = "utf-8",
        newline: str = "",
        *,
        private: bool | None = None,
    ) -> contextlib.AbstractContextManager[IO[Any]]:
        """Stage ``path``: like :func:`atomic_writer`, but renamed only at :meth:`commit`."""
        dest = self._reserve(path, mode)
        chosen = self._private if private is None else private
        return self._open(dest, mode, encoding, newline, chosen)

    @contextlib.contextmanager
    def _open(
        self, dest: str, mode: str, encoding: str, newline: str, private: bool
    ) -> Iterator[IO[Any]]:
        try:
            with _staged_file(dest, mode, encoding, newline, private) as (handle, staged):
                yield handle
        except BaseException:
            self._failed = True
            raise
        self._staged.append(staged)

    def write(
        self,
        path: StrPath,
        data: bytes | str,
        *,
        private: bool | None = None,
        encoding: str = "utf-8",
    ) -> None:
        """Stage ``path`` with the given contents."""
        if isinstance(data, str):
            with self.open(path, "w", encoding, "", private=private) as text:
                text.write(data)
        else:
            with self.open(path, "wb", private=private) as binary:
                binary.write(data)

    def remove(self, path: StrPath) -> None:
        """Stage the removal of ``path`` if it exists: an output of an earlier run into the
        same place that this run does not produce (a ``matches.csv`` left over next to a new
        counts-only summary would be read as part of it). Removed at :meth:`commit`, with the
        files written; restored if the commit fails."""
        self._removals.append(self._reserve(path, "wb"))

    def commit(self) -> None:
        """Move every staged file into place; on any failure, undo and re-raise."""
        if self._closed:
            raise UsageError("this output set was already committed or aborted")
        if self._failed:
            self.abort()
            raise UsageError("an output of this set failed; nothing was written")
        self._closed = True
        done: list[tuple[_Staged, str | None]] = []
        removed: list[tuple[str, str]] = []
        try:
            for staged in self._staged:
                backup = self._backup(staged.dest)
                done.append((staged, backup))
                os.replace(staged.temp, staged.dest)
            for dest in self._removals:
                kept = self._backup(dest)
                if kept is not None:
                    removed.append((dest, kept))  # before the unlink: rollback restores it
                    os.unlink(dest)
        except BaseException:
            for dest, kept in reversed(removed):
                with contextlib.suppress(OSError):
                    if os.path.lexists(dest):  # its unlink failed: the backup is a spare link
                        _remove_quietly(kept)
                    else:
                        os.replace(kept, dest)
            self._rollback(done)
            for staged in self._staged:
                _remove_quietly(staged.temp)
            raise
        for _, backup in [*done, *removed]:
            if backup is not None:
                _remove_quietly(backup)
        dirs = {os.path.dirname(s.dest) for s in self._staged}
        dirs |= {os.path.dirname(dest) for dest, _ in removed}
        for directory in sorted(dirs):
            _fsync_directory(directory)

    @staticmethod
    def _backup(dest: str) -> str | None:
        """Keep the current destination reachable under a hidden name, for rollback."""
        if not os.path.lexists(dest):
            return None
        backup = _hidden_sibling(dest, ".bak")
        try:
            os.link(dest, backup, follow_symlinks=False)
        except (OSError, NotImplementedError):  # no hard links here: copy instead
            try:
                shutil.copy2(dest, backup, follow_symlinks=False)
            except BaseException:
                _remove_quietly(backup)
                raise
        return backup

    @staticmethod
    def _rollback(done: list[tuple[_Staged, str | None]]) -> None:
        for staged, backup in reversed(done):
            try:
                if backup is not None:
                    os.replace(backup, staged.dest)
                elif not os.path.exists(staged.temp):  # our rename happened: undo it
                    _remove_quietly(staged.dest)
            except OSError:  # pragma: no cover - best effort; the original error matters
                pass

    def abort(self) -> None:
        """Remove every staged file; destinations are untouched. Safe to call twice."""
        self._closed = True
        _remove_all(self._staged)
        self._staged.clear()

    def __enter__(self) -> AtomicOutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.commit()


@contextlib.contextmanager
def _output(
    path: StrPath,
    mode: Literal["w", "wb"],
    *,
    private: bool,
    outputs: AtomicOutputSet | None,
    encoding: str = "utf-8",
) -> Iterator[IO[Any]]:
    """Write to a set when the caller collects a run's outputs, else atomically on its own."""
    if outputs is not None:
        with outputs.open(path, mode, encoding, "", private=private) as handle:
            yield handle
    else:
        with atomic_writer(path, mode, encoding, "", private=private) as handle:
            yield handle


# -- overlap summary -------------------------------------------------------------------------


def _our_populations(result: OverlapResult) -> list[str]:
    names = list(result.our_sizes)
    names += [p for p in result.our_disclosure if p not in names]
    names += [p for p in result.counts if p not in names]
    return names


def _partner_populations(result: OverlapResult) -> list[str]:
    names = list(result.partner_sizes)
    names += [p for p in result.partner_disclosure if p not in names]
    for row in result.counts.values():
        names += [p for p in row if p not in names]
    return names


def summary_dict(result: OverlapResult, *, run_id: str | None = None) -> dict[str, Any]:
    """The overlap as plain JSON data: what a run found, in the order the policies list it.

    ``counts[our][partner]`` is the number of our accounts in ``our`` that match at least one
    partner account in ``partner``; the matrix is complete (a pair the result lacks is 0).
    ``matches`` counts the rows of the matched-records table, in total and per population.
    """
    ours = _our_populations(result)
    theirs = _partner_populations(result)
    counts = {o: {p: int(result.counts.get(o, {}).get(p, 0)) for p in theirs} for o in ours}
    by_ours = {o: 0 for o in ours}
    # Only the partner's records-level populations list matches; a 0 under a counts-only one
    # would contradict the matrix.
    by_theirs = {p: 0 for p in theirs if result.partner_disclosure.get(p) is Disclosure.RECORDS}
    for match in result.matches:
        for o in dict.fromkeys(match.our_populations):
            by_ours[o] = by_ours.get(o, 0) + 1
        for p in dict.fromkeys(match.partner_populations):
            by_theirs[p] = by_theirs.get(p, 0) + 1
    summary: dict[str, Any] = {"format": SUMMARY_FORMAT}
    if run_id is not None:
        summary["run_id"] = run_id
    summary.update(
        {
            "our_label": result.our_label,
            "partner_label": result.partner_label,
            "counts": counts,
            "our_sizes": {o: int(result.our_sizes.get(o, 0)) for o in ours},
            "partner_sizes": {p: int(result.partner_sizes.get(p, 0)) for p in theirs},
            "our_disclosure": {o: d.value for o, d in result.our_disclosure.items()},
            "partner_disclosure": {p: d.value for p, d in result.partner_disclosure.items()},
            "matches": {
                "records": len(result.matches),
                "by_our_population": by_ours,
                "by_partner_population": by_theirs,
            },
            "records_without_keys": result.records_without_keys,
        }
    )
    return summary


def write_overlap_json(
    path: StrPath,
    result: OverlapResult,
    *,
    run_id: str | None = None,
    private: bool = True,
    outputs: AtomicOutputSet | None = None,
) -> None:
    """Write :func:`summary_dict` as indented UTF-8 JSON (private by default: partner data)."""
    text = json.dumps(summary_dict(result, run_id=run_id), indent=2, ensure_ascii=False) + "\n"
    with _output(path, "w", private=private, outputs=outputs) as handle:
        handle.write(text)


def _csv_writer(handle: IO[Any], bom: bool) -> Any:
    if bom:
        handle.write("\ufeff")
    return csv.writer(handle, dialect="excel")


def _write_csv_row(writer: Any, cells: Sequence[str]) -> None:
    writer.writerow([neutralize_cell(c) for c in cells])


def write_overlap_csv(
    path: StrPath,
    result: OverlapResult,
    *,
    private: bool = True,
    bom: bool = False,
    outputs: AtomicOutputSet | None = None,
) -> None:
    """Write the overlap matrix for spreadsheets, with the population sizes as its margins.

    One rectangular table, so it loads anywhere: the top-left cell names both parties, rows
    are our populations, columns the partner's, the last column ``population size`` holds our
    sizes and the last row the partner's. ``bom=True`` starts the file with a UTF-8 byte order
    mark, which Excel needs to read non-ASCII names correctly.
    """
    summary = summary_dict(result)
    theirs = list(summary["partner_sizes"])
    with _output(path, "w", private=private, outputs=outputs) as handle:
        writer = _csv_writer(handle, bom)
        corner = f"{result.our_label} \\ {result.partner_label}"
        _write_csv_row(writer, [corner, *theirs, "population size"])
        for ours, row in summary["counts"].items():
            cells = [str(row[p]) for p in theirs]
            _write_csv_row(writer, [ours, *cells, str(summary["our_sizes"][ours])])
        sizes = [str(summary["partner_sizes"][p]) for p in theirs]
        _write_csv_row(writer, ["population size", *sizes, ""])


# -- matched records -------------------------------------------------------------------------


def _field_names(matches: Sequence[Match]) -> list[str]:
    return sorted({name for m in matches for fields in m.partner_fields for name in fields})


def match_columns(
    result: OverlapResult,
    *,
    partner_fields: Sequence[str] | None = None,
    record_id_column: str = "record_id",
) -> list[str]:
    """Column names of the matched-records table, in order.

    ``partner_fields`` fixes which ``partner.<field>`` columns appear and in what order (the
    CLI passes the partner's policy order, so the columns exist even with no matches);
    otherwise they are the fields present in the matches, sorted.
    """
    names = list(partner_fields) if partner_fields is not None else _field_names(result.matches)
    return [
        record_id_column,
        "our_populations",
        "partner_populations",
        "key_types",
        *(f"partner.{name}" for name in names),
        "partner_label",
        "run_id",
    ]


def match_rows(
    result: OverlapResult,
    *,
    run_id: str,
    partner_label: str | None = None,
    partner_fields: Sequence[str] | None = None,
) -> Iterator[list[str]]:
    """Rows of the matched-records table (all strings), sorted by our record id.

    Lists are joined with ``;``; when several partner records matched one of ours, each
    revealed field joins their values with `` | `` in the same order across columns (a record
    that lacks the field contributes an empty string), so values of one partner record line up.
    """
    names = list(partner_fields) if partner_fields is not None else _field_names(result.matches)
    label = result.partner_label if partner_label is None else partner_label
    for match in sorted(result.matches, key=lambda m: m.record_id):
        revealed = [
            _JOIN_RECORDS.join(fields.get(name, "") for fields in match.partner_fields)
            for name in names
        ]
        yield [
            match.record_id,
            _JOIN_POPULATIONS.join(match.our_populations),
            _JOIN_POPULATIONS.join(match.partner_populations),
            _JOIN_POPULATIONS.join(match.key_types),
            *revealed,
            label,
            run_id,
        ]


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


def write_matches(
    path: StrPath,
    result: OverlapResult,
    *,
    run_id: str,
    partner_label: str | None = None,
    format: str = "csv",
    partner_fields: Sequence[str] | None = None,
    record_id_column: str = "record_id",
    private: bool = True,
    bom: bool = False,
    outputs: AtomicOutputSet | None = None,
) -> None:
    """Write one row per matched record of ours, shaped to join back to the CRM by record id.

    The columns (:func:`match_columns`) are the same in every format, as strings, so formats
    are interchangeable; only CSV cells are neutralized against formula injection. Parquet
    needs the optional ``pyarrow`` (``UsageError`` tells how to install it). Private by
    default: revealed fields are partner data.
    """
    if format not in MATCH_FORMATS:
        choices = ", ".join(MATCH_FORMATS)
        raise UsageError(f"unknown matches format {format!r}; choose one of {choices}")
    columns = match_columns(
        result, partner_fields=partner_fields, record_id_column=record_id_column
    )
    if len(set(columns)) != len(columns):
        raise UsageError(f"matched-records columns collide: {columns}")
    rows = match_rows(
        result, run_id=run_id, partner_label=partner_label, partner_fields=partner_fields
    )
    if format == "csv":
        with _output(path, "w", private=private, outputs=outputs) as handle:
            writer = _csv_writer(handle, bom)
            _write_csv_row(writer, columns)
            for row in rows:
                _write_csv_row(writer, row)
    elif format == "jsonl":
        with _output(path, "w", private=private, outputs=outputs) as handle:
            for row in rows:
                handle.write(
                    json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n"
                )
    else:
        pa, pq = _parquet_modules()
        materialized = list(rows)
        table = pa.table(
            {
                name: pa.array([row[i] for row in materialized], type=pa.string())
                for i, name in enumerate(columns)
            }
        )
        with _output(path, "wb", private=private, outputs=outputs) as handle:
            pq.write_table(table, handle)
