"""Population filters: multi-membership, case/space-insensitivity, prefixes, unknown columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from blindmatch.accounts.headers import recognize_columns
from blindmatch.accounts.policy import Policy, PopulationSpec, standard_populations
from blindmatch.accounts.populations import compile_populations, value_token
from blindmatch.errors import PolicyError
from blindmatch.io.readers import open_table
from blindmatch.protocol.model import Disclosure

DATA = Path(__file__).parent / "data" / "inputs"
HEADER = ("Account ID", "Type", "Billing Country", "Industry")
C = Disclosure.COUNTS


def spec(**where: str | tuple[str, ...]) -> PopulationSpec:
    return PopulationSpec(
        where={k.replace("_", " "): (v,) if isinstance(v, str) else v for k, v in where.items()},
        disclosure=C,
    )


def row(
    type_: str | None, country: str | None = None, industry: str | None = None
) -> dict[str, str | None]:
    return {"Account ID": "1", "Type": type_, "Billing Country": country, "Industry": industry}


def test_multi_membership_and_and_or() -> None:
    pops = compile_populations(
        {
            "Customers": spec(Type=("Customer - Direct", "Customer - Channel")),
            "US customers": spec(Type="Customer*", Billing_Country=("US", "USA")),
            "Everyone": PopulationSpec(disclosure=C),
        },
        HEADER,
    )
    assert pops.names == ("Customers", "US customers", "Everyone")
    assert pops.membership(row("Customer - Direct", "USA")) == {
        "Customers",
        "US customers",
        "Everyone",
    }
    assert pops.membership(row("Customer - Channel", "DE")) == {"Customers", "Everyone"}
    assert pops.membership(row("Customer - Other", "US")) == {"US customers", "Everyone"}
    assert pops.membership(row("Prospect", "US")) == {"Everyone"}
    assert pops.membership(row(None)) == {"Everyone"}


def test_case_and_space_insensitive_values_and_columns() -> None:
    pops = compile_populations(
        {"Customers": PopulationSpec(where={"  TYPE ": ("customer - direct",)}, disclosure=C)},
        HEADER,
    )
    for value in (
        "Customer - Direct",
        "CUSTOMER-DIRECT",
        " customer  -  direct ",
        "Customer\t- Direct",
    ):
        assert pops.membership(row(value)) == {"Customers"}, value
    assert pops.membership(row("Customer - Channel")) == frozenset()


def test_hubspot_lifecycle_labels_match_internal_values() -> None:
    pops = compile_populations(
        {
            "Opportunities": PopulationSpec(
                where={"lifecycle stage": ("opportunity", "salesqualifiedlead")}, disclosure=C
            )
        },
        ("Record ID", "Lifecycle Stage"),
    )
    for label in ("Sales Qualified Lead", "salesqualifiedlead", "Opportunity"):
        assert pops.membership({"Record ID": "1", "Lifecycle Stage": label}) == {"Opportunities"}
    assert pops.membership({"Record ID": "1", "Lifecycle Stage": "Lead"}) == frozenset()


def test_wildcards_and_blank() -> None:
    pops = compile_populations(
        {
            "Any industry": spec(Industry="*"),
            "No industry": spec(Industry=""),
            "Tech": spec(Industry=("Tech*", "Software")),
        },
        HEADER,
    )
    assert pops.membership(row("x", industry="Technology")) == {"Any industry", "Tech"}
    assert pops.membership(row("x", industry="software")) == {"Any industry", "Tech"}
    assert pops.membership(row("x", industry="Retail")) == {"Any industry"}
    assert pops.membership(row("x", industry=None)) == {"No industry"}


def test_membership_sets_are_shared() -> None:
    pops = compile_populations({"C": spec(Type="Customer*")}, HEADER)
    a = pops.membership(row("Customer - Direct"))
    b = pops.membership(row("Customer - Channel"))
    assert a == b and a is b


def test_unknown_column_names_population_column_and_headers() -> None:
    with pytest.raises(PolicyError) as info:
        compile_populations(
            {"Customers": spec(Type="Customer"), "EU": spec(Region="EU")},
            HEADER,
            source="accounts.csv",
            policy_source="policy.toml",
        )
    err = info.value
    assert err.file == "policy.toml" and err.column == "Region"
    assert "population 'EU'" in err.message and "'Region'" in err.message
    assert "accounts.csv" in err.message
    assert "Account ID, Type, Billing Country, Industry" in err.message


def test_standard_populations_on_fixture_files() -> None:
    sf = open_table(DATA / "salesforce_accounts.csv")
    specs = standard_populations(recognize_columns(sf.header))
    assert specs is not None
    pops = compile_populations(specs, sf.header)
    got = [(r.values["Account ID"], sorted(pops.membership(r.values))) for r in sf]
    assert got == [
        ("0015e00000AcmeAAA", ["Customers"]),
        ("0015e00000GlobAAA", ["Customers"]),
        ("0015e00000InitAAA", ["Prospects"]),
        ("0015e00000UmbrAAA", ["Customers"]),
        ("0015e00000HoolAAA", []),
        ("0015e00000StarAAA", ["Prospects"]),
        ("0015e00000WaynAAA", []),
    ]
    hs = open_table(DATA / "hubspot_companies.csv")
    specs = standard_populations(recognize_columns(hs.header))
    assert specs is not None
    pops = compile_populations(specs, hs.header)
    got = [(r.values["Record ID"], sorted(pops.membership(r.values))) for r in hs]
    assert got == [
        ("5001", ["Customers"]),
        ("5002", ["Opportunities"]),
        ("5003", ["Opportunities"]),
        ("5004", ["Prospects"]),
        ("5005", ["Prospects"]),
        ("5006", ["Prospects"]),
        ("5007", []),  # Evangelist
    ]
    assert standard_populations(recognize_columns(["Domain"])) is None


def test_policy_populations_compile_against_semicolon_file() -> None:
    table = open_table(DATA / "hubspot_semicolon.csv")
    policy = Policy.from_toml_text(
        'label = "X"\n'
        '[populations.DACH]\nwhere = { "country/region" = ["Germany", "Austria", "Switzerland"] }\n'
        'disclosure = "counts"\n'
        '[populations.Customers]\nwhere = { "Lifecycle Stage" = "Customer" }\n'
        'disclosure = "counts"\n'
    )
    pops = compile_populations(policy.population_specs(), table.header)
    assert [sorted(pops.membership(r.values)) for r in table] == [
        ["Customers", "DACH"],
        ["DACH"],
        [],
    ]


def test_value_token() -> None:
    assert value_token(" Sales Qualified  Lead ") == "salesqualifiedlead"
    assert value_token(None) == ""
