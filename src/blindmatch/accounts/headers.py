"""Recognize CRM export headers (Salesforce, HubSpot, Microsoft Dynamics 365, Pipedrive, Zoho),
so most users need no column mapping.

Why: the people who run blindmatch export accounts from a CRM and should not have to tell us
that "Website" holds a domain or that "D-U-N-S Number" is a DUNS number. This module maps a
header to *roles* (record id, key sources, population column, phone region) by name, compared
case-, space-, underscore- and hyphen-insensitively, and detects which CRM wrote the file. An
explicit ``[columns]`` mapping in the policy overrides recognition role by role.

A key type can have several source columns: ``domain`` comes from "Website" and, through the
registrable domain of the address, from an e-mail column. A domain column whose cell holds an
e-mail address is read through :func:`~blindmatch.accounts.normalize.email_domain` too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import PolicyError
from ..io.readers import header_token
from .keytypes import REGISTRY

__all__ = [
    "ColumnMap",
    "Flavour",
    "KeySource",
    "detect_flavour",
    "find_column",
    "recognize_columns",
]

Flavour = Literal["salesforce", "hubspot", "dynamics365", "pipedrive", "zoho", "generic"]
#: How a source column's cells become keys: ``value`` normalizes the cell as the key type;
#: ``email_domain`` takes the registrable domain of an e-mail address; ``domain_or_email``
#: (domain columns that are not e-mail columns) uses ``email_domain`` for cells holding an "@".
Via = Literal["value", "email_domain", "domain_or_email"]

# Header tokens (see header_token) per role, in priority order where one column must win.
# Key-type columns are recognized by the aliases in the key-type registry.
# Dynamics 365 exports carry the row's GUID as "(Do Not Modify) Account"; Pipedrive prefixes
# every organization column with "Organization - "; HubSpot's API exports say hs_object_id.
_ID = (
    "accountid",
    "recordid",
    "companyid",
    "hsobjectid",
    "(donotmodify)account",
    "organizationid",
    "id",
)
_POPULATION = ("type", "lifecyclestage", "accounttype", "relationshiptype", "organizationlabel")
_REGION = (
    "billingcountry",
    "country/region",
    "address1:country/region",
    "organizationaddresscountry",
    "country",
    "billingcountrycode",
    "countrycode",
)
_INFO = {
    "accountowner": "owner",
    "companyowner": "owner",
    "organizationowner": "owner",
    "owner": "owner",
    "industry": "industry",
}
_SALESFORCE_MARKERS = frozenset(
    {
        "accountid",
        "accountname",
        "accountowner",
        "accountnumber",
        "accountsource",
        "accounttype",
        "billingcountry",
        "billingcity",
        "billingstate",
        "billingstate/province",
        "billingstreet",
        "billingzip/postalcode",
        "billingpostalcode",
        "parentaccount",
        "annualrevenue",
        "d&bduns",
        "type",
    }
)
_HUBSPOT_MARKERS = frozenset(
    {
        "recordid",
        "companyid",
        "companyname",
        "companydomainname",
        "companyowner",
        "lifecyclestage",
        "websiteurl",
        "country/region",
        "phonenumber",
        "numberofemployees",
        "createdate",
        "lastactivitydate",
        "associatedcontact",
        "hubspotowner",
    }
)
_DYNAMICS_MARKERS = frozenset(
    {
        "(donotmodify)account",
        "(donotmodify)rowchecksum",
        "(donotmodify)modifiedon",
        "address1:city",
        "address1:country/region",
        "address1:street1",
        "mainphone",
        "primarycontact",
        "relationshiptype",
    }
)
_PIPEDRIVE_MARKERS = frozenset(
    {
        "organizationid",
        "organizationname",
        "organizationowner",
        "organizationlabel",
        "organizationaddress",
        "organizationaddresscountry",
        "organizationpeople",
        "organizationwebsite",
    }
)
# Zoho shares Salesforce's "Account Name", "Billing City", ...; only these tell it apart.
_ZOHO_MARKERS = frozenset(
    {
        "accountsite",
        "billingcode",
        "tickersymbol",
        "createdtime",
        "modifiedtime",
        "layout",
    }
)
_EMAILISH = re.compile(r"e-?mail", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class KeySource:
    """One column feeding one key type, and how its cells are read."""

    column: str
    via: Via = "value"


@dataclass(frozen=True, kw_only=True)
class ColumnMap:
    """Which columns of one table feed which roles.

    ``keys`` maps each key type to its source columns (several are allowed). ``explicit`` names
    the roles the policy mapped (``id``, ``region`` or a key type); the rest were recognized.
    ``other`` lists recognized informational columns (owner, industry) for diagnostics.
    """

    flavour: Flavour
    id_column: str | None
    keys: Mapping[str, tuple[KeySource, ...]]
    population_column: str | None = None
    region_column: str | None = None
    other: Mapping[str, str] = field(default_factory=dict)
    explicit: frozenset[str] = frozenset()
    #: Columns the policy listed for a role but this table does not have (skipped).
    missing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def sources(self, key_type: str) -> tuple[KeySource, ...]:
        return self.keys.get(key_type, ())

    @property
    def key_types(self) -> tuple[str, ...]:
        """Key types with at least one source column, in a stable order."""
        return tuple(k for k, v in self.keys.items() if v)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: ``{"flavour":..., "id":..., "keys": {type: [columns]}, ...}``."""
        return {
            "flavour": self.flavour,
            "id": self.id_column,
            "keys": {
                kt: [
                    s.column + (" (e-mail domain)" if s.via == "email_domain" else "") for s in srcs
                ]
                for kt, srcs in self.keys.items()
                if srcs
            },
            "population_column": self.population_column,
            "region": self.region_column,
            "other": dict(self.other),
            "explicit": sorted(self.explicit),
        }


