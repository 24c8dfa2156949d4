"""Output writers: atomic files and sets, CSV formula neutralization, each result writer."""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.accounts.outputs import (
    match_columns,
    summary_dict,
    write_matches,
    write_overlap_csv,
    write_overlap_json,
)
from blindmatch.errors import UsageError
from blindmatch.io import writers
from blindmatch.io.atomic import AtomicOutputSet, atomic_write, atomic_writer, write_private
from blindmatch.io.writers import (
    DANGEROUS_PREFIXES,
    LIST_SEPARATOR,
    neutralize_cell,
    restore_cell,
    write_table,
)
from blindmatch.protocol.model import Disclosure, Match, OverlapResult

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


class Boom(Exception):
    pass


@pytest.fixture
def umask022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def make_result(*, matches: tuple[Match, ...] | None = None) -> OverlapResult:
    if matches is None:
        matches = (
            Match(
                record_id="001B",
                our_populations=("Customers",),
                partner_populations=("Customers",),
                key_types=("domain", "duns"),
                partner_fields=({"Company name": "Acme", "Company owner": '=HYPERLINK("x")'},),
            ),
            Match(
                record_id="001A",
                our_populations=("Prospects", "Partners"),
                partner_populations=("Customers", "=Evil"),
                key_types=("domain",),
                partner_fields=(
                    {"Company name": "Müller GmbH & Co. KG"},
                    {"Company name": "Mueller, Inc.", "Company owner": "Jo Doe"},
                ),
            ),
            Match(
                record_id="001C",
                our_populations=("Customers",),
                partner_populations=("Customers",),
                key_types=("duns",),
            ),
        )
    return OverlapResult(
        our_label="Northwind Analytics",
        partner_label="Globex Corporation",
        our_sizes={"Customers": 10, "Prospects": 20, "Partners": 3},
        partner_sizes={"Customers": 7, "=Evil": 5},
        counts={
            "Customers": {"Customers": 3, "=Evil": 1},
            "Prospects": {"Customers": 2, "=Evil": 0},
            "Partners": {"Customers": 1},  # a missing pair reads as 0
        },
        matches=matches,
        partner_disclosure={"Customers": Disclosure.RECORDS, "=Evil": Disclosure.COUNTS},
        our_disclosure={
            "Customers": Disclosure.RECORDS,
            "Prospects": Disclosure.COUNTS,
            "Partners": Disclosure.COUNTS,
        },
        records_without_keys=4,
    )


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- atomic writes ---------------------------------------------------------------------------


def test_atomic_write_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write(target, "a\nb\r\nü")
    assert target.read_bytes() == "a\nb\r\nü".encode()  # newlines untranslated
    atomic_write(target, b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"
    assert os.listdir(tmp_path) == ["out.txt"]


@posix_only
def test_permissions_public_and_private(tmp_path: Path, umask022: None) -> None:
    atomic_write(tmp_path / "public", "x")
    atomic_write(tmp_path / "private", "x", private=True)
    assert mode_of(tmp_path / "public") == 0o644
    assert mode_of(tmp_path / "private") == 0o600
    # replacing a world-readable file with a private one leaves it private
    atomic_write(tmp_path / "public", "y", private=True)
    assert mode_of(tmp_path / "public") == 0o600


@posix_only
def test_umask_only_restricts(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write(tmp_path / "f", "x")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "f") == 0o600


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_failure_mid_write_leaves_destination(tmp_path: Path, error: type[BaseException]) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old contents")
    with pytest.raises(error):
        with atomic_writer(target, "w") as handle:
            handle.write("new, half written")
            handle.flush()
            assert len(os.listdir(tmp_path)) == 2  # the temp file is in the same directory
            raise error()
    assert target.read_text() == "old contents"
    assert os.listdir(tmp_path) == ["report.csv"]


def test_failure_mid_write_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom):
        with atomic_writer(tmp_path / "new.bin", "wb") as handle:
            handle.write(b"partial")
            raise Boom()
    assert os.listdir(tmp_path) == []


def test_failure_in_fsync_or_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, "new")
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.json"]


def test_bad_destinations(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "f.txt", "x")
    with pytest.raises(UsageError, match="is a directory"):
        atomic_write(tmp_path, "x")
    with pytest.raises(UsageError, match="mode"):
        atomic_writer(tmp_path / "f", "a")  # type: ignore[call-overload]
    assert os.listdir(tmp_path) == []


# -- output sets -----------------------------------------------------------------------------


