"""The shipped sample data: reproducible from its generator, the sizes it claims, and a ground
truth that agrees with itself, with the CSV files, with the policies and with an independent
reference normalization of the keys."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # the policy loader's own fallback (a dependency on 3.10)
    import tomli as tomllib

import pytest
from publicsuffixlist import PublicSuffixList

from blindmatch.accounts import sample
from blindmatch.errors import UsageError

GENERATOR = Path(__file__).resolve().parents[1] / "tools" / "make_sample_data.py"
SIDES = ("northwind", "globex")
FREEMAIL = {"gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "aol.com"}
WEBSITE_COLUMNS = {"northwind": ("Website",), "globex": ("Company Domain Name", "Website URL")}
DUNS_COLUMN = {"northwind": "D-U-N-S Number", "globex": "DUNS Number"}


@pytest.fixture(scope="module")
def generator() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("make_sample_data", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def built(generator: ModuleType) -> dict[str, bytes]:
    files: dict[str, bytes] = generator.build()
    return files


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return sample.expected()


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict[str, str]]]:
    return {
        side: list(csv.DictReader(io.StringIO(sample.read_text(name), newline="")))
        for side, name in (("northwind", sample.NORTHWIND_CSV), ("globex", sample.GLOBEX_CSV))
    }


@pytest.fixture(scope="module")
def policies() -> dict[str, dict[str, Any]]:
    return {
        "northwind": tomllib.loads(sample.read_text(sample.NORTHWIND_POLICY)),
        "globex": tomllib.loads(sample.read_text(sample.GLOBEX_POLICY)),
    }


def by_id(expected: dict[str, Any], side: str, rows: dict[str, list[dict[str, str]]]) -> Any:
    column = expected["parties"][side]["record_id_column"]
    return {row[column]: row for row in rows[side]}


def other(side: str) -> str:
    return "globex" if side == "northwind" else "northwind"


# -- reproducible ----------------------------------------------------------------------------


def test_generator_reproduces_the_shipped_files(built: dict[str, bytes]) -> None:
    assert tuple(built) == sample.FILES
    for name, data in built.items():
        assert sample.read_bytes(name) == data, f"{name}: rerun tools/make_sample_data.py"
    shipped = {p.name for p in sample.files().iterdir() if p.is_file()}
    assert shipped - {"__init__.py"} == set(sample.FILES)


def test_generator_check_mode(
    generator: ModuleType, built: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generator, "build", lambda seed: built)  # already checked above
    with sample.path(sample.EXPECTED) as real:
        assert generator.main(["--check", "--out", str(real.parent)]) == 0
    (tmp_path / sample.EXPECTED).write_text("{}")
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1
    assert generator.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(sample.FILES)
    assert generator.main(["--check", "--out", str(tmp_path)]) == 0


# -- shape -----------------------------------------------------------------------------------


def test_sizes_and_columns(rows: dict[str, list[dict[str, str]]], expected: Any) -> None:
    northwind, globex = rows["northwind"], rows["globex"]
    assert len(northwind) == expected["parties"]["northwind"]["rows"] == 3000
    assert len(globex) == expected["parties"]["globex"]["rows"] == 2500
    assert list(northwind[0]) == [
        "Account ID", "Account Name", "Website", "Type", "Industry", "Billing Country",
        "Account Owner", "Phone", "D-U-N-S Number", "Annual Revenue",
    ]  # fmt: skip
    assert list(globex[0]) == [
        "Record ID", "Company name", "Company Domain Name", "Website URL", "Lifecycle Stage",
        "Company owner", "Industry", "Country/Region", "Phone Number", "Number of Employees",
        "DUNS Number",
    ]  # fmt: skip
    assert len({r["Account ID"] for r in northwind}) == 3000
    assert len({r["Record ID"] for r in globex}) == 2500
    assert all(re.fullmatch(r"\d{10}", r["Record ID"]) for r in globex)
    assert {r["Type"] for r in northwind} == {
        "Customer - Direct", "Customer - Channel", "Prospect", "Partner", "Other", "",
    }  # fmt: skip
    assert {r["Lifecycle Stage"] for r in globex} == {
        "customer", "opportunity", "salesqualifiedlead", "lead", "marketingqualifiedlead",
        "subscriber", "other", "",
    }  # fmt: skip


def test_salesforce_ids_have_valid_checksums(rows: dict[str, list[dict[str, str]]]) -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    for row in rows["northwind"]:
        account_id = row["Account ID"]
        assert re.fullmatch(r"001[0-9A-Za-z]{15}", account_id)
        for chunk in range(3):
            part = account_id[chunk * 5 : chunk * 5 + 5]
            bits = sum(1 << i for i, ch in enumerate(part) if ch.isupper())
            assert account_id[15 + chunk] == alphabet[bits]


def test_the_promised_mess_is_there(rows: dict[str, list[dict[str, str]]]) -> None:
    sites = [r["Website"] for r in rows["northwind"]] + [r["Website URL"] for r in rows["globex"]]
    text = "\n".join(sites)
    for needle in ("https://www.", "http://", ":8080", "www2.", "shop.eu.", "/about", "xn--"):
        assert needle in text, needle
    assert any(s != s.strip() for s in sites)
    assert any(s.isupper() for s in sites)
    assert any(not s.isascii() for s in sites)  # IDN in Unicode
    assert {"gmail.com", "outlook.com", "n/a", "-", "none", ""} <= set(sites)
    for domain in ("github.io", "herokuapp.com", "myshopify.com", "netlify.app"):
        assert domain in text
    names = {r["Account Name"] for r in rows["northwind"]} | {
        r["Company name"] for r in rows["globex"]
    }
    assert any("GmbH & Co. KG" in n for n in names)
    assert any(", Inc." in n for n in names)
    assert any(not n.isascii() for n in names)
    assert any(re.fullmatch(r"\d\d-\d{3}-\d{4}", r["D-U-N-S Number"]) for r in rows["northwind"])
    assert any(re.fullmatch(r"0\d{8}", r["DUNS Number"]) for r in rows["globex"])


# -- the ground truth agrees with itself -----------------------------------------------------


def recompute(expected: Any, side: str) -> tuple[dict[str, dict[str, int]], set[str]]:
    """Counts and matched accounts, from the accounts' keys alone."""
    ours = expected["parties"][side]["accounts"]
    theirs = expected["parties"][other(side)]["accounts"]
    owner = {(k, v): a for a in theirs for k, v in a["keys"].items()}
    our_pops = list(expected["parties"][side]["disclosure"])
    their_pops = list(expected["parties"][other(side)]["disclosure"])
    counts = {o: {t: 0 for t in their_pops} for o in our_pops}
    matched: set[str] = set()
    for account in ours:
        partners = {owner[k]["account"]: owner[k] for k in account["keys"].items() if k in owner}
        if partners:
            matched.add(account["account"])
        for o in account["populations"]:
            for t in their_pops:
                counts[o][t] += any(t in p["populations"] for p in partners.values())
    return counts, matched


