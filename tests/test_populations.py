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


FILTERS = """label = "X"
[populations.Big]
where = { ARR = { gt = 50000 } }
disclosure = "counts"
[populations.Mid]
where = { ARR = { ge = 10000, le = 50000 } }
disclosure = "counts"
[populations.Closing]
where = { "Close Date" = { within = "next 90 days" } }
disclosure = "counts"
[populations.Recent]
where = { "Close Date" = { within = "last 4 weeks" } }
disclosure = "counts"
[populations.Near]
where = { "Close Date" = { within = "30 days" } }
disclosure = "counts"
[populations.Since2025]
where = { "Close Date" = { ge = 2025-01-01 } }
disclosure = "counts"
[populations.NotPartners]
where = { Type = { not_in = ["Partner", "Competitor*"] } }
disclosure = "counts"
[populations.Listed]
where = { Type = { in = ["Customer*", "Prospect"] }, ARR = { lt = 1e6 } }
disclosure = "counts"
"""
FILTER_HEADER = ("Id", "ARR", "Close Date", "Type")
TODAY = __import__("datetime").date(2026, 6, 15)


def members(arr: str | None, close: str | None, type_: str | None) -> frozenset[str]:
    policy = Policy.from_toml_text(FILTERS)
    pops = compile_populations(policy.population_specs(), FILTER_HEADER, today=TODAY)
    return pops.membership({"Id": "1", "ARR": arr, "Close Date": close, "Type": type_})


def test_numeric_comparisons_read_currency_and_separators() -> None:
    assert {"Big", "NotPartners"} <= members("$1,250,000.00", None, "Customer")
    assert "Listed" not in members("$1,250,000.00", None, "Customer")  # lt 1e6
    assert {"Mid", "Listed"} <= members("EUR 12 500", None, "Customer - Direct")
    assert "Big" not in members("50000", None, None)
    assert "Mid" in members("50000", None, None)  # le is inclusive
    for unreadable in ("n/a", "", None, "lots"):
        assert not {"Big", "Mid"} & members(unreadable, None, None)


def test_date_comparisons_and_spans_around_today() -> None:
    assert "Closing" in members(None, "2026-09-01", None)  # 78 days ahead
    assert "Closing" not in members(None, "2026-09-20", None)  # 97 days ahead
    assert "Closing" not in members(None, "2026-06-01", None)  # past
    assert "Recent" in members(None, "06/01/2026", None)  # US export format
    assert "Recent" not in members(None, "2026-05-01T10:00:00Z", None)
    assert "Near" in members(None, "10.07.2026", None)  # DD.MM.YYYY, 25 days ahead
    assert "Near" in members(None, "2026-05-20 08:00", None)  # 26 days back
    assert "Since2025" in members(None, "2025-01-01", None)
    assert "Since2025" not in members(None, "2024-12-31", None)
    assert not {"Closing", "Since2025"} & members(None, "2025-02-30", None)  # no such day


def test_negation_and_membership() -> None:
    assert "NotPartners" in members(None, None, "Customer")
    assert "NotPartners" in members(None, None, None)  # a blank Type is not a partner
    assert "NotPartners" not in members(None, None, " partner ")
    assert "NotPartners" not in members(None, None, "Competitor - Direct")
    assert "Listed" in members("5", None, "prospect")
    assert "Listed" not in members("5", None, "Partner")


def test_operator_tables_round_trip_through_toml() -> None:
    policy = Policy.from_toml_text(FILTERS)
    assert Policy.from_toml_text(policy.to_toml()) == policy


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("{ ARR = { gtt = 5 } }", "populations.P.where.ARR: unknown operator 'gtt' (did you mean"),
        ('{ ARR = { gt = "lots" } }', "populations.P.where.ARR: gt: expected a number or a date"),
        ("{ ARR = { gt = true } }", "gt: expected a number or a date, got boolean true"),
        ('{ D = { within = "soon" } }', 'within: expected a span such as "90 days"'),
        ("{ D = { gt = 2025-01-01, lt = 5 } }", "both as a number and as a date"),
        ("{ T = { not_in = [] } }", "not_in: expected at least one value"),
        ("{ T = { not_in = [1] } }", "not_in: expected a string or a list of strings"),
        ("{ T = {} }", "expected at least one operator"),
    ],
)
def test_bad_operator_tables_are_named(where: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_toml_text(
            f'label = "X"\n[populations.P]\nwhere = {where}\ndisclosure = "counts"\n'
        )
    assert message in caught.value.message
