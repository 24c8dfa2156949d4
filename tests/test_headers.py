"""Header recognition: Salesforce and HubSpot exports need no mapping; the policy overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blindmatch.accounts.headers import (
    KeySource,
    detect_flavour,
    find_column,
    recognize_columns,
)
from blindmatch.errors import PolicyError
from blindmatch.io.readers import header_token, open_table

DATA = Path(__file__).parent / "data" / "inputs"


def test_salesforce_export_recognized() -> None:
    header = open_table(DATA / "salesforce_accounts.csv").header
    cmap = recognize_columns(header)
    assert cmap.flavour == "salesforce"
    assert cmap.id_column == "Account ID"
    assert cmap.sources("domain") == (KeySource("Website", "domain_or_email"),)
    assert cmap.sources("name") == (KeySource("Account Name"),)
    assert cmap.sources("phone") == (KeySource("Phone"),)
    assert cmap.sources("duns") == (KeySource("D-U-N-S Number"),)
    assert cmap.sources("email") == ()
    assert cmap.population_column == "Type"
    assert cmap.region_column == "Billing Country"
    assert cmap.other == {"Account Owner": "owner", "Industry": "industry"}
    assert cmap.explicit == frozenset()


def test_hubspot_export_recognized() -> None:
    header = open_table(DATA / "hubspot_companies.csv").header
    cmap = recognize_columns(header)
    assert cmap.flavour == "hubspot"
    assert cmap.id_column == "Record ID"
    assert [s.column for s in cmap.sources("domain")] == ["Company Domain Name"]
    assert [s.column for s in cmap.sources("name")] == ["Company name"]
    assert [s.column for s in cmap.sources("phone")] == ["Phone Number"]
    assert cmap.population_column == "Lifecycle Stage"
    assert cmap.region_column == "Country/Region"
    assert cmap.other["Company owner"] == "owner"


def test_semicolon_hubspot_and_latin1_salesforce() -> None:
    hs = recognize_columns(open_table(DATA / "hubspot_semicolon.csv").header)
    assert (hs.flavour, hs.id_column, hs.population_column) == (
        "hubspot",
        "Record ID",
        "Lifecycle Stage",
    )
    sf = recognize_columns(open_table(DATA / "salesforce_latin1.csv").header)
    assert (sf.flavour, sf.id_column) == ("salesforce", "Account ID")


@pytest.mark.parametrize(
    ("header", "role", "expected"),
    [
        (["account_id", "WEBSITE"], "id", "account_id"),
        (["  Account   ID ", "Website"], "id", "  Account   ID "),
        (["Id", "Name"], "id", "Id"),
        (["Company ID", "Domain"], "id", "Company ID"),
        (["Record ID", "Id"], "id", "Record ID"),
        (["DUNS Number"], "duns", "DUNS Number"),
        (["D&B DUNS"], "duns", "D&B DUNS"),
        (["d_u_n_s number"], "duns", "d_u_n_s number"),
        (["Website URL"], "domain", "Website URL"),
        (["Company Domain Name"], "domain", "Company Domain Name"),
        (["company name"], "name", "company name"),
        (["Phone Number"], "phone", "Phone Number"),
    ],
)
def test_recognition_ignores_case_space_underscore(
    header: list[str], role: str, expected: str
) -> None:
    cmap = recognize_columns(header)
    if role == "id":
        assert cmap.id_column == expected
    else:
        assert cmap.sources(role)[0].column == expected


def test_email_column_feeds_email_and_domain_via_email_domain() -> None:
    cmap = recognize_columns(["Company name", "Website URL", "Email"])
    assert cmap.sources("email") == (KeySource("Email"),)
    assert cmap.sources("domain") == (
        KeySource("Website URL", "domain_or_email"),
        KeySource("Email", "email_domain"),
    )


def test_several_domain_columns_all_feed_domain() -> None:
    cmap = recognize_columns(["Record ID", "Company Domain Name", "Website URL"])
    assert [s.column for s in cmap.sources("domain")] == ["Company Domain Name", "Website URL"]


def test_flavour_detection() -> None:
    assert detect_flavour(["Account ID", "Account Name", "Website"]) == "salesforce"
    assert detect_flavour(["Record ID", "Company name", "Lifecycle Stage"]) == "hubspot"
    assert detect_flavour(["Domain", "Name", "Id"]) == "generic"
    assert detect_flavour(["Type"]) == "generic"  # one marker is not enough


def test_explicit_mapping_overrides_recognition() -> None:
    header = ["Account ID", "Legacy Id", "Website", "Contact Email", "DUNS", "Partner Id", "Ctry"]
    cmap = recognize_columns(
        header,
        {
            "id": "legacy id",  # case-insensitive
            "domain": ["Website", "Contact Email"],
            "custom:partner_id": "Partner Id",
            "region": "Ctry",
        },
    )
    assert cmap.id_column == "Legacy Id"
    assert cmap.sources("domain") == (
        KeySource("Website", "domain_or_email"),
        KeySource("Contact Email", "email_domain"),  # an e-mail-looking column
    )
    assert cmap.sources("custom:partner_id") == (KeySource("Partner Id"),)
    assert cmap.sources("duns") == (KeySource("DUNS"),)  # not overridden: still recognized
    assert cmap.region_column == "Ctry"
    assert cmap.explicit == {"id", "domain", "custom:partner_id", "region"}


def test_explicit_columns_missing_from_table() -> None:
    cmap = recognize_columns(["Website", "Email"], {"domain": ["Website", "Contact Email"]})
    assert cmap.missing == {"domain": ("Contact Email",)}
    with pytest.raises(PolicyError) as info:
        recognize_columns(
            ["Website", "Email"],
            {"custom:erp": "ERP Number"},
            source="crm.csv",
            policy_source="policy.toml",
        )
    err = info.value
    assert err.file == "policy.toml"
    assert 'columns."custom:erp"' in err.message
    assert "crm.csv" in err.message and "Website, Email" in err.message


def test_to_dict_is_json() -> None:
    cmap = recognize_columns(["Account ID", "Website", "Email", "Type"])
    data = json.loads(json.dumps(cmap.to_dict()))
    assert data["flavour"] == "salesforce"
    assert data["keys"]["domain"] == ["Website", "Email (e-mail domain)"]
    assert data["population_column"] == "Type"


def test_find_column_and_token() -> None:
    header = ["Account Name", "Lifecycle Stage"]
    assert find_column(header, "lifecycle_stage") == "Lifecycle Stage"
    assert find_column(header, "Account Name") == "Account Name"
    assert find_column(header, "Owner") is None
    assert header_token(" D-U-N-S  Number ") == header_token("duns_number") == "dunsnumber"
