"""Write the kit's vectors/normalization_bm-norm-<n>.json: raw CRM cells -> key or reason.

Why: another implementation of the profile (protocol_spec.md section 15) needs cases to check
itself against, covering every rule and the messy forms CRM exports hold. The inputs below
are built from real company names and domains and the decorations exports add; the outputs
are what this implementation of bm-norm/1 gives, frozen: once published, a case may only
change with a new profile name. Run ``python tools/make_normalization_vectors.py [PROFILE]``
(default: every profile). bm-norm/2's file holds the bm-norm/1 inputs (whatever the new rules
changed shows as a different output) plus cases for each of its rules, and "record" cases
for the keys read together (:func:`~blindmatch.accounts.normalize.record_keys`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from blindmatch.accounts.keytypes import normalize_key
from blindmatch.accounts.normalize import (
    PROFILE_1,
    PROFILES,
    data_file,
    email_domain,
    profile_data,
    profile_files,
    record_keys,
)

# the conformance kit's folder in the source tree
VECTORS = Path(__file__).resolve().parents[1] / "src" / "blindmatch" / "conformance" / "vectors"

DOMAINS = [
    "acme.com",
    "siemens.de",
    "bbc.co.uk",
    "toyota.co.jp",
    "natura.com.br",
    "bhp.com.au",
    "carrefour.fr",
    "münchen.de",
    "bücher.ch",
    "例え.jp",
    "xn--mnchen-3ya.de",
    "acme.github.io",
    "shop.acme.myshopify.com",
    "acme.wordpress.com",
    "acme.blogspot.com",
    "intel.com",
    "sap.com",
    "nestle.ch",
    "ikea.se",
    "tata.co.in",
    "samsung.co.kr",
    "nokia.fi",
]
DECORATIONS = [
    "{d}",
    "{D}",
    "www.{d}",
    "http://{d}",
    "https://www.{d}/",
    "HTTPS://WWW.{D}/",
    "https://{d}:8443/x?y#z",
    "http://user:pw@{d}/",
    "{d}.",
    " {d} ",
    '"{d}"',
    "<{d}>",
    "//{d}",
    "https:/{d}",
    "ftp://{d}",
    "{d}/about-us",
    "{d}, other.com",
    "{d}; other.com",
    "www.{d}\u200b",
    "*.{d}",
    "{d}:80",
    "mail.{d}",
    "https://shop.{d}/en-us/",
    "\ufeff{d}",
]
OTHER_DOMAIN = [
    "",
    "   ",
    "n/a",
    "N/A",
    "-",
    "none",
    "TBD",
    "#N/A",
    "nan",
    "null",
    "unknown",
    "example.com",
    "www.example.org",
    "test.com",
    "localhost",
    "intranet.localhost",
    "192.168.0.1",
    "http://10.0.0.1/",
    "[::1]",
    "http://[2001:db8::1]:8080/",
    "co.uk",
    "github.io",
    "acme.local",
    "acme",
    "gmail.com",
    "www.gmail.com",
    "hotmail.co.uk",
    "linkedin.com",
    "https://www.linkedin.com/company/acme",
    "facebook.com/acme",
    "twitter.com",
    "bit.ly/abc",
    "acme..com",
    "-acme.com",
    "acme-.com",
    "xn--zz.com",
    "a" * 64 + ".com",
    "ab--cd.com",
    "acme.com/" + "x" * 2100,
    "😀.com",
    "acme.co",
    "acme.io",
    "Acme Corp",
    "mailto:bob@acme.com",
    "bob@acme.com",
    "foo.business.site",
    "acme.sharepoint.com",
    "www.wordpress.com",
    "acme.squarespace.com",
]
NAMES = [
    "Acme",
    "Siemens",
    "Société Générale",
    "Nestlé",
    "Müller",
    "Ørsted",
    "Łódź Motors",
    "AT&T",
    "Procter & Gamble",
    "McDonald's",
    "J.P. Morgan",
    "3M",
    "Home Depot",
    "Toyota",
    "Straße Bau",
    "Þór",
    "Æon",
    "ÄÖÜ Handel",
    "Tata Consultancy Services",
    "Infosys",
    "Samsung Electronics",
    "東京電力",
    "Газпром",
    "Ελληνικά Πετρέλαια",
    "שטראוס",
    "ไทยเบฟ",
    "Reliance Industries",
    "Banco Santander",
    "Crédit Agricole",
    "L'Oréal",
]
LEGAL = [
    "",
    " Inc.",
    " Inc",
    ", Inc.",
    " INC",
    " LLC",
    " L.L.C.",
    " Ltd",
    " Ltd.",
    " Limited",
    " Corp.",
    " Corporation",
    " Co.",
    " & Co.",
    " GmbH",
    " GmbH & Co. KG",
    " AG",
    " SE",
    " S.A.",
    " SA",
    " S.A.S.",
    " SARL",
    " S.p.A.",
    " S.r.l.",
    " B.V.",
    " N.V.",
    " AB (publ)",
    " ASA",
    " Oy",
    " Oyj",
    " A/S",
    " ApS",
    " Sp. z o.o.",
    " Kft.",
    " Zrt.",
    " Nyrt.",
    " PLC",
    " Pty Ltd",
    " Pte. Ltd.",
    " Pvt. Ltd.",
    " Private Limited",
    " Sdn. Bhd.",
    " Bhd",
    " Tbk",
    " K.K.",
    " Kabushiki Kaisha",
    " S.A. de C.V.",
    " S.A.B. de C.V.",
    " S. de R.L.",
    " Ltda.",
    " LLP",
    " PJSC",
    " JSC",
    " KGaA",
    " UG",
    " ULC",
]
NAME_FORMS = ["{n}{l}", "THE {N}{l}", "  {n}{l}  ", "{N}{l}"]
OTHER_NAMES = [
    "",
    "  ",
    "n/a",
    "Test",
    "test",
    "Self-employed",
    "Self Employed",
    "Freelancer",
    "Individual",
    "Unknown",
    "No Company",
    "Do not use",
    "Duplicate",
    "Deleted",
    "The Company",
    "Inc.",
    "Ltd",
    "-",
    "???",
    "x",
    "Sample",
    "Private",
    "student",
    "Retired",
    "N A",
    "s a",
]
EMAILS = [
    "bob@acme.com",
    "Bob@Acme.COM",
    "Bob Smith <bob@acme.com>",
    "mailto:bob@acme.com",
    "bob@acme.com; alice@acme.com",
    "b.o.b+tag@gmail.com",
    "bob@googlemail.com",
    "bob@mail.acme.co.uk",
    "bob@münchen.de",
    "jörg@acme.de",
    "bob@acme",
    "bob@",
    "@acme.com",
    "bob",
    "bob@@acme.com",
    "bob@192.168.0.1",
    "bob@example.com",
    "bob@localhost",
    "bob@acme.com.",
    '"bob"@acme.com',
    "bob smith@acme.com",
    "x" * 65 + "@acme.com",
    "n/a",
    "",
    "bob@hotmail.co.uk",
    "BOB@YAHOO.COM",
    "info@acme.github.io",
    "sales@bbc.co.uk",
    "ceo@xn--mnchen-3ya.de",
    "bob@test.com",
]
PHONES = [
    ("+49 30 2270", None),
    ("030 2270", "DE"),
    ("030 2270", None),
    ("(415) 555-2671", "US"),
    ("+1 415 555 2671", None),
    ("415.555.2671", "US"),
    ("+1-415-555-2671 ext. 12", None),
    ("0044 20 7946 0958", "DE"),
    ("+44 (0)20 7946 0958", None),
    ("020 7946 0958", "GB"),
    ("020 7946 0958", "UK"),
    ("+81 3-1234-5678", None),
    ("03-1234-5678", "JP"),
    ("123", "US"),
    ("n/a", "US"),
    ("", "US"),
    ("+33 1 42 68 53 00", None),
    ("01 42 68 53 00", "FR"),
    ("+91 22 2778 0000", None),
    ("tel:+14155552671", None),
    ("+1 (800) FLOWERS", None),
    ("555-0100", "US"),
    ("+61 2 9374 4000", None),
    ("(02) 9374 4000", "AU"),
]
DUNS = [
    "123456789",
    "12-345-6789",
    "12 345 6789",
    "1234567",
    "001234567",
    "DUNS: 12-345-6789",
    "D-U-N-S No. 123456789",
    "duns #123456789",
    "123456789.0",
    "1234567890",
    "000000000",
    "0",
    "12345678a",
    "n/a",
    "",
    "12‐345‐6789",
    "１２３４５６７８９",
    "DUNS 12 345 678 9",
    "-1",
    "1.5",
]
CUSTOM = ["A1b2", " A1b2 ", "DE123456789", "0015g0000023LO9AAM", "n/a", "", "a\x00b", "Ａ１", "é"]


def cases(profile: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(key_type: str, raw: str, **options: object) -> None:
        if key_type == "email_domain":
            result = email_domain(raw, profile=profile)
        else:
            result = normalize_key(key_type, raw, profile=profile, **options)  # type: ignore[arg-type]
        case: dict[str, object] = {"key_type": key_type, "raw": raw}
        case.update({k: v for k, v in options.items() if v is not None})
        case.update({"key": result.value} if result.ok else {"reason": result.reason})
        if result.more:
            case["more"] = list(result.more)
        if case not in out:
            out.append(case)

    for d in DOMAINS:
        for form in DECORATIONS:
            add("domain", form.format(d=d, D=d.upper()))
    for raw in OTHER_DOMAIN:
        add("domain", raw)
    for n in NAMES:
        for legal in LEGAL:
            add("name", f"{n}{legal}")
        for form in NAME_FORMS:
            add("name", form.format(n=n, N=n.upper(), l=" Inc."))
    for raw in OTHER_NAMES:
        add("name", raw)
    for raw in EMAILS:
        add("email", raw)
        add("email", raw, gmail_rules=True)
        add("email_domain", raw)
    for raw, region in PHONES:
        add("phone", raw, region=region)
    for raw in DUNS:
        add("duns", raw)
    for raw in CUSTOM:
        add("custom:crm_id", raw)
    if profile != PROFILE_1:
        _cases_v2(profile, add)
    return out


# -- bm-norm/2 ------------------------------------------------------------------------------

V2_NAMES = ["Orlen", "Nordea Bank", "Acme Widgets", "Petronas Chemicals", "Bitė Lietuva"]
V2_LEADING_NAMES = ["Bank Central Asia", "Volvo", "Tallink Grupp", "Toshiba"]
V2_LEGAL_SPELLINGS = [
    "Sp. z o.o.",
    "sp. z o. o.",
    "SP. Z O.O.",
    "s.r.o.",
    "spol. s r.o.",
    "a.s.",
    "a. s.",
    "Kft.",
    "Zrt.",
    "Nyrt.",
    "d.o.o.",
    "d.d.",
    "S.R.L.",
    "S.A.",
    "S.A.U.",
    "S.L.",
    "S.L.U.",
    "Lda.",
    "Ltda.",
    "UAB",
    "AS",
    "SIA",
    "OÜ",
    "AB",
    "AB (publ)",
    "ASA",
    "Oy",
    "Oyj",
    "ApS",
    "A/S",
    "hf.",
    "ehf.",
    "Sdn. Bhd.",
    "Sdn Bhd",
    "Bhd.",
    "Berhad",
    "Pty Ltd",
    "(Pty) Ltd",
    "Pty. Ltd.",
    "K.K.",
    "Kabushiki Kaisha",
    "GmbH & Co. KG",
    "GmbH & Co KG",
    "AG & Co. KGaA",
    "PBC",
    "P.B.C.",
    "Public Benefit Corporation",
    "B Corp",
    "N.A.",
    "National Association",
    "Pvt. Ltd.",
    "Private Limited",
    "Pte. Ltd.",
    "Tbk",
    "S.A.B. de C.V.",
    "S. de R.L. de C.V.",
    "S.p.A.",
    "S.à r.l.",
    "B.V.",
    "N.V.",
    "SAS",
    "SARL",
    "GesmbH",
    "Ges.m.b.H.",
    "EOOD",
    "OOO",
    "ООО",
    "Ltd. Şti.",
    "A.Ş.",
    "ULC",
    "DAC",
    "PLC",
    "Co., Ltd.",
    "LLC",
    "L.L.C.",
]
V2_LISTING = [
    "Apple Inc. (NASDAQ: AAPL)",
    "The Coca-Cola Company (NYSE: KO)",
    "Vodafone Group Plc (LSE: VOD)",
    "Telia Company AB (publ)",
    "Shopify Inc. (TSX: SHOP)",
    "BHP Group (ASX: BHP)",
    "Berkshire Hathaway Inc. (NYSE: BRK.A)",
    "Ericsson (Nasdaq)",
    "Six Flags (SIX)",
    "Volvo Car AB (publ.)",
    "Alibaba Group (HKEX: 9988)",
    "SAP SE (XETRA: SAP)",
    "PT Bank Central Asia Tbk (IDX: BBCA)",
    "Telia Company AB (Nasdaq Stockholm: TELIA)",
]
V2_ALIASES = [
    "Alphabet Inc. dba Google",
    "Alphabet Inc. d/b/a Google",
    "Alphabet Inc. D.B.A. Google",
    "Meta Platforms, Inc. (formerly Facebook, Inc.)",
    "Meta Platforms (formerly known as Facebook)",
    "Block, Inc. (fka Square, Inc.)",
    "Block, Inc. f/k/a Square, Inc.",
    "Block Inc. F.K.A. Square",
    "X Corp. aka Twitter",
    "X Corp. a/k/a Twitter",
    "X Corp. a.k.a. Twitter",
    "Tesco Stores Ltd t/a Tesco Express",
    "Tesco Stores Limited trading as Tesco Express",
    "Accenture, formerly Andersen Consulting",
    "Facebook, Inc. (now Meta Platforms)",
    "Facebook, now Meta",
    "Philip Morris Companies (now Altria Group)",
    "Kraft Heinz Company dba Heinz",
    "AKA Brands Holding Corp.",
    "NOW Foods",
    "Now TV",
    "Formerly Yes",
    "DBA Systems, Inc.",
    "Snowflake Inc.",
    "Dbaas Ltd",
    "Known As Inc",
    "Test Account dba Acme",
    "Google dba Google",
]
V2_PLACEHOLDER_NAMES = [
    "Test",
    "Test Account",
    "TEST ACCOUNT",
    "Test Account 2",
    "test123",
    "Sample Company",
    "Sample Company Inc.",
    "Demo",
    "Demo Account",
    "Unknown",
    "Unknown Company",
    "N/A",
    "n/a",
    "None",
    "Placeholder",
    "Placeholder Inc",
    "Example Corp",
    "Dummy Customer",
    "Fake Company",
    "Do Not Use",
    "TBD",
    "asdf",
    "New Account",
    "Acme Test",
    "Test Kitchen Inc.",
    "Sample Technologies",
    "Demo Day Ventures",
    "Unknown Worlds Entertainment",
]
V2_DOMAINS = [
    "gmail.com",
    "https://www.gmail.com/",
    "yahoo.com",
    "https://www.yahoo.com",
    "gmx.net",
    "proton.me",
    "https://proton.me/",
    "zoho.com",
    "yandex.ru",
    "fastmail.com",
    "seznam.cz",
    "naver.com",
    "mail.ru",
    "outlook.com",
    "web.de",
    "aol.com",
    "icloud.com",
    "acmebakery.substack.com",
    "https://acmebakery.substack.com/",
    "substack.com",
    "acme.zendesk.com",
    "https://acme.zendesk.com/hc/en-us",
    "zendesk.com",
    "www.zendesk.com",
    "acme.freshdesk.com",
    "acme.slack.com",
    "app.slack.com",
    "slack.com",
    "acme.teachable.com",
    "acme.mystrikingly.com",
    "acme.herokuapp.com",
    "acme.webflow.io",
    "acme.wixsite.com/home",
    "acme.github.io",
    "acme.blogspot.com",
    "acme.netlify.app",
    "acme.vercel.app",
    "acme.myshopify.com",
    "acme.atlassian.net",
    "acme.notion.site",
    "acme.gitbook.io",
    "sites.google.com/view/acme",
    "https://sites.google.com",
    "https://www.crunchbase.com/organization/acme",
    "https://www.zoominfo.com/c/acme/123",
    "zoominfo.com",
    "aws.amazon.com",
    "https://cloud.google.com/",
    "azure.microsoft.com",
    "developer.apple.com",
    "shop.lego.com",
    "support.apple.com",
    "example.com",
    "www.example.org",
    "example.net",
    "example.co.uk",
    "example.de",
    "acme.test",
    "test.example",
    "acme.invalid",
    "acme.localhost",
    "acme.example",
    "test.com",
    "sample.com",
    "yourcompany.com",
    "domain.com",
    "test.de",
    "placeholder.io",
]
V2_EMAILS = [
    "jane.doe@gmail.com",
    "owner@yahoo.com",
    "info@gmx.net",
    "bob@proton.me",
    "x@zoho.com",
    "test@test.com",
    "john@example.com",
    "john@example.co.uk",
    "a@acme.test",
    "b@acme.invalid",
    "c@acme.example",
    "sales@acme.zendesk.com",
    "jane@acme.com",
    "jane@eu.acme.com",
]
V2_PHONES = [
    ("(212) 555-0100", "US"),
    ("+1 212 555 0123", None),
    ("212-555-0199", "US"),
    ("555-5555", "US"),
    ("+1 650 555 5555", None),
    ("(650) 253-0000", "US"),
    ("+1 111 111 1111", None),
    ("+1 234 567 8901", None),
    ("123-456-7890", "US"),
    ("020 7946 0958", "GB"),
    ("+44 20 7946 0018", None),
    ("+44 20 7219 3000", None),
    ("07700 900123", "GB"),
    ("+44 113 496 0000", None),
    ("+61 491 570 156", None),
    ("+61 2 5550 1234", None),
    ("+49 30 2270", None),
    ("0000000000", "US"),
]
V2_DUNS = [
    "123456789",
    "12-345-6789",
    "987654321",
    "012345678",
    "1234567",
    "111111111",
    "999999999",
    "222222222",
    "000000001",
    "1",
    "100000000",
    "123123123",
    "150483782",
    "15-048-3782",
    "048383812",
    "062371537",
    "080000000",
    "345678901",
]
V2_CUSTOM = ["test", "Test", "sample", "demo", "placeholder", "A1b2", "123"]
V2_RECORDS = [
    [["name", "amazon"], ["domain", "amazon.de"]],
    [["name", "amazon"], ["domain", "amazon.com"], ["domain", "amazon.co.uk"]],
    [["name", "siemens"], ["domain", "siemens.com"]],
    [["name", "coca cola"], ["domain", "coca-cola.co.uk"]],
    [["name", "nationwide building society"], ["domain", "nationwide.co.uk"]],
    [["name", "nationwide mutual insurance"], ["domain", "nationwide.com"]],
    [["name", "australian broadcasting"], ["domain", "abc.net.au"]],
    [["name", "acme"], ["domain", "acme.github.io"]],
    [["name", "acme"], ["domain", "acme.zendesk.com"]],
    [["name", "munchen"], ["domain", "xn--mnchen-3ya.de"]],
    [["name", "alphabet"], ["name", "google"], ["domain", "google.de"]],
    [["domain", "ikea.se"]],
    [["name", "ikea"]],
    [["name", "ikea"], ["domain", "ikea.se"], ["duns", "150483782"]],
    [["name", "yahoo"], ["domain", "yahoo.com"]],
    [["name", "gmail guy"], ["domain", "gmail.com"]],
    [["domain", "gmail.com"]],
    [["name", "proton"], ["domain", "proton.me"], ["domain", "gmx.net"]],
    [["name", "amazon"], ["domain", "amazon.de"], ["domain", "brand:amazon"]],
    [["name", "apollo"], ["domain", "apollo.io"]],
    [["name", "ally"], ["domain", "ally.com"]],
    [["name", "notion"], ["domain", "notion.so"]],
    [["name", "nordwind"], ["domain", "nordwind.tv"]],
    [["name", "nordwind"], ["domain", "nordwind.info"]],
    [["name", "nordwind"], ["domain", "nordwind.org"]],
    [["name", "nordwind"], ["domain", "nordwind.com.au"]],
]


def _cases_v2(profile: str, add: Callable[..., None]) -> None:
    for name in V2_NAMES:
        for legal in V2_LEGAL_SPELLINGS:
            add("name", f"{name} {legal}")
            add("name", f"{name}, {legal}")
    for name in V2_LEADING_NAMES:
        for legal in ("PT", "UAB", "AB", "AS", "SIA", "OOO", "K.K.", "Kabushiki Kaisha", "SC"):
            add("name", f"{legal} {name}")
            add("name", f"{legal} {name} Tbk")
    # every legal form of the profile's lists, as written there, behind and before a name
    for role, template in (("legal-forms", "Nordwind {}"), ("legal-forms-leading", "{} Nordwind")):
        for line in data_file(profile_files(profile)[role]).decode("utf-8").split("\n"):
            if line and not line.startswith("# "):
                add("name", template.format(line.partition(" ")[2]))
    for raw in V2_LISTING + V2_ALIASES + V2_PLACEHOLDER_NAMES:
        add("name", raw)
    for raw in V2_DOMAINS:
        add("domain", raw)
    for raw in V2_EMAILS:
        add("email", raw)
        add("email_domain", raw)
    for raw, region in V2_PHONES:
        add("phone", raw, region=region)
    for raw in V2_DUNS:
        add("duns", raw)
    for raw in V2_CUSTOM:
        add("custom:crm_id", raw)


def record_cases(profile: str) -> list[dict[str, object]]:
    """Keys of a record's cells -> the record's keys (:func:`record_keys`: the brand key of
    regional sites, free-mail websites dropped when the record's names disagree)."""
    out: list[dict[str, object]] = []
    for keys in V2_RECORDS:
        pairs = [(k, v) for k, v in keys]
        out.append({"keys": keys, "record": [list(k) for k in record_keys(pairs, profile)]})
    return out


def main(argv: list[str]) -> int:
    for profile in argv or list(PROFILES):
        data = profile_data(profile)
        doc: dict[str, object] = {
            "profile": profile,
            "description": (
                f"{profile} normalization vectors: key_type (or email_domain: the domain key of "
                "an e-mail cell), raw cell, options (region, gmail_rules), then key or reason"
                + (
                    ""
                    if profile == PROFILE_1
                    else " (key: the first key, more: further keys of the cell); record: keys of a "
                    "record's cells -> the record's keys"
                )
            ),
            "tables": {k: v for k, v in data.items() if k != "profile"},
            "vectors": cases(profile),
        }
        if profile != PROFILE_1:
            doc["record"] = record_cases(profile)
        out = VECTORS / f"normalization_{profile.replace('/', '-')}.json"
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{len(doc['vectors'])} cases -> {out}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
