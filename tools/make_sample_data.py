#!/usr/bin/env python3
"""Generate blindmatch's sample data: two fictional CRM exports and the truth about their overlap.

Writes into ``src/blindmatch/accounts/sample/`` (or ``--out DIR``):

* ``northwind_salesforce.csv``: 3,000 rows, a Salesforce "Accounts" export of Northwind
  Analytics; ``northwind_policy.toml`` is its policy.
* ``globex_hubspot.csv``: 2,500 rows, a HubSpot "Companies" export of Globex Corporation (with a
  custom ``DUNS Number`` property); ``globex_policy.toml`` is its policy.
* ``expected.json``: what an end-to-end run of the two policies must find.

Everything is a pure function of ``SEED``: ``--check`` regenerates in memory and compares byte for
byte with the shipped files (``tests/test_sample_data.py`` does the same). Only the standard
library is used, and no blindmatch code: the ground truth comes from the generator's own model.

The model
---------
A pool of fictional companies, each with a canonical registrable domain (or none: sole traders
with a free-mail address) and optionally a 9-digit DUNS number. Domains and DUNS numbers are
unique in the pool, so a key value never belongs to two companies. Each CRM samples companies
(720 are in both), gives each a CRM category (``Type`` / ``Lifecycle Stage``) and renders one
row per company, two rows for some (a duplicate), with realistic mess. Lookalikes are separate
companies whose keys differ: ``delta.com``/``deltafaucet.com``, ``acme.com``/``acme.co``,
``orbitlabs.github.io``/``quillstack.github.io`` (private suffixes stay whole),
``bluewave.com``/``bluewave.de``; names never create matches (name matching is off).

Ground-truth rules
------------------
1. A row's *domain key* is usable when its website cell renders the company's canonical domain
   in a normalizable form: any case, surrounding blanks, with or without scheme, ``www.``/
   ``www2.``/other subdomains (``shop.eu.acme.co.uk``), port, path, query or trailing slash; IDN
   domains in Unicode or Punycode. Blank cells, junk (``n/a``, ``-``, ``none``...) and free-mail
   domains (gmail.com, outlook.com...) are not usable. Private-suffix domains
   (``x.github.io``, ``x.herokuapp.com``, ``x.myshopify.com``, ``x.netlify.app``) are the
   registrable domain themselves. Globex rows carry the same domain in ``Company Domain Name``
   and ``Website URL`` (both usable or both not), so using either column or both gives the same
   result.
2. A row's *DUNS key* is usable when its DUNS cell holds the company's number: Northwind writes
   ``12-345-6789``, Globex ``123456789`` (leading zeros kept; read CSVs as strings). ``N/A``,
   ``-`` and blanks are not keys. A DUNS key matches only when the partner row has one too.
3. A row takes part when its category maps to a population of its policy and it has at least
   one usable key. Population-less rows (``Other``, ``other``, blank) never take part.
4. An *account* is the set of a company's rows that take part on one side. Duplicate rows
   always share the domain key (in different URL forms), have the same DUNS cell state and both
   take part, so merging rows by shared keys (union-find) gives exactly these accounts. An
   account's populations are the union over its rows. Duplicates never straddle a
   records-level and a counts-level population, so per-row and per-account revealing agree.
5. Our account A matches partner account B when they are the same company and share a usable
   key type (domain-domain or DUNS-DUNS). ``counts[ours][theirs]`` is the number of our
   accounts in population ``ours`` that match a partner account in population ``theirs``.
   Both sides' matrices are transposes of each other.
6. ``matched_record_ids``: every row of ours in a matched account (its own keys match).
   ``matches``: the rows of ours whose account matches a partner account in one of the
   partner's records-level populations (Customers on both sides): what our matched-records
   table must list, with the partner's records-level populations, the key types shared and the
   partner rows' revealed fields (empty values left out, partner rows by record id).
   ``revealed_to_partner``: our rows in our records-level populations whose account matches
   any partner account: exactly the rows whose fields the partner gets.
7. ``population_sizes`` counts accounts per population; ``rows_without_keys`` counts rows that
   have a population but no usable key.

Phone numbers are decorative (NANP 555-01xx and Ofcom drama ranges where they exist) and not
unique: do not enable phone keys when checking a run against ``expected.json``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEED = 20_251_123
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "src" / "blindmatch" / "accounts" / "sample"

NORTHWIND_ROWS = 3000
GLOBEX_ROWS = 2500
SHARED_COMPANIES = 720
NORTHWIND_DUPLICATES = 110
GLOBEX_DUPLICATES = 80

FILES = (
    "northwind_salesforce.csv",
    "northwind_policy.toml",
    "globex_hubspot.csv",
    "globex_policy.toml",
    "expected.json",
)

# -- the two parties and their policies -------------------------------------------------------

NORTHWIND_POLICY = """\
label = "Northwind Analytics"
normalization = "bm-norm/1"
[keys]
use = ["domain", "duns"]
default_region = "US"
[populations.Customers]
where = { Type = ["Customer - Direct", "Customer - Channel"] }
disclosure = "records"
fields = ["Account Name", "Account Owner"]
[populations.Prospects]
where = { Type = "Prospect" }
disclosure = "counts"
[populations.Partners]
where = { Type = "Partner" }
disclosure = "counts"
"""

GLOBEX_POLICY = """\
label = "Globex Corporation"
normalization = "bm-norm/1"
[keys]
use = ["domain", "duns"]
default_region = "US"
[populations.Customers]
where = { "Lifecycle Stage" = ["customer"] }
disclosure = "records"
fields = ["Company name", "Company owner"]
[populations.Opportunities]
where = { "Lifecycle Stage" = ["opportunity", "salesqualifiedlead"] }
disclosure = "counts"
[populations.Prospects]
where = { "Lifecycle Stage" = ["lead", "marketingqualifiedlead", "subscriber"] }
disclosure = "counts"
"""


@dataclass(frozen=True)
class Party:
    """What the ground truth needs to know about one side (mirrors its policy file)."""

    key: str
    label: str
    data_file: str
    policy_file: str
    policy_text: str
    id_column: str
    category_column: str
    #: category value -> population (values not listed belong to no population)
    populations: dict[str, str]
    #: population -> "records" | "counts", in policy order
    disclosure: dict[str, str]
    revealed_fields: tuple[str, ...]
    columns: tuple[str, ...]
    #: (category value, weight) for sampling a company's category
    categories: tuple[tuple[str, int], ...]


NORTHWIND = Party(
    key="northwind",
    label="Northwind Analytics",
    data_file="northwind_salesforce.csv",
    policy_file="northwind_policy.toml",
    policy_text=NORTHWIND_POLICY,
    id_column="Account ID",
    category_column="Type",
    populations={
        "Customer - Direct": "Customers",
        "Customer - Channel": "Customers",
        "Prospect": "Prospects",
        "Partner": "Partners",
    },
    disclosure={"Customers": "records", "Prospects": "counts", "Partners": "counts"},
    revealed_fields=("Account Name", "Account Owner"),
    columns=(
        "Account ID",
        "Account Name",
        "Website",
        "Type",
        "Industry",
        "Billing Country",
        "Account Owner",
        "Phone",
        "D-U-N-S Number",
        "Annual Revenue",
    ),
    categories=(
        ("Customer - Direct", 22),
        ("Customer - Channel", 10),
        ("Prospect", 43),
        ("Partner", 8),
        ("Other", 12),
        ("", 5),
    ),
)

GLOBEX = Party(
    key="globex",
    label="Globex Corporation",
    data_file="globex_hubspot.csv",
    policy_file="globex_policy.toml",
    policy_text=GLOBEX_POLICY,
    id_column="Record ID",
    category_column="Lifecycle Stage",
    populations={
        "customer": "Customers",
        "opportunity": "Opportunities",
        "salesqualifiedlead": "Opportunities",
        "lead": "Prospects",
        "marketingqualifiedlead": "Prospects",
        "subscriber": "Prospects",
    },
    disclosure={"Customers": "records", "Opportunities": "counts", "Prospects": "counts"},
    revealed_fields=("Company name", "Company owner"),
    columns=(
        "Record ID",
        "Company name",
        "Company Domain Name",
        "Website URL",
        "Lifecycle Stage",
        "Company owner",
        "Industry",
        "Country/Region",
        "Phone Number",
        "Number of Employees",
        "DUNS Number",
    ),
    categories=(
        ("customer", 24),
        ("opportunity", 8),
        ("salesqualifiedlead", 7),
        ("lead", 26),
        ("marketingqualifiedlead", 12),
        ("subscriber", 8),
        ("other", 10),
        ("", 5),
    ),
)

# -- vocabulary ------------------------------------------------------------------------------

STEM_HEADS = (
    "Blue", "Bright", "North", "Silver", "Iron", "Green", "Red", "Stone", "River", "Cloud",
    "Sun", "Star", "Pine", "Oak", "Maple", "Harbor", "Summit", "Crest", "Falcon", "Eagle",
    "Wolf", "Fox", "Bear", "Lake", "Ocean", "Coral", "Amber", "Crystal", "Golden", "Quantum",
    "Vector", "Nova", "Apex", "Vertex", "Atlas", "Polar", "Prime", "Swift", "Clear", "Deep",
    "True", "Wild", "Copper", "Cobalt", "Granite", "Lumen", "Birch", "Cedar", "Hollow", "Meadow",
)  # fmt: skip
STEM_TAILS = (
    "wave", "field", "stone", "point", "bridge", "path", "works", "line", "gate", "forge",
    "core", "logic", "soft", "scale", "stack", "flow", "mark", "view", "wind", "light",
    "ridge", "dale", "port", "haven", "spring", "shore", "brook", "crown", "leaf", "rock",
)  # fmt: skip
#: sector word -> (Salesforce Industry, HubSpot industry)
SECTORS = {
    "Logistics": ("Transportation", "LOGISTICS_AND_SUPPLY_CHAIN"),
    "Systems": ("Technology", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    "Analytics": ("Technology", "COMPUTER_SOFTWARE"),
    "Software": ("Technology", "COMPUTER_SOFTWARE"),
    "Foods": ("Food & Beverage", "FOOD_BEVERAGES"),
    "Health": ("Healthcare", "HOSPITAL_HEALTH_CARE"),
    "Energy": ("Energy", "OIL_ENERGY"),
    "Capital": ("Finance", "FINANCIAL_SERVICES"),
    "Robotics": ("Manufacturing", "MACHINERY"),
    "Materials": ("Manufacturing", "CHEMICALS"),
    "Media": ("Media", "MEDIA_PRODUCTION"),
    "Consulting": ("Consulting", "MANAGEMENT_CONSULTING"),
    "Retail": ("Retail", "RETAIL"),
    "Networks": ("Telecommunications", "TELECOMMUNICATIONS"),
    "Labs": ("Technology", "RESEARCH"),
    "Pharma": ("Healthcare", "PHARMACEUTICALS"),
    "Motors": ("Manufacturing", "AUTOMOTIVE"),
    "Partners": ("Consulting", "MANAGEMENT_CONSULTING"),
    "Solutions": ("Technology", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    "Industries": ("Manufacturing", "INDUSTRIAL_AUTOMATION"),
}
SECTOR_WORDS = tuple(SECTORS)

#: country -> (weight, top-level domains, legal suffixes, Salesforce spellings, HubSpot name)
COUNTRIES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...], str]] = {
    "US": (40, ("com", "com", "com", "io", "net", "co", "ai"),
           ("Inc.", "LLC", "Corp.", "Corporation"),
           ("United States", "United States", "USA", "US", "United States of America"),
           "United States"),
    "GB": (12, ("co.uk", "co.uk", "com", "uk"), ("Ltd", "Limited", "PLC", "Ltd."),
           ("United Kingdom", "United Kingdom", "UK", "GB"), "United Kingdom"),
    "DE": (10, ("de", "de", "com"), ("GmbH", "AG", "GmbH & Co. KG", "SE"),
           ("Germany", "Germany", "Deutschland", "DE"), "Germany"),
    "FR": (7, ("fr", "fr", "com"), ("S.A.", "SAS", "SARL"), ("France", "France", "FR"), "France"),
    "NL": (4, ("nl", "com"), ("B.V.", "N.V."), ("Netherlands", "The Netherlands", "NL"),
           "Netherlands"),
    "ES": (4, ("es", "com"), ("S.L.", "S.A."), ("Spain", "España"), "Spain"),
    "IT": (4, ("it", "com"), ("S.p.A.", "S.r.l."), ("Italy", "Italia"), "Italy"),
    "SE": (3, ("se", "com"), ("AB",), ("Sweden", "Sverige"), "Sweden"),
    "CH": (3, ("ch", "com"), ("AG", "SA", "GmbH"), ("Switzerland", "Schweiz"), "Switzerland"),
    "AU": (4, ("com.au", "com.au", "com"), ("Pty Ltd",), ("Australia", "AU"), "Australia"),
    "CA": (5, ("ca", "com"), ("Inc.", "Ltd."), ("Canada", "CA"), "Canada"),
    "JP": (2, ("co.jp", "com"), ("K.K.", "Co., Ltd."), ("Japan", "JP"), "Japan"),
    "BR": (2, ("com.br", "com"), ("Ltda.", "S.A."), ("Brazil", "Brasil"), "Brazil"),
}  # fmt: skip
COUNTRY_CODES = tuple(COUNTRIES)
DIAL = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "NL": "31", "ES": "34",
        "IT": "39", "SE": "46", "CH": "41", "AU": "61", "JP": "81", "BR": "55"}  # fmt: skip
NANP_AREAS = (
    "201", "212", "213", "312", "305", "404", "415", "425", "503", "512", "602", "617", "646",
    "702", "713", "718", "720", "773", "808", "818", "858", "917", "919", "949", "972",
)  # fmt: skip
CA_AREAS = ("416", "514", "604", "613", "647", "778")
UK_AREAS = ("20 7946", "113 496", "117 496", "118 496", "121 496", "131 496", "141 496",
            "151 496", "161 496", "191 498")  # fmt: skip

#: German and Swedish companies whose domains are internationalized (IDN)
IDN_NAMES = (
    ("DE", "Müller", "Feinwerktechnik"), ("DE", "Schäfer", "Metallbau"),
    ("DE", "Köhler", "Logistik"),
    ("DE", "Böhm", "Elektrotechnik"), ("DE", "Jäger", "Kunststoffe"), ("DE", "Krüger", "Holzbau"),
    ("DE", "Gärtner", "Präzisionstechnik"), ("DE", "Schröder", "Anlagenbau"),
    ("DE", "Förster", "Antriebe"), ("DE", "Brückner", "Verpackung"),
    ("SE", "Sjöberg", "Bygg"), ("SE", "Åberg", "Verktyg"), ("SE", "Öhman", "Data"),
    ("SE", "Ström", "Logistik"), ("SE", "Ångström", "Teknik"),
)  # fmt: skip
#: accented names with ASCII domains
ACCENTED_NAMES = (
    ("FR", "Lumière Bréval", "lumiere-breval"), ("FR", "Éditions Marceau", "editions-marceau"),
    ("FR", "Crédit Vosgien", "credit-vosgien"), ("FR", "Château Lacombe", "chateau-lacombe"),
    ("FR", "Rémy & Fils", "remy-fils"), ("ES", "Construcciones Peñalba", "penalba"),
    ("ES", "Café Ibérico", "cafe-iberico"), ("DE", "Weiß & Söhne", "weiss-soehne"),
    ("CH", "Zürcher Präzision", "zuercher-praezision"), ("SE", "Lövgren Design", "lovgren"),
    ("FR", "Boulangerie Hélène", "boulangerie-helene"), ("ES", "Señorío de Olite", "olite"),
)  # fmt: skip
PRIVATE_SUFFIXES = ("github.io", "herokuapp.com", "myshopify.com", "netlify.app")
FREEMAIL = ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "aol.com")
JUNK = ("n/a", "N/A", "-", "none", "None", "null", "TBD", "unknown", "?", ".")
DUNS_JUNK = ("N/A", "-", "n/a")
SMALL_TRADES = (
    "Bakery", "Plumbing", "Landscaping", "Bookkeeping", "Catering", "Auto Repair", "Florist",
    "Tailoring", "Photography", "Carpentry",
)  # fmt: skip
FIRST_NAMES = ("Rosa", "Abdul", "Mei", "Colm", "Ines", "Tariq", "Greta", "Bogdan", "Nia", "Luis")

NORTHWIND_OWNERS = (
    "Dana Whitfield", "Marcus Ortega", "Priya Raman", "Tom Eriksen", "Lena Hoffmann",
    "Sam Okafor", "Grace Liu", "Jonas Brandt", "Amelia Torres", "Ravi Menon", "Chloé Martin",
    "Noah Fischer",
)  # fmt: skip
GLOBEX_OWNERS = (
    "Jordan Blake", "Ana Sousa", "Felix Wagner", "Maya Patel", "Owen Price", "Sofia Rossi",
    "Liam Byrne", "Hana Kato", "Ethan Cole", "Zoë Laurent",
)  # fmt: skip

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# -- the model -------------------------------------------------------------------------------


@dataclass
class Company:
    """A fictional company: the truth that both CRMs render imperfectly."""

    cid: str
    name: str  # without legal form
    legal: str
    ascii_name: str  # transliterated, what a careless import produces
    domain: str | None  # canonical registrable domain, lowercase Unicode
    duns: str | None
    country: str
    sector: str
    employees: int
    phone: tuple[str, str]  # (country code, national number as digits)
    private_suffix: bool = False
    #: per side: forced category, domain usable, DUNS shown (None: draw at random)
    forced: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def domain_ascii(self) -> str | None:
        """The canonical key value: the IDNA (Punycode) form of the domain."""
        if self.domain is None:
            return None
        return ".".join(
            label.encode("idna").decode("ascii") if not label.isascii() else label
            for label in self.domain.split(".")
        )


@dataclass
class Row:
    """One rendered CRM row and what the ground truth needs to know about it."""

    company: Company
    category: str
    cells: dict[str, str]
    domain_usable: bool
    duns_usable: bool
    record_id: str = ""

    def keys(self) -> tuple[tuple[str, str], ...]:
        keys: list[tuple[str, str]] = []
        if self.domain_usable:
            assert self.company.domain_ascii is not None
            keys.append(("domain", self.company.domain_ascii))
        if self.duns_usable:
            assert self.company.duns is not None
            keys.append(("duns", self.company.duns))
        return tuple(keys)


def weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    total = sum(w for _, w in options)
    pick = rng.randrange(total)
    for value, weight in options:
        if pick < weight:
            return value
        pick -= weight
    raise AssertionError("unreachable")


class Pool:
    """Fictional companies with unique domains and DUNS numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.companies: list[Company] = []
        self.domains: set[str] = set()
        self.duns: set[str] = set()
        self.names: set[str] = set()
        self.phones: set[tuple[str, str]] = set()

    def employees(self) -> int:
        """Head count, roughly log-uniform (integers only: floats from libm are not portable)."""
        low, high = self.rng.choice(((5, 50), (50, 200), (200, 1000), (1000, 5000), (5000, 40000)))
        return self.rng.randrange(low, high)

    def _cid(self) -> str:
        return f"C{len(self.companies) + 1:05d}"

    def new_duns(self) -> str:
        while True:
            first = "0" if self.rng.random() < 0.12 else str(self.rng.randrange(1, 10))
            value = first + "".join(str(self.rng.randrange(10)) for _ in range(8))
            if value not in self.duns:
                self.duns.add(value)
                return value

    def new_phone(self, country: str) -> tuple[str, str]:
        rng = self.rng
        while True:
            if country == "US":
                national = rng.choice(NANP_AREAS) + "55501" + f"{rng.randrange(100):02d}"
            elif country == "CA":
                national = rng.choice(CA_AREAS) + "55501" + f"{rng.randrange(100):02d}"
            elif country == "GB":
                national = rng.choice(UK_AREAS).replace(" ", "") + f"{rng.randrange(1000):03d}"
            else:
                national = str(rng.randrange(2, 10)) + "".join(
                    str(rng.randrange(10)) for _ in range(8)
                )
            phone = (DIAL[country], national)
            if phone not in self.phones or len(self.phones) > 50_000:
                self.phones.add(phone)
                return phone

    def add(
        self,
        *,
        name: str,
        legal: str,
        domain: str | None,
        country: str,
        sector: str,
        ascii_name: str | None = None,
        duns: bool | None = None,
        private_suffix: bool = False,
    ) -> Company:
        rng = self.rng
        if domain is not None:
            assert domain not in self.domains, domain
            self.domains.add(domain)
        has_duns = rng.random() < 0.65 if duns is None else duns
        company = Company(
            cid=self._cid(),
            name=name,
            legal=legal,
            ascii_name=ascii_name or name,
            domain=domain,
            duns=self.new_duns() if has_duns else None,
            country=country,
            sector=sector,
            employees=self.employees(),
            phone=self.new_phone(country),
            private_suffix=private_suffix,
        )
        self.names.add(name)
        self.companies.append(company)
        return company

    def country(self) -> str:
        return weighted(self.rng, [(c, COUNTRIES[c][0]) for c in COUNTRY_CODES])

    def generic(self) -> Company:
        """A company named Stem (+ Sector), with a domain built from its name."""
        rng = self.rng
        while True:
            stem = rng.choice(STEM_HEADS) + rng.choice(STEM_TAILS)
            sector = rng.choice(SECTOR_WORDS)
            name = stem if rng.random() < 0.35 else f"{stem} {sector}"
            if name not in self.names:
                break
        country = self.country()
        tlds, legals = COUNTRIES[country][1], COUNTRIES[country][2]
        base = stem.lower()
        labels = [
            base,
            base + sector.lower(),
            f"{base}-{sector.lower()}",
            "get" + base,
            base + "hq",
            f"{base}-{country.lower()}",
        ]
        if name != stem and rng.random() < 0.5:
            labels.insert(0, labels.pop(1))
        for label in labels:
            for tld in (rng.choice(tlds), *tlds):
                domain = f"{label}.{tld}"
                if domain not in self.domains:
                    return self.add(
                        name=name, legal=rng.choice(legals), domain=domain,
                        country=country, sector=sector,
                    )  # fmt: skip
        return self.generic()  # pragma: no cover - every label taken: draw another name

    def sibling(self, of: Company) -> Company | None:
        """A lookalike: same name stem, different registrable domain (``bluewave.de``)."""
        assert of.domain is not None
        label, _, tld = of.domain.partition(".")
        country = self.country()
        for other in (*COUNTRIES[country][1], "com", "net", "io", "de", "co"):
            domain = f"{label}.{other}"
            if other != tld and domain not in self.domains:
                sector = self.rng.choice(SECTOR_WORDS)
                name = f"{of.name.split()[0]} {sector}"
                legal = self.rng.choice(COUNTRIES[country][2])
                return self.add(
                    name=name, legal=legal, domain=domain, country=country, sector=sector
                )
        return None

    def sole_trader(self) -> Company:
        """A small business without a website of its own (writes a free-mail address)."""
        rng = self.rng
        while True:
            name = f"{rng.choice(FIRST_NAMES)}'s {rng.choice(SMALL_TRADES)}"
            if rng.random() < 0.5:
                name = f"{rng.choice(STEM_HEADS)} {rng.choice(SMALL_TRADES)}"
            if name not in self.names:
                break
        country = rng.choice(("US", "US", "GB", "CA", "AU"))
        return self.add(
            name=name, legal="", domain=None, country=country, sector="Retail",
            duns=rng.random() < 0.5,
        )  # fmt: skip

    def idn(self, country: str, surname: str, trade: str) -> Company:
        ascii_surname = (
            surname.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
            .replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
            .replace("å", "a").replace("Å", "A")
        )  # fmt: skip
        ascii_trade = trade.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
        domain = f"{surname.lower()}-{trade.lower()}.{country.lower()}"
        legal = (
            "GmbH & Co. KG"
            if country == "DE" and self.rng.random() < 0.4
            else ("GmbH" if country == "DE" else "AB")
        )
        return self.add(
            name=f"{surname} {trade}", legal=legal, domain=domain, country=country,
            sector="Industries", ascii_name=f"{ascii_surname} {ascii_trade}",
        )  # fmt: skip


