"""Tests for key normalization, profile bm-norm/1 (blindmatch.accounts.normalize).

Rule-by-rule tables with real-world values, then properties every normalizer must have:
it never raises on any text, and it is idempotent (a key normalizes to itself).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

import idna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.accounts import normalize as nz
from blindmatch.accounts.keytypes import KEY_TYPES, check_key_type, normalize_key
from blindmatch.accounts.normalize import (
    MAX_INPUT_CHARS,
    PROFILE,
    REASONS,
    Normalized,
    email_domain,
    normalize_custom,
    normalize_domain,
    normalize_duns,
    normalize_email,
    normalize_name,
    normalize_phone,
    profile_data,
    profile_fingerprint,
)
from blindmatch.errors import BlindmatchError, UsageError
from blindmatch.protocol.model import KEY_TYPE_PATTERN

BLANK = Normalized(None, "blank")
JUNK = Normalized(None, "junk")
FREE_MAIL = Normalized(None, "free-mail")
INVALID = Normalized(None, "invalid")


def key(value: str) -> Normalized:
    return Normalized(value)


# ---------------------------------------------------------------------------------------------
# The result type


def test_profile_name() -> None:
    assert PROFILE == "bm-norm/2"  # new runs; bm-norm/1 stays available
    assert nz.PROFILES == ("bm-norm/1", "bm-norm/2")


def test_normalized_holds_a_value_or_a_reason() -> None:
    assert key("acme.com").ok
    assert not JUNK.ok
    with pytest.raises(UsageError):
        Normalized(None, None)
    with pytest.raises(UsageError):
        Normalized("acme.com", "junk")
    with pytest.raises(UsageError):
        Normalized(None, "bogus")  # type: ignore[arg-type]


def test_normalized_is_frozen() -> None:
    result = key("acme.com")
    with pytest.raises(AttributeError):
        result.value = "other.com"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Domains

DOMAIN_CASES = [
    # scheme, credentials, port, path, query, fragment, case, www
    ("www.Acme.com/about", key("acme.com")),
    ("HTTPS://user:pw@WWW.ACME.COM:8443/x?y#z", key("acme.com")),
    ("http://acme.com", key("acme.com")),
    ("acme.com:8080", key("acme.com")),
    ("//cdn.acme.com/lib.js", key("acme.com")),
    ("https//acme.com", key("acme.com")),
    ("http:/acme.com", key("acme.com")),
    ("acme.com?ref=crm", key("acme.com")),
    # trimming, trailing dot, quotes, several values in one cell
    ("acme.com.", key("acme.com")),
    (" acme.com ", key("acme.com")),
    ("\ufeffacme.com\u200b", key("acme.com")),
    ('"acme.com"', key("acme.com")),
    ("<https://acme.com>", key("acme.com")),
    ("http://acme.com, http://acme.io", key("acme.com")),
    ("acme.com; acme.io", key("acme.com")),
    # registrable domain per the Public Suffix List, private section included
    ("shop.eu.acme.co.uk", key("acme.co.uk")),
    ("acme.github.io", key("acme.github.io")),
    ("docs.acme.github.io", key("acme.github.io")),
    ("acme.blogspot.com", key("acme.blogspot.com")),
    ("www.acme.com.au", key("acme.com.au")),
    ("github.io", JUNK),
    ("co.uk", JUNK),
    ("com", JUNK),
    # IDNA (UTS 46)
    ("münchen.de", key("xn--mnchen-3ya.de")),
    ("https://www.MÜNCHEN.de/", key("xn--mnchen-3ya.de")),
    ("xn--mnchen-3ya.de", key("xn--mnchen-3ya.de")),
    ("acme\u3002com", key("acme.com")),  # ideographic full stop
    ("ａｃｍｅ.com", key("acme.com")),  # fullwidth letters
    ("пример.рф", key("xn--e1afmkfd.xn--p1ai")),
    # an email address in a website column
    ("bob@acme.com", key("acme.com")),
    ("mailto:bob@acme.com", key("acme.com")),
    # a mail provider's website is the provider (bm-norm/2; free mail is for addresses)
    ("gmail.com", key("gmail.com")),
    ("https://mail.yahoo.com/", key("yahoo.com")),
    ("outlook.com", key("outlook.com")),
    ("hotmail.co.uk", key("hotmail.co.uk")),
    # junk
    ("n/a", JUNK),
    ("N/A", JUNK),
    ("-", JUNK),
    ("none", JUNK),
    ("null", JUNK),
    ("tbd", JUNK),
    ("acme", JUNK),  # no dot
    ("localhost", JUNK),
    ("http://localhost:3000/app", JUNK),
    ("192.168.1.10", JUNK),
    ("http://10.0.0.1:8080/x", JUNK),
    ("[2001:db8::1]", JUNK),
    ("http://[::1]:8080/", JUNK),
    ("example.com", JUNK),
    ("www.example.org", JUNK),
    # profile pages on shared platforms say nothing about the company's own domain
    ("https://www.linkedin.com/company/acme", JUNK),
    ("facebook.com/acme", JUNK),
    ("https://sites.google.com/view/acme", JUNK),
    ("bit.ly/3xYz", JUNK),
    ("linkedin.com", key("linkedin.com")),  # the platform's own company
    ("https://www.google.com/", key("google.com")),
    # site builders outside the PSL keep the tenant
    ("acme.wordpress.com", key("acme.wordpress.com")),
    ("https://www.acme.wordpress.com/about", key("acme.wordpress.com")),
    ("wordpress.com", key("wordpress.com")),
    # invalid
    ("acme.local", INVALID),
    ("acme..com", INVALID),
    ("acme_corp.com", INVALID),
    ("-acme.com", INVALID),
    ("http://", INVALID),
    ("a" * 64 + ".com", INVALID),
    # blank
    ("", BLANK),
    ("   ", BLANK),
    ('""', BLANK),
    (None, BLANK),
]


@pytest.mark.parametrize(("raw", "expected"), DOMAIN_CASES)
def test_normalize_domain(raw: str | None, expected: Normalized) -> None:
    assert normalize_domain(raw) == expected


def test_domain_length_cap() -> None:
    long = "a" * (MAX_INPUT_CHARS - len(".com")) + ".com"
    assert normalize_domain(long) == INVALID  # label too long, but checked cheaply
    assert normalize_domain("acme.com" + " " * MAX_INPUT_CHARS) == INVALID


def test_domain_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("normalization tried to use the network")

    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    nz._psl.cache_clear()
    nz._registrable.cache_clear()
    nz._normalize_domain.cache_clear()
    assert normalize_domain("https://shop.eu.acme.co.uk/").value == "acme.co.uk"
    assert email_domain("bob@acme.github.io").value == "acme.github.io"


# ---------------------------------------------------------------------------------------------
# Company names

NAME_CASES = [
    ("Delta Air Lines, Inc.", "delta air lines"),
    ("DELTA AIR LINES", "delta air lines"),
    ("Delta Air Lines Inc", "delta air lines"),
    ("Société Générale S.A.", "societe generale"),
    ("SOCIETE GENERALE SA", "societe generale"),
    ("AT&T Inc.", "at and t"),
    ("AT & T", "at and t"),
    ("The Home Depot", "home depot"),
    ("Home Depot, Inc.", "home depot"),
    ("Müller GmbH & Co. KG", "muller"),
    ("MÜLLER GMBH", "muller"),
    ("The Company", "company"),
    ("The Coca-Cola Company", "coca cola"),
    ("McDonald's Corporation", "mcdonalds"),
    ("Procter & Gamble Co.", "procter and gamble"),
    ("J.P. Morgan Chase & Co.", "jp morgan chase"),
    ("JP Morgan Chase", "jp morgan chase"),
    ("Acme, L.L.C.", "acme"),
    ("Acme Pty. Ltd.", "acme"),
    ("Ørsted A/S", "orsted"),
    ("Nestlé S.A.", "nestle"),
    ("Samsung Electronics Co., Ltd.", "samsung electronics"),
    ("Straße Holding GmbH", "strasse holding"),
    ("Łódź Sp. z o.o.", "lodz"),
    ("Cemex, S.A.B. de C.V.", "cemex"),
    ("Infosys Private Limited", "infosys"),
    ("Ericsson AB (publ)", "ericsson"),
    ("ＡＣＭＥ　Ｉｎｃ．", "acme"),  # fullwidth (NFKC)
    ("Ben & Jerry's", "ben and jerrys"),
    ("3M Company", "3m"),
    ("Smith & Co.", "smith"),
    ("Inc.", "inc"),  # never reduced to nothing
    ("  Acme\tWidgets  ", "acme widgets"),
    ("トヨタ自動車株式会社", "トヨタ自動車株式会社"),
    ("삼성전자", "삼성전자"),
    ("टाटा मोटर्स", "टाटा मोटर्स"),  # Devanagari vowel signs are not accents
]


@pytest.mark.parametrize(("raw", "expected"), NAME_CASES)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == key(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", BLANK),
        ("   ", BLANK),
        (None, BLANK),
        ("n/a", JUNK),
        ("N.A.", JUNK),
        ("-", JUNK),
        ("???", JUNK),
        ("none", JUNK),
        ("Self-Employed", JUNK),
        ("Individual", JUNK),
        ("🍕", JUNK),
        ("x" * (MAX_INPUT_CHARS + 1), INVALID),
    ],
)
def test_name_without_key(raw: str | None, expected: Normalized) -> None:
    assert normalize_name(raw) == expected


# ---------------------------------------------------------------------------------------------
# Email

EMAIL_CASES = [
    (" Bob@Acme.COM ", "bob@acme.com"),
    ("Bob Smith <Bob@Acme.com>", "bob@acme.com"),
    ("mailto:bob@acme.com", "bob@acme.com"),
    ("bob@acme.com; alice@acme.io", "bob@acme.com"),
    ("bob@münchen.de", "bob@xn--mnchen-3ya.de"),
    ("Jörg@Acme.de", "jörg@acme.de"),
    ("bob@mail.acme.co.uk", "bob@mail.acme.co.uk"),
    ("bob@acme.com.", "bob@acme.com"),
    ("b.o.b+crm@gmail.com", "b.o.b+crm@gmail.com"),  # Gmail rules are opt-in
    ("bob@gmail.com", "bob@gmail.com"),  # free mail is a fine email key
]


@pytest.mark.parametrize(("raw", "expected"), EMAIL_CASES)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == key(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("B.O.B+crm@Gmail.com", "bob@gmail.com"),
        ("b.o.b@googlemail.com", "bob@gmail.com"),
        ("bob+x@acme.com", "bob+x@acme.com"),  # only Gmail's rules
        ("b.o.b@acme.com", "b.o.b@acme.com"),
    ],
)
def test_gmail_rules(raw: str, expected: str) -> None:
    assert normalize_email(raw, gmail_rules=True) == key(expected)


def test_gmail_rules_can_leave_nothing() -> None:
    assert normalize_email("+tag@gmail.com", gmail_rules=True) == INVALID


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", BLANK),
        (None, BLANK),
        ("n/a", JUNK),
        ("bob@example.com", JUNK),
        ("none@none.com", JUNK),
        ("bob", INVALID),
        ("bob@", INVALID),
        ("@acme.com", INVALID),
        ("bob@acme", INVALID),
        ("bob@co.uk", INVALID),
        ("bob@192.168.0.1", INVALID),
        ("bob..smith@acme.com", INVALID),
        ("bob smith@acme.com", INVALID),
        ("a" * 65 + "@acme.com", INVALID),
    ],
)
def test_email_without_key(raw: str | None, expected: Normalized) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bob@acme.com", key("acme.com")),
        ("Bob <bob@eu.shop.acme.co.uk>", key("acme.co.uk")),
        ("bob@acme.github.io", key("acme.github.io")),
        ("bob@münchen.de", key("xn--mnchen-3ya.de")),
        ("bob@linkedin.com", key("linkedin.com")),
        ("bob@gmail.com", FREE_MAIL),
        ("bob@googlemail.com", FREE_MAIL),
        ("bob@yahoo.co.uk", FREE_MAIL),
        ("bob@example.com", JUNK),
        ("bob", INVALID),
        ("", BLANK),
    ],
)
def test_email_domain(raw: str, expected: Normalized) -> None:
    assert email_domain(raw) == expected


# ---------------------------------------------------------------------------------------------
# Phone

PHONE_CASES = [
    ("(650) 253-0000", "US", "+16502530000"),
    ("650.253.0000", "US", "+16502530000"),
    ("+1 650 253 0000", None, "+16502530000"),
    ("+1 650 253 0000", "DE", "+16502530000"),  # an explicit country code wins
    ("1-800-FLOWERS", "US", "+18003569377"),
    ("+1 212 555 1234 ext. 5", None, "+12125551234"),  # extensions are dropped
    ("030 2270", "DE", "+49302270"),
    ("+49 (0)30 227-0", None, "+49302270"),
    ("0049 30 2270", "DE", "+49302270"),
    ("089 12345678", "de", "+498912345678"),  # region case does not matter
    ("020 7219 3000", "UK", "+442072193000"),  # "UK" means GB
    ("tel:+49-30-2270", None, "+49302270"),
]


@pytest.mark.parametrize(("raw", "region", "expected"), PHONE_CASES)
def test_normalize_phone(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region=region) == key(expected)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("650-253-0000", None, INVALID),  # national number, no region
        ("123", "US", INVALID),
        ("+1 000 000 0000", None, JUNK),  # repeated digits: a placeholder (bm-norm/2)
        ("+1 212 555 0123", None, JUNK),  # 555-01xx: reserved for fiction
        ("call me", "US", INVALID),
        ("n/a", "US", JUNK),
        ("", "US", BLANK),
        (None, "DE", BLANK),
    ],
)
def test_phone_without_key(raw: str | None, region: str | None, expected: Normalized) -> None:
    assert normalize_phone(raw, region=region) == expected


@pytest.mark.parametrize("region", ["XX", "Germany", "DEU", "1"])
def test_unknown_phone_region_is_a_usage_error(region: str) -> None:
    with pytest.raises(UsageError, match="region"):
        normalize_phone("030 2270", region=region)


def test_blank_region_means_none() -> None:
    assert normalize_phone("+49 30 2270", region="  ") == key("+49302270")


# ---------------------------------------------------------------------------------------------
# DUNS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("150483782", key("150483782")),
        ("15-048-3782", key("150483782")),
        ("150 483 782", key("150483782")),
        ("15\u2013048\u20133782", key("150483782")),  # en dashes
        ("1504837", key("001504837")),  # leading zeros lost in a spreadsheet
        ("001504837", key("001504837")),
        ("150483782.0", key("150483782")),  # stored as a float
        ("DUNS: 15-048-3782", key("150483782")),
        ("D-U-N-S No. 150483782", key("150483782")),
        ("１５０４８３７８２", key("150483782")),
        ("123456789", JUNK),  # placeholders (bm-norm/2)
        ("999999999", JUNK),
        ("1234567", JUNK),
        ("000000000", JUNK),
        ("0", JUNK),
        ("n/a", JUNK),
        ("1234567890", INVALID),
        ("abc", INVALID),
        ("12a456789", INVALID),
        ("", BLANK),
        (None, BLANK),
    ],
)
def test_normalize_duns(raw: str | None, expected: Normalized) -> None:
    assert normalize_duns(raw) == expected


# ---------------------------------------------------------------------------------------------
# Custom exact keys


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  0015g00000AbCdE ", key("0015g00000AbCdE")),  # case is kept
        ("0015g00000abcde", key("0015g00000abcde")),
        ("DE 123 456 789", key("DE 123 456 789")),  # inner spaces are kept
        ("Cafe\u0301", key("Caf\u00e9")),  # NFC
        ("ＡＢＣ", key("ＡＢＣ")),  # no NFKC
        ("\ufeffX1", key("X1")),
        ("N/A", JUNK),
        ("a\x00b", INVALID),
        ("a\ud800b", INVALID),
        ("", BLANK),
        (None, BLANK),
    ],
)
def test_normalize_custom(raw: str | None, expected: Normalized) -> None:
    assert normalize_custom(raw) == expected


# ---------------------------------------------------------------------------------------------
# Dispatch


@pytest.mark.parametrize(
    ("key_type", "raw", "expected"),
    [
        ("domain", "https://www.acme.com/", "acme.com"),
        ("name", "Acme, Inc.", "acme"),
        ("email", "Bob@Acme.com", "bob@acme.com"),
        ("phone", "+49 30 2270", "+49302270"),
        ("duns", "15-048-3782", "150483782"),
        ("custom:crm_id", " A1b2 ", "A1b2"),
        ("custom:vat.id", "DE123", "DE123"),
    ],
)
def test_normalize_key(key_type: str, raw: str, expected: str) -> None:
    assert normalize_key(key_type, raw) == key(expected)


def test_normalize_key_passes_options() -> None:
    assert normalize_key("phone", "030 2270", region="DE") == key("+49302270")
    assert normalize_key("email", "b.o.b@gmail.com", gmail_rules=True) == key("bob@gmail.com")


@pytest.mark.parametrize(
    "key_type", ["email_domain", "Domain", "custom:", "custom:CRM", "custom:a b", "", "url"]
)
def test_unknown_key_type(key_type: str) -> None:
    with pytest.raises(UsageError, match="key type"):
        normalize_key(key_type, "x")
    with pytest.raises(UsageError):
        check_key_type(key_type)


def test_usage_error_is_catchable_as_library_and_value_error() -> None:
    with pytest.raises(BlindmatchError):
        normalize_key("nope", "x")
    with pytest.raises(ValueError):
        normalize_key("nope", "x")


def test_custom_key_types_agree_with_the_protocol_model() -> None:
    pattern: re.Pattern[str] = KEY_TYPE_PATTERN
    for key_type in (*KEY_TYPES, "custom:crm_id", "custom:a", "custom:" + "x" * 48):
        assert pattern.match(key_type), key_type
        assert check_key_type(key_type) == key_type
    for key_type in ("custom:" + "x" * 49, "custom:_x", "custom:X"):
        assert not pattern.match(key_type)
        with pytest.raises(UsageError):
            check_key_type(key_type)


# ---------------------------------------------------------------------------------------------
# Profile identity


def test_profile_fingerprint_is_stable_hex() -> None:
    data = profile_data()
    assert data["profile"] == PROFILE
    assert set(data) >= {"public-suffix-list", "free-mail", "unicode", "tables"}
    assert re.fullmatch(r"[0-9a-f]{64}", profile_fingerprint())
    assert profile_fingerprint() == profile_fingerprint()
    data["profile"] = "tampered"
    assert profile_data()["profile"] == PROFILE  # callers get a copy


# ---------------------------------------------------------------------------------------------
# Properties: total on any text, idempotent, keys are encodable

NORMALIZERS: dict[str, Callable[[str], Normalized]] = {
    "domain": normalize_domain,
    "name": normalize_name,
    "email": normalize_email,
    "email+gmail": lambda raw: normalize_email(raw, gmail_rules=True),
    "email_domain": email_domain,
    "phone": lambda raw: normalize_phone(raw, region="US"),
    "duns": normalize_duns,
    "custom": normalize_custom,
}
# What a key of each kind is normalized with again: email domains are domain keys, and an
# E.164 number needs no region.
RENORMALIZERS: dict[str, Callable[[str], Normalized]] = {
    **NORMALIZERS,
    "email_domain": normalize_domain,
    "phone": lambda raw: normalize_phone(raw, region=None),
}

DOMAIN_PARTS = st.sampled_from(
    [
        "acme",
        "www",
        "shop",
        "eu",
        "münchen",
        "ÄCME",
        "xn--mnchen-3ya",
        "co",
        "uk",
        "com",
        "github",
        "io",
        "wordpress",
        "gmail",
        "example",
        "localhost",
        "1",
        "127",
        "-",
        "a-b",
        "",
    ]
)
URLISH = st.builds(
    "".join,
    st.lists(
        st.one_of(
            DOMAIN_PARTS,
            st.sampled_from(
                [
                    ".",
                    ".",
                    ".",
                    "/",
                    ":",
                    "@",
                    "http://",
                    "https://",
                    "?",
                    "#",
                    ",",
                    " ",
                    "\u3002",
                    "[",
                    "]",
                    "::1",
                    "8080",
                    '"',
                    "'",
                    "mailto:",
                ]
            ),
        ),
        max_size=12,
    ),
)
NAME_PARTS = st.sampled_from(
    [
        "The",
        "the",
        "Acme",
        "Société",
        "Générale",
        "S.A.",
        "S.A.B.",
        "de",
        "C.V.",
        "&",
        "and",
        "Co.",
        "Co",
        "KG",
        "GmbH",
        "Inc.",
        "Ltd",
        "Pty",
        "A/S",
        "a",
        "b",
        "x",
        "ß",
        "İ",
        "Ø",
        "'",
        ".",
        "-",
        ",",
        "n/a",
        "Sp.",
        "z",
        "o.o.",
        "private",
        "limited",
        "टाटा",
        "\u0301",
        "\u093f",
        "ǅ",
        "ﬁ",
        "Ꭰ",
        "ꭰ",
        "ς",
        "Σ",
        "ﷺ",
        "가",
    ]
)
NAMEISH = st.lists(NAME_PARTS, max_size=8).map(" ".join)
PHONEISH = st.builds(
    "".join, st.tuples(st.sampled_from(["", "+", "00"]), st.text("0123456789 ()-.", max_size=20))
)
EMAILISH = st.builds(
    lambda local, at, host: f"{local}{at}{host}",
    st.text(alphabet="aB.+_-x\u00e9'", max_size=8),
    st.sampled_from(["@", "@@", ""]),
    URLISH,
)


def check(kind: str, raw: str) -> None:
    result = NORMALIZERS[kind](raw)
    assert isinstance(result, Normalized)
    assert result.reason in (None, *REASONS)
    if result.value is not None:
        result.value.encode("utf-8")  # keys get hashed: they must be encodable
        assert result.value == result.value.strip()
        for value in result.values:  # every key of the cell is a fixed point
            assert RENORMALIZERS[kind](value) == Normalized(value), (raw, result)


@pytest.mark.parametrize("kind", NORMALIZERS)
@settings(deadline=None)
@given(raw=st.text())
def test_any_text(kind: str, raw: str) -> None:
    check(kind, raw)


@pytest.mark.parametrize("kind", ["domain", "email", "email+gmail", "email_domain"])
@settings(max_examples=150, deadline=None)
@given(raw=st.one_of(URLISH, EMAILISH))
def test_urls_and_addresses(kind: str, raw: str) -> None:
    check(kind, raw)


@settings(max_examples=150, deadline=None)
@given(raw=st.one_of(NAMEISH, st.text(st.characters(categories=["L", "M", "N", "P", "Zs"]))))
def test_names(raw: str) -> None:
    check("name", raw)


@settings(max_examples=150, deadline=None)
@given(raw=PHONEISH, region=st.sampled_from([None, "US", "DE", "GB", "FR"]))
def test_phones(raw: str, region: str | None) -> None:
    result = normalize_phone(raw, region=region)
    if result.value is not None:
        assert result.value.startswith("+")
        assert normalize_phone(result.value, region=None) == result


@settings(max_examples=150, deadline=None)
@given(
    raw=st.builds(
        "".join, st.tuples(st.text("0123456789 -", max_size=14), st.sampled_from(["", ".0"]))
    )
)
def test_duns_shapes(raw: str) -> None:
    result = normalize_duns(raw)
    if result.value is not None:
        assert re.fullmatch(r"[0-9]{9}", result.value)
        assert normalize_duns(result.value) == result


@settings(max_examples=150, deadline=None)
@given(
    host=st.lists(st.text("abcXYZ019-", min_size=1, max_size=65), min_size=1, max_size=5).map(
        ".".join
    )
)
def test_ascii_fast_path_matches_the_idna_codec(host: str) -> None:
    try:
        expected: str | None = idna.encode(
            host, uts46=True, std3_rules=True, transitional=False
        ).decode("ascii")
    except idna.IDNAError:
        expected = None
    assert nz._to_ascii_host(host) == expected


@pytest.mark.parametrize("kind", NORMALIZERS)
def test_hostile_values(kind: str) -> None:
    for raw in (
        "\ud800",
        "a@\udfff.com",
        "\x00",
        "@" * 500,
        "." * MAX_INPUT_CHARS,
        "x" * (MAX_INPUT_CHARS + 1),
        "\u0301" * 50,
        "ﷺ" * 200,  # NFKC expands it 18 times
        "http://" + "a." * 900 + "com",
    ):
        check(kind, raw)


# -- the plain-URL shortcut of the domain normalizer ------------------------------------------

_URL_PIECES = st.sampled_from(
    ["http://", "https://", "HTTPS://", "hTtP://", "ftp://", "//", "http:", "https:///", "x+y://",
     "http", "HTTPS", "ftps", "https//", "http:/",
     "www.", "acme", "ACME", "co", "uk", "com", "github", "io", "xn--mnchen-3ya", "-", "--", ".",
     "..", "*.", "@", "user:pw@", ":", ":8080", ":", "/", "//", "?", "#", "\\", ",", ";", "|",
     " ", "\t", "\u200b", "(", ")", "'", '"', "<", ">", "[", "]", "{", "}", "`", "\u201c",
     "ü", "é", "\x00", "\x1f", "\x7f", "%20", "1", "0", "255", "example", "localhost", "n/a",
     "none", "test", "about-us", "en", "home", "=", "&", "~", "!", "$", "+", "linkedin.com",
     "angel.co", "apollo.io", "github.io", "/company/acme", "myshopify.com", "gmail.com"]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(pieces=st.lists(_URL_PIECES, min_size=1, max_size=9), profile=st.sampled_from(nz.PROFILES))
def test_the_plain_url_shortcut_agrees_with_the_general_parse(
    pieces: list[str], profile: str
) -> None:
    """Website cells the shortcut takes must normalize exactly as the general parse does."""
    raw = "".join(pieces)
    assert nz._normalize_domain.__wrapped__(raw, profile) == nz._parse_domain(raw, profile)


def test_the_plain_url_shortcut_takes_the_usual_website_cells() -> None:
    """The shortcut is what makes CRM websites fast; these shapes must go through it."""
    usual = [
        "acme.com",
        "www.acme.co.uk",
        "https://www.acme.com/en/home",
        "HTTP://ACME.COM:8080/",
        "acme.com/contact?ref=crm#x",
        "sub.acme-group.de",
    ]
    for cell in usual:
        assert nz._PLAIN_URL.fullmatch(cell), cell
    others = [
        " acme.com",
        "acme.com, beta.com",
        "(acme.com)",
        "ftp://acme.com",
        "a\\b.com",
        "münchen.de",
        "user@acme.com",
        "acme.com/x)",
        "https//acme.com",
        "http:80/x",
    ]
    for cell in others:
        assert not nz._PLAIN_URL.fullmatch(cell), cell
