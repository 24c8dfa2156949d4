"""Write the kit's vectors/normalization_bm-norm-1.json: raw CRM cells -> bm-norm/1 key or reason.

Why: another implementation of the profile (protocol_spec.md section 15) needs cases to check
itself against, covering every rule and the messy forms CRM exports hold. The inputs below
are built from real company names and domains and the decorations exports add; the outputs
are what this implementation of bm-norm/1 gives, frozen: once published, a case may only
change with a new profile name. Run ``python tools/make_normalization_vectors.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blindmatch.accounts.keytypes import normalize_key
from blindmatch.accounts.normalize import PROFILE, email_domain, profile_data

OUT = (
    Path(__file__).resolve().parents[1]
    / "src/blindmatch/conformance/vectors/normalization_bm-norm-1.json"
)

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


def cases() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(key_type: str, raw: str, **options: object) -> None:
        if key_type == "email_domain":
            result = email_domain(raw)
        else:
            result = normalize_key(key_type, raw, **options)  # type: ignore[arg-type]
        case: dict[str, object] = {"key_type": key_type, "raw": raw}
        case.update({k: v for k, v in options.items() if v is not None})
        case.update({"key": result.value} if result.ok else {"reason": result.reason})
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
    return out


def main() -> int:
    data = profile_data()
    doc = {
        "profile": PROFILE,
        "description": (
            "bm-norm/1 normalization vectors: key_type (or email_domain: the domain key of an "
            "e-mail cell), raw cell, options (region, gmail_rules), then key or reason"
        ),
        "tables": {k: v for k, v in data.items() if k != "profile"},
        "vectors": cases(),
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(doc['vectors'])} cases -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
