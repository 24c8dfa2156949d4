"""The data owner's policy: which keys to offer, which populations to share and how, and what we
require of the partner. Written by people in TOML, so every mistake must be reported as the file,
the key path (``populations.Customers.disclosure``) and what was expected, with a did-you-mean
for misspelt keys, rather than as a pydantic dump.

Format (every table is optional except ``label``)::

    label = "Northwind Analytics"          # how the partner sees us
    normalization = "bm-norm/2"            # key normalization profile (default; or "bm-norm/1")
    payload_bytes = 512                    # our terms: fixed size of a revealed-fields payload

    [keys]
    use = ["domain", "name", "duns"]       # key types offered; default: these three
    default_region = "US"                  # phones without a country code
    gmail_rules = false
    keys_per_account = 3                   # key slots per account on the wire
    refuse_conflicts = "auto"              # no name-only match across conflicting
                                           # domains/DUNS: "auto" (the default) runs it from
                                           # bm-norm/2 unless both sides disclose records;
                                           # true also then (an agreed disclosure, §5.8)

    [columns]                              # explicit mapping; overrides header recognition
    id = "Account ID"
    domain = ["Website", "Contact Email"]  # e-mail columns feed domain via email_domain
    "custom:partner_id" = "Partner Id"
    region = "Billing Country"             # per-record phone region

    [populations.Customers]
    where = { Type = ["Customer - Direct", "Customer*"] }  # AND across columns; "x*" = prefix
    disclosure = "records"                 # hidden | counts | records
    fields = ["Account Name"]              # only with records

    [partner]
    require_populations = ["Customers"]
    min_disclosure = "counts"
    max_partner_populations = 16

``payload_bytes`` is top-level because it is part of *our* terms, not a demand on the partner.
A policy without ``[populations]`` uses the standard Customers / Opportunities / Prospects,
derived per file from Salesforce ``Type`` or HubSpot ``Lifecycle Stage`` (see
:func:`standard_populations`); when no source has either column, preparation puts every row in
one population "Accounts" instead. A policy without ``keys.use`` offers domain, name and duns,
narrowed to the key types the data has columns for (the most accurate precision-safe choice
under bm-norm/2, see README "Choosing key types"). Both are counts-only.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..errors import PolicyError
from ..io.readers import header_token
from ..protocol.model import (
    MAX_FIELDS,
    MAX_KEYS_PER_ACCOUNT,
    MAX_PAYLOAD_BYTES,
    MAX_POPULATIONS,
    NAME_PATTERN,
    Disclosure,
    PopulationTerms,
    Terms,
)
from .headers import ColumnMap
from .keytypes import DEFAULT_KEY_TYPES, KEY_TYPES, is_custom
from .normalize import PROFILE, PROFILES, profile_fingerprint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "DEFAULT_KEY_TYPES",
    "DEFAULT_POPULATION_NAMES",
    "KeysSpec",
    "PartnerSpec",
    "Policy",
    "PopulationSpec",
    "default_policy",
    "load_policy",
    "refuse_conflicts_default",
    "standard_populations",
]

DEFAULT_POPULATION_NAMES: tuple[str, ...] = ("Customers", "Opportunities", "Prospects")
#: Name of the single population :func:`default_policy` uses when no lifecycle column exists.
ALL_ACCOUNTS = "Accounts"
MIN_PAYLOAD_BYTES = 64
_RANK = {Disclosure.HIDDEN: 0, Disclosure.COUNTS: 1, Disclosure.RECORDS: 2}
_COLUMN_ROLES = ("id", "region", *KEY_TYPES)
_REGION = re.compile(r"^[A-Za-z]{2}$")


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


#: A string or a list of strings in TOML; always a tuple once validated.
OneOrMany = Annotated[tuple[StrictStr, ...], BeforeValidator(_one_or_many)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KeysSpec(_Section):
    """``[keys]``: which key types we offer and how they are normalized."""

    #: Key types offered, in priority order. ``None``: the default (domain, name, duns),
    #: narrowed to what the data has columns for.
    use: tuple[StrictStr, ...] | None = None
    default_region: StrictStr | None = None
    gmail_rules: StrictBool = False
    keys_per_account: StrictInt | None = None
    #: Refuse a name-only match between accounts that each carry a domain (or each a DUNS)
    #: and do not share it (protocol_spec.md §5.8). ``None`` or ``"auto"``: the profile's
    #: default (:func:`refuse_conflicts_default`), off for a session where both sides share
    #: records-level populations. ``True`` runs it there too, accepting that the expanding
    #: side learns the identifying key types of our accounts matched by name alone; both
    #: parties must then say true.
    refuse_conflicts: bool | Literal["auto"] | None = None

    @field_validator("refuse_conflicts", mode="plain")
    @classmethod
    def _check_refuse_conflicts(cls, value: object) -> bool | Literal["auto"] | None:
        """Three values; a plain validator so the error names them all at once."""
        if value is None or isinstance(value, bool):
            return value
        if value == "auto":
            return "auto"
        raise PydanticCustomError(
            "refuse_conflicts_type",
            'expected true, false or "auto", got {got}',
            {"got": _toml_type(value)},
        )


class PopulationSpec(_Section):
    """``[populations.<name>]``: a named filter and what we disclose about its records.

    ``where`` maps a column to accepted values (AND across columns, OR within a list). Values
    compare case- and space-insensitively; ``"Customer*"`` matches any value starting with
    "Customer", ``"*"`` any non-blank value, ``""`` a blank cell. No ``where``: every row.
    """

    where: dict[str, OneOrMany] = {}
    disclosure: Disclosure
    fields: tuple[StrictStr, ...] = ()


class PartnerSpec(_Section):
    """``[partner]``: what we require of the partner's terms before the session goes on."""

    require_populations: tuple[StrictStr, ...] = ()
    min_disclosure: Disclosure | None = None
    max_partner_populations: StrictInt | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Objection:
    """One reason to reject the partner's terms, worded for each side: ``ours`` for our user,
    ``theirs`` for the partner's (sent in the abort, where "we" is the partner)."""

    ours: str
    theirs: str