def special_companies(pool: Pool) -> tuple[list[Company], list[Company], list[Company]]:
    """Hand-made cases every run must get right: (shared, Northwind only, Globex only)."""
    add = pool.add
    shared = [
        add(name="Acme", legal="Inc.", domain="acme.com", country="US", sector="Industries",
            duns=True),
        add(name="Müller Maschinen", legal="GmbH & Co. KG", domain="müller-maschinen.de",
            country="DE", sector="Industries", ascii_name="Mueller Maschinen", duns=True),
        add(name="Société Lumière", legal="S.A.", domain="lumiere.fr", country="FR",
            sector="Energy", ascii_name="Societe Lumiere", duns=True),
        add(name="Orbit Labs", legal="Inc.", domain="orbitlabs.github.io", country="US",
            sector="Labs", private_suffix=True, duns=False),
        add(name="Pixel Pantry", legal="LLC", domain="pixelpantry.myshopify.com", country="US",
            sector="Retail", private_suffix=True, duns=False),
        add(name="Brightforge Systems", legal="Ltd", domain="brightforge.co.uk", country="GB",
            sector="Systems", duns=True),
        add(name="Rosa's Bakery", legal="", domain=None, country="US", sector="Foods",
            duns=True),
    ]  # fmt: skip
    acme, muller, lumiere, orbit, pixel, brightforge, rosa = shared
    acme.forced = {
        "northwind": {"category": "Customer - Direct", "duplicate": "Customer - Channel",
                      "websites": ("https://www.acme.com/about", "ACME.COM"), "duns": True},
        "globex": {"category": "customer", "websites": ("acme.com",), "duns": True},
    }  # fmt: skip
    muller.forced = {
        "northwind": {"category": "Prospect", "websites": ("müller-maschinen.de",),
                      "duns": True},
        "globex": {"category": "customer",
                   "websites": ("https://www.MÜLLER-MASCHINEN.DE/kontakt",), "duns": True},
    }  # fmt: skip
    # matches through DUNS only: the website is junk on one side
    lumiere.forced = {
        "northwind": {"category": "Customer - Direct", "websites": ("n/a",), "duns": True},
        "globex": {"category": "opportunity", "websites": ("https://www.lumiere.fr/",),
                   "duns": True},
    }  # fmt: skip
    orbit.forced = {
        "northwind": {"category": "Partner", "websites": ("https://orbitlabs.github.io/",)},
        "globex": {"category": "customer", "websites": ("orbitlabs.github.io/docs",)},
    }  # fmt: skip
    pixel.forced = {
        "northwind": {"category": "Customer - Channel",
                      "websites": ("pixelpantry.myshopify.com",)},
        "globex": {"category": "lead", "websites": ("https://pixelpantry.myshopify.com",)},
    }  # fmt: skip
    brightforge.forced = {
        "northwind": {"category": "Prospect", "duplicate": "Partner",
                      "websites": ("https://shop.eu.brightforge.co.uk", "www2.brightforge.co.uk/"),
                      "duns": True},
        "globex": {"category": "customer", "websites": ("http://brightforge.co.uk:8080",),
                   "duns": False},
    }  # fmt: skip
    # no website on either side (free-mail), but the DUNS number is on both
    rosa.forced = {
        "northwind": {"category": "Customer - Direct", "websites": ("gmail.com",), "duns": True},
        "globex": {"category": "customer", "websites": ("gmail.com",), "duns": True},
    }  # fmt: skip

    northwind_only = [
        add(name="Delta", legal="Air Lines, Inc.", domain="delta.com", country="US",
            sector="Logistics", duns=False),
        add(name="Tinkerfoo", legal="LLC", domain="tinkerfoo.herokuapp.com", country="US",
            sector="Software", private_suffix=True, duns=False),
        add(name="Orion Systems", legal="Inc.", domain="orionsystems.com", country="US",
            sector="Systems", duns=False),
        add(name="Quillstack", legal="Inc.", domain="quillstack.netlify.app", country="US",
            sector="Software", private_suffix=True, duns=False),
    ]  # fmt: skip
    delta, tinker, orion, quill_n = northwind_only
    delta.forced = {"northwind": {"category": "Customer - Direct",
                                  "websites": ("https://www.delta.com/",)}}  # fmt: skip
    tinker.forced = {
        "northwind": {"category": "Prospect", "websites": ("https://tinkerfoo.herokuapp.com/app",)}
    }
    orion.forced = {"northwind": {"category": "Customer - Direct",
                                  "websites": ("orionsystems.com",)}}  # fmt: skip
    quill_n.forced = {"northwind": {"category": "Prospect",
                                    "websites": ("quillstack.netlify.app",)}}  # fmt: skip

    globex_only = [
        add(name="Delta Faucet", legal="Company", domain="deltafaucet.com", country="US",
            sector="Industries", duns=False),
        add(name="Acme", legal="Co", domain="acme.co", country="US", sector="Retail",
            duns=False),
        add(name="Quillstack", legal="Ltd", domain="quillstack.github.io", country="GB",
            sector="Software", private_suffix=True, duns=False),
        add(name="Bramble", legal="LLC", domain="bramble.herokuapp.com", country="US",
            sector="Software", private_suffix=True, duns=False),
        add(name="Orion Systems", legal="Ltd", domain="orion-systems.co.uk", country="GB",
            sector="Systems", duns=False),
    ]  # fmt: skip
    faucet, acme_co, quill_g, bramble, orion_uk = globex_only
    faucet.forced = {"globex": {"category": "customer", "websites": ("deltafaucet.com",)}}
    acme_co.forced = {"globex": {"category": "customer", "websites": ("https://acme.co/",)}}
    quill_g.forced = {"globex": {"category": "customer",
                                 "websites": ("https://quillstack.github.io",)}}  # fmt: skip
    bramble.forced = {"globex": {"category": "lead", "websites": ("bramble.herokuapp.com",)}}
    orion_uk.forced = {"globex": {"category": "customer",
                                  "websites": ("www.orion-systems.co.uk",)}}  # fmt: skip
    return shared, northwind_only, globex_only


