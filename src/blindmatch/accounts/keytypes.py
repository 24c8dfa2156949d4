"""The one registry of account-key types: what each is, how it is normalized and found.

Why: normalization, header recognition, policy validation and diagnostics all need to know
which key types exist. When each kept its own list they could drift apart (a type the policy
accepts but no header maps to, a hint naming columns recognition never looks for). Every one
of them reads :data:`REGISTRY` instead; adding a key type is one entry here.

An entry says:

- ``normalize``: the normalizer of :mod:`~blindmatch.accounts.normalize` for the type;
- ``header_aliases``: header tokens (see :func:`~blindmatch.io.readers.header_token`)
  that name a column of this type, in priority order;
- ``strength``: ``strong`` when equal keys almost surely mean the same company (a registrable
  domain, a DUNS number, an exact address or identifier), ``weak`` when unrelated companies
  share values often enough that a match needs corroboration (names, switchboard phones);
- ``default``: offered when the user gives no policy (if the table has a column for it);
- ``looked_for``: the column names, in words, error messages suggest.

Custom exact keys ``custom:<name>`` (a CRM id, a tax id) are not listed one by one; they
share :data:`CUSTOM` and are accepted by :func:`check_key_type` when the name is well formed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from ..errors import UsageError
from .normalize import (
    PROFILE,
    Normalized,
    normalize_custom,
    normalize_domain,
    normalize_duns,
    normalize_email,
    normalize_name,
    normalize_phone,
)

__all__ = [
    "CUSTOM",
    "DEFAULT_KEY_TYPES",
    "KEY_TYPES",
    "REGISTRY",
    "KeyType",
    "Strength",
    "check_key_type",
    "is_custom",
    "key_type_info",
    "normalize_key",
    "strength",
]

Strength = Literal["strong", "weak"]

#: ``normalize(raw, region, gmail_rules, profile)``: options a type does not use are ignored.
Normalizer = Callable[[str | None, str | None, bool, str], Normalized]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyType:
    """One key type: its name, normalizer, header aliases and how much a match on it proves."""

    name: str
    normalize: Normalizer
    header_aliases: tuple[str, ...]
    strength: Strength
    default: bool
    looked_for: str


def _domain(raw: str | None, region: str | None, gmail_rules: bool, profile: str) -> Normalized:
    return normalize_domain(raw, profile=profile)


def _name(raw: str | None, region: str | None, gmail_rules: bool, profile: str) -> Normalized:
    return normalize_name(raw, profile=profile)


def _email(raw: str | None, region: str | None, gmail_rules: bool, profile: str) -> Normalized:
    return normalize_email(raw, gmail_rules=gmail_rules, profile=profile)


def _phone(raw: str | None, region: str | None, gmail_rules: bool, profile: str) -> Normalized:
    return normalize_phone(raw, region=region, profile=profile)


def _duns(raw: str | None, region: str | None, gmail_rules: bool, profile: str) -> Normalized:
    return normalize_duns(raw, profile=profile)


def _custom(raw: str | None, region: str | None, gmail_rules: bool, profile: str) -> Normalized:
    return normalize_custom(raw, profile=profile)


_ENTRIES: Final = (
    KeyType(
        name="domain",
        normalize=_domain,
        header_aliases=(
            "website",
            "companydomainname",
            "domain",
            "websiteurl",
            "companywebsite",
            "domainname",
            "url",
        ),
        strength="strong",
        default=True,
        looked_for="Website, Domain, Company Domain Name, Website URL or an e-mail column",
    ),
    KeyType(
        name="name",
        normalize=_name,
        header_aliases=(
            "accountname",
            "companyname",
            "name",
            "company",
            "organizationname",
            "organisationname",
        ),
        strength="weak",
        default=True,
        looked_for="Account Name, Company name or Name",
    ),
    KeyType(
        name="email",
        normalize=_email,
        header_aliases=("email", "emailaddress", "contactemail", "primaryemail", "workemail"),
        strength="strong",
        default=False,
        looked_for="Email",
    ),
    KeyType(
        name="phone",
        normalize=_phone,
        header_aliases=("phone", "phonenumber", "mainphone", "telephone", "companyphone"),
        strength="weak",
        default=False,
        looked_for="Phone or Phone Number",
    ),
    KeyType(
        name="duns",
        normalize=_duns,
        header_aliases=("dunsnumber", "d&bduns", "duns", "dunsno", "d&bdunsnumber"),
        strength="strong",
        default=True,
        looked_for="D-U-N-S Number, DUNS Number or D&B DUNS",
    ),
)

#: Every built-in key type by name, in the order they are listed and recognized.
REGISTRY: Final[Mapping[str, KeyType]] = MappingProxyType({kt.name: kt for kt in _ENTRIES})

#: The built-in key types; custom exact keys are ``custom:<name>`` on top of these.
KEY_TYPES: Final[tuple[str, ...]] = tuple(REGISTRY)

#: Offered when there is no policy, if a column provides them.
DEFAULT_KEY_TYPES: Final[tuple[str, ...]] = tuple(kt.name for kt in _ENTRIES if kt.default)

#: What every ``custom:<name>`` type shares: an exact identifier, trimmed and NFC only.
CUSTOM: Final = KeyType(
    name="custom",
    normalize=_custom,
    header_aliases=(),
    strength="strong",
    default=False,
    looked_for="a column mapped under [columns]",
)

# Must accept exactly what blindmatch.protocol.model.KEY_TYPE_PATTERN accepts after "custom:".
_CUSTOM_KEY_TYPE: Final = re.compile(r"custom:[a-z0-9][a-z0-9_.-]{0,47}")


def is_custom(key_type: str) -> bool:
    """True for a well-formed ``custom:<name>`` key type."""
    return isinstance(key_type, str) and _CUSTOM_KEY_TYPE.fullmatch(key_type) is not None


def check_key_type(key_type: str) -> str:
    """Return ``key_type`` if the registry knows it, else raise ``UsageError``."""
    if key_type in REGISTRY or is_custom(key_type):
        return key_type
    raise UsageError(
        f"unknown key type {key_type!r}: expected one of {', '.join(KEY_TYPES)} "
        "or custom:<name> (lowercase letters, digits, '_', '.', '-')"
    )


def key_type_info(key_type: str) -> KeyType:
    """The registry entry of ``key_type`` (:data:`CUSTOM` for ``custom:<name>``)."""
    entry = REGISTRY.get(key_type)
    if entry is not None:
        return entry
    check_key_type(key_type)
    return CUSTOM


def strength(key_type: str) -> Strength:
    """``strong`` or ``weak``: how much a match on ``key_type`` alone says (see module doc)."""
    return key_type_info(key_type).strength


def normalize_key(
    key_type: str,
    raw: str | None,
    *,
    region: str | None = None,
    gmail_rules: bool = False,
    profile: str = PROFILE,
) -> Normalized:
    """Normalize ``raw`` as a key of ``key_type`` (see :data:`KEY_TYPES`, ``custom:<name>``)
    under normalization ``profile`` (default: the profile of new runs).

    ``region`` applies to phone numbers, ``gmail_rules`` to email addresses. Raises
    ``UsageError`` on an unknown key type, phone region or profile, never on the value.
    """
    return key_type_info(key_type).normalize(raw, region, gmail_rules, profile)
