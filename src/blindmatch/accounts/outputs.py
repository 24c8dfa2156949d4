"""What a session's result becomes on disk: the overlap summary, the matrix, matched records.

This module decides the *content* (which rows and columns a result becomes); how files are
written (atomically, owner-only, CSV made safe for spreadsheets, JSON Lines, Parquet) is
:mod:`blindmatch.io`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import UsageError
from ..io.atomic import AtomicOutputSet, StrPath
from ..io.writers import TABLE_FORMATS, Cell, write_json, write_table
from ..protocol.model import Disclosure, Match, OverlapResult

__all__ = [
    "MATCH_FORMATS",
    "SUMMARY_FORMAT",
    "match_columns",
    "match_list_columns",
    "match_rows",
    "summary_dict",
    "write_matches",
    "write_overlap_csv",
    "write_overlap_json",
]

#: Identifies the layout of :func:`summary_dict` (and so of the overlap JSON file).
SUMMARY_FORMAT = "blindmatch-overlap/1"
MATCH_FORMATS: tuple[str, ...] = TABLE_FORMATS


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
    write_json(path, summary_dict(result, run_id=run_id), private=private, outputs=outputs)


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
    corner = f"{result.our_label} \\ {result.partner_label}"
    rows = [
        [ours, *(str(row[p]) for p in theirs), str(summary["our_sizes"][ours])]
        for ours, row in summary["counts"].items()
    ]
    rows.append(["population size", *(str(summary["partner_sizes"][p]) for p in theirs), ""])
    write_table(
        path,
        [corner, *theirs, "population size"],
        rows,
        format="csv",
        private=private,
        bom=bom,
        outputs=outputs,
    )


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
) -> Iterator[list[Cell]]:
    """Rows of the matched-records table, sorted by our record id.

    The populations, the key types and each revealed field are lists (every other cell is a
    text). A revealed field lists one value per partner record that matched ours, in the same
    order across columns (a record that lacks the field gives ``""``), so the values of one
    partner record line up. :func:`write_matches` keeps lists where the format has them and
    joins them with :data:`~blindmatch.io.writers.LIST_SEPARATOR` in CSV.
    """
    names = list(partner_fields) if partner_fields is not None else _field_names(result.matches)
    label = result.partner_label if partner_label is None else partner_label
    for match in sorted(result.matches, key=lambda m: m.record_id):
        revealed: list[Cell] = [
            [fields.get(name, "") for fields in match.partner_fields] for name in names
        ]
        yield [
            match.record_id,
            list(match.our_populations),
            list(match.partner_populations),
            list(match.key_types),
            *revealed,
            label,
            run_id,
        ]


def match_list_columns(columns: Sequence[str]) -> list[str]:
    """The list columns among :func:`match_columns`: all but the record id, the partner label
    and the run id."""
    return list(columns[1:-2])


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

    The columns (:func:`match_columns`) are the same in every format. The list columns
    (:func:`match_list_columns`) are JSON arrays in JSON Lines and ``list<string>`` in Parquet;
    CSV joins their items with :data:`~blindmatch.io.writers.LIST_SEPARATOR` (``" | "``), and
    only CSV cells are neutralized against formula injection. Parquet needs the optional
    ``pyarrow`` (``UsageError`` tells how to install it). Private by default: revealed fields
    are partner data.
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
    write_table(
        path,
        columns,
        rows,
        format=format,
        list_columns=match_list_columns(columns),
        private=private,
        bom=bom,
        outputs=outputs,
    )
