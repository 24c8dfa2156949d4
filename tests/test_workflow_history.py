"""The run history: what it keeps, what it refuses to be, and the deltas it yields."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from blindmatch import Disclosure, Match, OverlapResult
from blindmatch.errors import UsageError
from blindmatch.workflow import History, compute_deltas, default_history_path
from blindmatch.workflow.history import result_pairs

R, C = Disclosure.RECORDS, Disclosure.COUNTS


def _result(
    matched: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
    counts: dict[str, dict[str, int]],
    partner_disclosure: dict[str, Disclosure] | None = None,
) -> OverlapResult:
    disclosure = partner_disclosure or {"Customers": R, "Pipeline": C}
    return OverlapResult(
        our_label="Us",
        partner_label="Them",
        our_sizes={p: 100 for p in counts},
        partner_sizes={q: 50 for q in disclosure},
        counts=counts,
        matches=tuple(
            Match(
                record_id=rid,
                our_populations=ours,
                partner_populations=theirs,
                key_types=("domain",),
                partner_fields=({"Owner": "Gus"},),
            )
            for rid, (ours, theirs) in matched.items()
        ),  # fmt: skip
        partner_disclosure=disclosure,
        our_disclosure={p: C for p in counts},
    )


FIRST = _result(
    {"a1": (("Customers",), ("Customers",)), "a2": (("Customers", "Prospects"), ("Customers",))},
    {"Customers": {"Customers": 2, "Pipeline": 4}, "Prospects": {"Customers": 1, "Pipeline": 0}},
)
SECOND = _result(
    {
        "a2": (("Customers", "Prospects"), ("Customers",)),
        "a3": (("Prospects",), ("Customers",)),
        "a4": (("Customers",), ("Customers",)),
    },
    {"Customers": {"Customers": 2, "Pipeline": 7}, "Prospects": {"Customers": 2, "Pipeline": 0}},
)


def _record(history: History, partner: str, result: OverlapResult, run_id: str) -> None:
    deltas = compute_deltas(partner, history.previous(partner), result)
    history.record(
        partner=partner, result=result, summary={"counts": result.counts}, run_id=run_id,
        role="sender", transport="pake", out_dir=Path("."), deltas=deltas,
    )  # fmt: skip


def test_pairs_are_record_and_both_populations() -> None:
    assert result_pairs(FIRST) == {
        ("a1", "Customers", "Customers"),
        ("a2", "Customers", "Customers"),
        ("a2", "Prospects", "Customers"),
    }


def test_a_first_run_has_no_deltas(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    deltas = compute_deltas("them", history.previous("them"), FIRST)
    assert deltas.first_run and deltas.new == () and deltas.gone == ()
    assert deltas.to_dict()["previous_run_id"] is None


def test_the_second_run_lists_exactly_what_changed(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    _record(history, "them", FIRST, "run-1")
    deltas = compute_deltas("them", history.previous("them"), SECOND)
    assert deltas.previous_run_id == "run-1"
    assert deltas.new == (("a3", "Prospects", "Customers"), ("a4", "Customers", "Customers"))
    assert deltas.gone == (("a1", "Customers", "Customers"),)
    cells = {(c.ours, c.theirs): c.to_dict() for c in deltas.cells}
    assert cells["Customers", "Customers"] == {
        "our_population": "Customers", "partner_population": "Customers", "count": 2,
        "previous": 2, "change": 0, "compared": "records", "new": 1, "gone": 1,
    }  # fmt: skip
    # a counts-only cell: only its count can be compared
    assert cells["Customers", "Pipeline"]["compared"] == "counts"
    assert cells["Customers", "Pipeline"]["change"] == 3
    assert "new" not in cells["Customers", "Pipeline"]


def test_partners_are_kept_apart(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    _record(history, "them", FIRST, "run-1")
    assert history.previous("others") is None
    _record(history, "others", SECOND, "run-2")
    assert history.previous("them").run_id == "run-1"  # type: ignore[union-attr]
    rows = history.runs()
    assert [(r.partner, r.run_id, r.new_pairs) for r in rows] == [
        ("others", "run-2", None),
        ("them", "run-1", None),
    ]
    assert rows[1].overlaps == 2 + 4 + 1 and rows[1].matched_records == 2
    _record(history, "them", SECOND, "run-3")
    assert [(r.run_id, r.new_pairs, r.gone_pairs) for r in history.runs("them")] == [
        ("run-1", None, None),
        ("run-3", 2, 1),
    ]


def test_a_cell_seen_only_as_counts_last_time_is_not_compared_by_record(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    before = _result({}, {"Customers": {"Customers": 1}}, {"Customers": C})
    _record(history, "them", before, "run-1")
    after = _result(
        {"a1": (("Customers",), ("Customers",))}, {"Customers": {"Customers": 1}}, {"Customers": R}
    )
    deltas = compute_deltas("them", history.previous("them"), after)
    assert deltas.new == ()  # not known to be new: last time we could not see which
    assert deltas.cells[0].compared == "counts"


def test_a_population_that_is_new_says_so(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    _record(history, "them", _result({}, {"Customers": {"Customers": 0}}, {"Customers": R}), "1")
    after = _result({}, {"Customers": {"Customers": 0, "Partners": 3}},
                    {"Customers": R, "Partners": C})  # fmt: skip
    cells = {c.theirs: c for c in compute_deltas("them", history.previous("them"), after).cells}
    assert cells["Partners"].compared == "new-cell" and cells["Partners"].previous is None


def test_the_file_is_owner_only_and_holds_no_partner_fields(tmp_path: Path) -> None:
    path = tmp_path / "state" / "blindmatch" / "h.sqlite"
    history = History(path)
    _record(history, "them", FIRST, "run-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert b"Gus" not in path.read_bytes()  # a revealed partner field: not a result we keep


def test_what_is_not_a_history_file_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(UsageError, match="not a blindmatch history database"):
        History(junk)
    with pytest.raises(UsageError, match="is a directory"):
        History(tmp_path)
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(UsageError, match="newer blindmatch"):
        History(newer)


def test_an_impossible_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot create it"):
        History(tmp_path / "file" / "h.sqlite")
    with pytest.raises(UsageError, match="cannot create it"):
        History(tmp_path / "file" / "deeper" / "h.sqlite")


def test_the_default_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_history_path() == tmp_path / "blindmatch" / "history.sqlite"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the spec says: absolute only
    assert default_history_path() == Path.home() / ".local/state/blindmatch/history.sqlite"
