"""Account-key normalization, profiles ``bm-norm/1`` and ``bm-norm/2``.

Theory of operation
-------------------
Two parties find their shared accounts by intersecting keys, so a key matches only when both
sides turned the same fact ("Acme's website", "Acme's DUNS number") into the same string. This
module is that function. Its behaviour is a named, versioned profile: any change that can turn
one input into a different key needs a new profile name, or two parties on different versions
silently stop matching. The profile is part of the agreed terms (protocol_spec.md §15):

- ``bm-norm/1`` (:data:`PROFILE_1`): the first profile, kept byte for byte for partners on it.
- ``bm-norm/2`` (:data:`PROFILE_2`, the default :data:`PROFILE` for new runs): legal forms of
  many jurisdictions in any position, listing markers, several names in one cell (``dba``,
  ``formerly``...), free-mail filtering for e-mail addresses only, more user-content hosts,
  placeholders refused in every key type, and the brand key of regional sites
  (:func:`record_keys`).

There is one normalizer per key type; each takes the profile (``profile=``, default
:data:`PROFILE`). Each takes raw text as it comes out of a CRM export and returns a
:class:`Normalized`: either ``value`` (the key; under bm-norm/2 a name cell may give further
keys in ``more``) or ``reason`` (why the row has no usable key), so diagnostics can count rows
without a key and say why:

- ``"blank"``: nothing there (empty, whitespace, quotes only).
- ``"junk"``: a placeholder (``n/a``, ``-``, ``tbd``, ``example.com``, ``Self-employed``), an
  IP address or a host that is not a company's own (``localhost``, a bare public suffix such
  as ``co.uk``, a LinkedIn or Facebook *page*).
- ``"free-mail"``: a domain shared by unrelated people (``gmail.com``, ``outlook.com``); under
  bm-norm/2 only for addresses (a website ``gmail.com`` is Google's).
- ``"invalid"``: something that should have been a key but is malformed, or is longer than
  :data:`MAX_INPUT_CHARS`.

Key types (the registry in :mod:`~blindmatch.accounts.keytypes` lists them, with their header
aliases and strength, and its ``normalize_key`` dispatches on them):

- ``domain``: a website or domain, reduced to its registrable domain with the Public Suffix
  List (ICANN *and* private section, so ``acme.github.io`` stays whole), in IDNA A-label form.
  Email domains (:func:`email_domain`) produce this key type too, so they match websites.
- ``name``: a company name folded to lowercase ASCII-like words without legal forms.
- ``email``: an address, lowercased, IDNA domain; Gmail dot/plus rules on request.
- ``phone``: E.164, with a default region for numbers written without a country code.
- ``duns``: nine digits.
- ``custom:<name>``: an exact identifier (CRM id, tax id), case kept: trimmed and NFC only.

Guarantees: no normalizer raises on any ``str`` (only on a bad *argument*, such as an unknown
phone region, key type or profile, with :class:`~blindmatch.errors.UsageError`), and each is
idempotent: normalizing a key returns the same key.

Lists that are data ship as files in ``blindmatch/accounts/data``, each named with its SHA-256
in ``data/MANIFEST.json``, which also says which file plays which role in each profile; they
are never fetched: the Public Suffix List (a pinned copy, looked up by :mod:`.suffixes`),
free-mail domains, shared-hosting suffixes, profile sites, placeholders, legal forms, listing
markers, alias markers and letter folds. Phone metadata comes from ``phonenumbers``, Unicode
tables from Python and ``idna``. Those change between releases; :func:`profile_fingerprint`
digests them so two parties can detect that they run the same profile on different data.

Performance: a million rows must be cheap. Results are memoized per raw value (values repeat
a lot in CRM exports), ASCII input skips the Unicode machinery, and plain ASCII host names
skip the (slow, pure Python) IDNA codec, which would produce the same bytes for them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import ipaddress
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import idna
import phonenumbers

from ..errors import UsageError
from .suffixes import SuffixList

__all__ = [
    "MAX_INPUT_CHARS",
    "PROFILE",
    "PROFILES",
    "PROFILE_1",
    "PROFILE_2",
    "REASONS",
    "Normalized",
    "Reason",
    "brand_label",
    "check_profile",
    "clear_caches",
    "data_file",
    "record_keys",
    "email_domain",
    "normalize_custom",
    "normalize_domain",
    "normalize_duns",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
    "profile_data",
    "profile_files",
    "profile_fingerprint",
]

PROFILE_1: Final = "bm-norm/1"
PROFILE_2: Final = "bm-norm/2"
#: Every profile this version speaks, oldest first.
PROFILES: Final = (PROFILE_1, PROFILE_2)
#: The profile of new runs (a policy may name another of :data:`PROFILES`).
PROFILE: Final = PROFILE_2

#: Longer inputs are "invalid": no real key is this long, and it bounds the work per value.
MAX_INPUT_CHARS: Final = 2000

Reason = Literal["blank", "junk", "free-mail", "invalid"]
REASONS: Final[tuple[Reason, ...]] = ("blank", "junk", "free-mail", "invalid")

_CACHE_SIZE: Final = 1 << 16


@dataclass(frozen=True, slots=True)
class Normalized:
    """The outcome of normalizing one raw value: a key, or the reason there is none.

    ``more``: further keys of the same type from the same cell (bm-norm/2 names such as
    "Alphabet Inc. dba Google" give "alphabet" and "google"), never repeating ``value``.
    """

    value: str | None
    reason: Reason | None = None
    more: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise UsageError("Normalized needs exactly one of value and reason")
        if self.reason is not None and self.reason not in REASONS:
            raise UsageError(f"unknown reason {self.reason!r}; expected one of {REASONS}")
        if self.more and self.value is None:
            raise UsageError("Normalized.more needs a value")

    @property
    def ok(self) -> bool:
        """True when there is a usable key."""
        return self.value is not None

    @property
    def values(self) -> tuple[str, ...]:
        """Every key of the cell: ``value`` then ``more`` (empty without a key)."""
        return () if self.value is None else (self.value, *self.more)


_BLANK: Final = Normalized(None, "blank")
_JUNK: Final = Normalized(None, "junk")
_FREE_MAIL: Final = Normalized(None, "free-mail")
_INVALID: Final = Normalized(None, "invalid")


def check_profile(profile: str) -> str:
    """Return ``profile`` if this version speaks it, else raise ``UsageError``."""
    if profile in PROFILES:
        return profile
    raise UsageError(
        f"unknown normalization profile {profile!r}: this version speaks {', '.join(PROFILES)}"
    )


# ---------------------------------------------------------------------------------------------
# Data files: the profiles' lists, shipped in blindmatch/accounts/data and listed with their
# SHA-256 in its MANIFEST.json, so another implementation can use the very same bytes.

_DATA_PACKAGE: Final = "blindmatch.accounts.data"


def data_file(name: str) -> bytes:
    """The bytes of one of the profiles' data files (see ``data/MANIFEST.json``)."""
    return importlib.resources.files(_DATA_PACKAGE).joinpath(name).read_bytes()


