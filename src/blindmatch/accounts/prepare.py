"""Turn account sources plus a policy into what a session needs: records, terms, diagnostics.

Why one pass: the sources may hold a million rows, so every row is read once, streamed, and
everything is computed from that single pass: population membership, normalized keys (through
the normalizer's per-value memo), the record id, revealed fields, and the diagnostics counts.
:func:`inspect_sources` runs the same pass without keeping records, so what the report says is
exactly what preparation would do.

Rules (decisions the protocol relies on):

- A row becomes a record only if it is in at least one *shared* (non-hidden) population and has
  at least one usable key; every other row is counted, by reason, never silently dropped.
- Keys are (key type, normalized value) pairs, deduplicated, ordered by the policy's key type
  priority, then by source column. A cell may give several keys of its type (bm-norm/2 reads
  "Alphabet Inc. dba Google" as two names). Under bm-norm/2 a row's keys are then read
  together (:func:`~blindmatch.accounts.normalize.record_keys`): a domain that agrees with a
  name adds its brand key, and a free-mail website whose brand no name agrees with is dropped.
- Rows with the same record id are one account: they are merged into one record (keys,
  populations and fields united; the earlier row wins a field) and counted in diagnostics.
- A missing record id column (or a blank id cell) gives ids ``"<file>:<row>"`` and a warning.
  Ids are kept exactly as in the file, so results join back to the CRM.
- ``fields`` holds only columns named by the records-level populations the record is in, keyed
  by the name the policy uses, with the cell text exactly as in the file; blank cells are left
  out.
- When preparing, keys of rows outside every shared population are not normalized (they can
  never take part); the diagnostics say which rows their key counts cover.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from ..errors import InputError, PolicyError, UsageError
from ..io.readers import _DATA_LIKE, Table
from ..io.tabular import is_one_source, open_source
from ..protocol.model import Disclosure, Record, Terms
from .diagnostics import REASON_ORDER, Diagnostics, DuplicateSummary, SourceInfo
from .headers import ColumnMap, find_column, recognize_columns
from .keytypes import DEFAULT_KEY_TYPES, key_type_info, normalize_key
from .normalize import (
    BRAND_PREFIX,
    PROFILE,
    PROFILE_1,
    Normalized,
    email_domain,
    record_keys,
)
from .policy import ALL_ACCOUNTS, Policy, PopulationSpec, default_policy
from .populations import CompiledPopulations, compile_populations

__all__ = ["PreparedParty", "ScanResult", "inspect_sources", "prepare_party", "region_code", "scan"]

Source = Table | str | os.PathLike[str] | Any
KeyFn = Callable[[str, "str | None"], Normalized]

_EMPTY_FIELDS: Mapping[str, str] = MappingProxyType({})
_ROW_BITS = 40
_ROW_MASK = (1 << _ROW_BITS) - 1
_EXAMPLES = 5
_EXAMPLE_ROWS = 5
_REASON_RANK = {reason: rank for rank, reason in enumerate(REASON_ORDER)}


@dataclass(frozen=True)
class PreparedParty:
    """Everything one party brings to a session."""

    records: list[Record]
    terms: Terms
    diagnostics: Diagnostics
    #: The policy as applied: the one given, with defaults that depend on the data resolved
    #: (a policy without populations on files without a lifecycle column gets "Accounts").
    policy: Policy
    #: The pyarrow type every source's id column has (typed sources: Parquet, SQL, Arrow),
    #: so ids can go out in it; None when ids are text or made up (``file:row``).
    id_type: Any = None

    @property
    def records_without_keys(self) -> int:
        """Rows without a usable key, as :attr:`Diagnostics.rows_without_usable_key` defines
        them (what run.json and summary.json report)."""
        return self.diagnostics.rows_without_usable_key


@dataclass(frozen=True)
class ScanResult:
    records: list[Record]
    diagnostics: Diagnostics
    #: ``None`` for an inspection without a policy.
    terms: Terms | None
    #: The policy as applied (defaults that depend on the data resolved).
    policy: Policy | None = None
    id_type: Any = None


def prepare_party(
    sources: Sequence[Source] | Source,
    policy: Policy,
    *,
    progress: Callable[[int], None] | None = None,
    allow_short_rows: bool = False,
) -> PreparedParty:
    """Read the sources and build the records and terms a session runs on.

    ``sources`` are paths (CSV, JSON Lines, Parquet), :class:`~blindmatch.io.Table` objects or
    pandas DataFrames. Raises :class:`InputError` for unreadable data and :class:`PolicyError`
    when the policy does not fit the data (unknown column, no column for a key type).
    ``allow_short_rows`` reads CSV rows with fewer cells than the header as blank-padded
    instead of refusing them (:func:`blindmatch.io.read_csv`).
    """
    if not isinstance(policy, Policy):  # the caller's argument: checked, not asserted
        raise UsageError(f"prepare_party() needs a Policy, not {type(policy).__name__}")
    result = scan(
        sources, policy, keep_records=True, progress=progress, allow_short_rows=allow_short_rows
    )
    # Internal: scan() returns terms and a policy whenever it was given a policy.
    assert result.terms is not None and result.policy is not None
    return PreparedParty(
        records=result.records,
        terms=result.terms,
        diagnostics=result.diagnostics,
        policy=result.policy,
        id_type=result.id_type,
    )


def inspect_sources(
    sources: Sequence[Table | str | os.PathLike[str] | Any],
    policy: Policy | None = None,
    *,
    allow_short_rows: bool = False,
) -> Diagnostics:
    """Read the sources and report on them, without preparing anything to send.

    Without a policy, every key type the headers provide is counted and the populations are
    the defaults (:func:`~blindmatch.accounts.policy.default_policy`), and problems that would
    stop :func:`prepare_party` (no key column, no lifecycle
    column) become warnings.
    """
    return scan(sources, policy, keep_records=False, allow_short_rows=allow_short_rows).diagnostics


# -- phone regions --------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "usa": "US",
    "us": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "unitedstatesofamerica": "US",
    "america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "greatbritain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northernireland": "GB",
}
_region_names: dict[str, str] | None = None
_region_cache: dict[str, str | None] = {}


def _names() -> dict[str, str]:
    """Country names in every language phonenumbers knows -> ISO code (built once, lazily)."""
    global _region_names
    if _region_names is None:
        names: dict[str, str] = {}
        try:
            locale: Any = importlib.import_module("phonenumbers.geodata.locale")
            data: Mapping[str, Mapping[str, str]] = locale.LOCALE_DATA
        except (ImportError, AttributeError):  # pragma: no cover - depends on phonenumbers
            data = {}
        for code, by_lang in data.items():
            for name in by_lang.values():
                if name.startswith("*"):
                    name = by_lang.get(name[1:], "")
                if name:
                    names.setdefault("".join(name.split()).casefold(), code)
        _region_names = names
    return _region_names


def region_code(value: str | None) -> str | None:
    """An ISO 3166 code for phone parsing from a country cell ("DE", "Germany", "USA").

    ``None`` if the cell is blank or not recognized (the policy's default region applies).
    """
    if value is None:
        return None
    cached = _region_cache.get(value)
    if cached is not None or value in _region_cache:
        return cached
    import phonenumbers  # the normalizer depends on it already

    token = "".join(value.split()).casefold()
    code: str | None = _COUNTRY_ALIASES.get(token)
    if code is None and len(token) == 2 and token.upper() in phonenumbers.SUPPORTED_REGIONS:
        code = token.upper()
    if code is None:
        code = _names().get(token)
    if code is not None and code not in phonenumbers.SUPPORTED_REGIONS:
        code = None
    if len(_region_cache) < 4096:
        _region_cache[value] = code
    return code


# -- the pass ---------------------------------------------------------------------------------


def _key_fn(key_type: str, via: str, gmail_rules: bool, profile: str) -> KeyFn:
    if via == "email_domain":
        return lambda raw, region: email_domain(raw, profile=profile)
    if via == "domain_or_email":
        return lambda raw, region: (
            email_domain(raw, profile=profile)
            if "@" in raw and "/" not in raw
            else normalize_key("domain", raw, profile=profile)
        )
    normalize = key_type_info(key_type).normalize
    return lambda raw, region: normalize(raw, region, gmail_rules, profile)


@dataclass
class _Plan:
    table: Table
    ref_name: str
    cmap: ColumnMap
    policy: Policy
    specs: dict[str, PopulationSpec]
    compiled: CompiledPopulations
    #: (key type, source index, column, normalizer) in priority order
    key_sources: list[tuple[str, int, str, KeyFn]]
    fields: dict[str, str]


def _as_list(sources: Sequence[Source] | Source) -> list[Source]:
    if is_one_source(sources):
        return [sources]
    return list(cast("Sequence[Source]", sources))


def _looked_for(key_type: str) -> str:
    return key_type_info(key_type).looked_for


def scan(
    sources: Sequence[Source] | Source,
    policy: Policy | None,
    *,
    keep_records: bool,
    progress: Callable[[int], None] | None = None,
    allow_short_rows: bool = False,
) -> ScanResult:
    """The single pass behind :func:`prepare_party` and :func:`inspect_sources`.

    ``progress`` is called with the number of rows read so far, every 16,384 rows.
    """
    items = _as_list(sources)
    if not items:
        raise UsageError("no account sources given")
    tables = [open_source(s, allow_short_rows=allow_short_rows) for s in items]
    binding = _bind(tables, policy)
    policy = binding.policy
    state = _Pass(binding, policy, keep_records=keep_records, progress=progress)
    # The pass allocates millions of small objects that all stay alive: psi-run pauses the
    # cyclic collector for the run (cli.main), a process-wide choice the library leaves to
    # the program that embeds it.
    for t_index, plan in enumerate(binding.plans):
        state.run(t_index, plan)
    _check_rows(state.sources, binding.warnings)
    diag = state.report()
    if policy is not None and diag.rows:
        _check_filters_match(policy, binding, diag, keep_records=keep_records)
    terms: Terms | None = None
    if policy is not None:
        terms = (
            policy.terms(key_types=binding.key_types) if policy.keys_defaulted else policy.terms()
        )
        limit = terms.payload_bytes - 4
        diag.records_over_payload = sum(
            1 for r in state.records if r.fields and _payload_size(r.fields) > limit
        )
        if diag.records_over_payload:
            diag.warnings.append(
                f"{diag.records_over_payload:,} records have revealed fields larger than "
                f"payload_bytes = {terms.payload_bytes} allows; raise payload_bytes or reveal "
                "fewer fields"
            )
    return ScanResult(
        records=state.records,
        diagnostics=diag,
        terms=terms,
        policy=policy,
        id_type=_id_type(binding.plans, made_up=state.rows_without_id > 0),
    )


def _id_type(plans: Sequence[_Plan], *, made_up: bool) -> Any:
    """The one source type of the record ids, if every source has a typed id column of it."""
    found = {
        plan.table.types.get(plan.cmap.id_column) if plan.cmap.id_column else None for plan in plans
    }
    if made_up or len(found) != 1:
        return None
    return found.pop()


def _check_filters_match(
    policy: Policy, binding: _Binding, diag: Diagnostics, *, keep_records: bool
) -> None:
    """A written filter that holds no row stops a run with an error naming what each test
    passed (a typo such as "Customer Direct", or "ARR" exported as text), unless the
    population says ``allow_empty`` (empty some weeks): then it is a warning, and so is a type
    mix-up never. Inspect reports every empty filter as a warning."""
    for name, spec in (policy.populations or {}).items():
        if not spec.where or diag.populations.get(name):
            continue
        why = "; ".join(
            f"{plan.table.name}: {plan.compiled.explain(name)}"
            if len(binding.plans) > 1
            else plan.compiled.explain(name)
            for plan in binding.plans
        )
        message = (
            f"populations.{_key(name)}: no row matches its filter ({why}); check the values "
            "against the file (`psi-run inspect` lists the columns)"
        )
        unreadable = any(plan.compiled.unreadable(name) for plan in binding.plans)
        if keep_records and (unreadable or not spec.allow_empty):
            if not unreadable:
                message += (
                    f", or set allow_empty = true in [populations.{_key(name)}] if it may be empty"
                )
            raise PolicyError(message, file=policy.source)
        diag.warnings.append(message)


def _data_like_header_cell(table: Table) -> str | None:
    """A header cell that looks like a value (a domain, an e-mail address, a number)."""
    return next((h for h in table.header if _DATA_LIKE.match(h)), None)


def _headerless_hint(tables: Sequence[Table]) -> str:
    for table in tables:
        cell = _data_like_header_cell(table)
        if cell is not None:
            return (
                f"; {table.name} may lack its header row: its first row holds {cell!r}, which "
                "looks like a value"
            )
    return ""


def _refuse_headerless(
    tables: Sequence[Table], cmaps: Sequence[ColumnMap], key_types: Sequence[str]
) -> None:
    """No key column, and a "column name" that looks like data: the export has no header
    row. That is the file's fault, not the policy's: say so, as an input error."""
    for table, cmap in zip(tables, cmaps, strict=True):
        cell = _data_like_header_cell(table)
        if cell is not None and not any(cmap.sources(kt) for kt in key_types):
            raise InputError(
                f"no header row? The first row holds {cell!r}, which looks like a value, and "
                "no column is recognized as a key; add a row of column names",
                file=table.name,
                row=1,
            )


def _check_rows(sources: list[SourceInfo], warnings: list[str]) -> None:
    """A source without data rows is a failed or wrong export: refuse a run on nothing."""
    if sum(info.rows for info in sources) == 0:
        only = sources[0].name if len(sources) == 1 else None
        where = "" if only else f" in {', '.join(info.name for info in sources)}"
        raise InputError(
            f"no data rows{where}: only a header (or blank lines); check the export", file=only
        )
    for info in sources:
        if info.rows == 0:
            warnings.append(f"{info.name}: no data rows, only a header (or blank lines)")


@dataclass
class _Binding:
    """The policy bound to every table: checked against headers before any row is read."""

    plans: list[_Plan]
    key_types: list[str]
    pop_names: list[str]
    disclosure: dict[str, Disclosure]
    n_sources: int
    warnings: list[str]
    #: The policy with data-dependent defaults resolved (``None`` for a plain inspection).
    policy: Policy | None


def _bind(tables: list[Table], policy: Policy | None) -> _Binding:
    inspecting = policy is None
    warnings: list[str] = []
    warn = warnings.append
    short = [t.short_name for t in tables]
    ref_names = [t.name if short.count(s) > 1 else s for t, s in zip(tables, short, strict=True)]

    cmaps: list[ColumnMap] = []
    policies: list[Policy] = []
    for table in tables:
        cmap = recognize_columns(
            table.header,
            policy.column_overrides() if policy is not None else None,
            source=table.name,
            policy_source=policy.source if policy is not None else None,
        )
        cmaps.append(cmap)
        policies.append(policy if policy is not None else default_policy("inspection", cmap))
        for note in table.notes:
            warn(f"{table.name}: {note}")
        for role, lost in cmap.missing.items():
            warn(
                f"{table.name}: columns.{role} lists {', '.join(map(repr, lost))}, which this "
                "file does not have (skipped)"
            )

    names = ", ".join(t.name for t in tables)
    if policy is None:
        # exactly what a run without a policy would use (default_policy)
        key_types = [kt for kt in DEFAULT_KEY_TYPES if any(cm.sources(kt) for cm in cmaps)]
        if not key_types:
            warn(
                "no column provides a domain, company name or DUNS number, the key types used "
                "without a policy; every row lacks a usable key" + _headerless_hint(tables)
            )
    elif policy.keys_defaulted:
        key_types = [kt for kt in DEFAULT_KEY_TYPES if any(cm.sources(kt) for cm in cmaps)]
        if not key_types:
            _refuse_headerless(tables, cmaps, DEFAULT_KEY_TYPES)
            raise PolicyError(
                f"no column provides a key: looked for a domain ({_looked_for('domain')}), a "
                f"company name ({_looked_for('name')}) and a DUNS number ({_looked_for('duns')}) "
                f"in {names}; map columns under [columns] or choose key types with [keys] use",
                file=policy.source,
            )
    else:
        key_types = list(policy.key_types)
        for kt in key_types:
            if not any(cm.sources(kt) for cm in cmaps):
                _refuse_headerless(tables, cmaps, key_types)
                raise PolicyError(
                    f"keys.use: no column provides {kt!r} in {names} (looked for "
                    f"{_looked_for(kt)}); map one under [columns] or remove it",
                    file=policy.source,
                )

    if policy is not None and policy.populations_defaulted:
        lacking = [
            t.name for t, cm in zip(tables, cmaps, strict=True) if cm.population_column is None
        ]
        if len(lacking) == len(tables):
            # nothing to derive Customers / Opportunities / Prospects from: one population
            # holding every row, as default_policy() does for such files
            policy = policy.model_copy(
                update={"populations": {ALL_ACCOUNTS: PopulationSpec(disclosure=Disclosure.COUNTS)}}
            )
            policies = [policy] * len(tables)
            warn(
                "the policy defines no [populations] and no source has a Salesforce 'Type' or "
                f"HubSpot 'Lifecycle Stage' column: every row is in one population "
                f"{ALL_ACCOUNTS!r} (counts only)"
            )
        else:
            for name in lacking:
                warn(
                    f"{name}: no 'Type' or 'Lifecycle Stage' column, so none of its rows is in "
                    "the default populations"
                )

    plans: list[_Plan] = []
    n_sources = 0
    for t_index, (table, cmap, pol) in enumerate(zip(tables, cmaps, policies, strict=True)):
        specs = pol.population_specs(cmap)
        compiled = compile_populations(
            specs, table.header, source=table.name, policy_source=pol.source
        )
        key_sources: list[tuple[str, int, str, KeyFn]] = []
        for kt in key_types:
            for src in cmap.sources(kt):
                fn = _key_fn(kt, src.via, pol.keys.gmail_rules, pol.normalization)
                key_sources.append((kt, n_sources, src.column, fn))
                n_sources += 1
        if not key_sources:
            message = (
                f"{table.name}: no column provides any of the key types "
                f"{', '.join(key_types) or '(none)'}; its columns are: {', '.join(table.header)}"
            )
            if not inspecting:
                raise PolicyError(message + "; map one under [columns]", file=pol.source)
            warn(message)
        if cmap.id_column is None:
            warn(
                f"{table.name}: no record id column (looked for Account ID, Id, Record ID, "
                f"Company ID); record ids are '{ref_names[t_index]}:<row>'. Map one with "
                '[columns] id = "..."'
            )
        field_cols: dict[str, str] = {}
        for spec in specs.values():
            if spec.disclosure is not Disclosure.RECORDS:
                continue
            for fname in spec.fields:
                col = find_column(table.header, fname)
                if col is not None:
                    field_cols[fname] = col
        plans.append(
            _Plan(table, ref_names[t_index], cmap, pol, specs, compiled, key_sources, field_cols)
        )

    if policy is not None and policy.populations is not None:
        for name, spec in policy.populations.items():
            if spec.disclosure is not Disclosure.RECORDS:
                continue
            for fname in spec.fields:
                missing_in = [p.table.name for p in plans if fname not in p.fields]
                if len(missing_in) == len(plans):
                    raise PolicyError(
                        f"populations.{_key(name)}.fields: no column {fname!r} in {names}; "
                        f"columns are: {', '.join(tables[0].header)}",
                        file=policy.source,
                    )
                if missing_in:
                    warn(
                        f"field {fname!r} of population {name!r} is not a column of "
                        f"{', '.join(missing_in)}; it stays blank there"
                    )

    pop_names: list[str] = []
    disclosure: dict[str, Disclosure] = {}
    for plan in plans:
        for name in plan.compiled.names:
            if name not in disclosure:
                pop_names.append(name)
                disclosure[name] = plan.policy.disclosure_of(name)
    if policy is not None:
        for name in policy.population_names:
            if name not in disclosure:
                pop_names.append(name)
                disclosure[name] = policy.disclosure_of(name)
    return _Binding(plans, key_types, pop_names, disclosure, n_sources, warnings, policy)


class _Pass:
    """State of the single pass over all rows: records, counters, duplicate trackers."""

    def __init__(
        self,
        binding: _Binding,
        policy: Policy | None,
        *,
        keep_records: bool,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.binding = binding
        self.progress = progress
        self.keep_records = keep_records
        self.key_types = binding.key_types
        self.priority = {kt: i for i, kt in enumerate(binding.key_types)}
        self.hidden = frozenset(n for n, d in binding.disclosure.items() if d is Disclosure.HIDDEN)
        self.records: list[Record] = []
        self.record_at: dict[str, int] = {}
        self.combo_rows: dict[frozenset[str], int] = {}
        #: per key source: [ok, invalid, junk, free-mail, blank, no-column] cell counts
        self.cells = [[0] * (1 + len(REASON_ORDER)) for _ in range(binding.n_sources)]
        self.source_type: dict[int, str] = {}
        self.rows_with_key = dict.fromkeys(binding.key_types, 0)
        self.without_key = [0] * len(REASON_ORDER)
        self.excluded = [0] * len(REASON_ORDER)
        self.first_key: dict[tuple[str, str], int] = {}
        self.dup_keys: dict[tuple[str, str], int] = {}
        self.key_examples: dict[tuple[str, str], list[int]] = {}
        self.examples_per_type: dict[str, int] = {}
        self.first_id: dict[str, int] = {}
        self.dup_ids: dict[str, int] = {}
        self.id_examples: dict[str, list[int]] = {}
        self.rows_without_id = 0
        self.in_no_population = 0
        self.merged = 0
        self.union_cache: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
        self.sources: list[SourceInfo] = []
        self.rows = 0
        self.key_rows = 0
        region = policy.keys.default_region if policy is not None else None
        if region is not None:
            region = "GB" if region.upper() == "UK" else region.upper()
        self.default_region = region

    def run(self, t_index: int, plan: _Plan) -> None:
        table = plan.table
        info = SourceInfo(
            name=table.name,
            format=table.format,
            encoding=table.encoding,
            delimiter=table.delimiter,
            flavour=plan.cmap.flavour,
            columns=plan.cmap.to_dict(),
        )
        self.sources.append(info)
        for kt, index, _column, _fn in plan.key_sources:
            self.source_type[index] = kt

        # hot loop: everything it touches is a local
        membership = plan.compiled.membership
        key_sources = plan.key_sources
        id_col = plan.cmap.id_column
        region_col = plan.cmap.region_column if "phone" in self.priority else None
        default_region = self.default_region
        ref_name = plan.ref_name
        base = t_index << _ROW_BITS
        keep = self.keep_records
        skip_outsiders = keep
        hidden = self.hidden
        combos: dict[frozenset[str], tuple[frozenset[str], tuple[tuple[str, str], ...]]] = {}
        combo_rows = self.combo_rows
        cells = self.cells
        rank_of = _REASON_RANK
        no_column = rank_of["no-column"]
        blank = rank_of["blank"]
        free_mail = rank_of["free-mail"]
        rows_with_key = self.rows_with_key
        without_key = self.without_key
        excluded = self.excluded
        first_key = self.first_key
        first_id = self.first_id
        dup_ids = self.dup_ids
        records = self.records
        record_at = self.record_at
        n_rows = 0
        n_key_rows = 0
        profile = plan.policy.normalization
        # bm-norm/2 reads a record's domain keys together with its names (record_keys)
        derive = profile != PROFILE_1 and "domain" in self.priority

        progress = self.progress
        # Only the cells the pass reads: a wide export need not become a wide dict per row.
        needed = {column for _, _, column, _ in key_sources}
        needed.update(plan.compiled.columns, plan.fields.values())
        needed.update(c for c in (id_col, region_col) if c is not None)
        for number, values in table.rows(needed):
            n_rows += 1
            if progress is not None and not n_rows & 0x3FFF:
                progress(self.rows + n_rows)
            ref = base | number
            pops = membership(values)
            combo = combos.get(pops)
            if combo is None:
                combo = combos[pops] = self._combo(plan, pops - hidden)
            combo_rows[pops] = combo_rows.get(pops, 0) + 1
            shared, field_plan = combo

            if id_col is not None:
                rid = values[id_col]
                if rid is None:
                    self.rows_without_id += 1
                    rid = f"{ref_name}:{number}"
                else:
                    first = first_id.setdefault(rid, ref)
                    if first != ref:
                        count = dup_ids.get(rid)
                        if count is None:
                            dup_ids[rid] = 2
                            if len(self.id_examples) < _EXAMPLES:
                                self.id_examples[rid] = [first, ref]
                        else:
                            dup_ids[rid] = count + 1
                            group = self.id_examples.get(rid)
                            if group is not None and len(group) < _EXAMPLE_ROWS:
                                group.append(ref)
            else:
                rid = f"{ref_name}:{number}"

            if not shared:
                self.in_no_population += 1
                if skip_outsiders:
                    continue  # never a record: spare the normalizer
            n_key_rows += 1

            region = default_region
            if region_col is not None:
                region = region_code(values[region_col]) or default_region

            keys: list[tuple[str, str]] = []
            worst = no_column if not key_sources else len(REASON_ORDER)
            last_type = ""
            for kt, index, column, fn in key_sources:
                raw = values[column]
                if raw is None:
                    rank = blank
                else:
                    result = fn(raw, region)
                    value = result.value
                    if value is not None:
                        cells[index][0] += 1
                        key = (kt, value)
                        if key not in keys:
                            keys.append(key)
                            if kt != last_type:
                                rows_with_key[kt] += 1
                                last_type = kt
                        for more in result.more:  # several names in one cell (bm-norm/2)
                            if (kt, more) not in keys:
                                keys.append((kt, more))
                        continue
                    rank = rank_of[result.reason or "invalid"]
                cells[index][rank + 1] += 1
                if rank < worst:
                    worst = rank

            if derive and keys:
                had_domain = any(k[0] == "domain" for k in keys)
                keys = record_keys(keys, profile)
                if had_domain and not any(k[0] == "domain" for k in keys):
                    rows_with_key["domain"] -= 1  # a free-mail website no name confirmed
                    if not keys:
                        worst = min(worst, free_mail)
            if keys:
                for key in keys:
                    if key[1].startswith(BRAND_PREFIX):
                        continue  # derived from a domain and a name, which are counted
                    first = first_key.setdefault(key, ref)
                    if first != ref:
                        self._duplicate_key(key, first, ref)
            else:
                without_key[worst] += 1

            if not shared:
                continue
            if not keys:
                excluded[worst] += 1
                continue
            if not keep:
                continue

            fields = _EMPTY_FIELDS
            if field_plan:
                found: dict[str, str] = {}
                for fname, column in field_plan:
                    cell = values.get(column)
                    if cell is not None:  # blank cells are None; others revealed byte-exact
                        found[fname] = cell
                if found:
                    fields = MappingProxyType(found)

            at = record_at.get(rid)
            if at is None:
                record_at[rid] = len(records)
                records.append(
                    Record(record_id=rid, keys=tuple(keys), populations=shared, fields=fields)
                )
            else:
                self._merge(at, keys, shared, fields)
        info.rows = n_rows
        self.rows += n_rows
        self.key_rows += n_key_rows

    def _combo(
        self, plan: _Plan, shared: frozenset[str]
    ) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
        """Shared populations of a membership combination and the fields they reveal."""
        pairs = [
            (fname, plan.fields[fname])
            for name in self.binding.pop_names
            if name in shared and self.binding.disclosure[name] is Disclosure.RECORDS
            for fname in plan.specs[name].fields
            if fname in plan.fields
        ]
        return shared, tuple(dict.fromkeys(pairs))

    def _duplicate_key(self, key: tuple[str, str], first: int, ref: int) -> None:
        count = self.dup_keys.get(key)
        if count is None:
            self.dup_keys[key] = 2
            seen = self.examples_per_type.get(key[0], 0)
            if seen < _EXAMPLES:
                self.examples_per_type[key[0]] = seen + 1
                self.key_examples[key] = [first, ref]
        else:
            self.dup_keys[key] = count + 1
            group = self.key_examples.get(key)
            if group is not None and len(group) < _EXAMPLE_ROWS:
                group.append(ref)

    def _merge(
        self,
        at: int,
        keys: list[tuple[str, str]],
        shared: frozenset[str],
        fields: Mapping[str, str],
    ) -> None:
        """Fold a row into the earlier record with the same id."""
        self.merged += 1
        old = self.records[at]
        new_keys = list(old.keys) + [k for k in keys if k not in old.keys]
        new_keys.sort(key=lambda k: self.priority[k[0]])
        pair = (old.populations, shared)
        union = self.union_cache.get(pair)
        if union is None:
            union = self.union_cache[pair] = old.populations | shared
        new_fields = old.fields
        if fields:
            combined = dict(fields)
            combined.update(old.fields)
            new_fields = MappingProxyType(combined)
        self.records[at] = Record(
            record_id=old.record_id, keys=tuple(new_keys), populations=union, fields=new_fields
        )

    def report(self) -> Diagnostics:
        binding = self.binding
        plans = binding.plans

        def refs(group: list[int]) -> list[str]:
            return [f"{plans[r >> _ROW_BITS].ref_name}:{r & _ROW_MASK}" for r in group]

        diag = Diagnostics(sources=self.sources, rows=self.rows, warnings=list(binding.warnings))
        diag.key_types = list(binding.key_types)
        diag.normalization = binding.policy.normalization if binding.policy is not None else PROFILE
        diag.disclosure = {n: binding.disclosure[n].value for n in binding.pop_names}
        diag.populations = dict.fromkeys(binding.pop_names, 0)
        for pops, n in self.combo_rows.items():
            for name in pops:
                diag.populations[name] = diag.populations.get(name, 0) + n
        diag.rows_in_no_population = self.in_no_population
        diag.rows_with_key = dict(self.rows_with_key)
        diag.rows_without_key = {
            r: n for r, n in zip(REASON_ORDER, self.without_key, strict=True) if n
        }
        diag.key_rows = self.key_rows
        diag.key_scope = "rows in a shared population" if self.keep_records else "all rows"
        diag.rows_with_any_key = self.key_rows - sum(self.without_key)
        outcomes = ("ok", *REASON_ORDER)
        by_type: dict[str, list[int]] = {kt: [0] * len(outcomes) for kt in binding.key_types}
        for index, counts in enumerate(self.cells):
            total = by_type[self.source_type[index]]
            for i, n in enumerate(counts):
                total[i] += n
        diag.cells = {
            kt: {o: n for o, n in zip(outcomes, counts, strict=True) if n}
            for kt, counts in by_type.items()
        }
        for kt in binding.key_types:
            summary = DuplicateSummary()
            for key, n in self.dup_keys.items():
                if key[0] == kt:
                    summary.values += 1
                    summary.rows += n
            summary.examples = [refs(g) for k, g in self.key_examples.items() if k[0] == kt]
            diag.duplicate_keys[kt] = summary
        diag.duplicate_record_ids = DuplicateSummary(
            values=len(self.dup_ids),
            rows=sum(self.dup_ids.values()),
            examples=[refs(g) for g in self.id_examples.values()],
        )
        diag.rows_without_record_id = self.rows_without_id
        diag.excluded_without_key = {
            r: n for r, n in zip(REASON_ORDER, self.excluded, strict=True) if n
        }
        if self.keep_records:
            diag.records = len(self.records)
            diag.rows_merged = self.merged
            if self.merged:
                diag.warnings.append(
                    f"{_plural(self.merged, 'row')} {_verb(self.merged, 'shares', 'share')} a "
                    "record id with an earlier row and were merged into it (keys, populations "
                    "and fields united)"
                )
        total_dups = sum(s.values for s in diag.duplicate_keys.values())
        if total_dups:
            diag.warnings.append(
                f"{_plural(total_dups, 'key')} {_verb(total_dups, 'appears', 'appear')} on more "
                "than one row; the session counts rows sharing a key as one account"
            )
        if diag.key_rows and not diag.rows_with_any_key:
            diag.warnings.append("no row has a usable key")
        return diag


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _key(name: str) -> str:
    return name if all(c.isalnum() or c in "_-" for c in name) and name.isascii() else f'"{name}"'


def _str_size(text: str) -> int:
    n = len(text.encode("utf-8"))
    return n + (1 if n < 32 else 2 if n < 256 else 3 if n < 65536 else 5)


def _payload_size(fields: Mapping[str, str]) -> int:
    """msgpack size of ``[fields]`` as the protocol packs a one-record payload."""
    body = sum(_str_size(k) + _str_size(v) for k, v in fields.items())
    return 1 + (1 if len(fields) < 16 else 3) + body
