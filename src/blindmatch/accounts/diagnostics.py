"""What the data looks like before anything is shared: a local report on the account sources.

Why: the overlap a session finds is only as good as the keys that went in. Before a session,
a data owner wants to know how many rows each population holds, how many rows have a usable
key of each type, why the others have none (blank, junk, free-mail, invalid), which keys or
record ids appear on several rows, and how the files were read (encoding, delimiter, CRM
flavour, which column feeds what). This report is computed and printed locally; nothing in
it is sent to the partner, and it names row numbers rather than key values, so it can be
pasted into a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..io.readers import describe_source

if TYPE_CHECKING:
    pass

__all__ = ["Diagnostics", "DuplicateSummary", "SourceInfo"]

#: Why a row has no usable key, most actionable first. ``no-column``: the source has no
#: column for any key type in use (only reported by
#: :func:`~blindmatch.accounts.prepare.inspect_sources`).
REASON_ORDER: tuple[str, ...] = ("invalid", "junk", "free-mail", "blank", "no-column")


@dataclass
class SourceInfo:
    """How one source was read and which columns feed what."""

    name: str
    format: str
    encoding: str | None
    delimiter: str | None
    flavour: str
    columns: dict[str, Any]
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "flavour": self.flavour,
            "columns": self.columns,
            "rows": self.rows,
        }


@dataclass
class DuplicateSummary:
    """Values (keys or record ids) found on more than one row."""

    #: Distinct values that appear on two or more rows.
    values: int = 0
    #: Rows carrying one of those values.
    rows: int = 0
    #: A few groups of row references (``file:row``) sharing one value; never the value.
    examples: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"values": self.values, "rows": self.rows, "examples": self.examples}


@dataclass
class Diagnostics:
    """Counts over all rows of all sources; see :meth:`render_text` for the readable form."""

    sources: list[SourceInfo] = field(default_factory=list)
    rows: int = 0
    #: Key types offered (a run with this policy, or without one, would use these).
    key_types: list[str] = field(default_factory=list)
    #: The normalization profile the keys were counted with.
    normalization: str = ""
    #: Rows per population (hidden ones too: this report stays local).
    populations: dict[str, int] = field(default_factory=dict)
    disclosure: dict[str, str] = field(default_factory=dict)
    rows_in_no_population: int = 0
    #: Rows whose keys were examined, and which: ``"all rows"`` for an inspection, ``"rows in
    #: a shared population"`` when preparing (other rows never take part, so their keys are
    #: not normalized). The key counts below are over these rows.
    key_rows: int = 0
    key_scope: str = "all rows"
    #: Rows with at least one usable key of each type.
    rows_with_key: dict[str, int] = field(default_factory=dict)
    rows_with_any_key: int = 0
    #: Rows with no usable key at all, by the most actionable reason among their key cells.
    rows_without_key: dict[str, int] = field(default_factory=dict)
    #: Per key type, cells by outcome: "ok" or a reason.
    cells: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicate_keys: dict[str, DuplicateSummary] = field(default_factory=dict)
    duplicate_record_ids: DuplicateSummary = field(default_factory=DuplicateSummary)
    rows_without_record_id: int = 0
    #: Records prepared for a session (after merging rows with one record id); ``None`` for a
    #: plain inspection.
    records: int | None = None
    #: Rows folded into an earlier row with the same record id.
    rows_merged: int = 0
    #: Rows in a shared population that cannot take part for want of a key, by reason.
    excluded_without_key: dict[str, int] = field(default_factory=dict)
    #: Records whose revealed fields alone exceed the policy's payload_bytes.
    records_over_payload: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_without_usable_key(self) -> int:
        """THE count of rows without a usable key, wherever one is shown (``psi-run inspect``,
        run.json, summary.json): rows in at least one shared population (one that is not
        hidden) none of whose key cells normalizes to a key, so they cannot take part. Rows in
        no shared population never take part and are not counted, key or no key."""
        return sum(self.excluded_without_key.values())

    @property
    def supported_key_types(self) -> list[str]:
        """Key types some source has a column for, offered or not, in the sources' order:
        what a policy could list under ``keys.use`` for these files."""
        found: list[str] = []
        for src in self.sources:
            for key_type in src.columns.get("keys", {}):
                if key_type not in found:
                    found.append(key_type)
        return found

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (plain str/int/list/dict/None only)."""
        return {
            "sources": [s.to_dict() for s in self.sources],
            "rows": self.rows,
            "rows_without_usable_key": self.rows_without_usable_key,
            "key_types": list(self.key_types),
            "supported_key_types": self.supported_key_types,
            "normalization": self.normalization,
            "populations": {
                name: {"rows": n, "disclosure": self.disclosure.get(name)}
                for name, n in self.populations.items()
            },
            "rows_in_no_population": self.rows_in_no_population,
            "key_rows": self.key_rows,
            "key_scope": self.key_scope,
            "rows_with_key": dict(self.rows_with_key),
            "rows_with_any_key": self.rows_with_any_key,
            "rows_without_key": dict(self.rows_without_key),
            "cells": {k: dict(v) for k, v in self.cells.items()},
            "duplicate_keys": {k: v.to_dict() for k, v in self.duplicate_keys.items()},
            "duplicate_record_ids": self.duplicate_record_ids.to_dict(),
            "rows_without_record_id": self.rows_without_record_id,
            "records": self.records,
            "rows_merged": self.rows_merged,
            "excluded_without_key": dict(self.excluded_without_key),
            "records_over_payload": self.records_over_payload,
            "warnings": list(self.warnings),
        }

    def render_text(self) -> str:
        """A readable report for the terminal."""
        out: list[str] = []
        for src in self.sources:
            how = describe_source(src.format, src.encoding, src.delimiter)
            out.append(f"Source {src.name}: {src.rows:,} rows ({how})")
            out.append(f"  CRM flavour: {src.flavour}")
            cols = src.columns
            out.append(f"  record id:   {cols.get('id') or '(none: file:row is used)'}")
            for key_type, columns in cols.get("keys", {}).items():
                unused = "" if key_type in self.key_types else "  (not offered)"
                out.append(f"  {key_type + ':':<12} {', '.join(columns)}{unused}")
            if cols.get("population_column"):
                out.append(f"  lifecycle:   {cols['population_column']}")
            if cols.get("region"):
                out.append(f"  region:      {cols['region']}")
        out.append("")
        supported = self.supported_key_types
        offered = [kt for kt in self.key_types if kt in supported]
        not_offered = [kt for kt in supported if kt not in self.key_types]
        out.append(
            f"Key types the columns support: {', '.join(supported) or '(none)'}"
            + (f"; offered: {', '.join(offered)}" if offered else "; none offered")
            + (f"; not offered: {', '.join(not_offered)}" if not_offered else "")
        )
        if self.normalization:
            out.append(f"Normalization: {self.normalization}")
        out.append(f"Rows: {self.rows:,}")
        if self.populations:
            out.append("Populations (rows):")
            width = max(len(n) for n in self.populations)
            for name, n in self.populations.items():
                note = self.disclosure.get(name, "")
                out.append(f"  {name:<{width}}  {n:>10,}  {_pct(n, self.rows)}  {note}")
            out.append(f"  {'(in none)':<{width}}  {self.rows_in_no_population:>10,}")
        with_key = self.rows_with_any_key
        base = self.key_rows
        scope = "" if self.key_scope == "all rows" else f" (of {base:,} {self.key_scope})"
        out.append(f"Rows with a usable key: {with_key:,} {_pct(with_key, base)}{scope}")
        for key_type in self.key_types:
            n = self.rows_with_key.get(key_type, 0)
            cells = self.cells.get(key_type, {})
            problems = ", ".join(f"{r} {cells[r]:,}" for r in REASON_ORDER if cells.get(r))
            extra = f"   cells without a key: {problems}" if problems else ""
            out.append(f"  {key_type:<12} {n:>10,}  {_pct(n, base)}{extra}")
        missing = self.rows_without_usable_key
        out.append(
            f"Rows without a usable key: {missing:,} (in a shared population, so left out of a run)"
        )
        for reason in REASON_ORDER:
            if self.excluded_without_key.get(reason):
                out.append(f"  {reason:<12} {self.excluded_without_key[reason]:>10,}")
        outside = sum(self.rows_without_key.values()) - missing
        if outside > 0:
            out.append(
                f"  (and {outside:,} more rows without a key in no shared population, which "
                "never take part)"
            )
        for key_type, dup in self.duplicate_keys.items():
            if dup.values:
                out.append(
                    f"Duplicate {key_type} keys: {_plural(dup.values, 'key')} on "
                    f"{dup.rows:,} rows" + _examples(dup)
                )
        dup_ids = self.duplicate_record_ids
        if dup_ids.values:
            out.append(
                f"Duplicate record ids: {_plural(dup_ids.values, 'id')} on {dup_ids.rows:,} rows"
                + _examples(dup_ids)
            )
        if self.rows_without_record_id:
            out.append(f"Rows without a record id: {self.rows_without_record_id:,}")
        if self.records is not None:
            out.append(f"Records prepared: {self.records:,}")
            if self.rows_merged:
                out.append(f"  rows merged into an earlier row with their id: {self.rows_merged:,}")
        if self.records_over_payload:
            out.append(
                f"Records whose revealed fields exceed payload_bytes: {self.records_over_payload:,}"
            )
        if self.warnings:
            out.append("Warnings:")
            out.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(out) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _pct(n: int, total: int) -> str:
    return f"({100 * n / total:5.1f}%)" if total else ""


def _examples(dup: DuplicateSummary) -> str:
    if not dup.examples:
        return ""
    shown = "; ".join(", ".join(group) for group in dup.examples[:3])
    return f", e.g. rows {shown}"