def test_output_set_commits_together(tmp_path: Path) -> None:
    with AtomicOutputSet() as out:
        out.write(tmp_path / "a.txt", "A")
        with out.open(tmp_path / "b.bin", "wb") as handle:
            handle.write(b"B")
        assert sorted(p for p in os.listdir(tmp_path) if not p.startswith(".")) == []
        assert out.paths == (str(tmp_path / "a.txt"), str(tmp_path / "b.bin"))
    assert (tmp_path / "a.txt").read_text() == "A"
    assert (tmp_path / "b.bin").read_bytes() == b"B"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin"]


def test_output_set_one_failing_file_leaves_none(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old A")
    with pytest.raises(Boom):
        with AtomicOutputSet() as out:
            out.write(tmp_path / "a.txt", "new A")
            out.write(tmp_path / "b.txt", "new B")
            with out.open(tmp_path / "c.txt") as handle:
                handle.write("half of C")
                raise Boom()
    assert os.listdir(tmp_path) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "old A"


def test_output_set_refuses_to_commit_after_a_caught_failure(tmp_path: Path) -> None:
    out = AtomicOutputSet()
    out.write(tmp_path / "a.txt", "A")
    with pytest.raises(Boom):
        with out.open(tmp_path / "b.txt") as handle:
            handle.write("B")
            raise Boom()
    with pytest.raises(UsageError, match="failed"):
        out.open(tmp_path / "c.txt")
    with pytest.raises(UsageError, match="nothing was written"):
        out.commit()
    assert os.listdir(tmp_path) == []


def test_output_set_rename_failure_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "existing.txt").write_text("old")
    real_replace = os.replace
    calls = []

    def flaky(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    out = AtomicOutputSet()
    out.write(tmp_path / "existing.txt", "new")
    out.write(tmp_path / "fresh.txt", "fresh")
    out.write(tmp_path / "third.txt", "third")
    with pytest.raises(OSError, match="Permission denied"):
        out.commit()
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["existing.txt"]
    assert (tmp_path / "existing.txt").read_text() == "old"


def test_output_set_rollback_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.txt").write_text("old A")
    (tmp_path / "b.txt").write_text("old B")
    real_replace = os.replace

    def no_link(*args: object, **kwargs: object) -> None:
        raise OSError(1, "Operation not permitted")

    def fail_second(src: str, dst: str) -> None:
        if src.endswith(".tmp") and dst.endswith("b.txt"):
            raise OSError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(os, "replace", fail_second)
    out = AtomicOutputSet()
    out.write(tmp_path / "a.txt", "new A")
    out.write(tmp_path / "b.txt", "new B")
    with pytest.raises(OSError, match="Permission denied"):
        out.commit()
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]
    assert (tmp_path / "a.txt").read_text() == "old A"
    assert (tmp_path / "b.txt").read_text() == "old B"


def test_output_set_removes_stale_files_with_the_commit(tmp_path: Path) -> None:
    (tmp_path / "stale.csv").write_text("from an earlier run")
    with AtomicOutputSet() as out:
        out.write(tmp_path / "a.txt", "A")
        out.remove(tmp_path / "stale.csv")
        out.remove(tmp_path / "never-there.csv")
        assert (tmp_path / "stale.csv").exists()  # nothing happens before the commit
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_output_set_restores_removed_files_when_the_commit_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stale.csv").write_text("old")
    (tmp_path / "other.csv").write_text("other")
    real_unlink = os.unlink

    def refuse_other(path: str, *args: object, **kwargs: object) -> None:
        if str(path).endswith("other.csv"):
            raise OSError(13, "Permission denied")
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", refuse_other)
    out = AtomicOutputSet()
    out.write(tmp_path / "a.txt", "A")
    out.remove(tmp_path / "stale.csv")
    out.remove(tmp_path / "other.csv")
    with pytest.raises(OSError, match="Permission denied"):
        out.commit()
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["other.csv", "stale.csv"]
    assert (tmp_path / "stale.csv").read_text() == "old"


def test_dropped_output_set_removes_its_temporaries(tmp_path: Path) -> None:
    out = AtomicOutputSet()
    out.write(tmp_path / "a.txt", "A")
    assert len(os.listdir(tmp_path)) == 1
    del out
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_output_set_misuse(tmp_path: Path) -> None:
    out = AtomicOutputSet()
    out.write(tmp_path / "a.txt", "A")
    with pytest.raises(UsageError, match="twice"):
        out.write(tmp_path / "." / "a.txt", "again")
    out.commit()
    with pytest.raises(UsageError, match="already"):
        out.write(tmp_path / "b.txt", "B")
    with pytest.raises(UsageError, match="already"):
        out.commit()
    out.abort()  # harmless after commit
    assert (tmp_path / "a.txt").read_text() == "A"


