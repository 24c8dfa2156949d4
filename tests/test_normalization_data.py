"""bm-norm/1 against its published vectors, and its data files against their manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from _vectors import checker_cases, load_vectors

from blindmatch.accounts.normalize import PROFILE, data_file, profile_data

VECTORS = "normalization_bm-norm-1.json"


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_file("MANIFEST.json"))
    return data


def test_vector_file_is_for_this_profile_and_large() -> None:
    doc = load_vectors(VECTORS)
    assert doc["profile"] == PROFILE
    assert len(doc["vectors"]) >= 1000
    kinds = {case["key_type"] for case in doc["vectors"]}
    assert {"domain", "name", "email", "email_domain", "phone", "duns"} <= kinds
    reasons = {case.get("reason") for case in doc["vectors"]}
    assert {"blank", "junk", "free-mail", "invalid"} <= reasons


def test_vectors_were_made_with_these_tables() -> None:
    # A difference means the installed phonenumbers/idna/Unicode data moved: the cases may
    # still pass, but say which table changed first.
    tables = load_vectors(VECTORS)["tables"]
    mine = profile_data()
    for name in ("public-suffix-list", "free-mail", "tables"):
        assert tables[name] == mine[name], name


@pytest.mark.parametrize(("engine", "check"), checker_cases(VECTORS))
def test_normalization_vector(engine: Any, check: Callable[[], None]) -> None:
    """The conformance kit's check of each case (blindmatch.conformance.checks)."""
    with engine.active():
        check()


def test_manifest_lists_every_data_file_with_its_hash() -> None:
    manifest = _manifest()
    assert manifest["profile"] == PROFILE
    shipped = {
        entry.name
        for entry in resources.files("blindmatch.accounts.data").iterdir()
        if entry.is_file() and entry.name not in ("MANIFEST.json", "__init__.py")
    }
    assert shipped == set(manifest["files"])
    for name, entry in manifest["files"].items():
        body = data_file(name)
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], name
        assert len(body) == entry["bytes"], name
        assert entry["version"] and entry["source"] and entry["use"], name


def test_public_suffix_list_is_the_pinned_version() -> None:
    entry = _manifest()["files"]["public_suffix_list.dat"]
    head = data_file("public_suffix_list.dat")[:1000].decode("utf-8")
    assert f"// VERSION: {entry['version']}" in head
    assert profile_data()["public-suffix-list"] == entry["sha256"]


def test_list_files_are_clean() -> None:
    """Sorted, unique, no stray spaces: a diff of a list file shows exactly what changed."""
    for name in _manifest()["files"]:
        if not name.endswith(".txt"):
            continue
        text = data_file(name).decode("utf-8")
        assert text.endswith("\n") and "\r" not in text, name
        entries = [ln for ln in text.split("\n") if ln and not ln.startswith("# ")]
        assert all(ln == ln.strip() for ln in entries), name
        assert len(entries) == len(set(entries)), name
        if name != "legal_forms_multiword.txt":  # order matters there: longest first
            assert entries == sorted(entries), name
