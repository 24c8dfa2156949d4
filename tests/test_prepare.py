"""prepare_party: exact records from small files, merging, ids, fields, and policy/data errors."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest

from blindmatch.accounts.policy import Policy, load_policy
from blindmatch.accounts.prepare import inspect_sources, prepare_party, region_code
from blindmatch.errors import PolicyError, UsageError
from blindmatch.io.readers import read_rows
from blindmatch.protocol.model import Disclosure, PopulationTerms, Record

DATA = Path(__file__).parent / "data" / "inputs"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "blindmatch" / "accounts" / "sample"


def rec(
    record_id: str,
    keys: tuple[tuple[str, str], ...],
    populations: set[str],
    fields: dict[str, str] | None = None,
) -> Record:
    return Record(
        record_id=record_id,
        keys=keys,
        populations=frozenset(populations),
        fields=MappingProxyType(fields or {}),
    )


def test_salesforce_file_exact_records() -> None:
    party = prepare_party(
        [DATA / "salesforce_accounts.csv"], load_policy(DATA / "policy_northwind.toml")
    )
    assert party.records == [
        rec(
            "0015e00000AcmeAAA",
            (("domain", "acme.com"), ("duns", "150483782")),
            {"Customers"},
            {"Account Name": "Acme, Inc.", "Account Owner": "Ann Lee"},
        ),
        rec(
            "0015e00000GlobAAA",
            (("domain", "globex.co.uk"),),
            {"Customers"},
            {"Account Name": "Globex Corporation", "Account Owner": "Bo Chan"},
        ),
        rec("0015e00000InitAAA", (("domain", "initech.io"), ("duns", "804735132")), {"Prospects"}),
        # Umbrella (Customer, website "n/a") has no usable key; Hooli is in no population;
        # Wayne is only in the hidden Partners population
        rec("0015e00000StarAAA", (("domain", "acme.com"),), {"Prospects"}),
    ]
    assert party.terms.key_types == ("domain", "duns")
    assert party.terms.keys_per_account == 3
    assert party.terms.populations == (
        PopulationTerms(
            name="Customers",
            disclosure=Disclosure.RECORDS,
            fields=("Account Name", "Account Owner"),
        ),
        PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS),
    )
    diag = party.diagnostics
    assert party.records_without_keys == 1
    assert diag.excluded_without_key == {"junk": 1}
    assert diag.rows_in_no_population == 2
    assert diag.populations == {"Customers": 3, "Prospects": 2, "Partners": 1}
    assert diag.records == 4


def test_hubspot_file_with_default_populations_and_keys() -> None:
    party = prepare_party(DATA / "hubspot_companies.csv", Policy.from_toml_text('label = "G"'))
    # defaulted keys narrowed: no DUNS column
    assert party.terms.key_types == ("domain", "name")
    assert [p.name for p in party.terms.populations] == ["Customers", "Opportunities", "Prospects"]
    assert party.records == [
        rec(
            "5001",
            (("domain", "acme.com"), ("name", "acme"), ("domain", "brand:acme")),
            {"Customers"},
        ),
        rec(
            "5002",
            (("domain", "soylent.com"), ("name", "soylent"), ("domain", "brand:soylent")),
            {"Opportunities"},
        ),
        rec(
            "5003", (("domain", "vandelay.com"), ("name", "vandelay industries")), {"Opportunities"}
        ),
        rec(
            "5004",
            (("domain", "piedpiper.com"), ("name", "pied piper"), ("domain", "brand:piedpiper")),
            {"Prospects"},
        ),
        rec(
            "5005",
            (("domain", "hooli.com"), ("name", "hooli"), ("domain", "brand:hooli")),
            {"Prospects"},
        ),
        # gmail.com as the website of "Gmail Guy": a free-mail domain whose brand the name does
        # not agree with is no key (bm-norm/2); the name still is
        rec("5006", (("name", "gmail guy"),), {"Prospects"}),
    ]
    assert party.diagnostics.excluded_without_key == {}


def test_latin1_bom_and_semicolon_sources_together() -> None:
    policy = Policy.from_toml_text('label = "X"\n[populations.All]\ndisclosure = "counts"\n')
    party = prepare_party(
        [
            DATA / "salesforce_latin1.csv",
            DATA / "salesforce_bom.csv",
            DATA / "hubspot_semicolon.csv",
        ],
        policy,
    )
    assert [r.record_id for r in party.records] == [
        "001L1",
        "001L2",
        "001L3",
        "001B1",
        "001B2",
        "6001",
        "6002",
        "6003",
    ]
    assert party.records[0].keys[:2] == (
        ("domain", "societegenerale.fr"),
        ("name", "societe generale"),
    )
    sources = party.diagnostics.sources
    assert [(s.encoding, s.delimiter) for s in sources] == [
        ("cp1252", ","),
        ("utf-8-sig", ","),
        ("utf-8", ";"),
    ]


def test_rows_with_one_record_id_are_merged() -> None:
    table = read_rows(
        ["Account ID", "Website", "Contact Email", "Type", "Account Name"],
        [
            ["A1", "acme.com", "", "Customer", "Acme"],
            ["A2", "globex.com", "", "Prospect", "Globex"],
            ["A1", "", "ann@acme-labs.com", "Prospect", "Acme Labs"],
            ["A1", "acme.com", "", "Customer", ""],
        ],
        name="crm",
    )
    policy = Policy.from_toml_text(
        'label = "X"\n[keys]\nuse = ["domain"]\n'
        '[populations.Customers]\nwhere = { Type = "Customer" }\ndisclosure = "records"\n'
        'fields = ["Account Name"]\n'
        '[populations.Prospects]\nwhere = { Type = "Prospect" }\ndisclosure = "records"\n'
        'fields = ["Account Name"]\n'
    )
    party = prepare_party([table], policy)
    assert party.records == [
        rec(
            "A1",
            (("domain", "acme.com"), ("domain", "acme-labs.com")),
            {"Customers", "Prospects"},
            {"Account Name": "Acme"},  # the earlier row wins a field
        ),
        rec("A2", (("domain", "globex.com"),), {"Prospects"}, {"Account Name": "Globex"}),
    ]
    diag = party.diagnostics
    assert diag.rows_merged == 2
    assert diag.duplicate_record_ids.values == 1 and diag.duplicate_record_ids.rows == 3
    assert diag.duplicate_record_ids.examples == [["crm:1", "crm:3", "crm:4"]]
    assert any("merged" in w for w in diag.warnings)


def test_without_id_column_ids_are_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("Website,Segment\nacme.com,a\n\nglobex.com,b\n")
    policy = Policy.from_toml_text('label = "X"\n[populations.All]\ndisclosure = "counts"\n')
    party = prepare_party([path], policy)
    assert [r.record_id for r in party.records] == ["plain.csv:2", "plain.csv:4"]
    assert any("no record id column" in w for w in party.diagnostics.warnings)


def test_blank_record_id_falls_back_to_file_and_row() -> None:
    table = read_rows(["Record ID", "Domain"], [["", "a.com"], ["7", "b.com"]], name="t")
    policy = Policy.from_toml_text('label = "X"\n[populations.All]\ndisclosure = "counts"\n')
    party = prepare_party(table, policy)
    assert [r.record_id for r in party.records] == ["t:1", "7"]
    assert party.diagnostics.rows_without_record_id == 1


def test_email_columns_websites_holding_emails_and_phones_with_regions() -> None:
    table = read_rows(
        ["Account ID", "Website", "Contact Email", "Phone", "Country"],
        [
            ["1", "", "jane@gmail.com", "030 901820", "Germany"],
            ["2", "info@globex.co.uk", "bob@acme.com", "(415) 555-2671", ""],
            ["3", "bob@hotmail.com", "", "+44 20 7219 3000", "United Kingdom"],
        ],
        name="mix",
    )
    policy = Policy.from_toml_text(
        'label = "X"\n[keys]\nuse = ["domain", "phone"]\ndefault_region = "US"\n'
        '[columns]\ndomain = ["Website", "Contact Email"]\nregion = "Country"\n'
        '[populations.All]\ndisclosure = "counts"\n'
    )
    party = prepare_party([table], policy)
    assert party.records == [
        rec("1", (("phone", "+4930901820"),), {"All"}),
        rec(
            "2",
            (("domain", "globex.co.uk"), ("domain", "acme.com"), ("phone", "+14155552671")),
            {"All"},
        ),
        rec("3", (("phone", "+442072193000"),), {"All"}),
    ]
    cells = party.diagnostics.cells["domain"]
    assert cells == {"ok": 2, "free-mail": 2, "blank": 2}


def test_hidden_population_is_local_only() -> None:
    table = read_rows(
        ["Id", "Domain", "Type"], [["1", "a.com", "Internal"], ["2", "b.com", "Customer"]]
    )
    policy = Policy.from_toml_text(
        'label = "X"\n'
        '[populations.Internal]\nwhere = { Type = "Internal" }\ndisclosure = "hidden"\n'
        '[populations.Customers]\nwhere = { Type = "Customer" }\ndisclosure = "counts"\n'
    )
    party = prepare_party([table], policy)
    assert [r.record_id for r in party.records] == ["2"]
    assert [p.name for p in party.terms.populations] == ["Customers"]
    assert party.diagnostics.populations == {"Internal": 1, "Customers": 1}
    assert party.diagnostics.disclosure["Internal"] == "hidden"


def test_a_population_whose_filter_matches_no_row_stops_the_run_unless_allowed() -> None:
    """A typo in a filter value ("Customer Direct" for "Customer - Direct") would silently
    empty a population: the run stops with an error saying what the filter saw. A population
    that may be empty some weeks says allow_empty, and then it is a warning; inspect always
    warns."""
    table = read_rows(["Id", "Domain", "Type"], [["1", "a.com", "Customer - Direct"]])
    text = (
        'label = "X"\n'
        '[populations.Customers]\nwhere = { Type = "Customer Direct" }\ndisclosure = "counts"\n'
        "{allow}"
        '[populations.All]\ndisclosure = "counts"\n'
    )
    expected = (
        "populations.Customers: no row matches its filter (Type = 'Customer Direct': 0 of 1 "
        "distinct values pass); check the values against the file (`psi-run inspect` lists "
        "the columns)"
    )
    strict = Policy.from_toml_text(text.replace("{allow}", ""))
    with pytest.raises(PolicyError) as caught:
        prepare_party([table], strict)
    assert caught.value.message.startswith(expected)
    assert "allow_empty = true in [populations.Customers]" in caught.value.message
    warnings = inspect_sources([table], strict).warnings
    assert [w for w in warnings if "no row matches" in w] == [expected]

    allowed = Policy.from_toml_text(text.replace("{allow}", "allow_empty = true\n"))
    assert allowed.populations is not None and allowed.populations["Customers"].allow_empty
    assert Policy.from_toml_text(allowed.to_toml()) == allowed
    prepared = prepare_party([table], allowed)
    assert [w for w in prepared.diagnostics.warnings if "no row matches" in w] == [expected]
    assert prepared.diagnostics.populations.get("Customers", 0) == 0


def test_a_comparison_on_unreadable_cells_says_so() -> None:
    """ARR exported as words, or dates in an unknown format, fail every comparison: the error
    counts them and shows one."""
    table = read_rows(
        ["Id", "Domain", "ARR"], [["1", "a.com", "n/a"], ["2", "b.com", "12"], ["3", "c.com", ""]]
    )
    policy = Policy.from_toml_text(
        'label = "X"\n[populations.Big]\nwhere = { ARR = { gt = 50000 } }\ndisclosure = "counts"\n'
    )
    with pytest.raises(PolicyError) as caught:
        prepare_party([table], policy)
    assert (
        "populations.Big: no row matches its filter (ARR > 50000: 0 of 3 distinct values pass; "
        "1 are not numbers (such as 'n/a'))" in caught.value.message
    )


def test_fields_only_from_records_level_populations_the_record_is_in() -> None:
    table = read_rows(
        ["Id", "Domain", "Type", "Name", "Owner", "Secret"],
        [
            ["1", "a.com", "Customer", "Acme", "Ann", "s1"],
            ["2", "b.com", "Prospect", "Globex", "Bo", "s2"],
            ["3", "c.com", "Customer", " ", "Cy", "s3"],
        ],
    )
    policy = Policy.from_toml_text(
        'label = "X"\n[keys]\nuse = ["domain"]\n'
        '[populations.Customers]\nwhere = { Type = "Customer" }\ndisclosure = "records"\n'
        'fields = ["Name", "owner"]\n'
        '[populations.Prospects]\nwhere = { Type = "Prospect" }\ndisclosure = "counts"\n'
    )
    records = prepare_party([table], policy).records
    assert [dict(r.fields) for r in records] == [
        {"Name": "Acme", "owner": "Ann"},  # keyed by the policy's field name
        {},
        {"owner": "Cy"},  # blanks omitted
    ]


def test_oversized_fields_are_reported() -> None:
    table = read_rows(["Id", "Domain", "Notes"], [["1", "a.com", "x" * 200]])
    policy = Policy.from_toml_text(
        'label = "X"\npayload_bytes = 64\n'
        '[populations.All]\ndisclosure = "records"\nfields = ["Notes"]\n'
    )
    diag = prepare_party([table], policy).diagnostics
    assert diag.records_over_payload == 1
    assert any("payload_bytes" in w for w in diag.warnings)


def test_dataframe_source() -> None:
    import pandas as pd  # the test extra installs it

    df = pd.DataFrame(
        {"Record ID": [1, 2], "Domain": ["acme.com", None], "DUNS": [150483782.0, None]}
    )
    policy = Policy.from_toml_text('label = "X"\n[populations.All]\ndisclosure = "counts"\n')
    party = prepare_party(df, policy)
    assert party.records == [rec("1", (("domain", "acme.com"), ("duns", "150483782")), {"All"})]
    assert party.diagnostics.excluded_without_key == {"blank": 1}


# -- the policy does not fit the data ---------------------------------------------------------


def test_key_type_without_column(tmp_path: Path) -> None:
    policy = Policy.from_toml_text(
        'label = "X"\n[keys]\nuse = ["domain", "phone"]\n', source="p.toml"
    )
    with pytest.raises(PolicyError) as info:
        prepare_party([DATA / "salesforce_bom.csv"], policy)
    assert info.value.file == "p.toml"
    assert "keys.use: no column provides 'phone'" in info.value.message


def test_source_without_any_key_column() -> None:
    table = read_rows(["Id", "Type"], [["1", "Customer"]], name="nokeys")
    policy = Policy.from_toml_text('label = "X"\n[populations.All]\ndisclosure = "counts"\n')
    with pytest.raises(PolicyError, match="no column provides a key"):
        prepare_party([table], policy)
    other = read_rows(["Id", "Domain"], [["1", "a.com"]], name="ok")
    with pytest.raises(PolicyError, match="nokeys: no column provides any of the key types"):
        prepare_party([other, table], policy)


def test_default_populations_without_a_lifecycle_column() -> None:
    table = read_rows(["Id", "Domain"], [["1", "a.com"], ["2", ""]], name="generic")
    party = prepare_party([table], Policy.from_toml_text('label = "X"', source="p.toml"))
    assert party.records == [rec("1", (("domain", "a.com"),), {"Accounts"})]
    assert [(p.name, p.disclosure) for p in party.terms.populations] == [
        ("Accounts", Disclosure.COUNTS)
    ]
    assert party.policy.population_names == ("Accounts",) and party.policy.source == "p.toml"
    assert any("one population 'Accounts'" in w for w in party.diagnostics.warnings)
    # with a lifecycle column in some source, the standard three apply; others are warned about
    mixed = prepare_party(
        [table, DATA / "hubspot_companies.csv"], Policy.from_toml_text('label = "X"')
    )
    assert [p.name for p in mixed.terms.populations] == ["Customers", "Opportunities", "Prospects"]
    assert any("generic: no 'Type' or 'Lifecycle Stage'" in w for w in mixed.diagnostics.warnings)


def test_where_on_unknown_column() -> None:
    policy = Policy.from_toml_text(
        'label = "X"\n[populations.EU]\nwhere = { Region = "EU" }\ndisclosure = "counts"\n',
        source="p.toml",
    )
    with pytest.raises(PolicyError) as info:
        prepare_party([DATA / "salesforce_accounts.csv"], policy)
    assert info.value.file == "p.toml" and info.value.column == "Region"
    assert "Account ID, Account Name" in info.value.message


def test_unknown_field_column() -> None:
    policy = Policy.from_toml_text(
        'label = "X"\n[populations.C]\ndisclosure = "records"\nfields = ["Revenue"]\n'
    )
    with pytest.raises(PolicyError, match="populations.C.fields: no column 'Revenue'"):
        prepare_party([DATA / "salesforce_bom.csv"], policy)


def test_no_sources() -> None:
    with pytest.raises(UsageError):
        prepare_party([], Policy.from_toml_text('label = "X"'))


def test_region_code() -> None:
    assert region_code("Germany") == "DE"
    assert region_code("deutschland") == "DE"
    assert region_code("USA") == "US"
    assert region_code("uk") == "GB"
    assert region_code("ch") == "CH"
    assert region_code("Atlantis") is None
    assert region_code(None) is None


# -- agrees with the shipped sample data's independent ground truth ---------------------------


@pytest.mark.parametrize("side", ["northwind", "globex"])
def test_sample_data_row_counts(side: str) -> None:
    expected_path = SAMPLE / "expected.json"
    party_info = json.loads(expected_path.read_text())["parties"][side]
    party = prepare_party([SAMPLE / party_info["data"]], load_policy(SAMPLE / party_info["policy"]))
    diag = party.diagnostics
    assert diag.rows == party_info["rows"]
    assert diag.rows - diag.rows_in_no_population == party_info["rows_in_populations"]
    assert party.records_without_keys == party_info["rows_without_keys"]
    assert party.terms.label == party_info["label"]


def test_progress_reports_rows_as_they_are_read(tmp_path: Path) -> None:
    """A million-row export takes a while to normalize: the caller hears about every 16,384 rows."""
    path = tmp_path / "many.csv"
    lines = ["Account ID,Website,Type"] + [
        f"id{i},site{i % 500}.com,Customer" for i in range(40_000)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seen: list[int] = []
    prepared = prepare_party([path], Policy.from_dict({"label": "Acme"}), progress=seen.append)
    assert seen == [16_384, 32_768]
    assert prepared.diagnostics.rows == 40_000


def test_a_wide_export_prepares_exactly_as_its_narrow_columns(tmp_path: Path) -> None:
    """The pass reads only the cells it needs; forty more columns change nothing."""
    import csv

    source = DATA / "salesforce_accounts.csv"
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    wide = tmp_path / "wide.csv"
    with wide.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        for i, row in enumerate(rows):
            extra = (
                [f"Extra {k}" for k in range(40)] if i == 0 else [f"v{i}.{k}" for k in range(40)]
            )
            writer.writerow(extra[:20] + row + extra[20:])
    policy = load_policy(DATA / "policy_northwind.toml")
    narrow_party = prepare_party([source], policy)
    wide_party = prepare_party([wide], policy)
    assert wide_party.records == narrow_party.records
    assert wide_party.terms == narrow_party.terms
