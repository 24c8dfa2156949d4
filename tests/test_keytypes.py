"""The key-type registry is the one list: every consumer agrees with it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from blindmatch.accounts import normalize as nz
from blindmatch.accounts.headers import recognize_columns
from blindmatch.accounts.keytypes import (
    CUSTOM,
    DEFAULT_KEY_TYPES,
    KEY_TYPES,
    REGISTRY,
    check_key_type,
    key_type_info,
    normalize_key,
    strength,
)
from blindmatch.accounts.policy import load_policy
from blindmatch.errors import PolicyError, UsageError
from blindmatch.protocol.model import KEY_TYPE_PATTERN

SRC = Path(__file__).resolve().parents[1] / "src" / "blindmatch"


def test_registry_entries_are_complete() -> None:
    assert KEY_TYPES == ("domain", "name", "email", "phone", "duns")
    assert DEFAULT_KEY_TYPES == ("domain", "name", "duns")
    for name, entry in REGISTRY.items():
        assert entry.name == name
        assert entry.header_aliases, name
        assert entry.looked_for, name
        assert KEY_TYPE_PATTERN.match(name)
    assert {k: strength(k) for k in KEY_TYPES} == {
        "domain": "strong",
        "name": "weak",
        "email": "strong",
        "phone": "weak",
        "duns": "strong",
    }
    assert key_type_info("custom:vat.id") is CUSTOM
    assert strength("custom:crm_id") == "strong"


def test_no_alias_is_claimed_by_two_key_types() -> None:
    seen: dict[str, str] = {}
    for name, entry in REGISTRY.items():
        for alias in entry.header_aliases:
            assert alias not in seen, f"{alias} in {seen.get(alias)} and {name}"
            seen[alias] = name


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_every_alias_is_recognized_as_its_key_type(key_type: str) -> None:
    for alias in REGISTRY[key_type].header_aliases:
        cmap = recognize_columns(["Account ID", alias])
        assert alias in [s.column for s in cmap.sources(key_type)], alias


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_policy_accepts_every_registered_type(key_type: str, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'label = "X"\n[keys]\nuse = ["{key_type}"]\n', encoding="utf-8")
    assert load_policy(path).keys.use == (key_type,)


def test_policy_refuses_an_unregistered_type(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('label = "X"\n[keys]\nuse = ["dun"]\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="did you mean 'duns'"):
        load_policy(path)


@pytest.mark.parametrize(
    ("key_type", "raw", "direct"),
    [
        ("domain", "https://www.Acme.com/x", nz.normalize_domain("https://www.Acme.com/x")),
        ("name", "Acme, Inc.", nz.normalize_name("Acme, Inc.")),
        ("email", "B.o.b@gmail.com", nz.normalize_email("B.o.b@gmail.com", gmail_rules=True)),
        ("phone", "030 2270", nz.normalize_phone("030 2270", region="DE")),
        ("duns", "15-048-3782", nz.normalize_duns("15-048-3782")),
        ("custom:x", " A ", nz.normalize_custom(" A ")),
    ],
)
def test_dispatch_is_the_registered_normalizer(key_type: str, raw: str, direct: object) -> None:
    assert normalize_key(key_type, raw, region="DE", gmail_rules=True) == direct
    assert key_type_info(key_type).normalize(raw, "DE", True, nz.PROFILE) == direct


def test_unknown_type_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="key type"):
        key_type_info("url")
    with pytest.raises(UsageError):
        check_key_type("Domain")


def test_no_module_keeps_its_own_list_of_key_types() -> None:
    """A tuple literal naming two or more built-in key types outside the registry is a copy."""
    names = set(KEY_TYPES)
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "keytypes.py":
            continue
        if path.relative_to(SRC).as_posix() == "protocol/conflicts.py":
            # The wire rule of protocol_spec.md §5.8 names its key types normatively, as the
            # spec does (the core must not import the normalizer); checked against the
            # registry's strengths below.
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                strings = {e.value for e in node.elts if isinstance(e, ast.Constant)} & names
                if len(strings) >= 2:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, offenders


def test_the_conflict_rule_agrees_with_the_registry() -> None:
    """Identifying types (§5.8) are strong ones whose inequality means another company;
    guarded ones are weak: the rule only ever refuses a weak match."""
    from blindmatch.protocol.conflicts import GUARDED_KEY_TYPES, IDENTIFYING_KEY_TYPES

    assert all(strength(t) == "strong" for t in IDENTIFYING_KEY_TYPES)
    assert all(strength(t) == "weak" for t in GUARDED_KEY_TYPES)
