"""Each profile against its published vectors, and the data files against their manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from _vectors import checker_cases, load_vectors, vector_params

from blindmatch.accounts.normalize import (
    PROFILES,
    data_file,
    profile_data,
    profile_files,
    record_keys,
)

VECTORS = {
    "bm-norm/1": "normalization_bm-norm-1.json",
    "bm-norm/2": "normalization_bm-norm-2.json",
}


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_file("MANIFEST.json"))
    return data


@pytest.mark.parametrize("profile", PROFILES)
def test_vector_file_is_for_its_profile_and_large(profile: str) -> None:
    doc = load_vectors(VECTORS[profile])
    assert doc["profile"] == profile
    assert len(doc["vectors"]) >= 1000
    kinds = {case["key_type"] for case in doc["vectors"]}
    assert {"domain", "name", "email", "email_domain", "phone", "duns"} <= kinds
    reasons = {case.get("reason") for case in doc["vectors"]}
    assert {"blank", "junk", "free-mail", "invalid"} <= reasons


@pytest.mark.parametrize("profile", PROFILES)
def test_vectors_were_made_with_these_tables(profile: str) -> None:
    # A difference means the installed phonenumbers/idna/Unicode data moved: the cases may
    # still pass, but say which table changed first.
    tables = load_vectors(VECTORS[profile])["tables"]
    mine = profile_data(profile)
    for name in ("public-suffix-list", "free-mail", "tables"):
        assert tables[name] == mine[name], name


@pytest.mark.parametrize(
    ("engine", "check"), checker_cases(VECTORS["bm-norm/1"]) + checker_cases(VECTORS["bm-norm/2"])
)
def test_normalization_vector(engine: Any, check: Callable[[], None]) -> None:
    """The conformance kit's check of each case of both profiles (key, further keys or
    reason; bm-norm/2's record cases: a record's keys read together)."""
    with engine.active():
        check()


def test_manifest_lists_every_data_file_with_its_hash() -> None:
    manifest = _manifest()
    assert set(manifest["profiles"]) == set(PROFILES)
    named = {name for roles in manifest["profiles"].values() for name in roles.values()}
    assert named == set(manifest["files"])  # every file belongs to a profile
    for profile in PROFILES:
        assert profile_files(profile) == manifest["profiles"][profile]
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
    for profile in PROFILES:
        assert profile_data(profile)["public-suffix-list"] == entry["sha256"]


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


@pytest.mark.parametrize("case", vector_params(VECTORS["bm-norm/2"], "record"))
def test_bm_norm_1_takes_a_records_keys_as_they_are(case: dict[str, Any]) -> None:
    """(bm-norm/2's reading of the same records is the kit's ``record#`` cases, above.)"""
    keys = [(kt, value) for kt, value in case["keys"]]
    assert record_keys(keys, "bm-norm/1") == keys


def test_spec_names_every_bm_norm_2_file_with_its_hash() -> None:
    """protocol_spec.md §15.9 lists the files of bm-norm/2 with their SHA-256: another team
    implements the profile from the spec, so the spec must name the very bytes."""
    from pathlib import Path

    spec = (Path(__file__).resolve().parents[1] / "protocol_spec.md").read_text(encoding="utf-8")
    section = spec[spec.index("### 15.9 Profile `bm-norm/2`") :]
    files = _manifest()["files"]
    for name in profile_files("bm-norm/2").values():
        assert f"| `{name}` |" in section, name
        assert files[name]["sha256"] in section, name
