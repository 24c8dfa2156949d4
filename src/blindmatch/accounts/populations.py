"""Population filters: named subsets of the rows (Customers, Prospects, ...) a party shares.

Why compiled: filters run once per row on files of a million rows, so each ``where`` is turned
once per table into conditions on resolved column names, with a per-condition memo of raw
cell -> verdict (lifecycle columns have a handful of distinct values, so after the first few
rows a condition costs one dict lookup). A record can be in several populations.

Matching rules: column names and values compare ignoring case and whitespace ("Sales Qualified
Lead" = "salesqualifiedlead"); a value ending in ``*`` matches by prefix; ``"*"`` alone matches
any non-blank cell; ``""`` matches a blank cell; several columns must all match (AND), several
values for one column are alternatives (OR). A population without ``where`` holds every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from ..errors import PolicyError
from .headers import find_column
from .policy import PopulationSpec

__all__ = ["CompiledPopulations", "Condition", "compile_populations", "value_token"]

_MEMO_LIMIT = 1 << 16


def value_token(value: str | None) -> str:
    """Compare cell values ignoring case and all whitespace; blank is ``""``."""
    if value is None:
        return ""
    return "".join(value.split()).casefold()


@dataclass(slots=True, eq=False)
class Condition:
    """One column test: exact tokens, prefixes, or "any non-blank value"."""

    column: str
    exact: frozenset[str]
    prefixes: tuple[str, ...]
    any_value: bool
    memo: dict[str | None, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, column: str, values: Sequence[str]) -> Condition:
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
        return cls(column, frozenset(exact), tuple(prefixes), any_value)

    def test(self, cell: str | None) -> bool:
        verdict = self.memo.get(cell)
        if verdict is None:
            token = value_token(cell)
            verdict = token in self.exact or (
                bool(token) and (self.any_value or token.startswith(self.prefixes))
            )
            if len(self.memo) < _MEMO_LIMIT:
                self.memo[cell] = verdict
        return verdict


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

    def membership(self, values: Mapping[str, str | None]) -> frozenset[str]:
        """Names of the populations this row belongs to (possibly several, possibly none)."""
        signature = self._signature(values) if self._signature is not None else None
        found = self._memo.get(signature)
        if found is None:
            found = self._evaluate(values)
            if len(self._memo) < _MEMO_LIMIT:
                self._memo[signature] = found
        return found

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
) -> CompiledPopulations:
    """Bind population filters to a header, once per table.

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
            conds.append(Condition.build(resolved, values))
        filters.append((name, tuple(conds)))
    return CompiledPopulations(names=tuple(specs), _filters=tuple(filters))