@functools.cache
def _manifest_profiles() -> dict[str, dict[str, str]]:
    profiles: dict[str, dict[str, str]] = json.loads(data_file("MANIFEST.json"))["profiles"]
    return profiles


def profile_files(profile: str = PROFILE) -> dict[str, str]:
    """Role -> data file name of ``profile`` (``"legal-forms"`` -> ``"legal_forms_2.txt"``)."""
    return dict(_manifest_profiles()[check_profile(profile)])


def _data_lines(name: str) -> tuple[str, ...]:
    """Entries of a list file: one per line, UTF-8; lines "#" or starting "# " are comments."""
    lines = data_file(name).decode("utf-8").split("\n")
    return tuple(ln for ln in lines if ln and ln != "#" and not ln.startswith("# "))


def _tagged(name: str) -> dict[str, tuple[str, ...]]:
    """Entries of a list file whose lines are ``<tag> <entry>``, grouped by tag, in order."""
    out: dict[str, list[str]] = {}
    for line in _data_lines(name):
        tag, _, entry = line.partition(" ")
        out.setdefault(tag, []).append(entry)
    return {tag: tuple(entries) for tag, entries in out.items()}


# ---------------------------------------------------------------------------------------------
# Shared helpers

# Zero-width characters and the BOM survive str.strip() but are invisible in a spreadsheet.
_INVISIBLE: Final = "\u200b\u200c\u200d\u2060\ufeff"
_QUOTES: Final = (
    "\"'`<>()[]{}\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"
)


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
# Company-name words (needed to read the name lists of a profile)

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


def _fold_name_text(text: str) -> str:
    """Folded, lowercased name text, "&" as "and", joiners deleted; punctuation still there."""
    if text.isascii():
        return text.lower().replace("&", " and ").translate(_JOINERS)
    return _fold_unicode(text).replace("&", " and ").translate(_JOINERS)


def _words(folded: str) -> list[str]:
    """The words of folded name text: every other character separates words."""
    if folded.isascii():
        return _ASCII_NON_WORD.sub(" ", folded).split()
    return "".join(
        ch if ch.isalnum() or unicodedata.category(ch)[0] == "M" else " " for ch in folded
    ).split()


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


def _name_words(text: str) -> tuple[str, ...]:
    """A list entry (legal form, marker) read the way names are read."""
    return tuple(_join_initials(_words(_fold_name_text(text))))


