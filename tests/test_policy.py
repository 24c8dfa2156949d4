"""Policy files: the format, every validation error (file + key path), defaults and acceptance."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.accounts.headers import recognize_columns
from blindmatch.accounts.normalize import profile_fingerprint
from blindmatch.accounts.policy import (
    DEFAULT_POPULATION_NAMES,
    Policy,
    default_policy,
    load_policy,
    standard_populations,
)
from blindmatch.errors import PolicyError
from blindmatch.protocol.model import Disclosure, PopulationTerms, Terms

DATA = Path(__file__).parent / "data" / "inputs"

BRIEF_EXAMPLE = """
label = "Northwind Analytics"
normalization = "bm-norm/1"
payload_bytes = 512

[keys]
use = ["domain", "duns"]
default_region = "US"
gmail_rules = false
keys_per_account = 3

[columns]
id = "Account ID"
domain = ["Website", "Contact Email"]
name = "Account Name"
duns = "DUNS"
"custom:partner_id" = "Partner Id"
region = "Billing Country"

[populations.Customers]
where = { Type = ["Customer - Direct", "Customer - Channel"] }
disclosure = "records"
fields = ["Account Name", "Account Owner"]

[populations.Prospects]
where = { Type = "Prospect" }
disclosure = "counts"

[populations.Internal]
where = { Type = "Internal", "Billing Country" = ["US", "CA"] }
disclosure = "hidden"

