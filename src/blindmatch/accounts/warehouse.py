"""A run's results shaped for a warehouse: tidy ``overlaps``, ``counts`` and ``runs`` tables.

Why: data teams join partner overlaps to pipeline and attribution tables in SQL. The files made
for people (a matrix with a blank corner, multi-match cells joined with ``" | "``, every id as
text) do not join; these tables do. They are Arrow tables with a fixed, versioned schema
(:data:`WAREHOUSE_SCHEMA`, documented in the README):

``overlaps``: one row per matched pair (one of our records, one partner record; a partner
account that revealed no fields counts as one record): ``run_id``, ``partner``,
``our_record_id`` in the type of the source's id column, ``our_populations``,
``partner_populations`` and ``matched_key_types`` as lists of strings, then one string column
``partner_<field>`` per revealed partner field (the field name lower-cased, runs of other
characters than letters and digits made ``_``).

``counts``: one row per (our population, partner population): ``run_id``, ``partner``,
``our_population``, ``partner_population``, ``overlap``, ``our_size``, ``partner_size``,
``our_disclosure``, ``partner_disclosure``.

``runs``: one row per run: ``run_id``, ``schema_version``, ``role``, ``our_label``,
``partner``, ``transport``, ``started``, ``finished``, ``policy_sha256``, ``matched_pairs``.
"""

from __future__ import annotations

import importlib
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import UsageError
from ..protocol.model import OverlapResult

__all__ = [
    "WAREHOUSE_SCHEMA",
    "WarehouseTables",
    "field_column",
    "pyarrow",
    "warehouse_tables",
]

#: The layout of the overlaps, counts and runs tables; a change of columns changes it.
WAREHOUSE_SCHEMA = "blindmatch-warehouse/1"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TICKS = {
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
    "us": timedelta(microseconds=1),
}


def pyarrow() -> Any:
    """The pyarrow module, or a UsageError saying which extra brings it."""
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        raise UsageError(
            "warehouse tables need pyarrow: pip install 'blindmatch[warehouse]'"
        ) from None


def field_column(name: str) -> str:
    """``partner_<field>``: "Account Owner" -> ``partner_account_owner``."""
    return "partner_" + (re.sub(r"[^0-9a-z]+", "_", name.casefold()).strip("_") or "field")


@dataclass(frozen=True)
class WarehouseTables:
    """The three tables of one run (pyarrow Tables)."""

    overlaps: Any
    counts: Any
    runs: Any

    def by_name(self) -> dict[str, Any]:
        """Table name -> table, in the order they are written."""
        return {"overlaps": self.overlaps, "counts": self.counts, "runs": self.runs}


def _typed_ids(pa: Any, ids: Sequence[str], id_type: Any) -> Any:
    """Our record ids in their source type; text when the source had no typed id column or
    some id does not read back as that type (ids made up as ``file:row``)."""
    text = arrow_column(pa, pa.string(), ids)
    if id_type is None or pa.types.is_string(id_type) or pa.types.is_large_string(id_type):
        return text
    try:
        return text.cast(id_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text


def arrow_column(pa: Any, type_: Any, values: Sequence[Any]) -> Any:
    """An Arrow array of ``values`` built from buffers for the types these tables use (text,
    lists of text, int64, timestamps from aware datetimes).

    Why not ``pa.array``: every Python-to-Arrow conversion first asks whether its input is a
    pandas object, and that question imports pandas, a third of a second of every run on a
    machine that has pandas installed.
    """
    n = len(values)
    if pa.types.is_string(type_):
        offsets = array("i", [0])
        data = bytearray()
        valid = bytearray((n + 7) // 8)
        for i, value in enumerate(values):
            if value is not None:
                data += value.encode("utf-8")
                valid[i >> 3] |= 1 << (i & 7)
            offsets.append(len(data))
        if len(data) >= 2**31:
            return pa.array(values, type=type_)  # past 32-bit offsets: let Arrow chunk it
        nulls = None if all(v is not None for v in values) else pa.py_buffer(bytes(valid))
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(bytes(data)), nulls
        )
    if pa.types.is_list(type_) and pa.types.is_string(type_.value_type):
        starts = array("i", [0])
        flat: list[str] = []
        for items in values:
            flat.extend(items)
            starts.append(len(flat))
        offsets_array = pa.Array.from_buffers(pa.int32(), n + 1, [None, pa.py_buffer(starts)])
        return pa.ListArray.from_arrays(offsets_array, arrow_column(pa, pa.string(), flat))
    tick = _TICKS.get(type_.unit) if pa.types.is_timestamp(type_) else None
    if tick is not None:
        values = [
            None
            if v is None
            else ((v if v.tzinfo else v.replace(tzinfo=timezone.utc)) - _EPOCH) // tick
            for v in values
        ]
    if (tick is not None or pa.types.is_int64(type_)) and None not in values:
        return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(array("q", values))])
    return pa.array(values, type=type_)


def _table(pa: Any, schema: Any, rows: Sequence[dict[str, Any]]) -> Any:
    """``rows`` (dicts keyed by the schema's names) as a table of ``schema``."""
    return pa.Table.from_arrays(
        [arrow_column(pa, f.type, [row[f.name] for row in rows]) for f in schema], schema=schema
    )