def _forms(entries: Iterable[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Legal forms by their last word, longest first (ties in file order)."""
    by_last: dict[str, list[tuple[str, ...]]] = {}
    for entry in entries:
        form = _name_words(entry.partition(" ")[2])
        if form and form not in by_last.get(form[-1], []):
            by_last.setdefault(form[-1], []).append(form)
    return {last: tuple(sorted(f, key=len, reverse=True)) for last, f in by_last.items()}


def _first_word_forms(entries: Iterable[str]) -> dict[str, tuple[tuple[int, tuple[str, ...]], ...]]:
    """Leading legal forms (with the words that must remain) by their first word, longest
    first; a form listed twice keeps its larger word count."""
    forms: dict[tuple[str, ...], int] = {}
    for entry in entries:
        words, _, text = entry.partition(" ")[2].partition(" ")
        form = _name_words(text)
        if form:
            forms[form] = max(forms.get(form, 0), int(words))
    by_first: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    for form, rest in forms.items():
        by_first.setdefault(form[0], []).append((rest, form))
    return {
        first: tuple(sorted(f, key=lambda item: len(item[1]), reverse=True))
        for first, f in by_first.items()
    }


# ---------------------------------------------------------------------------------------------
# The tables of a profile


@dataclass(frozen=True, slots=True)
class _Tables:
    """Everything a profile reads from its data files, parsed once."""

    profile: str
    v2: bool
    junk_words: frozenset[str]
    junk_domains: frozenset[str]
    junk_labels: frozenset[str]
    junk_tlds: frozenset[str]
    free_mail: frozenset[str]
    profile_sites: frozenset[str]
    tenant_suffixes: frozenset[str]
    tenant_roots: frozenset[str]
    platform_labels: frozenset[str]
    legal_single: frozenset[str]  # bm-norm/1
    legal_multi: tuple[tuple[str, ...], ...]  # bm-norm/1, in file order
    legal_multi_last: frozenset[str]  # bm-norm/1
    trailing: dict[str, tuple[tuple[str, ...], ...]]  # bm-norm/2
    leading: dict[str, tuple[tuple[int, tuple[str, ...]], ...]]  # bm-norm/2
    junk_names: frozenset[str]
    name_markers: frozenset[str]
    name_fillers: frozenset[str]
    listing: re.Pattern[str] | None
    aliases: re.Pattern[str] | None
    junk_duns: frozenset[str]
    junk_phones: re.Pattern[str] | None
    regional_global: frozenset[str] = frozenset()  # bm-norm/2
    regional_generic: frozenset[str] = frozenset()  # bm-norm/2


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


@functools.cache
def _tables(profile: str) -> _Tables:
    files = profile_files(profile)
    junk_words = frozenset(_data_lines(files["placeholders"]))
    free_mail = frozenset(_data_lines(files["free-mail"]))
    profile_sites = frozenset(_data_lines(files["profile-sites"]))
    tenants = frozenset(_data_lines(files["shared-hosting"]))
    roots = frozenset(".".join(s.split(".")[-2:]) for s in tenants)
    if profile == PROFILE_1:
        multi = tuple(tuple(f.split(" ")) for f in _data_lines(files["legal-forms-multiword"]))
        return _Tables(
            profile=profile,
            v2=False,
            junk_words=junk_words,
            junk_domains=frozenset(_data_lines(files["placeholder-domains"])),
            junk_labels=frozenset(),
            junk_tlds=frozenset(),
            free_mail=free_mail,
            profile_sites=profile_sites,
            tenant_suffixes=tenants,
            tenant_roots=roots,
            platform_labels=frozenset({"www"}),
            legal_single=frozenset(_data_lines(files["legal-forms"])),
            legal_multi=multi,
            legal_multi_last=frozenset(f[-1] for f in multi),
            trailing={},
            leading={},
            junk_names=junk_words | frozenset(_data_lines(files["placeholder-names"])),
            name_markers=frozenset(),
            name_fillers=frozenset(),
            listing=None,
            aliases=None,
            junk_duns=frozenset(),
            junk_phones=None,
        )
    domains = _tagged(files["placeholder-domains"])
    names = _tagged(files["placeholder-names"])
    numbers = _tagged(files["placeholder-numbers"])
    markers = _data_lines(files["listing-markers"])
    exchanges = _alternatives(" ".join(_name_words(m)) for m in markers if not m.startswith("="))
    bare = _alternatives(m[1:] for m in markers if m.startswith("="))
    listing = re.compile(
        rf"\(\s*(?:(?:{exchanges})\s*(?::\s*[\w.\-]+\s*)?|(?:{bare})\s*)\)", re.IGNORECASE
    )
    alias = _tagged(files["alias-markers"])
    anywhere = _alternatives(alias.get("any", ()))
    after = _alternatives(alias.get("after", ()))
    aliases = re.compile(rf"(?<![\w/])(?:{anywhere})(?![\w/])|[(,;]\s*(?:{after})(?![\w/])")
    regional = _tagged(files["regional-suffixes"])
    return _Tables(
        profile=profile,
        v2=True,
        regional_global=frozenset(regional.get("global", ())),
        regional_generic=frozenset(regional.get("generic", ())),
        junk_words=junk_words,
        junk_domains=frozenset(domains.get("domain", ())),
        junk_labels=frozenset(domains.get("label", ())),
        junk_tlds=frozenset(domains.get("tld", ())),
        free_mail=free_mail,
        profile_sites=profile_sites,
        tenant_suffixes=tenants,
        tenant_roots=roots,
        platform_labels=frozenset(_data_lines(files["platform-labels"])),
        legal_single=frozenset(),
        legal_multi=(),
        legal_multi_last=frozenset(),
        trailing=_forms(_data_lines(files["legal-forms"])),
        leading=_first_word_forms(_data_lines(files["legal-forms-leading"])),
        junk_names=junk_words | frozenset(names.get("name", ())),
        name_markers=frozenset(names.get("marker", ())),
        name_fillers=frozenset(names.get("filler", ())),
        listing=listing,
        aliases=aliases,
        junk_duns=frozenset(numbers.get("duns", ())),
        junk_phones=re.compile("|".join(f"(?:{p})" for p in numbers.get("phone", ()))),
    )


# ---------------------------------------------------------------------------------------------
# Domains

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
def _psl() -> SuffixList:
    # The list shipped in data/ (never fetched), so both sides and other implementations read
    # the same bytes.
    return SuffixList(data_file(_PSL_FILE))


def _to_ascii_host(host: str) -> str | None:
    """IDNA (UTS 46, non-transitional, STD3) A-label form of a host, or None if invalid."""
    if host.isascii():
        lowered = host.lower()
        # "--" anywhere sends the host to the codec: it owns the xn-- and 3rd/4th hyphen rules.
        if len(lowered) <= 253 and "--" not in lowered and _LDH_HOST.fullmatch(lowered):
            return lowered  # cheaper than a cache miss, so only the codec's answers are cached
    return _idna_host(host)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _idna_host(host: str) -> str | None:
    try:
        encoded = idna.encode(host, uts46=True, std3_rules=True, transitional=False)
    except (UnicodeError, ValueError):
        return None
    return encoded.decode("ascii").rstrip(".") or None


def _tenant_site(host: str, t: _Tables) -> str | None:
    labels = host.split(".")
    for i in range(1, len(labels) - 1):
        if labels[i - 1] not in t.platform_labels and ".".join(labels[i:]) in t.tenant_suffixes:
            return ".".join(labels[i - 1 :])
    return None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _registrable(host: str, has_path: bool, profile: str, email: bool) -> Normalized:
    """The company key for an A-label host; ``has_path``: the URL went on past the host;
    ``email``: the host is the domain of an e-mail address."""
    t = _tables(profile)
    if "." not in host or host.endswith(".localhost") or _IP_LIKE.fullmatch(host):
        return _JUNK
    if host.rpartition(".")[2] in t.junk_tlds:
        return _JUNK
    psl = _psl()
    registrable = psl.privatesuffix(host)
    if registrable is None:
        # A bare public suffix ("co.uk", "github.io") names no one; an unknown TLD is a typo
        # or an intranet name ("acme.local").
        return _JUNK if psl.is_public(host) else _INVALID
    if registrable in t.tenant_roots:
        tenant = _tenant_site(host, t)
        if tenant is not None:
            return Normalized(tenant)
    if registrable in t.junk_domains or registrable.partition(".")[0] in t.junk_labels:
        return _JUNK
    if registrable in t.free_mail and (email or not t.v2):
        return _FREE_MAIL
    if has_path and (registrable in t.profile_sites or (t.v2 and host in t.profile_sites)):
        return _JUNK
    return Normalized(registrable)


def _first_value(text: str) -> str:
    """The first of several values in one cell ("a.com, b.com"), without wrapping quotes."""
    for piece in _VALUE_SEPARATORS.split(text):
        piece = piece.strip(_QUOTES)
        if piece:
            return piece
    return ""


def normalize_domain(raw: str | None, *, profile: str = PROFILE) -> Normalized:
    """Website, URL or domain -> registrable domain in A-label form (key type ``domain``).

    ``"HTTPS://user:pw@WWW.Acme.co.uk:8443/x?y#z"`` -> ``"acme.co.uk"``,
    ``"münchen.de"`` -> ``"xn--mnchen-3ya.de"``, ``"acme.github.io"`` stays whole.
    """
    check_profile(profile)
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_domain(checked, profile)


# The shape of most website cells ("https://www.acme.com/about", "acme.co.uk:8080"): an
# optional http(s):// (and no other start _SCHEME strips, such as "https//"), a host of ASCII
# letters, digits, dots and hyphens, an optional port, then an optional path, query or
# fragment of printable ASCII without spaces, the separators of _first_value, the quotes of
# _trim or a backslash. On such a cell trimming, splitting values, the scheme rule and the
# authority rules of _parse_domain change nothing but what this match already separates, so
# it skips them (a third of the normalizer's time); the tests hold both parses to the same
# answers.
_PLAIN_URL: Final = re.compile(
    r"(?:(?i:https?)://|(?!(?i:https?|ftps?)(?::|//)))([A-Za-z0-9.\-]+)(?::[0-9]+)?"
    r"([/?#][^\x00-\x20\x7f-\U0010ffff,;|\\\"'`<>()\[\]{}]*)?"
)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_domain(raw: str, profile: str) -> Normalized:
    plain = _PLAIN_URL.fullmatch(raw)
    if plain is None:
        return _parse_domain(raw, profile)
    junk_words = _tables(profile).junk_words
    if raw.casefold() in junk_words:
        return _JUNK
    host = plain[1].strip(".")
    if not host:
        return _INVALID
    if host.casefold() in junk_words:
        return _JUNK
    ascii_host = _to_ascii_host(host)
    if ascii_host is None:
        return _INVALID
    rest = plain[2]
    return _registrable(ascii_host, rest is not None and rest.strip("/") != "", profile, False)


def _parse_domain(raw: str, profile: str) -> Normalized:
    """The general parse of a website cell (any text :data:`_PLAIN_URL` does not match)."""
    junk_words = _tables(profile).junk_words
    text = _trim(raw, _INVISIBLE + _QUOTES)
    if not text:
        return _BLANK
    if text.casefold() in junk_words:
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
    if host.casefold() in junk_words:
        return _JUNK
    ascii_host = _to_ascii_host(host)
    if ascii_host is None:
        return _INVALID
    return _registrable(ascii_host, rest.strip("/\\") != "", profile, False)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@functools.cache
def _icann_psl() -> SuffixList:
    return SuffixList(data_file(_PSL_FILE), only_icann=True)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def brand_label(domain_key: str) -> str | None:
    """The brand of a registrable domain key: its first label, Unicode-folded, without
    hyphens (``"coca-cola.co.uk"`` -> ``"cocacola"``); ``None`` unless the key is registered
    directly under an ICANN public suffix (a tenant site such as ``"acme.github.io"`` or
    ``"acme.zendesk.com"`` has no brand: it is a page on someone else's platform)."""
    if _icann_psl().privatesuffix(domain_key) != domain_key:
        return None
    label = domain_key.partition(".")[0]
    if label.startswith("xn--"):
        try:
            label = idna.decode(label)
        except (UnicodeError, ValueError):
            return None
    return "".join(_words(_fold_name_text(label))) or None


def _regional(domain_key: str, t: _Tables) -> bool:
    """Whether a domain can be one of a company's regional or global sites: its top-level
    domain is a global one (``com``) or a country code not sold as a generic name (``de``, not
    ``io``), per regional_suffixes_2.txt."""
    tld = domain_key.rpartition(".")[2]
    if tld in t.regional_global:
        return True
    return len(tld) == 2 and tld.isascii() and tld.isalpha() and tld not in t.regional_generic


#: Prefix of a brand key; ":" never occurs in a registrable domain, so none collides.
BRAND_PREFIX: Final = "brand:"


def record_keys(keys: Sequence[tuple[str, str]], profile: str = PROFILE) -> list[tuple[str, str]]:
    """The keys of one record, from the keys of its cells (``keys``), under ``profile``.

    bm-norm/1: ``keys`` as they are. bm-norm/2 looks at a record's keys together:

    - Regional sites (``acme.de``, ``acme.co.uk``, ``acme.com``): a record whose domain, under a
      global or country top-level domain (not ``.io``, see :func:`_regional`), agrees
      with one of its names (written without spaces, the name is the domain's brand, see
      :func:`brand_label`, or the whole domain without dots) gets the ``domain`` key
      ``"brand:<brand>"``. Two records share it only when both agree on the brand *and* on
      the name, so a regional variant alone never matches (nationwide.com, the insurer, and
      nationwide.co.uk, the building society, have different names).
    - A free-mail domain from a website field (``yahoo.com``) is the mail provider's own site,
      unless the record has names and none agrees with its brand: "Gmail Guy" with
      ``gmail.com`` (a CRM that filled the website from a contact's address) loses that key.
    """
    t = _tables(check_profile(profile))
    if not t.v2 or not any(key_type == "domain" for key_type, _ in keys):
        return list(keys)
    names = {value.replace(" ", "") for key_type, value in keys if key_type == "name"}
    # a name agrees with a domain when, without spaces, it is the brand ("amazon") or the
    # whole domain without dots ("webde" for "WEB.DE", web.de)
    out: list[tuple[str, str]] = []
    brands: list[tuple[str, str]] = []
    for key in keys:
        key_type, value = key
        if key_type != "domain" or value.startswith(BRAND_PREFIX):
            if key not in out:
                out.append(key)
            continue
        label = brand_label(value)
        agrees = label is not None and (label in names or value.replace(".", "") in names)
        if value in t.free_mail and names and not agrees:
            continue
        if key not in out:
            out.append(key)
        brand = ("domain", BRAND_PREFIX + str(label))
        if agrees and _regional(value, t) and brand not in brands:
            brands.append(brand)
    return out + [b for b in brands if b not in out]


# ---------------------------------------------------------------------------------------------
# Email

_ANGLE_ADDRESS: Final = re.compile(r"<([^<>]*)>")
_MAILTO: Final = re.compile(r"^mailto:", re.IGNORECASE)
_LOCAL_ATOM: Final = r"[\w!#$%&'*+/=?^`{|}~\-]+"
_EMAIL_LOCAL: Final = re.compile(rf"{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*")
_GMAIL_DOMAINS: Final = frozenset({"gmail.com", "googlemail.com"})


def normalize_email(
    raw: str | None, *, gmail_rules: bool = False, profile: str = PROFILE
) -> Normalized:
    """Email address -> ``local@domain``, lowercased, domain in A-label form.

    Accepts ``"Bob <Bob@Acme.com>"``, ``mailto:`` and several addresses in one cell (the first
    wins). With ``gmail_rules``, Gmail addresses lose dots and ``+tags`` in the local part and
    ``googlemail.com`` becomes ``gmail.com``. Free-mail addresses are valid email keys.
    """
    check_profile(profile)
    checked = _precheck(raw)
    if isinstance(checked, Normalized):
        return checked
    return _normalize_email(checked, bool(gmail_rules), profile)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_email(raw: str, gmail_rules: bool, profile: str) -> Normalized:
    t = _tables(profile)
    text = _trim(raw, _INVISIBLE)
    angle = _ANGLE_ADDRESS.search(text)
    if angle is not None:
        text = angle.group(1)
    text = _trim(text, _INVISIBLE + _QUOTES)
    if not text:
        return _BLANK
    if text.casefold() in t.junk_words:
        return _JUNK
    address = _MAILTO.sub("", _first_value(text), count=1)
    local, at, domain = address.rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain:
        return _INVALID
    ascii_domain = _to_ascii_host(domain)
    if ascii_domain is None or "." not in ascii_domain or _IP_LIKE.fullmatch(ascii_domain):
        return _INVALID
    if ascii_domain.rpartition(".")[2] in t.junk_tlds:
        return _JUNK
    registrable = _psl().privatesuffix(ascii_domain)
    if registrable is None:
        return _INVALID
    if registrable in t.junk_domains or registrable.partition(".")[0] in t.junk_labels:
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


def email_domain(raw: str | None, *, profile: str = PROFILE) -> Normalized:
    """The company key (key type ``domain``) of an email address: its registrable domain.

    Free-mail addresses give no key (reason ``"free-mail"``); otherwise the result is what
    :func:`normalize_domain` gives for the same domain, so email domains match websites.
    """
    address = normalize_email(raw, profile=profile)
    if address.value is None:
        return address
    return _registrable(address.value.rpartition("@")[2], False, profile, True)


# ---------------------------------------------------------------------------------------------
# Company names


def _strip_affixes(tokens: list[str], t: _Tables) -> list[str]:
    """bm-norm/1: drop a leading "the" and trailing legal forms, repeatedly, never the last
    word."""
    while len(tokens) > 1 and tokens[0] == "the":
        del tokens[0]
    while len(tokens) > 1:
        last = tokens[-1]
        if last in t.legal_multi_last:  # before single words: "private limited" is one form
            for suffix in t.legal_multi:
                if len(tokens) > len(suffix) and tuple(tokens[-len(suffix) :]) == suffix:
                    del tokens[-len(suffix) :]
                    break
            else:
                if last not in t.legal_single:
                    break
                del tokens[-1]
        elif last in t.legal_single:
            del tokens[-1]
        else:
            break
        # "Müller GmbH & Co. KG", "Smith & Co.": the "and" belonged to the legal form.
        if len(tokens) > 1 and tokens[-1] == "and":
            del tokens[-1]
    return tokens


def _strip_forms_v2(tokens: list[str], t: _Tables) -> list[str]:
    """bm-norm/2: drop leading "the" and leading legal forms, then trailing legal forms (each
    the longest that fits), repeatedly; a name never loses its last word, and a leading form
    goes only when as many words as its list entry says remain."""
    while len(tokens) > 1:
        if tokens[0] == "the":
            del tokens[0]
            continue
        for rest, form in t.leading.get(tokens[0], ()):
            # some forms lead only names of two or more words: "AS Roma" is a football club,
            # "AS Tallink Grupp" a company
            if tuple(tokens[: len(form)]) == form and len(tokens) - len(form) >= rest:
                del tokens[: len(form)]
                break
        else:
            break
    while len(tokens) > 1:
        for form in t.trailing.get(tokens[-1], ()):
            if len(tokens) > len(form) and tuple(tokens[-len(form) :]) == form:
                del tokens[-len(form) :]
                break
        else:
            break
        if len(tokens) > 1 and tokens[-1] == "and":
            del tokens[-1]
    return tokens


def normalize_name(raw: str | None, *, profile: str = PROFILE) -> Normalized:
    """Company name -> lowercase words without accents, punctuation or legal form.

    ``"Société Générale S.A."`` -> ``"societe generale"``, ``"AT&T Inc."`` -> ``"at and t"``,
    ``"The Home Depot"`` -> ``"home depot"``. A name is never reduced to nothing:
    ``"The Company"`` -> ``"company"``. Under bm-norm/2 also ``"PT Bank Central Asia Tbk"``
    -> ``"bank central asia"``, and ``"Block, Inc. (fka Square, Inc.)"`` -> ``"block"`` with
    ``more=("square",)``.
    """
    check_profile(profile)
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_name(checked, profile)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_name(raw: str, profile: str) -> Normalized:
    t = _tables(profile)
    text = _trim(raw, _INVISIBLE)
    if not text:
        return _BLANK
    folded = _fold_name_text(text)
    if not t.v2:
        name = " ".join(_strip_affixes(_join_initials(_words(folded)), t))
        if not name or name in t.junk_names:
            return _JUNK
        # NFKC can make a value 18 times longer; a key must survive being normalized again.
        return Normalized(name) if len(name) <= MAX_INPUT_CHARS else _INVALID
    assert t.listing is not None and t.aliases is not None  # v2 tables have both
    folded = t.listing.sub(" ", folded)
    parts = _alias_parts(folded, t.aliases)
    names: list[str] = []
    reason: Reason | None = None
    for part in parts:
        tokens = _join_initials(_words(part))
        if not tokens:
            continue
        name = " ".join(_strip_forms_v2(tokens, t))
        if _is_placeholder_name(name, t):
            reason = reason or "junk"
        elif len(name) > MAX_INPUT_CHARS:
            reason = reason or "invalid"
        elif name not in names:
            names.append(name)
    if names:
        return Normalized(names[0], more=tuple(names[1:]))
    # punctuation or symbols only: no company (as in bm-norm/1)
    return Normalized(None, reason or "junk")


def _alias_parts(folded: str, markers: re.Pattern[str]) -> list[str]:
    """The names in one cell, split at alias markers that follow some text ("AKA Brands" is a
    name, "X Corp aka Twitter" two)."""
    parts: list[str] = []
    start = 0
    for match in markers.finditer(folded):
        head = folded[start : match.start()]
        if not _words(head):
            continue  # a marker with no name before it is part of the name
        parts.append(head)
        start = match.end()
    parts.append(folded[start:])
    return parts


def _is_placeholder_name(name: str, t: _Tables) -> bool:
    if name in t.junk_names:
        return True
    words = name.split(" ")
    if not any(w in t.name_markers for w in words):
        return False
    return all(w in t.name_markers or w in t.name_fillers or w.isdigit() for w in words)


# ---------------------------------------------------------------------------------------------
# Numbers that are placeholders (bm-norm/2)


def _sequence_or_repeat(digits: str, min_run: int) -> bool:
    """One digit repeated, or a run of consecutive digits up or down (wrapping 9-0)."""
    if len(set(digits)) == 1:
        return True
    if len(digits) < min_run:
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in zip(digits, digits[1:], strict=False)}
    return steps in ({1}, {9})


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


def normalize_phone(raw: str | None, *, region: str | None, profile: str = PROFILE) -> Normalized:
    """Phone number -> E.164 (``"+4930227"``); ``region`` (ISO code) for national numbers.

    A number without ``+`` or an international prefix is read as a number of ``region``; with
    ``region=None`` such numbers are invalid. Extensions are dropped. Numbers that are not
    valid per the ``phonenumbers`` metadata are invalid. Under bm-norm/2, numbers reserved for
    fiction (555-01xx) and repeated or sequential digits are junk. Raises ``UsageError`` on an
    unknown region code (a bad argument, not bad data).
    """
    check_profile(profile)
    code = _check_region(region)
    checked = _precheck(raw)
    if isinstance(checked, Normalized):
        return checked
    return _normalize_phone(checked, code, profile)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_phone(raw: str, region: str | None, profile: str) -> Normalized:
    t = _tables(profile)
    text = _trim(raw, _INVISIBLE)
    if not text:
        return _BLANK
    if text.casefold() in t.junk_words:
        return _JUNK
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return _INVALID
    if t.junk_phones is not None and _sequence_or_repeat(str(number.national_number), 6):
        return _JUNK
    if not phonenumbers.is_valid_number(number):
        return _INVALID
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if t.junk_phones is not None and t.junk_phones.fullmatch(e164):
        return _JUNK
    return Normalized(e164)


# ---------------------------------------------------------------------------------------------
# DUNS

_DASHES: Final = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
_DUNS_LABEL: Final = re.compile(r"^d-?u-?n-?s(?:\s*(?:no\.?|nr\.?|number|#))?\s*[:#]?\s*", re.I)
# A trailing ".0" is a spreadsheet that stored the number as a float.
_DUNS_BODY: Final = re.compile(r"([0-9][0-9\s\-]*)(?:\.0+)?")


def normalize_duns(raw: str | None, *, profile: str = PROFILE) -> Normalized:
    """D-U-N-S number -> nine digits: ``"12-345-6789"`` -> ``"123456789"``, ``"1234567"`` ->
    ``"001234567"`` (spreadsheets drop leading zeros). More than nine digits is invalid; all
    zeros is junk, and under bm-norm/2 so are repeated and sequential digits."""
    check_profile(profile)
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_duns(checked, profile)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_duns(raw: str, profile: str) -> Normalized:
    t = _tables(profile)
    text = _trim(unicodedata.normalize("NFKC", raw), _INVISIBLE).translate(_DASHES)
    if not text:
        return _BLANK
    if text.casefold() in t.junk_words:
        return _JUNK
    body = _DUNS_BODY.fullmatch(_DUNS_LABEL.sub("", text, count=1))
    if body is None:
        return _INVALID
    digits = "".join(ch for ch in body.group(1) if "0" <= ch <= "9")
    if len(digits) > 9:
        return _INVALID
    if not digits.strip("0"):
        return _JUNK
    duns = digits.zfill(9)
    if t.v2 and (duns in t.junk_duns or _sequence_or_repeat(duns.lstrip("0"), 4)):
        return _JUNK
    return Normalized(duns)


# ---------------------------------------------------------------------------------------------
# Custom exact keys

_UNSAFE_IN_ID: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def normalize_custom(raw: str | None, *, profile: str = PROFILE) -> Normalized:
    """Exact identifier (CRM id, tax id) -> trimmed, NFC; case and inner spaces are kept.

    Control characters (and lone surrogates, which cannot be encoded) make it invalid.
    """
    check_profile(profile)
    checked = _precheck(raw)
    return checked if isinstance(checked, Normalized) else _normalize_custom(checked, profile)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_custom(raw: str, profile: str) -> Normalized:
    text = _trim(raw, _INVISIBLE)
    if not text:
        return _BLANK
    if text.casefold() in _tables(profile).junk_words:
        return _JUNK
    if _UNSAFE_IN_ID.search(text):
        return _INVALID
    text = unicodedata.normalize("NFC", text)
    # NFC can make a value longer; a key must survive being normalized again.
    return Normalized(text) if len(text) <= MAX_INPUT_CHARS else _INVALID


# ---------------------------------------------------------------------------------------------
# Profile identity


def clear_caches() -> None:
    """Forget every memoized value: the caches hold up to 65,536 results each (about 35 MiB
    when full), worth freeing once a large input has been prepared."""
    for cached in (
        _idna_host,
        _registrable,
        _normalize_domain,
        brand_label,
        _normalize_email,
        _normalize_name,
        _normalize_phone,
        _normalize_duns,
        _normalize_custom,
    ):
        cached.cache_clear()


def _lines_digest(lines: Iterable[str]) -> str:
    """SHA-256, hex, of the lines joined each with a line feed (protocol_spec.md 15.1): a form
    any language computes from the data files alone."""
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode("utf-8")).hexdigest()


def profile_data(profile: str = PROFILE) -> dict[str, str]:
    """What this installation's keys depend on besides the code of ``profile``.

    Two parties whose entries differ still speak the same profile, but a few keys may differ
    (a domain on a newer Public Suffix List, a new free-mail provider, a new phone range):
    worth a warning, and the entry that differs says which table to update.
    """
    return dict(_profile_data(check_profile(profile)))


@functools.cache
def _profile_data(profile: str) -> dict[str, str]:
    files = profile_files(profile)
    digest = {role: hashlib.sha256(data_file(name)).hexdigest() for role, name in files.items()}
    return {
        "profile": profile,
        "unicode": unicodedata.unidata_version,
        "uts46": idna.idnadata.__version__,
        "libphonenumber": phonenumbers.__version__,
        "public-suffix-list": digest["public-suffix-list"],
        "free-mail": digest["free-mail"],
        "tables": _lines_digest(
            f"{role} {digest[role]}"
            for role in sorted(files)
            if role not in ("public-suffix-list", "free-mail")
        ),
    }


def profile_fingerprint(profile: str = PROFILE) -> str:
    """One hex digest of :func:`profile_data` (the terms' ``normalization_tables``): equal on
    both sides means identical tables."""
    return _lines_digest(f"{key}={value}" for key, value in sorted(profile_data(profile).items()))