@pytest.mark.parametrize("side", SIDES)
def test_counts_follow_from_the_accounts(expected: Any, side: str) -> None:
    overlap = expected["overlap"][side]
    counts, matched = recompute(expected, side)
    assert overlap["counts"] == counts
    assert overlap["matched_accounts"] == len(matched)
    ids = {
        rid
        for a in expected["parties"][side]["accounts"]
        if a["account"] in matched
        for rid in a["record_ids"]
    }
    assert set(overlap["matched_record_ids"]) == ids
    # sizes
    for party, sizes in ((side, "our_sizes"), (other(side), "partner_sizes")):
        accounts = expected["parties"][party]["accounts"]
        assert overlap[sizes] == {
            p: sum(p in a["populations"] for a in accounts)
            for p in expected["parties"][party]["disclosure"]
        }
        assert overlap[sizes] == expected["parties"][party]["population_sizes"]


def test_both_points_of_view_agree(expected: Any) -> None:
    nw, gx = expected["overlap"]["northwind"], expected["overlap"]["globex"]
    for o, row in nw["counts"].items():
        for t, n in row.items():
            assert gx["counts"][t][o] == n
    assert nw["matched_accounts"] == gx["matched_accounts"]
    assert nw["our_disclosure"] == gx["partner_disclosure"]
    assert nw["partner_sizes"] == gx["our_sizes"]
    # what one side reveals is exactly what the other side's matches table shows
    for side in SIDES:
        shown = {
            rid
            for m in expected["overlap"][other(side)]["matches"]
            for rid in m["partner_record_ids"]
        }
        assert set(expected["overlap"][side]["revealed_to_partner"]) == shown