def build_pool(rng: random.Random) -> tuple[list[Company], list[Company], list[Company]]:
    """Sample which companies each CRM holds: (shared, Northwind only, Globex only)."""
    pool = Pool(rng)
    shared, nw_only, gx_only = special_companies(pool)
    extra: list[Company] = []
    for country, surname, trade in IDN_NAMES:
        extra.append(pool.idn(country, surname, trade))
    for country, name, label in ACCENTED_NAMES:
        tld = COUNTRIES[country][1][0]
        extra.append(
            pool.add(name=name, legal=rng.choice(COUNTRIES[country][2]),
                     domain=f"{label}.{tld}", country=country, sector=rng.choice(SECTOR_WORDS))
        )  # fmt: skip
    nw_total = NORTHWIND_ROWS - NORTHWIND_DUPLICATES
    gx_total = GLOBEX_ROWS - GLOBEX_DUPLICATES
    generic_needed = nw_total + gx_total - SHARED_COMPANIES - len(shared) - len(nw_only)
    generic_needed -= len(gx_only) + len(extra)
    generic: list[Company] = []
    while len(generic) < generic_needed:
        roll = rng.random()
        if roll < 0.04:
            generic.append(pool.sole_trader())
        elif roll < 0.07 and generic and generic[-1].domain is not None:
            sibling = pool.sibling(generic[-1])
            if sibling is not None:
                generic.append(sibling)
        elif roll < 0.08:
            label = rng.choice(STEM_HEADS).lower() + rng.choice(STEM_TAILS)
            suffix = rng.choice(PRIVATE_SUFFIXES)
            domain = f"{label}.{suffix}"
            if domain not in pool.domains:
                generic.append(
                    pool.add(name=label.capitalize(), legal="LLC", domain=domain, country="US",
                             sector="Software", private_suffix=True)
                )  # fmt: skip
        else:
            generic.append(pool.generic())
    rest = extra + generic
    rng.shuffle(rest)
    need_shared = SHARED_COMPANIES - len(shared)
    shared = shared + rest[:need_shared]
    rest = rest[need_shared:]
    need_nw = nw_total - len(shared) - len(nw_only)
    nw_only = nw_only + rest[:need_nw]
    gx_only = gx_only + rest[need_nw:]
    assert len(shared) + len(nw_only) == nw_total
    assert len(shared) + len(gx_only) == gx_total
    return shared, nw_only, gx_only