@posix_only
def test_output_set_private_default(tmp_path: Path, umask022: None) -> None:
    with AtomicOutputSet(private=True) as out:
        out.write(tmp_path / "p", "x")
        out.write(tmp_path / "q", "x", private=False)
    assert mode_of(tmp_path / "p") == 0o600
    assert mode_of(tmp_path / "q") == 0o644


def test_writers_join_an_output_set(tmp_path: Path) -> None:
    result = make_result()
    with pytest.raises(Boom):
        with AtomicOutputSet() as out:
            write_overlap_json(tmp_path / "overlap.json", result, outputs=out)
            write_overlap_csv(tmp_path / "overlap.csv", result, outputs=out)
            write_matches(tmp_path / "matches.csv", result, run_id="r1", outputs=out)
            raise Boom()
    assert os.listdir(tmp_path) == []
    with AtomicOutputSet() as out:
        write_overlap_json(tmp_path / "overlap.json", result, outputs=out)
        write_matches(tmp_path / "matches.jsonl", result, run_id="r1", format="jsonl", outputs=out)
    assert sorted(os.listdir(tmp_path)) == ["matches.jsonl", "overlap.json"]


# -- CSV injection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("", ""),
        ("Acme", "Acme"),
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1 415 555 0134", "'+1 415 555 0134"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-", "'-"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("\tTAB", "'\tTAB"),
        ("\r\n=1", "'\r\n=1"),
        ("  =1", "'  =1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("'s-Hertogenbosch", "''s-Hertogenbosch"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("-1e5", "-1e5"),
        ("-.5", "-.5"),
        ("-12.5\n", "'-12.5\n"),
        ("-0x1F", "'-0x1F"),
        ("-١٢", "'-١٢"),  # non-ASCII digits are not a plain number
        ("12-345-6789", "12-345-6789"),
    ],
)
def test_neutralize_examples(cell: str, written: str) -> None:
    assert neutralize_cell(cell) == written
    assert restore_cell(written) == cell


def _dangerous(cell: str) -> bool:
    return cell.startswith(DANGEROUS_PREFIXES) or cell.lstrip().startswith(DANGEROUS_PREFIXES)


cells = st.one_of(
    st.text(),
    st.tuples(st.sampled_from([*DANGEROUS_PREFIXES, "'", " ", "\u00a0"]), st.text()).map("".join),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers().map(str),
)


@given(st.lists(cells, min_size=1, max_size=5))
def test_neutralized_cells_survive_csv_and_are_inert(row: list[str]) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow([neutralize_cell(c) for c in row])
    (read,) = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert [restore_cell(c) for c in read] == row
    for cell in read:
        if _dangerous(cell):  # only plain numbers may start like a formula
            assert writers._NUMBER.fullmatch(cell), cell


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(cells, cells), min_size=1, max_size=4), cells)
def test_matches_csv_round_trips_any_partner_value(
    values: list[tuple[str, str]], population: str
) -> None:
    matches = tuple(
        Match(
            record_id=f"id{i}",
            our_populations=("Customers",),
            partner_populations=(population,),
            key_types=("domain",),
            partner_fields=({"a": a, "b": b},),
        )
        for i, (a, b) in enumerate(values)
    )
    result = make_result(matches=matches)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "m.csv"
        write_matches(target, result, run_id="=run", partner_label="@label")
        rows = read_csv(target)
    assert [restore_cell(c) for c in rows[0]] == match_columns(result, partner_fields=["a", "b"])
    for i, (a, b) in enumerate(values):
        restored = [restore_cell(c) for c in rows[i + 1]]
        assert restored == [f"id{i}", "Customers", population, "domain", a, b, "@label", "=run"]
        assert not any(_dangerous(c) and not writers._NUMBER.fullmatch(c) for c in rows[i + 1])


# -- writers ---------------------------------------------------------------------------------


