"""inspect_sources: the counts, duplicate detection, how files were read, JSON and text forms."""

from __future__ import annotations

import json
from pathlib import Path

from blindmatch.accounts.policy import Policy, load_policy
from blindmatch.accounts.prepare import inspect_sources
from blindmatch.io.readers import read_rows

DATA = Path(__file__).parent / "data" / "inputs"


def test_salesforce_inspection_without_policy() -> None:
    diag = inspect_sources([DATA / "salesforce_accounts.csv"])
    assert diag.rows == 7
    # what a run without a policy would use
    assert diag.key_types == ["domain", "name", "duns"]
    assert diag.key_scope == "all rows" and diag.key_rows == 7
    # default populations from Type
    assert diag.populations == {"Customers": 3, "Opportunities": 0, "Prospects": 2}
    assert diag.disclosure == {
        "Customers": "counts",
        "Opportunities": "counts",
        "Prospects": "counts",
    }
    assert diag.rows_in_no_population == 2
    assert diag.rows_with_key == {"domain": 5, "name": 7, "duns": 2}
    assert diag.rows_with_any_key == 7
    # Umbrella (website "n/a") and Wayne (no website) still have their names
    assert diag.rows_without_key == {}
    assert diag.cells["domain"] == {"ok": 5, "junk": 1, "blank": 1}
    assert diag.cells["duns"] == {"ok": 2, "blank": 5}
    dup = diag.duplicate_keys["domain"]
    assert (dup.values, dup.rows) == (1, 2)
    assert dup.examples == [["salesforce_accounts.csv:2", "salesforce_accounts.csv:7"]]
    assert diag.duplicate_keys["duns"].values == 0
    assert diag.duplicate_record_ids.values == 0
    assert diag.records is None  # an inspection prepares nothing
    (source,) = diag.sources
    assert (source.format, source.encoding, source.delimiter, source.flavour) == (
        "csv",
        "utf-8",
        ",",
        "salesforce",
    )
    assert source.columns["id"] == "Account ID"
    assert source.columns["keys"]["duns"] == ["D-U-N-S Number"]
    assert source.rows == 7


def test_inspection_with_policy_and_hidden_population() -> None:
    diag = inspect_sources(
        [DATA / "salesforce_accounts.csv"], load_policy(DATA / "policy_northwind.toml")
    )
    assert diag.populations == {"Customers": 3, "Prospects": 2, "Partners": 1}
    assert diag.disclosure["Partners"] == "hidden"
    assert diag.rows_in_no_population == 2  # Hooli (none) and Wayne (hidden only)
    assert diag.excluded_without_key == {"junk": 1}


def test_hubspot_and_jsonl_inspection() -> None:
    diag = inspect_sources([DATA / "hubspot_companies.csv", DATA / "hubspot_companies.jsonl"])
    assert diag.rows == 10
    assert [s.flavour for s in diag.sources] == ["hubspot", "hubspot"]
    assert diag.sources[1].format == "jsonl"
    assert diag.key_types == ["domain", "name", "duns"]  # the JSON Lines file has a DUNS column
    assert diag.rows_with_key["duns"] == 1
    # gmail.com as the domain of "Gmail Guy" is no key; the name is
    assert diag.rows_with_key["domain"] == 9
    assert diag.rows_without_key == {}
    dup = diag.duplicate_keys["domain"]
    assert dup.values == 1  # acme.com in both files
    assert dup.examples == [["hubspot_companies.csv:2", "hubspot_companies.jsonl:1"]]
    assert diag.populations == {"Customers": 2, "Opportunities": 3, "Prospects": 4}
    assert diag.sources[1].columns["keys"]["domain"] == [
        "Company Domain Name",
        "Email (e-mail domain)",
    ]
    assert "Duplicate domain keys: 1 key on 2 rows" in diag.render_text()


def test_duplicate_record_ids_and_missing_ids() -> None:
    table = read_rows(
        ["Record ID", "Domain"],
        [
            ["1", "a.com"],
            ["2", "b.com"],
            ["1", "c.com"],
            [None, "d.com"],
            ["2", "b.com"],
            ["1", ""],
        ],
        name="t",
    )
    diag = inspect_sources([table])
    ids = diag.duplicate_record_ids
    assert (ids.values, ids.rows) == (2, 5)
    assert ids.examples == [["t:1", "t:3", "t:6"], ["t:2", "t:5"]]
    assert diag.rows_without_record_id == 1
    assert diag.duplicate_keys["domain"].examples == [["t:2", "t:5"]]
    assert diag.rows_without_key == {"blank": 1}


def test_missing_key_columns_are_warnings_not_errors() -> None:
    table = read_rows(["Id", "Segment"], [["1", "SMB"], ["2", "Enterprise"]], name="nokeys")
    diag = inspect_sources([table])
    assert diag.sources[0].flavour == "generic"
    assert diag.populations == {"Accounts": 2}  # no lifecycle column: one population
    assert diag.key_types == []
    assert diag.rows_without_key == {"no-column": 2}
    assert any("no column provides a domain, company name or DUNS" in w for w in diag.warnings)


def test_to_dict_is_json_and_render_text_is_readable() -> None:
    policy = Policy.from_toml_text(
        'label = "X"\n[populations.Customers]\nwhere = { Type = "Customer*" }\n'
        'disclosure = "records"\nfields = ["Account Name"]\n'
    )
    from blindmatch.accounts.prepare import prepare_party

    diag = prepare_party([DATA / "salesforce_accounts.csv"], policy).diagnostics
    data = json.loads(json.dumps(diag.to_dict()))
    assert data["rows"] == 7
    assert data["populations"] == {"Customers": {"rows": 3, "disclosure": "records"}}
    assert data["records"] == 3  # Umbrella (website "n/a") takes part by its name
    assert data["key_scope"] == "rows in a shared population"
    assert data["excluded_without_key"] == {}
    text = diag.render_text()
    for expected in (
        "Source ",
        "CSV, UTF-8, comma-separated",
        "CRM flavour: salesforce",
        "record id:   Account ID",
        "Rows: 7",
        "Customers",
        "Rows with a usable key: 3",
        "Records prepared: 3",
    ):
        assert expected in text, expected
    # row numbers, never key values
    assert "acme.com" not in text.replace("https://www.acme.com/", "")


def test_render_text_for_bom_and_semicolon_files() -> None:
    diag = inspect_sources([DATA / "salesforce_bom.csv", DATA / "hubspot_semicolon.csv"])
    text = diag.render_text()
    assert "UTF-8 with BOM, comma-separated" in text
    assert "UTF-8, semicolon-separated" in text


def test_inspection_says_which_key_types_the_columns_support() -> None:
    diag = inspect_sources([DATA / "salesforce_accounts.csv"])
    # the Phone column supports phone keys, which no run offers unless the policy lists them
    assert diag.supported_key_types == ["domain", "name", "phone", "duns"]
    assert diag.normalization == "bm-norm/2"
    text = diag.render_text()
    assert (
        "Key types the columns support: domain, name, phone, duns; offered: domain, name, "
        "duns; not offered: phone"
    ) in text
    assert "Normalization: bm-norm/2" in text
    data = diag.to_dict()
    assert data["supported_key_types"] == ["domain", "name", "phone", "duns"]
    old = inspect_sources(
        [DATA / "salesforce_accounts.csv"],
        Policy.from_toml_text(
            'label = "X"\nnormalization = "bm-norm/1"\n[keys]\nuse = ["domain"]\n'
        ),
    )
    assert old.normalization == "bm-norm/1"
    assert "offered: domain; not offered: name, phone, duns" in old.render_text()