# -- rendering -------------------------------------------------------------------------------


def usable_website(rng: random.Random, company: Company) -> str:
    """The canonical domain in one of the forms a normalizer must accept."""
    assert company.domain is not None
    d = company.domain
    if not d.isascii() and rng.random() < 0.4:
        d = company.domain_ascii or d
    if company.private_suffix:
        plain = (f"{d}", f"https://{d}/", f"https://{d}/about", f"http://{d}", d.upper(), f"{d}/")
        return rng.choice(plain)
    sub = rng.choice(("app", "blog", "eu", "us", "info", "shop.eu"))
    forms = (
        (d, 24),
        (f"www.{d}", 14),
        (f"https://www.{d}", 12),
        (f"https://www.{d}/", 8),
        (f"http://{d}", 4),
        (f"https://{d}/about", 4),
        (d.upper(), 4),
        (f"http://{d}:8080", 2),
        (f"{d}/", 4),
        (f"https://www2.{d}/en-us/index.html", 2),
        (f"https://{sub}.{d}", 3),
        (f"https://{d}/?utm_source=crm", 2),
        (f"  www.{d} ", 2),
        (f"HTTPS://WWW.{d.upper()}/Contact", 2),
        (f"http://www.{d}/", 4),
    )
    return weighted(rng, forms)