def warehouse_tables(
    result: OverlapResult,
    *,
    run_id: str,
    role: str,
    transport: str,
    started: datetime,
    finished: datetime,
    policy_sha256: str,
    id_type: Any = None,
    partner_fields: Sequence[str] | None = None,
) -> WarehouseTables:
    """Shape one result into the warehouse tables.

    ``id_type`` is the Arrow type of the sources' id column (None: text). ``partner_fields``
    fixes the ``partner_<field>`` columns and their order (default: the fields the matches
    carry, in order of first appearance).
    """
    pa = pyarrow()
    partner = result.partner_label
    names: list[str] = list(partner_fields) if partner_fields is not None else []
    if partner_fields is None:
        seen: dict[str, None] = {}
        for match in result.matches:
            for account in match.accounts:
                for fields in account.partner_fields:
                    seen.update(dict.fromkeys(fields))
        names = list(seen)
    columns: dict[str, str] = {}
    for name in names:
        column = field_column(name)
        n = 2
        while column in columns.values() or column in _OVERLAP_FIXED:
            column = f"{field_column(name)}_{n}"
            n += 1
        columns[name] = column

    ids: list[str] = []
    ours: list[list[str]] = []
    theirs: list[list[str]] = []
    kinds: list[list[str]] = []
    revealed: dict[str, list[str | None]] = {c: [] for c in columns.values()}
    for match in sorted(result.matches, key=lambda m: m.record_id):
        for account in match.accounts:
            for fields in account.partner_fields or ({},):
                ids.append(match.record_id)
                ours.append(list(match.our_populations))
                theirs.append(list(account.partner_populations))
                kinds.append(list(account.key_types))
                for name, column in columns.items():
                    revealed[column].append(fields.get(name))
    text_list = pa.list_(pa.string())
    overlaps = pa.Table.from_pydict(
        {
            "run_id": arrow_column(pa, pa.string(), [run_id] * len(ids)),
            "partner": arrow_column(pa, pa.string(), [partner] * len(ids)),
            "our_record_id": _typed_ids(pa, ids, id_type),
            "our_populations": arrow_column(pa, text_list, ours),
            "partner_populations": arrow_column(pa, text_list, theirs),
            "matched_key_types": arrow_column(pa, text_list, kinds),
            **{c: arrow_column(pa, pa.string(), v) for c, v in revealed.items()},
        }
    )

    rows: list[dict[str, Any]] = []
    our_names = list(dict.fromkeys([*result.our_sizes, *result.our_disclosure, *result.counts]))
    their_names = list(
        dict.fromkeys(
            [
                *result.partner_sizes,
                *result.partner_disclosure,
                *(q for row in result.counts.values() for q in row),
            ]
        )
    )
    for p in our_names:
        for q in their_names:
            our_level = result.our_disclosure.get(p)
            their_level = result.partner_disclosure.get(q)
            rows.append(
                {
                    "run_id": run_id,
                    "partner": partner,
                    "our_population": p,
                    "partner_population": q,
                    "overlap": int(result.counts.get(p, {}).get(q, 0)),
                    "our_size": int(result.our_sizes.get(p, 0)),
                    "partner_size": int(result.partner_sizes.get(q, 0)),
                    "our_disclosure": our_level.value if our_level else None,
                    "partner_disclosure": their_level.value if their_level else None,
                }
            )
    counts = _table(pa, _COUNTS_SCHEMA(pa), rows)

    runs = _table(
        pa,
        _RUNS_SCHEMA(pa),
        [
            {
                "run_id": run_id,
                "schema_version": WAREHOUSE_SCHEMA,
                "role": role,
                "our_label": result.our_label,
                "partner": partner,
                "transport": transport,
                "started": started,
                "finished": finished,
                "policy_sha256": policy_sha256,
                "matched_pairs": len(ids),
            }
        ],
    )
    return WarehouseTables(overlaps=overlaps, counts=counts, runs=runs)


_OVERLAP_FIXED = frozenset(
    {
        "run_id",
        "partner",
        "our_record_id",
        "our_populations",
        "partner_populations",
        "matched_key_types",
    }
)


def _COUNTS_SCHEMA(pa: Any) -> Any:  # noqa: N802 - a schema, built once pyarrow is imported
    return pa.schema(
        [
            ("run_id", pa.string()),
            ("partner", pa.string()),
            ("our_population", pa.string()),
            ("partner_population", pa.string()),
            ("overlap", pa.int64()),
            ("our_size", pa.int64()),
            ("partner_size", pa.int64()),
            ("our_disclosure", pa.string()),
            ("partner_disclosure", pa.string()),
        ]
    )


def _RUNS_SCHEMA(pa: Any) -> Any:  # noqa: N802
    return pa.schema(
        [
            ("run_id", pa.string()),
            ("schema_version", pa.string()),
            ("role", pa.string()),
            ("our_label", pa.string()),
            ("partner", pa.string()),
            ("transport", pa.string()),
            ("started", pa.timestamp("s", tz="UTC")),
            ("finished", pa.timestamp("s", tz="UTC")),
            ("policy_sha256", pa.string()),
            ("matched_pairs", pa.int64()),
        ]
    )