[partner]
require_populations = ["Customers"]
min_disclosure = "counts"
max_partner_populations = 16
"""


def problem(text: str, source: str = "policy.toml") -> PolicyError:
    with pytest.raises(PolicyError) as info:
        Policy.from_toml_text(text, source=source)
    err = info.value
    assert err.file == source
    return err


# -- the format ----------------------------------------------------------------------------


def test_brief_example_parses() -> None:
    policy = Policy.from_toml_text(BRIEF_EXAMPLE, source="nw.toml")
    assert policy.source == "nw.toml"
    assert policy.label == "Northwind Analytics"
    assert policy.key_types == ("domain", "duns")
    assert policy.keys.keys_per_account == 3
    assert policy.columns["domain"] == ("Website", "Contact Email")
    assert policy.columns["custom:partner_id"] == ("Partner Id",)
    assert policy.populations is not None
    assert policy.populations["Prospects"].where == {"Type": ("Prospect",)}
    assert policy.populations["Internal"].where["Billing Country"] == ("US", "CA")
    assert policy.partner.min_disclosure is Disclosure.COUNTS


def test_terms_drop_hidden_populations() -> None:
    terms = Policy.from_toml_text(BRIEF_EXAMPLE).terms()
    assert terms == Terms(
        label="Northwind Analytics",
        normalization="bm-norm/1",
        normalization_tables=profile_fingerprint("bm-norm/1"),
        key_types=("domain", "duns"),
        populations=(
            PopulationTerms(
                name="Customers",
                disclosure=Disclosure.RECORDS,
                fields=("Account Name", "Account Owner"),
            ),
            PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS),
        ),
        keys_per_account=3,
        payload_bytes=512,
    )


def test_minimal_policy_and_defaults() -> None:
    policy = Policy.from_toml_text('label = "Acme"')
    assert policy.keys_defaulted and policy.key_types == ("domain", "name", "duns")
    assert policy.normalization == "bm-norm/2"  # the default profile of new runs
    assert policy.populations_defaulted
    assert policy.population_names == DEFAULT_POPULATION_NAMES
    terms = policy.terms()
    assert [p.name for p in terms.populations] == ["Customers", "Opportunities", "Prospects"]
    assert {p.disclosure for p in terms.populations} == {Disclosure.COUNTS}
    assert terms.payload_bytes == 512 and terms.keys_per_account is None


def test_load_policy_from_file(tmp_path: Path) -> None:
    policy = load_policy(DATA / "policy_northwind.toml")
    assert policy.source == str(DATA / "policy_northwind.toml")
    assert [p.name for p in policy.terms().populations] == ["Customers", "Prospects"]
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbflabel = 'X'\n")
    assert load_policy(bom).label == "X"


def test_load_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file not found") as info:
        load_policy(tmp_path / "missing.toml")
    assert info.value.file == str(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('label = "X"\n[keys\n')
    with pytest.raises(PolicyError, match="not valid TOML") as info:
        load_policy(bad)
    assert info.value.file == str(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"label = '\xe9'\n")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policy(latin)


# -- validation errors: each names the file and the key path ------------------------------


def test_bad_disclosure_names_key_path() -> None:
    err = problem('label = "X"\n[populations.Customers]\ndisclosure = "secret"\n')
    assert err.message.startswith("populations.Customers.disclosure: expected")
    assert "'hidden'" in err.message and "'records'" in err.message and "'secret'" in err.message


def test_missing_disclosure_and_label() -> None:
    err = problem('[populations.Customers]\nwhere = { Type = "Customer" }\n')
    assert "label: required key is missing" in err.message
    assert "populations.Customers.disclosure: required key is missing" in err.message
    assert err.message.startswith("2 problems")


def test_unknown_keys_with_did_you_mean() -> None:
    err = problem('lable = "X"\n')
    assert "lable: unknown key 'lable' (did you mean 'label'?)" in err.message
    err = problem('label = "X"\n[keys]\nuse = ["domain"]\nregion = "US"\n')
    assert "keys.region: unknown key 'region'" in err.message
    err = problem('label = "X"\n[populations.C]\ndisclosure = "counts"\nfeilds = ["A"]\n')
    assert "populations.C.feilds: unknown key 'feilds' (did you mean 'fields'?)" in err.message
    err = problem('label = "X"\nuse = ["domain"]\n')
    assert "'use' belongs in [keys]" in err.message
    err = problem('label = "X"\n[partner]\npayload_bytes = 1024\n')
    assert "partner.payload_bytes" in err.message and "top level" in err.message


def test_columns_roles() -> None:
    err = problem('label = "X"\n[columns]\ndomian = "Website"\n')
    assert "columns.domian: unknown role 'domian' (did you mean 'domain'?)" in err.message
    err = problem('label = "X"\n[columns]\n"custom:Bad Name" = "X"\n')
    assert 'columns."custom:Bad Name"' in err.message
    err = problem('label = "X"\n[columns]\nid = ["A", "B"]\n')
    assert "columns.id: id takes one column, not a list" in err.message
    err = problem('label = "X"\n[columns]\ndomain = 5\n')
    assert "columns.domain: expected a string or a list of strings, got integer 5" in err.message


def test_key_settings() -> None:
    err = problem('label = "X"\n[keys]\nuse = ["domian"]\n')
    assert "keys.use: unknown key type 'domian' (did you mean 'domain'?)" in err.message
    err = problem('label = "X"\n[keys]\nuse = ["domain", "domain"]\n')
    assert "keys.use: 'domain' is listed twice" in err.message
    err = problem('label = "X"\n[keys]\nuse = []\n')
    assert "keys.use: expected at least one key type" in err.message
    err = problem('label = "X"\n[keys]\nuse = ["custom:erp"]\n')
    assert "keys.use: 'custom:erp' needs a column" in err.message
    err = problem('label = "X"\n[keys]\nkeys_per_account = "3"\n')
    assert "keys.keys_per_account: expected an integer, got string '3'" in err.message
    err = problem('label = "X"\n[keys]\nkeys_per_account = 0\n')
    assert "keys.keys_per_account: expected 1 to 16" in err.message
    err = problem('label = "X"\n[keys]\ndefault_region = "XX"\n')
    assert "keys.default_region: expected a two-letter ISO country code" in err.message
    err = problem('label = "X"\n[keys]\ngmail_rules = "yes"\n')
    assert "keys.gmail_rules: expected true or false" in err.message
    assert Policy.from_toml_text('label="X"\n[keys]\ndefault_region="uk"').keys.default_region


def test_population_rules() -> None:
    err = problem(
        'label = "X"\n[populations.Prospects]\nwhere = { Type = "Prospect" }\n'
        'disclosure = "counts"\nfields = ["Account Name"]\n'
    )
    assert (
        'populations.Prospects.fields: fields can only be revealed with disclosure = "records"'
        in (err.message)
    )
    err = problem('label = "X"\n[populations.P]\nwhere = { Type = 5 }\ndisclosure = "counts"\n')
    assert "populations.P.where.Type: expected a string or a list of strings" in err.message
    err = problem('label = "X"\n[populations.P]\nwhere = { Type = [] }\ndisclosure = "counts"\n')
    assert "populations.P.where.Type: expected at least one value" in err.message
    err = problem(
        'label = "X"\n[populations.P]\nwhere = { Type = ["a", 1] }\ndisclosure = "counts"\n'
    )
    assert "populations.P.where.Type[1]: expected a string, got integer 1" in err.message
    many = "".join(f'[populations.P{i}]\ndisclosure = "counts"\n' for i in range(17))
    assert "at most 16 shared" in problem('label = "X"\n' + many).message
    hidden = "".join(f'[populations.H{i}]\ndisclosure = "hidden"\n' for i in range(20))
    assert Policy.from_toml_text('label = "X"\n' + hidden).terms().populations == ()
    err = problem('label = "X"\n[populations."Bad\\u0001Name"]\ndisclosure = "counts"\n')
    assert 'populations."Bad\\u0001Name"' in err.message


def test_top_level_values() -> None:
    err = problem('label = "X"\nnormalization = "bm-norm/3"\n')
    assert "normalization: unsupported profile 'bm-norm/3'" in err.message
    assert "'bm-norm/1', 'bm-norm/2'" in err.message
    err = problem('label = "X"\npayload_bytes = 10\n')
    assert "payload_bytes: expected 64 to 16384 bytes" in err.message
    err = problem('label = ""\n')
    assert "label: expected 1 to 64 printable characters" in err.message
    err = problem('label = "X"\n[partner]\nmin_disclosure = "hidden"\n')
    assert "partner.min_disclosure" in err.message
    err = problem('label = "X"\n[partner]\nmax_partner_populations = 99\n')
    assert "partner.max_partner_populations: expected 1 to 16" in err.message


def test_error_string_names_file_first() -> None:
    err = problem('label = "X"\n[populations.C]\ndisclosure = "nope"\n', source="/etc/nw.toml")
    assert str(err).startswith("/etc/nw.toml: populations.C.disclosure: expected")


# -- accepting the partner's terms -----------------------------------------------------------


def _partner(*pops: tuple[str, Disclosure], **kw: object) -> Terms:
    return Terms(
        label="Partner",
        key_types=kw.get("key_types", ("domain",)),  # type: ignore[arg-type]
        normalization=kw.get("normalization", "bm-norm/1"),  # type: ignore[arg-type]
        populations=tuple(PopulationTerms(name=n, disclosure=d) for n, d in pops),
    )


def test_accepts() -> None:
    policy = Policy.from_toml_text(BRIEF_EXAMPLE)
    ok = _partner(("customers", Disclosure.RECORDS), ("Leads", Disclosure.COUNTS))
    assert policy.accepts(ok) == []

    reasons = policy.accepts(_partner(("Leads", Disclosure.COUNTS)))
    assert reasons == ["the partner shares no population named 'Customers' (it shares: 'Leads')"]

    strict = Policy.from_toml_text(
        'label = "X"\n[populations.A]\ndisclosure = "counts"\n'
        '[partner]\nmin_disclosure = "records"\nmax_partner_populations = 1\n'
    )
    reasons = strict.accepts(
        _partner(("C", Disclosure.RECORDS), ("P", Disclosure.COUNTS), key_types=("phone",))
    )
    assert any("no key type in common" in r for r in reasons)
    assert any("discloses only 'counts' for population 'P'" in r for r in reasons)
    assert any("we accept at most 1" in r for r in reasons)

    other = _partner(("C", Disclosure.COUNTS), normalization="bm-norm/9")
    assert any("bm-norm/9" in r for r in Policy.from_toml_text('label="X"').accepts(other))


def test_both_profiles_are_spoken_and_a_mismatch_names_both() -> None:
    old = Policy.from_toml_text('label = "X"\nnormalization = "bm-norm/1"\n')
    new = Policy.from_toml_text('label = "X"')
    assert old.terms().normalization == "bm-norm/1"
    assert new.terms().normalization == "bm-norm/2"
    # each profile states the digest of its own tables
    assert old.terms().normalization_tables == profile_fingerprint("bm-norm/1")
    assert new.terms().normalization_tables == profile_fingerprint("bm-norm/2")
    assert old.terms().normalization_tables != new.terms().normalization_tables
    assert old.accepts(_partner(("C", Disclosure.COUNTS), normalization="bm-norm/1")) == []
    objections = new.objections(_partner(("C", Disclosure.COUNTS), normalization="bm-norm/1"))
    assert len(objections) == 1
    ours, theirs = objections[0].ours, objections[0].theirs
    assert "'bm-norm/1'" in ours and "'bm-norm/2'" in ours
    assert "'bm-norm/1'" in theirs and "'bm-norm/2'" in theirs
    assert 'normalization = "bm-norm/1"' in ours.replace("'", '"')
    assert Policy.from_toml_text(old.to_toml()).normalization == "bm-norm/1"


# -- defaults -----------------------------------------------------------------------------


def test_default_policy_salesforce() -> None:
    cmap = recognize_columns(["Account ID", "Website", "Type", "D-U-N-S Number"])
    policy = default_policy("Acme", cmap)
    assert policy.key_types == ("domain", "duns") and not policy.keys_defaulted
    assert policy.populations == standard_populations(cmap)
    assert policy.populations is not None
    assert policy.populations["Customers"].where == {"Type": ("Customer*",)}
    assert policy.populations["Opportunities"].where == {"Type": ("Opportunity*", "Pipeline*")}
    assert all(p.disclosure is Disclosure.COUNTS for p in policy.terms().populations)


def test_default_policy_hubspot_and_generic() -> None:
    hub = default_policy("Globex", recognize_columns(["Record ID", "Domain", "Lifecycle Stage"]))
    assert hub.key_types == ("domain",)  # no DUNS column
    assert hub.populations is not None
    assert hub.populations["Opportunities"].where == {
        "Lifecycle Stage": ("opportunity", "salesqualifiedlead")
    }
    assert hub.populations["Prospects"].where == {
        "Lifecycle Stage": ("lead", "marketingqualifiedlead", "subscriber")
    }
    generic = default_policy("Initech", recognize_columns(["Domain"]))
    assert [p.name for p in generic.terms().populations] == ["Accounts"]
    assert generic.populations is not None and generic.populations["Accounts"].where == {}
    with pytest.raises(PolicyError, match="label"):
        default_policy("", None)


# -- writing ------------------------------------------------------------------------------


def test_to_toml_round_trip() -> None:
    policy = Policy.from_toml_text(BRIEF_EXAMPLE)
    again = Policy.from_toml_text(policy.to_toml())
    assert again == policy  # same source name, same content
    assert again.model_dump() == policy.model_dump()
    cmap = recognize_columns(["Record ID", "Domain", "Lifecycle Stage", "DUNS"])
    default = default_policy("Globex", cmap)
    assert Policy.from_toml_text(default.to_toml()).model_dump() == default.model_dump()


@settings(max_examples=50, deadline=None)
@given(
    label=st.text(
        alphabet=st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=64
    ).filter(lambda s: s.strip() != ""),
    value=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20),
)
def test_to_toml_round_trip_any_text(label: str, value: str) -> None:
    policy = Policy.from_toml_text(
        Policy(
            label=label,
            populations={"P": {"where": {'Col "x"': (value,)}, "disclosure": "counts"}},  # type: ignore[dict-item]
        ).to_toml()
    )
    assert policy.label == label
    assert policy.populations is not None
    assert policy.populations["P"].where == {'Col "x"': (value,)}