def test_summary_dict() -> None:
    assert summary_dict(make_result(), run_id="run-7") == {
        "format": "blindmatch-overlap/1",
        "run_id": "run-7",
        "our_label": "Northwind Analytics",
        "partner_label": "Globex Corporation",
        "counts": {
            "Customers": {"Customers": 3, "=Evil": 1},
            "Prospects": {"Customers": 2, "=Evil": 0},
            "Partners": {"Customers": 1, "=Evil": 0},
        },
        "our_sizes": {"Customers": 10, "Prospects": 20, "Partners": 3},
        "partner_sizes": {"Customers": 7, "=Evil": 5},
        "our_disclosure": {"Customers": "records", "Prospects": "counts", "Partners": "counts"},
        "partner_disclosure": {"Customers": "records", "=Evil": "counts"},
        "matches": {
            "records": 3,
            "by_our_population": {"Customers": 2, "Prospects": 1, "Partners": 1},
            "by_partner_population": {"Customers": 3, "=Evil": 1},
        },
        "records_without_keys": 4,
    }
    assert "run_id" not in summary_dict(make_result())
    # A counts-only partner population lists no matches, so it gets no (misleading) zero.
    none = summary_dict(make_result(matches=()))["matches"]
    assert none == {
        "records": 0,
        "by_our_population": {"Customers": 0, "Prospects": 0, "Partners": 0},
        "by_partner_population": {"Customers": 0},
    }


def test_write_overlap_json(tmp_path: Path) -> None:
    target = tmp_path / "overlap.json"
    write_overlap_json(target, make_result(), run_id="r")
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text) == summary_dict(make_result(), run_id="r")


@posix_only
def test_writers_are_private_by_default(tmp_path: Path, umask022: None) -> None:
    result = make_result()
    write_overlap_json(tmp_path / "o.json", result)
    write_overlap_csv(tmp_path / "o.csv", result)
    write_matches(tmp_path / "m.csv", result, run_id="r")
    write_matches(tmp_path / "public.csv", result, run_id="r", private=False)
    assert {p.name: mode_of(p) for p in tmp_path.iterdir()} == {
        "o.json": 0o600,
        "o.csv": 0o600,
        "m.csv": 0o600,
        "public.csv": 0o644,
    }


def test_write_overlap_csv(tmp_path: Path) -> None:
    target = tmp_path / "overlap.csv"
    write_overlap_csv(target, make_result())
    assert read_csv(target) == [
        ["Northwind Analytics \\ Globex Corporation", "Customers", "'=Evil", "population size"],
        ["Customers", "3", "1", "10"],
        ["Prospects", "2", "0", "20"],
        ["Partners", "1", "0", "3"],
        ["population size", "7", "5", ""],
    ]
    assert target.read_bytes().count(b"\r\n") == 5  # RFC 4180 / Excel line ends


def test_write_overlap_csv_bom(tmp_path: Path) -> None:
    target = tmp_path / "overlap.csv"
    write_overlap_csv(target, make_result(), bom=True)
    assert target.read_bytes().startswith(b"\xef\xbb\xbfNorthwind")


#: The matched-records rows as data: lists stay lists (JSON Lines arrays, Parquet list<string>).
EXPECTED_MATCH_ROWS: list[list[str | list[str]]] = [
    [
        "001A",
        ["Prospects", "Partners"],
        ["Customers", "=Evil"],
        ["domain"],
        ["Müller GmbH & Co. KG", "Mueller, Inc."],
        ["", "Jo Doe"],
        "Globex Corporation",
        "run-1",
    ],
    [
        "001B",
        ["Customers"],
        ["Customers"],
        ["domain", "duns"],
        ["Acme"],
        ['=HYPERLINK("x")'],
        "Globex Corporation",
        "run-1",
    ],
    ["001C", ["Customers"], ["Customers"], ["duns"], [], [], "Globex Corporation", "run-1"],
]
#: The same rows in CSV: every list joined with the one separator, " | ".
EXPECTED_MATCH_CSV_ROWS = [
    [c if isinstance(c, str) else " | ".join(c) for c in row] for row in EXPECTED_MATCH_ROWS
]
EXPECTED_MATCH_COLUMNS = [
    "record_id",
    "our_populations",
    "partner_populations",
    "key_types",
    "partner.Company name",
    "partner.Company owner",
    "partner_label",
    "run_id",
]


def test_write_matches_csv(tmp_path: Path) -> None:
    target = tmp_path / "matches.csv"
    write_matches(target, make_result(), run_id="run-1", partner_label="Globex Corporation")
    rows = read_csv(target)
    assert rows[0] == EXPECTED_MATCH_COLUMNS
    assert rows[1][2] == "Customers | =Evil"  # starts with C: left alone
    assert rows[1][1] == "Prospects | Partners"  # one separator for every list, not ";"
    assert rows[2][5] == '\'=HYPERLINK("x")'  # partner value neutralized
    assert [[restore_cell(c) for c in row] for row in rows[1:]] == EXPECTED_MATCH_CSV_ROWS