@pytest.mark.parametrize("side", SIDES)
def test_matches_table(expected: Any, rows: Any, side: str) -> None:
    overlap = expected["overlap"][side]
    party, partner = expected["parties"][side], expected["parties"][other(side)]
    records_level = {p for p, d in partner["disclosure"].items() if d == "records"}
    our_accounts = {a["account"]: a for a in party["accounts"]}
    their_accounts = {a["account"]: a for a in partner["accounts"]}
    partner_rows = by_id(expected, other(side), rows)
    our_rows = by_id(expected, side, rows)
    wanted = set()
    for account in party["accounts"]:
        partner_account = their_accounts.get(account["account"])
        if partner_account is None:
            continue
        shared = set(account["keys"].items()) & set(partner_account["keys"].items())
        if shared and set(partner_account["populations"]) & records_level:
            wanted |= set(account["record_ids"])
    assert {m["record_id"] for m in overlap["matches"]} == wanted
    assert [m["record_id"] for m in overlap["matches"]] == sorted(wanted)
    for m in overlap["matches"]:
        ours, theirs = our_accounts[m["account"]], their_accounts[m["account"]]
        assert m["account_populations"] == ours["populations"]
        assert set(m["row_populations"]) <= set(ours["populations"])
        category = our_rows[m["record_id"]][party["category_column"]]
        assert m["row_populations"] == [
            p for p, values in party["populations"].items() if category in values
        ]
        assert m["partner_populations"] == sorted(set(theirs["populations"]) & records_level)
        assert m["key_types"] == sorted(set(ours["keys"]) & set(theirs["keys"]))
        assert m["partner_record_ids"] == theirs["record_ids"]
        assert m["partner_fields"] == [
            {f: partner_rows[rid][f] for f in partner["revealed_fields"] if partner_rows[rid][f]}
            for rid in m["partner_record_ids"]
        ]


@pytest.mark.parametrize("side", SIDES)
def test_revealed_records(expected: Any, side: str) -> None:
    party = expected["parties"][side]
    records_level = {p for p, d in party["disclosure"].items() if d == "records"}
    _, matched = recompute(expected, side)
    revealed = {
        rid
        for a in party["accounts"]
        if a["account"] in matched and set(a["populations"]) & records_level
        for rid in a["record_ids"]
    }
    assert set(expected["overlap"][side]["revealed_to_partner"]) == revealed


@pytest.mark.parametrize("side", SIDES)
def test_accounts_agree_with_the_csv(expected: Any, rows: Any, side: str) -> None:
    party = expected["parties"][side]
    table = by_id(expected, side, rows)
    category_of = {v: p for p, values in party["populations"].items() for v in values}
    in_populations = [r for r in rows[side] if r[party["category_column"]] in category_of]
    assert party["rows_in_populations"] == len(in_populations)
    listed = [rid for a in party["accounts"] for rid in a["record_ids"]]
    assert len(listed) == len(set(listed))
    assert party["rows_without_keys"] == len(in_populations) - len(listed)
    for account in party["accounts"]:
        assert account["keys"], account
        populations = {
            category_of[table[rid][party["category_column"]]] for rid in account["record_ids"]
        }
        assert sorted(populations) == account["populations"]
    assert any(len(a["record_ids"]) > 1 for a in party["accounts"])  # duplicates
    assert any(len(a["populations"]) > 1 for a in party["accounts"])  # union of populations


def test_key_values_never_span_companies(expected: Any) -> None:
    owner: dict[tuple[str, str], str] = {}
    for side in SIDES:
        for account in expected["parties"][side]["accounts"]:
            for key in account["keys"].items():
                assert owner.setdefault(key, account["account"]) == account["account"]


