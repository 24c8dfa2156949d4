"""Our Public Suffix List lookup gives publicsuffixlist's answers, host for host.

The normalizer's domain keys depend on these answers byte for byte (the bm-norm vectors), so
the faster lookup is checked against the reference library on the pinned list: every rule of
the list as a host, with labels added in front, and random hosts built from its suffixes.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from publicsuffixlist import PublicSuffixList

from blindmatch.accounts.normalize import data_file
from blindmatch.accounts.suffixes import SuffixList

_SOURCE = data_file("public_suffix_list.dat")


@cache
def _pair(only_icann: bool) -> tuple[SuffixList, PublicSuffixList]:
    return (
        SuffixList(_SOURCE, only_icann=only_icann),
        PublicSuffixList(source=_SOURCE, accept_unknown=False, only_icann=only_icann),
    )


def _rule_suffixes() -> list[str]:
    """Every rule of the list without its ``!``/``*.`` marker, as it is written (some Unicode)."""
    out = []
    for line in _SOURCE.decode("utf-8").splitlines():
        rule = line.split(" ")[0].strip()
        if rule and not rule.startswith("//"):
            out.append(rule.lstrip("!").removeprefix("*."))
    return out


RULES = _rule_suffixes()


def _same(host: str, only_icann: bool) -> None:
    ours, reference = _pair(only_icann)
    assert ours.privatesuffix(host) == reference.privatesuffix(host), host
    assert ours.is_public(host) == reference.is_public(host), host


@pytest.mark.parametrize("only_icann", [False, True])
def test_every_rule_with_labels_in_front(only_icann: bool) -> None:
    assert len(RULES) > 9000
    for rule in RULES:
        for host in (rule, f"x.{rule}", f"www.acme.{rule}", f"a.b.c.d.{rule}", rule.upper()):
            _same(host, only_icann)


@pytest.mark.parametrize(
    "host",
    [
        "",
        ".",
        "com",
        "com.",
        "acme.com.",
        "acme..com",
        ".acme.com",
        "acme.com..",
        "www.ACME.co.UK",
        "acme.local",
        "city.kobe.jp",
        "www.city.kobe.jp",
        "a.b.kobe.jp",
        "kobe.jp",
        "acme.github.io",
        "github.io",
        "xn--mnchen-3ya.de",
        "münchen.de",
        "xn--85x722f.xn--55qx5d.cn",
        "食狮.公司.cn",
        "*.ck",
        "!www.ck",
        "www.ck",
        "a.www.ck",
        "İstanbul.com.tr",
        "1.2.3.4",
    ],
)
@pytest.mark.parametrize("only_icann", [False, True])
def test_edge_hosts(host: str, only_icann: bool) -> None:
    _same(host, only_icann)


_LABEL = st.one_of(
    st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["www", "WWW", "xn--mnchen-3ya", "münchen", "*", "!", "city", "", "co"]),
)


@settings(max_examples=3000, deadline=None)
@given(
    prefix=st.lists(_LABEL, max_size=4),
    rule=st.sampled_from(RULES),
    tail=st.sampled_from(["", "."]),
    only_icann=st.booleans(),
)
def test_random_hosts_under_list_suffixes(
    prefix: list[str], rule: str, tail: str, only_icann: bool
) -> None:
    _same(".".join([*prefix, rule]) + tail, only_icann)


@settings(max_examples=1000, deadline=None)
@given(host=st.text(alphabet=st.sampled_from("ab.-*!kojpcmİ\u3002"), max_size=16))
def test_random_strings(host: str) -> None:
    _same(host, False)