def test_write_matches_options(tmp_path: Path) -> None:
    target = tmp_path / "matches.csv"
    write_matches(
        target,
        make_result(),
        run_id="r",
        partner_label="=Partner",
        partner_fields=["Company owner"],
        record_id_column="Account ID",
    )
    rows = read_csv(target)
    assert rows[0] == [
        "Account ID",
        "our_populations",
        "partner_populations",
        "key_types",
        "partner.Company owner",
        "partner_label",
        "run_id",
    ]
    assert rows[1][-2] == "'=Partner"  # the label defaults to the result's, and is neutralized
    write_matches(target, make_result(), run_id="r")
    assert read_csv(target)[1][-2] == "Globex Corporation"


def test_write_matches_without_matches_keeps_the_header(tmp_path: Path) -> None:
    target = tmp_path / "matches.csv"
    result = make_result(matches=())
    write_matches(target, result, run_id="r", partner_fields=["Company name"])
    assert read_csv(target) == [
        [
            "record_id",
            "our_populations",
            "partner_populations",
            "key_types",
            "partner.Company name",
            "partner_label",
            "run_id",
        ]
    ]


def test_write_matches_jsonl(tmp_path: Path) -> None:
    target = tmp_path / "matches.jsonl"
    write_matches(target, make_result(), run_id="run-1", format="jsonl")
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        dict(zip(EXPECTED_MATCH_COLUMNS, row, strict=True)) for row in EXPECTED_MATCH_ROWS
    ]
    assert "Müller" in lines[0]  # readable UTF-8, not \u escapes


def test_write_matches_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # the test extra installs it

    target = tmp_path / "matches.parquet"
    write_matches(target, make_result(), run_id="run-1", format="parquet")
    table = pq.read_table(target)
    assert table.column_names == EXPECTED_MATCH_COLUMNS
    assert [list(r.values()) for r in table.to_pylist()] == EXPECTED_MATCH_ROWS
    empty = tmp_path / "empty.parquet"
    write_matches(empty, make_result(matches=()), run_id="r", format="parquet")
    assert pq.read_table(empty).num_rows == 0
    assert str(pq.read_table(empty).schema.field("record_id").type) == "string"
    assert str(pq.read_table(empty).schema.field("key_types").type) == "list<element: string>"


def test_write_table_keeps_lists_where_the_format_has_them(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    columns, lists = ["id", "tags"], ["tags"]
    rows = [["1", ["a", "=b"]], ["2", []]]
    write_table(tmp_path / "t.csv", columns, rows, list_columns=lists)
    assert read_csv(tmp_path / "t.csv") == [["id", "tags"], ["1", "a | =b"], ["2", ""]]
    assert LIST_SEPARATOR == " | "
    write_table(tmp_path / "t.jsonl", columns, rows, format="jsonl", list_columns=lists)
    lines = (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "1", "tags": ["a", "=b"]},
        {"id": "2", "tags": []},
    ]
    write_table(tmp_path / "t.parquet", columns, rows, format="parquet", list_columns=lists)
    assert pq.read_table(tmp_path / "t.parquet").to_pylist() == [
        {"id": "1", "tags": ["a", "=b"]},
        {"id": "2", "tags": []},
    ]
    with pytest.raises(UsageError, match="column 'tags' holds a list"):
        write_table(tmp_path / "bad.csv", columns, [["1", "a"]], list_columns=lists)
    with pytest.raises(UsageError, match="2 cells for 3 columns"):
        write_table(tmp_path / "bad.csv", [*columns, "x"], rows, list_columns=lists)
    assert not (tmp_path / "bad.csv").exists()


@posix_only
def test_write_private_is_owner_only(tmp_path: Path, umask022: None) -> None:
    write_private(tmp_path / "secret", b"s")
    assert mode_of(tmp_path / "secret") == 0o600 and (tmp_path / "secret").read_bytes() == b"s"


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(UsageError, match=r"pip install 'blindmatch\[parquet\]'"):
        write_matches(tmp_path / "m.parquet", make_result(), run_id="r", format="parquet")
    assert os.listdir(tmp_path) == []


def test_write_matches_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown matches format"):
        write_matches(tmp_path / "m.xlsx", make_result(), run_id="r", format="xlsx")
    with pytest.raises(UsageError, match="collide"):
        write_matches(tmp_path / "m.csv", make_result(), run_id="r", record_id_column="run_id")
    assert os.listdir(tmp_path) == []
