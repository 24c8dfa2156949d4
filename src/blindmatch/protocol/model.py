"""What goes into a session and what comes out of it.

The protocol core sees accounts only as already-normalized keys, population names and the
fields a party may reveal: normalization, file formats and population filters live in
:mod:`blindmatch.accounts` and produce these objects. Keeping this boundary small is what lets
a partner platform feed the core from its own data store.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import UsageError

__all__ = [
    "Disclosure",
    "Match",
    "MatchedAccount",
    "OverlapResult",
    "PopulationTerms",
    "Record",
    "Terms",
]

#: Key types are short lowercase identifiers; custom keys are ``custom:<name>``.
KEY_TYPE_PATTERN = re.compile(r"^(?:[a-z][a-z0-9_]{0,31}|custom:[a-z0-9][a-z0-9_.-]{0,47})$")
#: Population and field names: printable, no control characters, bounded.
NAME_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")

MAX_POPULATIONS = 16
MAX_KEY_TYPES = 16
MAX_FIELDS = 32
MAX_KEYS_PER_ACCOUNT = 16
MAX_PAYLOAD_BYTES = 16384
MAX_DECLARED_SIZE = 50_000_000


def declared_size(count: int) -> int:
    """``count`` rounded up to two significant digits (7 -> 7, 143 -> 150, 2431 -> 2500):
    what a hello declares about a population, so a partner that has not accepted yet learns
    its size only to within 10%, and the bound it enforces is at most 10% loose."""
    if count < 100:
        return count
    unit: int = 10 ** (len(str(count)) - 2)
    return min(-(-count // unit) * unit, MAX_DECLARED_SIZE)


class Disclosure(str, enum.Enum):
    """What a data owner lets the partner learn about one of its populations.

    ``hidden``: the population is not part of the session at all (not sent, not named).
    ``counts``: the partner learns overlap counts with it, never which records.
    ``records``: the partner learns which of *its own* records overlap, plus ``fields``.
    """

    HIDDEN = "hidden"
    COUNTS = "counts"
    RECORDS = "records"


class PopulationTerms(BaseModel):
    """One population a party offers, and what it discloses about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN.pattern)
    disclosure: Disclosure
    fields: tuple[str, ...] = ()
    #: At most this many accounts of ours are in the population (protocol_spec.md §3.1):
    #: declared in the hello, before the partner accepts, and enforced on every lane and
    #: mask we send. :class:`~blindmatch.protocol.Session` fills it in from its records
    #: (rounded up, :func:`declared_size`); None only in terms not yet sent.
    size: int | None = Field(default=None, ge=0, le=MAX_DECLARED_SIZE)

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_FIELDS:
            raise ValueError(f"at most {MAX_FIELDS} revealed fields")
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"bad field name {name!r}")
        if len(set(value)) != len(value):
            raise ValueError("revealed fields are listed twice")
        return value

    @model_validator(mode="after")
    def _fields_only_for_records(self) -> PopulationTerms:
        if self.fields and self.disclosure is not Disclosure.RECORDS:
            raise ValueError(
                f"population {self.name!r}: fields can only be revealed with disclosure 'records'"
            )
        return self