def unusable_website(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return ""
    if roll < 0.75:
        return rng.choice(JUNK)
    return rng.choice(FREEMAIL)


def freemail_form(rng: random.Random) -> str:
    mail = rng.choice(FREEMAIL)
    return rng.choice((mail, mail, f"www.{mail}", f"https://{mail}", mail.upper()))


def display_name(rng: random.Random, company: Company, party: Party) -> str:
    """How a salesperson typed the company's name into this CRM."""
    name, legal = company.name, company.legal
    if party is NORTHWIND:
        roll = rng.random()
        if not legal or roll < 0.18:
            text = name
        elif legal in ("Inc.", "Co") and roll < 0.45:
            text = f"{name}, {legal}"
        else:
            text = f"{name} {legal}"
        if rng.random() < 0.03:
            text = text.upper()
        if rng.random() < 0.02:
            text += " "
        return text
    roll = rng.random()
    if roll < 0.08 and company.ascii_name != name:
        return company.ascii_name
    if roll < 0.5 or not legal:
        return name
    if roll < 0.55:
        return f"{name.upper()} {legal.upper().rstrip('.')}"
    return f"{name} {legal}"


def render_phone(rng: random.Random, company: Company, party: Party) -> str:
    code, national = company.phone
    if rng.random() < 0.1:
        return ""
    if code == "1":
        a, b, c = national[:3], national[3:6], national[6:]
        if party is NORTHWIND:
            return rng.choice((f"({a}) {b}-{c}", f"+1 {a} {b} {c}", f"{a}.{b}.{c}", f"{a}-{b}-{c}"))
        return rng.choice((f"+1{national}", f"+1 ({a}) {b}-{c}"))
    if party is NORTHWIND and rng.random() < 0.5:
        return f"0{national}"
    return f"+{code} {national[:3]} {national[3:]}"


def format_duns(duns: str, party: Party) -> str:
    return f"{duns[:2]}-{duns[2:5]}-{duns[5:]}" if party is NORTHWIND else duns


def render_rows(
    rng: random.Random, party: Party, companies: Sequence[Company], duplicates: int
) -> list[Row]:
    """Rows for one CRM: one per company, a second one for ``duplicates`` of them."""
    p_unusable = 0.07 if party is NORTHWIND else 0.05
    p_duns = 0.45 if party is NORTHWIND else 0.35
    owners = NORTHWIND_OWNERS if party is NORTHWIND else GLOBEX_OWNERS
    plan: list[tuple[Company, str, bool, bool, list[str]]] = []
    for company in companies:
        forced = company.forced.get(party.key, {})
        category = forced.get("category") or weighted(rng, party.categories)
        if "websites" in forced:
            websites = list(forced["websites"])
            usable = company.domain is not None and websites[0] not in JUNK + FREEMAIL
        else:
            usable = company.domain is not None and rng.random() >= p_unusable
            websites = []
        shown = forced.get("duns")
        duns_shown = company.duns is not None and (
            rng.random() < p_duns if shown is None else bool(shown)
        )
        plan.append((company, category, usable, duns_shown, websites))

    # Duplicates: companies with a usable domain and a population; the copy shares the domain
    # (in another URL form) and the DUNS cell state, and stays in the same disclosure class.
    candidates = [
        i
        for i, (company, category, usable, _, websites) in enumerate(plan)
        if usable and category in party.populations and not company.forced
    ]
    forced_dups = [
        i for i, (c, *_rest) in enumerate(plan) if "duplicate" in c.forced.get(party.key, {})
    ]
    chosen = forced_dups + sorted(rng.sample(candidates, duplicates - len(forced_dups)))

    rows: list[Row] = []
    for company, category, usable, duns_shown, websites in plan:
        rows.append(
            make_row(rng, party, company, category, usable, duns_shown, websites[:1], owners)
        )
    for i in chosen:
        company, category, usable, duns_shown, websites = plan[i]
        forced = company.forced.get(party.key, {})
        if "duplicate" in forced:
            second = forced["duplicate"]
        else:
            same_class = [
                value
                for value in party.populations
                if party.disclosure[party.populations[value]]
                == party.disclosure[party.populations[category]]
            ]
            second = category if rng.random() < 0.5 else rng.choice(same_class)
        first_site = rows[i].cells.get("Website") or rows[i].cells.get("Website URL", "")
        site = websites[1:2]
        if not site:
            for _ in range(20):
                candidate = usable_website(rng, company)
                if candidate.strip().lower() != first_site.strip().lower():
                    break
            site = [candidate]
        rows.append(make_row(rng, party, company, second, True, duns_shown, site, owners))
    return rows


def make_row(
    rng: random.Random,
    party: Party,
    company: Company,
    category: str,
    usable: bool,
    duns_shown: bool,
    websites: list[str],
    owners: Sequence[str],
) -> Row:
    if websites:
        website = websites[0]
    elif usable:
        website = usable_website(rng, company)
    elif company.domain is None:
        website = freemail_form(rng) if rng.random() < 0.6 else unusable_website(rng)
    else:
        website = unusable_website(rng)
    if duns_shown:
        assert company.duns is not None
        duns_cell = format_duns(company.duns, party)
    else:
        duns_cell = rng.choice(DUNS_JUNK) if rng.random() < 0.03 else ""
    sf_industry, hs_industry = SECTORS[company.sector]
    country = COUNTRIES[company.country]
    name = display_name(rng, company, party)
    if party is NORTHWIND:
        revenue = company.employees * rng.randrange(80, 400) * 1000
        cells = {
            "Account Name": name,
            "Website": website,
            "Type": category,
            "Industry": sf_industry if rng.random() < 0.9 else "",
            "Billing Country": rng.choice(country[3]) if rng.random() < 0.95 else "",
            "Account Owner": rng.choice(owners),
            "Phone": render_phone(rng, company, party),
            "D-U-N-S Number": duns_cell,
            "Annual Revenue": str(revenue) if rng.random() < 0.7 else "",
        }
    else:
        if usable:
            domain_cell = company.domain or ""
            low = website.strip().lower()
            if company.domain_ascii and company.domain_ascii in low and rng.random() < 0.5:
                domain_cell = company.domain_ascii
            if rng.random() < 0.06:
                domain_cell = "www." + domain_cell
            elif rng.random() < 0.04:
                domain_cell = domain_cell.upper()
        else:
            stripped = website.strip().lower()
            bare = stripped.removeprefix("https://").removeprefix("www.")
            domain_cell = bare if bare in FREEMAIL else ""
        owner = rng.choice(owners) if category == "customer" or rng.random() < 0.92 else ""
        cells = {
            "Company name": name,
            "Company Domain Name": domain_cell,
            "Website URL": website,
            "Lifecycle Stage": category,
            "Company owner": owner,
            "Industry": hs_industry if rng.random() < 0.85 else "",
            "Country/Region": country[4] if rng.random() < 0.93 else "",
            "Phone Number": render_phone(rng, company, party),
            "Number of Employees": str(company.employees) if rng.random() < 0.85 else "",
            "DUNS Number": duns_cell,
        }
    return Row(company, category, cells, usable, duns_shown)


def salesforce_id(number: int) -> str:
    """An 18-character Salesforce-style Account ID (prefix 001, case-safe checksum suffix)."""
    digits = ""
    for _ in range(5):
        number, rem = divmod(number, 62)
        digits = BASE62[rem] + digits
    body = "0015g00000" + digits
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(body[chunk * 5 : chunk * 5 + 5]) if ch.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return body + suffix


def assign_ids(rng: random.Random, party: Party, rows: list[Row]) -> None:
    """Shuffle rows into export order and number them like the CRM would."""
    rng.shuffle(rows)
    if party is NORTHWIND:
        counter = rng.randrange(62**4, 62**4 * 3)
        for row in rows:
            counter += rng.randrange(1, 900)
            row.record_id = salesforce_id(counter)
    else:
        counter = rng.randrange(5_000_000_000, 6_000_000_000)
        for row in rows:
            counter += rng.randrange(1, 40_000)
            row.record_id = str(counter)
    for row in rows:
        row.cells[party.id_column] = row.record_id


def render_csv(party: Party, rows: Sequence[Row]) -> bytes:
    """Salesforce quotes every field; HubSpot only where needed. LF line ends, UTF-8."""
    out = io.StringIO(newline="")
    if party is NORTHWIND:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    else:
        writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(party.columns)
    for row in rows:
        writer.writerow([row.cells[c] for c in party.columns])
    return out.getvalue().encode("utf-8")


# -- ground truth ----------------------------------------------------------------------------


@dataclass
class Account:
    """A company's rows that take part on one side (rule 4)."""

    party: Party
    company: Company
    rows: list[Row]

    @property
    def populations(self) -> list[str]:
        return sorted({pop for row in self.rows for pop in self.party_pops(row)})

    def party_pops(self, row: Row) -> list[str]:
        pop = self.party.populations.get(row.category)
        return [pop] if pop else []

    def keys(self) -> set[tuple[str, str]]:
        return {key for row in self.rows for key in row.keys()}


def build_accounts(party: Party, rows: Sequence[Row]) -> tuple[dict[str, Account], dict[str, int]]:
    """Group the rows that take part into accounts, checking rule 4 holds."""
    accounts: dict[str, Account] = {}
    stats = {"rows": len(rows), "rows_in_populations": 0, "rows_without_keys": 0}
    for row in rows:
        if row.category not in party.populations:
            continue
        stats["rows_in_populations"] += 1
        if not row.keys():
            stats["rows_without_keys"] += 1
            continue
        account = accounts.setdefault(row.company.cid, Account(party, row.company, []))
        account.rows.append(row)
    for account in accounts.values():
        account.rows.sort(key=lambda r: r.record_id)
        key_sets = {r.keys() for r in account.rows}
        assert len(key_sets) == 1, f"duplicate rows of {account.company.cid} differ in keys"
        classes = {party.disclosure[p] for r in account.rows for p in account.party_pops(r)}
        assert len(classes) == 1, f"duplicates of {account.company.cid} straddle disclosures"
    all_rows_by_company: dict[str, int] = {}
    for row in rows:
        all_rows_by_company[row.company.cid] = all_rows_by_company.get(row.company.cid, 0) + 1
    for cid, account in accounts.items():
        assert len(account.rows) == all_rows_by_company[cid], f"{cid}: a duplicate left out"
    return accounts, stats


def side_truth(
    us: Party,
    them: Party,
    ours: dict[str, Account],
    theirs: dict[str, Account],
) -> dict[str, Any]:
    """Everything ``us`` must learn from a run, per the rules in the module docstring."""
    our_pops = list(us.disclosure)
    their_pops = list(them.disclosure)
    records_level = {p for p, d in them.disclosure.items() if d == "records"}
    our_records_level = {p for p, d in us.disclosure.items() if d == "records"}
    counts = {o: {t: 0 for t in their_pops} for o in our_pops}
    matched_ids: list[str] = []
    revealed: list[str] = []
    matches: list[dict[str, Any]] = []
    for cid in sorted(ours):
        account = ours[cid]
        partner = theirs.get(cid)
        if partner is None:
            continue
        shared = account.keys() & partner.keys()
        if not shared:
            continue
        for o in account.populations:
            for t in partner.populations:
                counts[o][t] += 1
        matched_ids.extend(r.record_id for r in account.rows)
        revealed.extend(
            r.record_id for r in account.rows if set(account.party_pops(r)) & our_records_level
        )
        partner_records = [r for r in partner.rows if set(partner.party_pops(r)) & records_level]
        if not partner_records:
            continue
        fields = [
            {f: r.cells[f] for f in them.revealed_fields if r.cells[f]} for r in partner_records
        ]
        for row in account.rows:
            matches.append(
                {
                    "record_id": row.record_id,
                    "account": cid,
                    "row_populations": account.party_pops(row),
                    "account_populations": account.populations,
                    "partner_populations": sorted(set(partner.populations) & records_level),
                    "key_types": sorted({k for k, _ in shared}),
                    "partner_fields": fields,
                    "partner_record_ids": [r.record_id for r in partner_records],
                }
            )
    matches.sort(key=lambda m: m["record_id"])
    return {
        "partner": them.key,
        "counts": counts,
        "our_sizes": population_sizes(us, ours),
        "partner_sizes": population_sizes(them, theirs),
        "our_disclosure": dict(us.disclosure),
        "partner_disclosure": dict(them.disclosure),
        "matched_accounts": len(
            {m for m in ours if m in theirs and ours[m].keys() & theirs[m].keys()}
        ),
        "matched_record_ids": sorted(matched_ids),
        "revealed_to_partner": sorted(revealed),
        "matches": matches,
    }


def population_sizes(party: Party, accounts: dict[str, Account]) -> dict[str, int]:
    sizes = {p: 0 for p in party.disclosure}
    for account in accounts.values():
        for pop in account.populations:
            sizes[pop] += 1
    return sizes


def party_truth(
    party: Party, accounts: dict[str, Account], stats: dict[str, int]
) -> dict[str, Any]:
    listing = []
    for cid in sorted(accounts):
        account = accounts[cid]
        keys = dict(sorted(account.keys()))
        listing.append(
            {
                "account": cid,
                "record_ids": [r.record_id for r in account.rows],
                "populations": account.populations,
                "keys": keys,
            }
        )
    return {
        "label": party.label,
        "data": party.data_file,
        "policy": party.policy_file,
        "record_id_column": party.id_column,
        "category_column": party.category_column,
        "populations": {
            p: sorted(v for v, q in party.populations.items() if q == p) for p in party.disclosure
        },  # fmt: skip
        "disclosure": dict(party.disclosure),
        "revealed_fields": list(party.revealed_fields),
        **stats,
        "population_sizes": population_sizes(party, accounts),
        "accounts": listing,
    }


def check_key_uniqueness(*sides: dict[str, Account]) -> None:
    """No key value may belong to two companies: the whole ground truth relies on it."""
    owner: dict[tuple[str, str], str] = {}
    for accounts in sides:
        for cid, account in accounts.items():
            for key in account.keys():
                assert owner.setdefault(key, cid) == cid, f"{key} is shared by two companies"


# -- output ----------------------------------------------------------------------------------


def dump_json(value: Any, indent: int = 0, used: int = 0, width: int = 100) -> str:
    """JSON that stays readable and diffable: containers inline when they fit, else one item
    per line (lists of objects: one object per line, however long)."""
    compact = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if used + len(compact) <= width or not isinstance(value, (dict, list)) or not value:
        return compact
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            head = f"{pad}{json.dumps(k, ensure_ascii=False)}: "
            items.append(head + dump_json(v, indent + 2, len(head), width))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if all(not isinstance(v, (dict, list)) for v in value):
        lines: list[list[str]] = [[]]
        for item in value:
            text = json.dumps(item, ensure_ascii=False)
            length = len(pad) + sum(len(t) + 2 for t in lines[-1]) + len(text) + 1
            if lines[-1] and length > width:
                lines.append([])
            lines[-1].append(text)
        return "[\n" + ",\n".join(pad + ", ".join(ln) for ln in lines) + "\n" + " " * indent + "]"
    items = [pad + json.dumps(v, ensure_ascii=False, separators=(", ", ": ")) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def build(seed: int = SEED) -> dict[str, bytes]:
    """Every sample file, by name, as bytes."""
    rng = random.Random(seed)
    shared, nw_only, gx_only = build_pool(rng)
    nw_companies = shared + nw_only
    gx_companies = shared + gx_only
    rng.shuffle(nw_companies)
    rng.shuffle(gx_companies)
    nw_rows = render_rows(rng, NORTHWIND, nw_companies, NORTHWIND_DUPLICATES)
    gx_rows = render_rows(rng, GLOBEX, gx_companies, GLOBEX_DUPLICATES)
    assert len(nw_rows) == NORTHWIND_ROWS and len(gx_rows) == GLOBEX_ROWS
    assign_ids(rng, NORTHWIND, nw_rows)
    assign_ids(rng, GLOBEX, gx_rows)

    nw_accounts, nw_stats = build_accounts(NORTHWIND, nw_rows)
    gx_accounts, gx_stats = build_accounts(GLOBEX, gx_rows)
    check_key_uniqueness(nw_accounts, gx_accounts)
    expected = {
        "format": "blindmatch-sample-expected/1",
        "generator": "tools/make_sample_data.py",
        "seed": seed,
        "rules": "see the docstring of tools/make_sample_data.py",
        "key_types": ["domain", "duns"],
        "parties": {
            "northwind": party_truth(NORTHWIND, nw_accounts, nw_stats),
            "globex": party_truth(GLOBEX, gx_accounts, gx_stats),
        },
        "overlap": {
            "northwind": side_truth(NORTHWIND, GLOBEX, nw_accounts, gx_accounts),
            "globex": side_truth(GLOBEX, NORTHWIND, gx_accounts, nw_accounts),
        },
    }
    return {
        NORTHWIND.data_file: render_csv(NORTHWIND, nw_rows),
        NORTHWIND.policy_file: NORTHWIND_POLICY.encode("utf-8"),
        GLOBEX.data_file: render_csv(GLOBEX, gx_rows),
        GLOBEX.policy_file: GLOBEX_POLICY.encode("utf-8"),
        "expected.json": (dump_json(expected) + "\n").encode("utf-8"),
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR, help="directory to write into")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--check", action="store_true", help="compare with the files in --out, write nothing"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    files = build(args.seed)
    if args.check:
        stale = [n for n, data in files.items() if not (args.out / n).is_file()
                 or (args.out / n).read_bytes() != data]  # fmt: skip
        for name in stale:
            print(f"{args.out / name}: differs from the generator's output", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        target = args.out / name
        temp = target.with_name(f".{name}.tmp")
        temp.write_bytes(data)
        temp.replace(target)
        print(f"wrote {target} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