class Policy(_Section):
    """A validated policy. Build it with :func:`load_policy`, :meth:`from_toml_text`,
    :meth:`from_dict` or :func:`default_policy`; constructing it directly validates too.
    """

    label: StrictStr
    normalization: StrictStr = PROFILE
    payload_bytes: StrictInt = 512
    keys: KeysSpec = KeysSpec()
    columns: dict[str, OneOrMany] = {}
    #: ``None``: the standard populations (see :func:`standard_populations`).
    populations: dict[str, PopulationSpec] | None = None
    partner: PartnerSpec = PartnerSpec()

    _source: str = PrivateAttr(default="<policy>")

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_toml_text(cls, text: str, *, source: str = "<policy>") -> Policy:
        """Parse and validate TOML text; errors are :class:`PolicyError` naming ``source``."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"not valid TOML: {exc}", file=source) from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<policy>") -> Policy:
        """Validate a parsed policy (e.g. from TOML), reporting every problem at once."""
        problems = _unknown_keys(data)
        try:
            policy = cls.model_validate(dict(data))
        except ValidationError as exc:
            problems += _translate(exc)
        else:
            if not problems:
                policy._source = source
                return policy
        raise _policy_error(problems, source)

    # -- semantic checks (run on every construction) --------------------------------------

    @model_validator(mode="after")
    def _check(self) -> Policy:
        problems = _semantic_problems(self)
        if problems:
            raise PydanticCustomError(
                "policy_semantics",
                "{summary}",
                {"summary": "; ".join(f"{p}: {m}" for p, m in problems), "problems": problems},
            )
        return self

    # -- accessors ------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """Where the policy came from (file path, ``<default>``, ...), for messages."""
        return self._source

    def with_source(self, source: str) -> Policy:
        copy = self.model_copy()
        copy._source = source
        return copy

    @property
    def keys_defaulted(self) -> bool:
        """True when ``keys.use`` was not given (key types then follow the data's columns)."""
        return self.keys.use is None

    @property
    def key_types(self) -> tuple[str, ...]:
        return self.keys.use if self.keys.use is not None else DEFAULT_KEY_TYPES

    @property
    def populations_defaulted(self) -> bool:
        return self.populations is None

    @property
    def population_names(self) -> tuple[str, ...]:
        if self.populations is None:
            return DEFAULT_POPULATION_NAMES
        return tuple(self.populations)

    def disclosure_of(self, population: str) -> Disclosure:
        if self.populations is None:
            return Disclosure.COUNTS
        return self.populations[population].disclosure

    def population_specs(self, column_map: ColumnMap | None = None) -> dict[str, PopulationSpec]:
        """The populations to apply to one table (default ones depend on its columns).

        Empty when the policy uses the standard populations and the table has no column to
        derive them from.
        """
        if self.populations is not None:
            return dict(self.populations)
        return standard_populations(column_map) or {}

    def column_overrides(self) -> dict[str, tuple[str, ...]]:
        return dict(self.columns)

    @property
    def refuse_conflicts(self) -> bool:
        """Whether we propose the conflicting-strong-keys rule (given, or the profile's)."""
        given = self.keys.refuse_conflicts
        if given is None or given == "auto":
            return refuse_conflicts_default(self.normalization)
        return given

    def terms(self, *, key_types: Sequence[str] | None = None) -> Terms:
        """Our proposal for a session: hidden populations are left out entirely.

        ``key_types`` narrows the offered key types (prepare does this when ``keys.use`` was
        defaulted and the data lacks a column for one of them).
        """
        pops = tuple(
            PopulationTerms(name=name, disclosure=self.disclosure_of(name), fields=spec_fields)
            for name, spec_fields in self._population_fields()
            if self.disclosure_of(name) is not Disclosure.HIDDEN
        )
        return Terms(
            label=self.label,
            normalization=self.normalization,
            normalization_tables=profile_fingerprint(self.normalization),
            key_types=tuple(key_types) if key_types is not None else self.key_types,
            populations=pops,
            keys_per_account=self.keys.keys_per_account,
            payload_bytes=self.payload_bytes,
            refuse_conflicts=self.refuse_conflicts,
            # Only an explicit true accepts the disclosure the rule makes with records-level
            # populations on both sides (protocol_spec.md §5.8).
            reveal_flavours=self.keys.refuse_conflicts is True,
        )

    def _population_fields(self) -> list[tuple[str, tuple[str, ...]]]:
        if self.populations is None:
            return [(name, ()) for name in DEFAULT_POPULATION_NAMES]
        return [(name, spec.fields) for name, spec in self.populations.items()]

    def accepts(self, partner: Terms) -> list[str]:
        """Reasons to reject the partner's terms under ``[partner]``; empty means accept.

        Also flags what would make a session pointless or impossible: a different
        normalization profile, or no key type in common.
        """
        return [o.ours for o in self.objections(partner)]

    def objections(self, partner: Terms) -> list[Objection]:
        """:meth:`accepts`, each reason worded for us and for the partner (its own side)."""
        found: list[Objection] = []
        if partner.normalization != self.normalization:
            found.append(
                Objection(
                    f"the partner normalizes keys with {partner.normalization!r}, we use "
                    f"{self.normalization!r}; to match with this partner, both policies must "
                    f"name one profile (normalization = {partner.normalization!r})",
                    f"we normalize keys with {partner.normalization!r}, the partner uses "
                    f"{self.normalization!r}; to match with this partner, both policies must "
                    f"name one profile (normalization = {self.normalization!r})",
                )
            )
        common = [k for k in self.key_types if k in partner.key_types]
        if not common:
            ours, theirs = ", ".join(self.key_types), ", ".join(partner.key_types)
            found.append(
                Objection(
                    f"no key type in common: we offer {ours}, the partner offers {theirs}",
                    f"no key type in common: we offer {theirs}, the partner offers {ours}",
                )
            )
        offered = {p.name.casefold(): p for p in partner.populations}
        shown = ", ".join(repr(p.name) for p in partner.populations) or "none"
        for name in self.partner.require_populations:
            if name.casefold() not in offered:
                found.append(
                    Objection(
                        f"the partner shares no population named {name!r} (it shares: {shown})",
                        f"we share no population named {name!r}, which the partner requires "
                        f"(we share: {shown})",
                    )
                )
        floor = self.partner.min_disclosure
        if floor is not None:
            for pop in partner.populations:
                if _RANK[pop.disclosure] < _RANK[floor]:
                    found.append(
                        Objection(
                            f"the partner discloses only {pop.disclosure.value!r} for "
                            f"population {pop.name!r}; we require at least {floor.value!r}",
                            f"we disclose only {pop.disclosure.value!r} for population "
                            f"{pop.name!r}; the partner requires at least {floor.value!r}",
                        )
                    )
        most = self.partner.max_partner_populations
        if most is not None and len(partner.populations) > most:
            n = len(partner.populations)
            found.append(
                Objection(
                    f"the partner shares {n} populations; we accept at most {most}",
                    f"we share {n} populations; the partner accepts at most {most}",
                )
            )
        return found

    # -- writing --------------------------------------------------------------------------

    def to_toml(self) -> str:
        """The policy as TOML that :meth:`from_toml_text` reads back to an equal policy."""
        out = [
            f"label = {_toml_str(self.label)}",
            f"normalization = {_toml_str(self.normalization)}",
        ]
        out.append(f"payload_bytes = {self.payload_bytes}")
        keys = ["", "[keys]"]
        if self.keys.use is not None:
            keys.append(f"use = {_toml_list(self.keys.use)}")
        if self.keys.default_region is not None:
            keys.append(f"default_region = {_toml_str(self.keys.default_region)}")
        keys.append(f"gmail_rules = {'true' if self.keys.gmail_rules else 'false'}")
        if self.keys.keys_per_account is not None:
            keys.append(f"keys_per_account = {self.keys.keys_per_account}")
        given = self.keys.refuse_conflicts
        if given is not None:
            shown = _toml_str(given) if isinstance(given, str) else str(given).lower()
            keys.append(f"refuse_conflicts = {shown}")
        out += keys
        if self.columns:
            out += ["", "[columns]"]
            for role, cols in self.columns.items():
                value = _toml_str(cols[0]) if len(cols) == 1 else _toml_list(cols)
                out.append(f"{_toml_key(role)} = {value}")
        for name, spec in (self.populations or {}).items():
            out += ["", f"[populations.{_toml_key(name)}]"]
            if spec.where:
                inner = ", ".join(
                    f"{_toml_key(col)} = {_toml_list(vals)}" for col, vals in spec.where.items()
                )
                out.append(f"where = {{ {inner} }}")
            out.append(f"disclosure = {_toml_str(spec.disclosure.value)}")
            if spec.fields:
                out.append(f"fields = {_toml_list(spec.fields)}")
        partner = []
        if self.partner.require_populations:
            partner.append(f"require_populations = {_toml_list(self.partner.require_populations)}")
        if self.partner.min_disclosure is not None:
            partner.append(f"min_disclosure = {_toml_str(self.partner.min_disclosure.value)}")
        if self.partner.max_partner_populations is not None:
            partner.append(f"max_partner_populations = {self.partner.max_partner_populations}")
        if partner:
            out += ["", "[partner]", *partner]
        return "\n".join(out) + "\n"


# -- loading ----------------------------------------------------------------------------------


#: A policy is a few dozen lines; anything far larger is the wrong file.
MAX_POLICY_BYTES = 1024 * 1024


def load_policy(path: str | Path) -> Policy:
    """Read and validate a TOML policy file; every error is a :class:`PolicyError` naming it."""
    source = str(path)
    try:
        with Path(path).open("rb") as fh:  # bounded: /dev/zero or a huge file is no policy
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        raise PolicyError("policy file not found", file=source) from None
    except IsADirectoryError:
        raise PolicyError("is a directory, not a policy file", file=source) from None
    except OSError as exc:
        reason = exc.strerror or exc
        raise PolicyError(f"cannot read the policy file: {reason}", file=source) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(
            f"larger than {MAX_POLICY_BYTES // 1024} KiB: not a policy file", file=source
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"policy files must be UTF-8 ({exc.reason})", file=source) from None
    return Policy.from_toml_text(text, source=source)


def standard_populations(column_map: ColumnMap | None) -> dict[str, PopulationSpec] | None:
    """Customers / Opportunities / Prospects from a CRM's lifecycle column, or ``None``.

    Salesforce ``Type``: values starting with "Customer" (Customer - Direct, Customer -
    Channel), "Opportunity" or "Pipeline", and "Prospect". HubSpot ``Lifecycle Stage``: customer;
    opportunity and sales qualified lead; lead, marketing qualified lead and subscriber (values
    compare ignoring case and spaces, so "Sales Qualified Lead" = "salesqualifiedlead").
    Disclosure is ``counts`` for all three.
    """
    column = column_map.population_column if column_map is not None else None
    if column is None:
        return None
    counts = Disclosure.COUNTS
    if header_token(column) == "lifecyclestage":
        return {
            "Customers": PopulationSpec(where={column: ("customer",)}, disclosure=counts),
            "Opportunities": PopulationSpec(
                where={column: ("opportunity", "salesqualifiedlead")}, disclosure=counts
            ),
            "Prospects": PopulationSpec(
                where={column: ("lead", "marketingqualifiedlead", "subscriber")},
                disclosure=counts,
            ),
        }
    return {
        "Customers": PopulationSpec(where={column: ("Customer*",)}, disclosure=counts),
        "Opportunities": PopulationSpec(
            where={column: ("Opportunity*", "Pipeline*")}, disclosure=counts
        ),
        "Prospects": PopulationSpec(where={column: ("Prospect*",)}, disclosure=counts),
    }


#: Profiles whose partners, by default, do not refuse name matches between conflicting
#: strong keys: bm-norm/1 predates the rule, and its sessions keep their exact bytes.
_PROFILES_WITHOUT_CONFLICT_RULE = frozenset({"bm-norm/1"})


def refuse_conflicts_default(profile: str) -> bool:
    """The ``keys.refuse_conflicts`` a policy gets when it does not say: on from bm-norm/2."""
    return profile not in _PROFILES_WITHOUT_CONFLICT_RULE


def default_policy(label: str, column_map: ColumnMap | None = None) -> Policy:
    """The policy used when the user gives none.

    Keys: domain, plus name and duns if the table has columns for them. Populations: the
    standard three (counts only) if the table has a Salesforce ``Type`` or HubSpot ``Lifecycle
    Stage`` column, else one population "Accounts" holding every row. No partner requirements.
    """
    # The first default type (domain) is always offered; the others when a column has them.
    keys = [
        kt
        for i, kt in enumerate(DEFAULT_KEY_TYPES)
        if i == 0 or (column_map is not None and column_map.sources(kt))
    ]
    pops = standard_populations(column_map) or {
        ALL_ACCOUNTS: PopulationSpec(disclosure=Disclosure.COUNTS)
    }
    try:
        policy = Policy(label=label, keys=KeysSpec(use=tuple(keys)), populations=pops)
    except ValidationError as exc:
        raise _policy_error(_translate(exc), "<default policy>") from None
    return policy.with_source("<default policy>")


# -- validation helpers -------------------------------------------------------------------


def _semantic_problems(policy: Policy) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not policy.label.strip() or not NAME_PATTERN.match(policy.label):
        problems.append(("label", "expected 1 to 64 printable characters"))
    if policy.normalization not in PROFILES:
        problems.append(
            (
                "normalization",
                f"unsupported profile {policy.normalization!r}; this version speaks "
                f"{', '.join(map(repr, PROFILES))} (default {PROFILE!r})",
            )
        )
    if not MIN_PAYLOAD_BYTES <= policy.payload_bytes <= MAX_PAYLOAD_BYTES:
        problems.append(
            ("payload_bytes", f"expected {MIN_PAYLOAD_BYTES} to {MAX_PAYLOAD_BYTES} bytes")
        )

    keys = policy.keys
    if keys.use is not None:
        if not keys.use:
            problems.append(("keys.use", "expected at least one key type"))
        for key_type in keys.use:
            problem = _key_type_problem(key_type)
            if problem:
                problems.append(("keys.use", problem))
            elif key_type.startswith("custom:") and key_type not in policy.columns:
                problems.append(
                    (
                        "keys.use",
                        f'{key_type!r} needs a column: add {_toml_key(key_type)} = "<column>" '
                        "under [columns]",
                    )
                )
        dupes = sorted({k for k in keys.use if keys.use.count(k) > 1})
        if dupes:
            problems.append(("keys.use", f"{dupes[0]!r} is listed twice"))
    if keys.default_region is not None and not _known_region(keys.default_region):
        problems.append(
            (
                "keys.default_region",
                f'expected a two-letter ISO country code such as "US", got {keys.default_region!r}',
            )
        )
    if keys.keys_per_account is not None and not (
        1 <= keys.keys_per_account <= MAX_KEYS_PER_ACCOUNT
    ):
        problems.append(("keys.keys_per_account", f"expected 1 to {MAX_KEYS_PER_ACCOUNT}"))

    for role, cols in policy.columns.items():
        path = f"columns.{_toml_key(role)}"
        if not cols:
            problems.append((path, "expected a column name or a non-empty list of names"))
        if role in ("id", "region") and len(cols) > 1:
            problems.append((path, f"{role} takes one column, not a list"))
        if any(not c.strip() for c in cols):
            problems.append((path, "a column name is blank"))

    if policy.populations is not None:
        shared = 0
        for name, spec in policy.populations.items():
            path = f"populations.{_toml_key(name)}"
            if not name.strip() or not NAME_PATTERN.match(name):
                problems.append((path, "a population name must be 1 to 64 printable characters"))
            if spec.disclosure is not Disclosure.HIDDEN:
                shared += 1
            for col, values in spec.where.items():
                if not col.strip():
                    problems.append((f"{path}.where", "a column name is blank"))
                if not values:
                    problems.append(
                        (f"{path}.where.{_toml_key(col)}", "expected at least one value")
                    )
            if spec.fields and spec.disclosure is not Disclosure.RECORDS:
                problems.append(
                    (
                        f"{path}.fields",
                        f'fields can only be revealed with disclosure = "records" (this '
                        f"population has {spec.disclosure.value!r})",
                    )
                )
            if len(spec.fields) > MAX_FIELDS:
                problems.append((f"{path}.fields", f"at most {MAX_FIELDS} fields"))
            seen: set[str] = set()
            for fname in spec.fields:
                if not fname.strip() or not NAME_PATTERN.match(fname):
                    problems.append((f"{path}.fields", f"bad field name {fname!r}"))
                if fname in seen:
                    problems.append((f"{path}.fields", f"{fname!r} is listed twice"))
                seen.add(fname)
        if shared > MAX_POPULATIONS:
            problems.append(
                ("populations", f"at most {MAX_POPULATIONS} shared (non-hidden) populations")
            )
        folded = [n.casefold() for n in policy.populations]
        for name in policy.populations:
            if folded.count(name.casefold()) > 1:
                problems.append(
                    (
                        f"populations.{_toml_key(name)}",
                        "another population has the same name but for case",
                    )
                )
                break

    partner = policy.partner
    if partner.min_disclosure is Disclosure.HIDDEN:
        problems.append(("partner.min_disclosure", 'expected "counts" or "records" (not "hidden")'))
    most = partner.max_partner_populations
    if most is not None and not 1 <= most <= MAX_POPULATIONS:
        problems.append(("partner.max_partner_populations", f"expected 1 to {MAX_POPULATIONS}"))
    for name in partner.require_populations:
        if not name.strip() or not NAME_PATTERN.match(name):
            problems.append(("partner.require_populations", f"bad population name {name!r}"))
    return problems


def _known_region(code: str) -> bool:
    if not _REGION.match(code):
        return False
    import phonenumbers  # the normalizer depends on it already

    return code.upper() in phonenumbers.SUPPORTED_REGIONS or code.upper() == "UK"


def _key_type_problem(key_type: str) -> str | None:
    if key_type in KEY_TYPES:
        return None
    if key_type.startswith("custom:"):
        if is_custom(key_type):
            return None
        return (
            f"bad custom key type {key_type!r}: expected custom:<name> with lowercase letters, "
            "digits, '_', '.', '-'"
        )
    return (
        f"unknown key type {key_type!r}{_did_you_mean(key_type, KEY_TYPES)}; expected "
        f"one of {', '.join(KEY_TYPES)} or custom:<name>"
    )


_SECTIONS: dict[str, type[BaseModel]] = {"keys": KeysSpec, "partner": PartnerSpec}


def _fields_of(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def _where_is(key: str) -> str | None:
    """The section a key belongs to, if it is valid somewhere else."""
    if key in Policy.model_fields:
        return "the top level"
    for section, model in _SECTIONS.items():
        if key in model.model_fields:
            return f"[{section}]"
    if key in PopulationSpec.model_fields:
        return "a [populations.<name>] table"
    return None


def _unknown(key: str, allowed: Sequence[str], path: str, here: str) -> tuple[str, str]:
    hint = _did_you_mean(key, allowed)
    if not hint:
        elsewhere = _where_is(key)
        if elsewhere and elsewhere != here:
            hint = f"; {key!r} belongs in {elsewhere}"
    if path == "partner.payload_bytes":
        hint = "; payload_bytes is part of our own terms: put it at the top level"
    return path, f"unknown key {key!r}{hint}; expected one of {', '.join(allowed)}"


def _unknown_keys(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Unknown keys anywhere in the document, with did-you-mean (pydantic's own are dropped)."""
    problems: list[tuple[str, str]] = []
    top = _fields_of(Policy)
    for key, value in data.items():
        if key not in top:
            problems.append(_unknown(key, top, _toml_key(key), "the top level"))
            continue
        if key in _SECTIONS and isinstance(value, Mapping):
            allowed = _fields_of(_SECTIONS[key])
            for sub in value:
                if sub not in allowed:
                    problems.append(_unknown(sub, allowed, f"{key}.{_toml_key(sub)}", f"[{key}]"))
        elif key == "columns" and isinstance(value, Mapping):
            for role in value:
                if role in _COLUMN_ROLES:
                    continue
                if role.startswith("custom:"):
                    problem = _key_type_problem(role)
                    if problem:
                        problems.append((f"columns.{_toml_key(role)}", problem))
                    continue
                hint = _did_you_mean(role, _COLUMN_ROLES)
                problems.append(
                    (
                        f"columns.{_toml_key(role)}",
                        f"unknown role {role!r}{hint}; expected one of "
                        f"{', '.join(_COLUMN_ROLES)} or custom:<name> (population filters "
                        "name their columns directly in 'where')",
                    )
                )
        elif key == "populations" and isinstance(value, Mapping):
            allowed = _fields_of(PopulationSpec)
            for name, spec in value.items():
                if not isinstance(spec, Mapping):
                    continue
                for sub in spec:
                    if sub not in allowed:
                        problems.append(
                            _unknown(
                                sub,
                                allowed,
                                f"populations.{_toml_key(name)}.{_toml_key(sub)}",
                                "a [populations.<name>] table",
                            )
                        )
    return problems


def _did_you_mean(key: str, allowed: Sequence[str]) -> str:
    lowered = {a.casefold(): a for a in allowed}
    if key.casefold() in lowered:
        return f" (did you mean {lowered[key.casefold()]!r}?)"
    close = difflib.get_close_matches(key.casefold(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


_EXPECT = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "bool_type": "expected true or false",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
}
_MISSING_HINT = {
    "label": 'how the partner sees us, e.g. label = "Northwind Analytics"',
    "disclosure": 'one of "hidden", "counts", "records"',
}


def _translate(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        kind = err["type"]
        loc = err["loc"]
        if kind == "extra_forbidden":
            continue  # reported by _unknown_keys, with a did-you-mean
        if kind == "policy_semantics":
            problems.extend((str(p), str(m)) for p, m in err.get("ctx", {}).get("problems", []))
            continue
        path = _loc_path(loc)
        value = err.get("input")
        if kind == "missing":
            hint = _MISSING_HINT.get(str(loc[-1]) if loc else "", "")
            message = "required key is missing" + (f": {hint}" if hint else "")
        elif kind == "enum":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"expected {expected}, got {_toml_type(value)}"
        elif kind in _EXPECT:
            message = f"{_EXPECT[kind]}, got {_toml_type(value)}"
            if kind == "tuple_type" and _is_one_or_many(loc):
                message = f"expected a string or a list of strings, got {_toml_type(value)}"
        else:
            message = str(err["msg"]).replace("Input should be", "expected")
        problems.append((path, message))
    return problems


def _is_one_or_many(loc: tuple[int | str, ...]) -> bool:
    return (len(loc) == 2 and loc[0] == "columns") or (
        len(loc) == 4 and loc[0] == "populations" and loc[2] == "where"
    )


def _loc_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _toml_key(part)
    return out or "(document)"


def _policy_error(problems: list[tuple[str, str]], source: str) -> PolicyError:
    lines = [f"{path}: {message}" for path, message in problems]
    if len(lines) == 1:
        return PolicyError(lines[0], file=source)
    return PolicyError(
        f"{len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines), file=source
    )


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_str(key)


_TOML_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_TOML_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f"\\]')


def _toml_str(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters (incl. DEL) escaped."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _TOML_ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return '"' + _TOML_NEEDS_ESCAPE.sub(escape, value) + '"'


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"
