"""Population filters: named subsets of the rows (Customers, Prospects, ...) a party shares.

Why compiled: filters run once per row on files of a million rows, so each ``where`` is turned
once per table into conditions on resolved column names, with a per-condition memo of raw
cell -> verdict (lifecycle columns have a handful of distinct values, so after the first few
rows a condition costs one dict lookup). A record can be in several populations.

Matching rules: column names and values compare ignoring case and whitespace ("Sales Qualified
Lead" = "salesqualifiedlead"); a value ending in ``*`` matches by prefix; ``"*"`` alone matches
any non-blank cell; ``""`` matches a blank cell; several columns must all match (AND), several
values for one column are alternatives (OR). A population without ``where`` holds every row.
Operator tables (:class:`~.policy.ColumnTest`) add ``not_in`` and comparisons of numbers
(``"$50,000"`` reads as 50000) and dates (ISO, ``MM/DD/YYYY`` or ``DD.MM.YYYY``); a cell that
is not a number or a date fails a comparison, and is counted, so that a filter matching nothing
can say why (:meth:`CompiledPopulations.explain`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import ge, gt, itemgetter, le, lt

from ..errors import PolicyError
from .headers import find_column
from .policy import ColumnTest, PopulationSpec

__all__ = [
    "CompiledPopulations",
    "Condition",
    "compile_populations",
    "parse_date",
    "parse_number",
    "value_token",
]

_MEMO_LIMIT = 1 << 16
_COMPARE = {"gt": gt, "ge": ge, "lt": lt, "le": le}
#: a number, perhaps with a currency sign or code and thousands separators: "$1,250,000.00"
_NUMBER = re.compile(
    r"^\s*(?:[A-Za-z]{3}\s?|[$€£¥])?\s*([-+]?\d[\d,' ]*(?:\.\d+)?)\s*(?:\s?[A-Za-z]{3}|[$€£¥])?\s*$"
)
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:$|[T ])")
_US_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:$|\s)")
_DOT_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:$|\s)")


def parse_number(cell: str) -> float | None:
    """The number in a cell (``"1,250,000"``, ``"$50000.00"``, ``"EUR 12 500"``), or None."""
    found = _NUMBER.match(cell)
    if found is None:
        return None
    return float(re.sub(r"[,' ]", "", found[1]))


def parse_date(cell: str) -> dt.date | None:
    """The date in a cell: ISO (a datetime's date part), ``MM/DD/YYYY`` (US CRM exports) or
    ``DD.MM.YYYY``; None otherwise."""
    try:
        if found := _ISO_DATE.match(cell):
            return dt.date(int(found[1]), int(found[2]), int(found[3]))
        if found := _US_DATE.match(cell):
            return dt.date(int(found[3]), int(found[1]), int(found[2]))
        if found := _DOT_DATE.match(cell):
            return dt.date(int(found[3]), int(found[2]), int(found[1]))
    except ValueError:  # 2025-02-30
        return None
    return None


def value_token(value: str | None) -> str:
    """Compare cell values ignoring case and all whitespace; blank is ``""``."""
    if value is None:
        return ""
    return "".join(value.split()).casefold()


@dataclass(slots=True, frozen=True)
class _Values:
    """Accepted values of a column: exact tokens, prefixes, or "any non-blank value"."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]
    any_value: bool

    @classmethod
    def build(cls, values: Sequence[str]) -> _Values:
        exact: set[str] = set()
        prefixes: list[str] = []
        any_value = False
        for value in values:
            stripped = value.strip()
            if stripped == "*":
                any_value = True
            elif stripped.endswith("*"):
                prefixes.append(value_token(stripped[:-1]))
            else:
                exact.add(value_token(value))
        return cls(frozenset(exact), tuple(prefixes), any_value)

    def match(self, token: str) -> bool:
        return token in self.exact or (
            bool(token) and (self.any_value or token.startswith(self.prefixes))
        )


@dataclass(slots=True, eq=False)
class Condition:
    """One column's test, memoized per raw cell: accepted values, rejected values (``not_in``)
    and comparisons, all of which must hold.

    It counts the distinct cells it saw, passed, and could not read as a number or a date,
    for :meth:`explain`.
    """

    column: str
    text: str
    accept: _Values | None = None
    reject: _Values | None = None
    bounds: tuple[tuple[str, float | dt.date], ...] = ()
    dates: bool = False
    memo: dict[str | None, bool] = field(default_factory=dict, repr=False)
    seen: int = 0
    passed: int = 0
    unreadable: int = 0
    example: str | None = None

    @classmethod
    def build(
        cls, column: str, value: Sequence[str] | ColumnTest, *, today: dt.date | None = None
    ) -> Condition:
        if not isinstance(value, ColumnTest):
            shown = " or ".join(map(repr, value))
            return cls(column, f"{column} = {shown}", accept=_Values.build(value))
        bounds: list[tuple[str, float | dt.date]] = list(value.bounds)
        if value.within is not None:
            day = today or dt.date.today()
            back, ahead = value.within
            bounds += [
                ("ge", day - dt.timedelta(days=back)),
                ("le", day + dt.timedelta(days=ahead)),
            ]
        return cls(
            column,
            value.describe(column),
            accept=_Values.build(value.in_) if value.in_ is not None else None,
            reject=_Values.build(value.not_in) if value.not_in is not None else None,
            bounds=tuple(bounds),
            dates=value.compares_dates,
        )

    def test(self, cell: str | None) -> bool:
        verdict = self.memo.get(cell)
        if verdict is None:
            verdict = self._evaluate(cell)
            if len(self.memo) < _MEMO_LIMIT:
                self.memo[cell] = verdict
        return verdict

    def _evaluate(self, cell: str | None) -> bool:
        self.seen += 1
        token = value_token(cell)
        if self.accept is not None and not self.accept.match(token):
            return False
        if self.reject is not None and self.reject.match(token):
            return False
        if self.bounds:
            if cell is None or not token:
                return False
            parsed = parse_date(cell) if self.dates else parse_number(cell)
            if parsed is None:
                self.unreadable += 1
                if self.example is None:
                    self.example = cell[:40]
                return False
            if not all(_COMPARE[op](parsed, bound) for op, bound in self.bounds):
                return False
        self.passed += 1
        return True

    def explain(self) -> str:
        """What this test did with the cells it saw, e.g. ``ARR > 50000: 0 of 12 distinct
        values pass; 3 are not numbers (such as 'n/a')``."""
        out = f"{self.text}: {self.passed:,} of {self.seen:,} distinct values pass"
        if self.unreadable:
            kind = "dates" if self.dates else "numbers"
            out += f"; {self.unreadable:,} are not {kind} (such as {self.example!r})"
        return out


@dataclass(eq=False)
class CompiledPopulations:
    """The populations of a policy bound to one table's header.

    :meth:`membership` memoizes on the row's values in the filtered columns (usually one
    lifecycle column with a handful of values), and returns one shared frozenset per distinct
    combination, so a million records hold a handful of set objects, not a million.
    """

    names: tuple[str, ...]
    _filters: tuple[tuple[str, tuple[Condition, ...]], ...]
    _columns: tuple[str, ...] = ()
    _memo: dict[object, frozenset[str]] = field(default_factory=dict)
    _interned: dict[tuple[bool, ...], frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        columns = {c.column: None for _, conds in self._filters for c in conds}
        self._columns = tuple(columns)
        self._signature = itemgetter(*self._columns) if self._columns else None

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the filters read."""
        return self._columns

    def membership(self, values: Mapping[str, str | None]) -> frozenset[str]:
        """Names of the populations this row belongs to (possibly several, possibly none)."""
        signature = self._signature(values) if self._signature is not None else None
        found = self._memo.get(signature)
        if found is None:
            found = self._evaluate(values)
            if len(self._memo) < _MEMO_LIMIT:
                self._memo[signature] = found
        return found

    def explain(self, name: str) -> str:
        """Why population ``name`` holds no row: each of its tests and what it passed."""
        conds = next((c for n, c in self._filters if n == name), ())
        return "; ".join(c.explain() for c in conds)

    def unreadable(self, name: str) -> bool:
        """Whether a comparison of population ``name`` met cells that are not numbers or
        dates (a type mix-up, not an empty population)."""
        conds = next((c for n, c in self._filters if n == name), ())
        return any(c.unreadable for c in conds)

    def _evaluate(self, values: Mapping[str, str | None]) -> frozenset[str]:
        key = tuple(
            all(cond.test(values.get(cond.column)) for cond in conds) for _, conds in self._filters
        )
        found = self._interned.get(key)
        if found is None:
            pairs = zip(self._filters, key, strict=True)
            found = frozenset(name for (name, _), hit in pairs if hit)
            self._interned[key] = found
        return found


def compile_populations(
    specs: Mapping[str, PopulationSpec],
    header: Sequence[str],
    *,
    source: str | None = None,
    policy_source: str | None = None,
    today: dt.date | None = None,
) -> CompiledPopulations:
    """Bind population filters to a header, once per table (``within`` counts from ``today``,
    the local date by default).

    A ``where`` column the header lacks is a :class:`PolicyError` naming the population, the
    column, the table and the columns it does have.
    """
    filters: list[tuple[str, tuple[Condition, ...]]] = []
    for name, spec in specs.items():
        conds: list[Condition] = []
        for column, values in spec.where.items():
            resolved = find_column(header, column)
            if resolved is None:
                raise PolicyError(
                    f"population {name!r} filters on column {column!r}, which "
                    f"{source or 'the table'} does not have; its columns are: "
                    f"{', '.join(header)}",
                    file=policy_source,
                    column=column,
                )
            conds.append(Condition.build(resolved, values, today=today))
        filters.append((name, tuple(conds)))
    return CompiledPopulations(names=tuple(specs), _filters=tuple(filters))