def test_lookalikes_and_special_cases(expected: Any) -> None:
    def matched_domains(side: str) -> set[str]:
        _, matched = recompute(expected, side)
        accounts = expected["parties"][side]["accounts"]
        return {a["keys"].get("domain", "") for a in accounts if a["account"] in matched}

    nw, gx = matched_domains("northwind"), matched_domains("globex")
    assert {"acme.com", "orbitlabs.github.io", "xn--mller-maschinen-zvb.de"} <= nw & gx
    assert "brightforge.co.uk" in nw  # subdomain + www2 forms on one side, port on the other
    for lookalike in ("delta.com", "tinkerfoo.herokuapp.com", "orionsystems.com"):
        assert lookalike not in nw
    for lookalike in ("deltafaucet.com", "acme.co", "quillstack.github.io", "orion-systems.co.uk"):
        assert lookalike not in gx
    # some accounts match through DUNS only
    assert any(
        m["key_types"] == ["duns"] for side in SIDES for m in expected["overlap"][side]["matches"]
    )


def test_policies_describe_the_same_populations(expected: Any, policies: Any) -> None:
    for side in SIDES:
        policy, party = policies[side], expected["parties"][side]
        assert policy["label"] == party["label"]
        assert policy["normalization"] == "bm-norm/1"
        assert policy["keys"]["use"] == expected["key_types"]
        assert list(policy["populations"]) == list(party["populations"])
        for name, spec in policy["populations"].items():
            ((column, values),) = spec["where"].items()
            assert column == party["category_column"]
            values = [values] if isinstance(values, str) else values
            assert sorted(values) == party["populations"][name]
            assert spec["disclosure"] == party["disclosure"][name]
            assert spec.get("fields", []) == (
                party["revealed_fields"] if spec["disclosure"] == "records" else []
            )


# -- the keys really are (un)usable: an independent reference normalization -----------------


def reference_domain(cell: str, psl: Any) -> str | None:
    text = cell.strip().lower()
    if not text:
        return None
    host = urlsplit(text if "://" in text else "http://" + text).hostname
    if not host or "." not in host.strip("."):
        return None
    ascii_host = host.encode("idna").decode("ascii")
    registrable = psl.privatesuffix(ascii_host)
    return None if registrable is None or registrable in FREEMAIL else str(registrable)


def reference_duns(cell: str) -> str | None:
    digits = cell.replace("-", "")
    return digits if re.fullmatch(r"\d{9}", digits) else None


@pytest.mark.parametrize("side", SIDES)
def test_keys_match_a_reference_normalization(expected: Any, rows: Any, side: str) -> None:
    psl = PublicSuffixList()
    party = expected["parties"][side]
    table = by_id(expected, side, rows)
    keys_of = {rid: a["keys"] for a in party["accounts"] for rid in a["record_ids"]}
    categories = {v for values in party["populations"].values() for v in values}
    checked = 0
    for rid, row in table.items():
        if row[party["category_column"]] not in categories:
            continue
        keys = keys_of.get(rid, {})
        for column in WEBSITE_COLUMNS[side]:
            assert reference_domain(row[column], psl) == keys.get("domain"), (rid, row[column])
        assert reference_duns(row[DUNS_COLUMN[side]]) == keys.get("duns"), rid
        checked += 1
    assert checked == party["rows_in_populations"]


# -- the resource API ------------------------------------------------------------------------


def test_resource_api(tmp_path: Path) -> None:
    with sample.path(sample.NORTHWIND_CSV) as real:
        assert real.is_file()
        assert real.read_bytes() == sample.read_bytes(sample.NORTHWIND_CSV)
    assert sample.read_text(sample.GLOBEX_POLICY).startswith('label = "Globex Corporation"')
    with pytest.raises(UsageError, match="no sample file"):
        sample.resource("../errors.py")
    copied = sample.copy_to(tmp_path)
    assert [p.name for p in copied] == list(sample.FILES)
    assert (tmp_path / sample.EXPECTED).read_bytes() == sample.read_bytes(sample.EXPECTED)
    with pytest.raises(UsageError, match="not overwriting"):
        sample.copy_to(tmp_path)
    assert sample.copy_to(tmp_path, overwrite=True) == copied