class Terms(BaseModel):
    """What one party proposes for a session. Sent to the partner before any record data.

    Hidden populations are left out of the terms entirely, so the partner never learns they
    exist.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(pattern=NAME_PATTERN.pattern)
    normalization: str = Field(default="bm-norm/1", pattern=r"^[a-z0-9-]{1,32}/[0-9]{1,4}$")
    #: Digest of the data tables our normalizer used (Public Suffix List, free-mail list, ...).
    #: Equal profiles with different tables still agree on almost every key; a difference is
    #: worth a warning, not a refusal. ``None``: not stated.
    normalization_tables: str | None = Field(default=None, pattern=r"^[0-9a-f]{16,64}$")
    key_types: tuple[str, ...] = Field(min_length=1, max_length=MAX_KEY_TYPES)
    populations: tuple[PopulationTerms, ...] = Field(max_length=MAX_POPULATIONS)
    #: Key slots per account on the wire; every account is padded to this many (hides how many
    #: keys each account has). ``None``: the most keys any of our accounts has, so no key is
    #: ever dropped (that maximum is then visible to the partner). A fixed value hides it, and
    #: keys beyond it are dropped and reported.
    keys_per_account: int | None = Field(default=None, ge=1, le=MAX_KEYS_PER_ACCOUNT)
    #: Fixed plaintext size of a revealed-fields payload, so ciphertexts do not leak lengths.
    payload_bytes: int = Field(default=512, ge=64, le=MAX_PAYLOAD_BYTES)
    #: Refuse name-only matches between accounts whose domains or DUNS numbers conflict
    #: (protocol_spec.md §5.8); both parties must propose the same. On the wire only when
    #: true, so hellos without it keep their exact bytes.
    refuse_conflicts: bool = False
    #: The policy said ``refuse_conflicts = true`` explicitly: with records-level populations
    #: on both sides, we accept that the rule runs although the expanding side then learns
    #: which identifying key types our accounts matched by name alone carry (§5.8). Only with
    #: ``refuse_conflicts``; on the wire only when true (older hellos keep their bytes).
    reveal_flavours: bool = False

    @field_validator("key_types")
    @classmethod
    def _check_key_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key_type in value:
            if not KEY_TYPE_PATTERN.match(key_type):
                raise ValueError(f"bad key type {key_type!r}")
        if len(set(value)) != len(value):
            raise ValueError("a key type is listed twice")
        return value

    @field_validator("populations")
    @classmethod
    def _check_populations(cls, value: tuple[PopulationTerms, ...]) -> tuple[PopulationTerms, ...]:
        names = [p.name for p in value]
        if len(set(names)) != len(names):
            raise ValueError("a population is listed twice")
        return tuple(p for p in value if p.disclosure is not Disclosure.HIDDEN)

    @model_validator(mode="after")
    def _check_reveal_flavours(self) -> Terms:
        if self.reveal_flavours and not self.refuse_conflicts:
            raise ValueError("reveal_flavours is only meaningful with refuse_conflicts")
        return self

    def wire_map(self) -> dict[str, Any]:
        """The terms as the hello carries them (protocol_spec.md §3.1): every key, except
        ``refuse_conflicts`` and ``reveal_flavours`` when false, so terms without them keep
        their older bytes."""
        out: dict[str, Any] = self.model_dump(mode="json")
        for optional in ("refuse_conflicts", "reveal_flavours"):
            if not out[optional]:
                del out[optional]
        return out

    def population(self, name: str) -> PopulationTerms:
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One CRM record as the protocol sees it.

    ``keys`` holds (key type, normalized value) pairs; a record matches a partner record when
    any key matches. ``fields`` holds the values this party may reveal for it, if its policy
    says so (only fields named in the policy are ever sent).
    """

    record_id: str
    keys: tuple[tuple[str, str], ...]
    populations: frozenset[str]
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchedAccount:
    """One partner account that one of our records matched: a matched pair."""

    #: The partner's records-level populations this account is in.
    partner_populations: tuple[str, ...]
    #: The key types through which the pair matched.
    key_types: tuple[str, ...]
    #: Its revealed fields, one mapping per partner record merged into the account.
    partner_fields: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """One of our records that the partner let us see in the overlap."""

    record_id: str
    our_populations: tuple[str, ...]
    #: The partner's records-level populations the matching partner account belongs to.
    partner_populations: tuple[str, ...]
    #: The key types through which this record matched.
    key_types: tuple[str, ...]
    #: Revealed fields of the matching partner record(s), one mapping per partner record.
    partner_fields: tuple[Mapping[str, str], ...] = ()
    #: The same, partner account by partner account (the union above is over these).
    accounts: tuple[MatchedAccount, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlapResult:
    """Everything one party learns from a session, and nothing it did not."""

    our_label: str
    partner_label: str
    #: Accounts per our population that took part (what the partner learned as sizes).
    our_sizes: Mapping[str, int]
    #: Accounts per partner population, as observed on the wire.
    partner_sizes: Mapping[str, int]
    #: counts[our_population][partner_population] = our accounts in the first that match
    #: at least one partner account in the second.
    counts: Mapping[str, Mapping[str, int]]
    #: Our records that match the partner's records-level populations.
    matches: tuple[Match, ...]
    #: Per partner population, what the partner disclosed to us.
    partner_disclosure: Mapping[str, Disclosure]
    #: Per our population, what we disclosed to the partner.
    our_disclosure: Mapping[str, Disclosure]
    #: Our records that could not take part (no usable key) are counted, never silently lost.
    records_without_keys: int = 0


def declare_sizes(terms: Terms, records: Sequence[Record]) -> Terms:
    """``terms`` with every population's size declared: its records that carry a key of an
    offered type, rounded up by :func:`declared_size` (accounts merge records, so a lane can
    only hold fewer). A size the caller declared is kept if the records fit under it."""
    offered = set(terms.key_types)
    # Count population sets first (a handful of distinct ones), then spread them: one
    # Counter.update per record cost 2 us a record, a tenth of a 100k party's protocol time.
    per_set: Counter[frozenset[str]] = Counter(
        frozenset(record.populations)
        for record in records
        if any(k[0] in offered for k in record.keys)
    )
    counts: Counter[str] = Counter()
    for pops, n in per_set.items():
        for name in pops:
            counts[name] += n
    populations = []
    for pop in terms.populations:
        if pop.size is not None and counts[pop.name] > pop.size:
            raise UsageError(
                f"population {pop.name!r} has {counts[pop.name]} records with keys, more than "
                f"the {pop.size} its terms declare"
            )
        size = pop.size if pop.size is not None else declared_size(counts[pop.name])
        populations.append(pop.model_copy(update={"size": size}))
    return terms.model_copy(update={"populations": tuple(populations)})