def find_column(header: Sequence[str], name: str) -> str | None:
    """The header column called ``name``: exactly, else ignoring case, spaces, ``_`` and ``-``."""
    if name in header:
        return name
    token = header_token(name)
    for col in header:
        if header_token(col) == token:
            return col
    return None


def detect_flavour(header: Sequence[str]) -> Flavour:
    """The CRM that wrote a header, by counting its typical headers (two at least).

    Dynamics 365, Pipedrive and Zoho have headers no other CRM writes and are tried first;
    Salesforce and HubSpot share a few, so the one with strictly more wins."""
    tokens = {header_token(h) for h in header}
    distinct: tuple[tuple[frozenset[str], Flavour], ...] = (
        (_DYNAMICS_MARKERS, "dynamics365"),
        (_PIPEDRIVE_MARKERS, "pipedrive"),
        (_ZOHO_MARKERS, "zoho"),
    )
    for markers, flavour in distinct:
        if len(tokens & markers) >= 2:
            return flavour
    sf = len(tokens & _SALESFORCE_MARKERS)
    hs = len(tokens & _HUBSPOT_MARKERS)
    if sf >= 2 and sf > hs:
        return "salesforce"
    if hs >= 2 and hs > sf:
        return "hubspot"
    return "generic"


def _first(tokens: dict[str, str], candidates: Sequence[str]) -> str | None:
    for token in candidates:
        if token in tokens:
            return tokens[token]
    return None


def _domain_via(column: str) -> Via:
    return "email_domain" if _EMAILISH.search(column) else "domain_or_email"


def recognize_columns(
    header: Sequence[str],
    overrides: Mapping[str, str | Sequence[str]] | None = None,
    *,
    source: str | None = None,
    policy_source: str | None = None,
) -> ColumnMap:
    """Map a header to roles: recognition, then the policy's explicit ``[columns]`` on top.

    ``overrides`` maps a role (``id``, ``region``, a key type such as ``domain`` or
    ``custom:partner_id``) to a column name or a list of names. An explicit role replaces what
    recognition found for it. Listed columns the table lacks are skipped and reported in
    ``missing``; if none of a role's columns exist, that is a :class:`PolicyError` naming the
    ``columns.<role>`` key, the file and the available headers.
    """
    tokens: dict[str, str] = {}
    for col in header:
        tokens.setdefault(header_token(col), col)
    flavour = detect_flavour(header)

    keys: dict[str, list[KeySource]] = {}
    for key_type, entry in REGISTRY.items():
        cols = [tokens[t] for t in entry.header_aliases if t in tokens]
        if key_type == "domain":
            srcs = [KeySource(c, _domain_via(c)) for c in cols]
        else:
            srcs = [KeySource(c) for c in cols]
        keys[key_type] = srcs
    # An e-mail column also gives the company's domain (never a free-mail one).
    for email_col in (tokens[t] for t in REGISTRY["email"].header_aliases if t in tokens):
        keys["domain"].append(KeySource(email_col, "email_domain"))

    id_column = _first(tokens, _ID)
    population_column = _first(tokens, _POPULATION)
    region_column = _first(tokens, _REGION)
    other = {tokens[t]: role for t, role in _INFO.items() if t in tokens}

    explicit: set[str] = set()
    missing: dict[str, tuple[str, ...]] = {}
    for role, spec in (overrides or {}).items():
        wanted = [spec] if isinstance(spec, str) else list(spec)
        found: list[str] = []
        lost: list[str] = []
        for name in wanted:
            hit = find_column(header, name)
            if hit is None:
                lost.append(name)
            else:
                found.append(hit)
        if not found:
            shown = ", ".join(repr(n) for n in wanted)
            raise PolicyError(
                f"columns.{_key_path(role)}: no column {shown} in {source or 'the table'}; "
                f"its columns are: {', '.join(header)}",
                file=policy_source,
            )
        if lost:
            missing[role] = tuple(lost)
        explicit.add(role)
        if role == "id":
            id_column = found[0]
        elif role == "region":
            region_column = found[0]
        elif role == "domain":
            keys["domain"] = [KeySource(c, _domain_via(c)) for c in found]
        else:
            keys[role] = [KeySource(c) for c in found]

    deduped = {kt: tuple(dict.fromkeys(srcs)) for kt, srcs in keys.items()}
    return ColumnMap(
        flavour=flavour,
        id_column=id_column,
        keys=deduped,
        population_column=population_column,
        region_column=region_column,
        other=other,
        explicit=frozenset(explicit),
        missing=missing,
    )


def _key_path(role: str) -> str:
    """TOML key path segment: bare if possible, else quoted (``"custom:x"``)."""
    return role if re.fullmatch(r"[A-Za-z0-9_-]+", role) else f'"{role}"'
