"""What earlier runs found, so a run can say what changed: a local SQLite file of results.

Partner teams re-run the same mapping every week, and what sales acts on is the change ("this
prospect just became a partner's customer"). Each completed run is recorded under the partner's
name; the next run with that partner compares against the latest record.

*Results only.* The database holds what a run's output files already hold, minus the partner's
revealed fields: labels, the overlap matrix, population sizes and disclosures, and which of
*our* record ids overlapped which population pair. Never keys (normalized domains, emails),
scalars, pairing codes, session keys, or anything of the partner's records: a history file that
leaked would tell no more than our own CRM ids and the counts already in ``summary.json``.

*Deltas.* A population pair (our population, the partner's population) is seen at record level
when the partner disclosed ``records`` for its population: then we know which of our records
overlap, and the delta lists pairs (record, our population, partner population) that are new
or gone. Other cells only have counts, and their delta is the change in count. A cell that was
not seen at record level last time cannot be compared record by record, and says so.

Concurrency: every call opens its own connection (``map`` records from several threads), and
SQLite's file locking with a busy timeout orders the writers.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..protocol.model import Disclosure, OverlapResult

__all__ = [
    "SCHEMA_VERSION",
    "CellDelta",
    "Deltas",
    "History",
    "PastRun",
    "Pair",
    "RunRow",
    "compute_deltas",
    "default_history_path",
    "result_pairs",
]

SCHEMA_VERSION = 1
#: What identifies one overlap seen at record level: our record id, our population, theirs.
Pair = tuple[str, str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    run_id TEXT NOT NULL,
    finished TEXT NOT NULL,
    role TEXT NOT NULL,
    transport TEXT NOT NULL,
    our_label TEXT NOT NULL,
    partner_label TEXT NOT NULL,
    out_dir TEXT NOT NULL,
    matched_records INTEGER NOT NULL,
    new_pairs INTEGER,
    gone_pairs INTEGER,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_partner ON runs (partner, id);
CREATE TABLE IF NOT EXISTS cells (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    our_population TEXT NOT NULL,
    partner_population TEXT NOT NULL,
    count INTEGER NOT NULL,
    record_level INTEGER NOT NULL,
    PRIMARY KEY (run, our_population, partner_population)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pairs (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    record_id TEXT NOT NULL,
    our_population TEXT NOT NULL,
    partner_population TEXT NOT NULL,
    PRIMARY KEY (run, record_id, our_population, partner_population)
) WITHOUT ROWID;
"""


def default_history_path() -> Path:
    """Per user: ``$XDG_STATE_HOME/blindmatch/history.sqlite`` (``~/.local/state`` if unset)."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "blindmatch" / "history.sqlite"


def result_pairs(result: OverlapResult) -> set[Pair]:
    """Every (our record, our population, partner population) the result shows at record level."""
    return {
        (match.record_id, ours, theirs)
        for match in result.matches
        for ours in match.our_populations
        for theirs in match.partner_populations
    }


def _record_level(result: OverlapResult) -> set[str]:
    return {p for p, d in result.partner_disclosure.items() if d is Disclosure.RECORDS}


@dataclass(frozen=True, slots=True, kw_only=True)
class PastRun:
    """The latest recorded run with a partner: what a new run is compared with."""

    id: int
    run_id: str
    finished: str
    #: (ours, theirs) -> (count, seen at record level)
    cells: Mapping[tuple[str, str], tuple[int, bool]]
    pairs: frozenset[Pair]


@dataclass(frozen=True, slots=True, kw_only=True)
class CellDelta:
    """How one cell of the matrix changed since the previous run."""

    ours: str
    theirs: str
    count: int
    #: None when the cell did not exist in the previous run
    previous: int | None
    #: "records" (new/gone pairs are listed), "counts" (only the count can be compared), or
    #: "new-cell" (no such cell last time)
    compared: str
    new: int = 0
    gone: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "our_population": self.ours,
            "partner_population": self.theirs,
            "count": self.count,
            "previous": self.previous,
            "change": None if self.previous is None else self.count - self.previous,
            "compared": self.compared,
        }
        if self.compared == "records":
            out.update(new=self.new, gone=self.gone)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Deltas:
    """What changed since the previous run with the same partner (empty for a first run)."""

    partner: str
    previous_run_id: str | None = None
    previous_finished: str | None = None
    new: tuple[Pair, ...] = ()
    gone: tuple[Pair, ...] = ()
    cells: tuple[CellDelta, ...] = field(default_factory=tuple)

    @property
    def first_run(self) -> bool:
        return self.previous_run_id is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "previous_run_id": self.previous_run_id,
            "previous_finished": self.previous_finished,
            "new_pairs": len(self.new),
            "gone_pairs": len(self.gone),
            "cells": [c.to_dict() for c in self.cells],
        }


def compute_deltas(partner: str, previous: PastRun | None, result: OverlapResult) -> Deltas:
    """Compare ``result`` with the previous run with the same partner."""
    if previous is None:
        return Deltas(partner=partner)
    visible = _record_level(result)
    now = result_pairs(result)
    added, removed = now - previous.pairs, previous.pairs - now
    new_in = Counter(p[1:] for p in added)
    gone_in = Counter(p[1:] for p in removed)
    cells: list[CellDelta] = []
    comparable: set[tuple[str, str]] = set()
    for ours, row in result.counts.items():
        for theirs, count in row.items():
            before = previous.cells.get((ours, theirs))
            if before is None:
                cells.append(
                    CellDelta(ours=ours, theirs=theirs, count=count, previous=None,
                              compared="new-cell")
                )  # fmt: skip
                continue
            if theirs in visible and before[1]:
                comparable.add((ours, theirs))
                cells.append(
                    CellDelta(ours=ours, theirs=theirs, count=count, previous=before[0],
                              compared="records", new=new_in[ours, theirs],
                              gone=gone_in[ours, theirs])
                )  # fmt: skip
            else:
                cells.append(
                    CellDelta(ours=ours, theirs=theirs, count=count, previous=before[0],
                              compared="counts")
                )  # fmt: skip
    return Deltas(
        partner=partner,
        previous_run_id=previous.run_id,
        previous_finished=previous.finished,
        new=tuple(sorted(p for p in added if p[1:] in comparable)),
        gone=tuple(sorted(p for p in removed if p[1:] in comparable)),
        cells=tuple(cells),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """One line of ``psi-run history``."""

    partner: str
    run_id: str
    finished: str
    role: str
    transport: str
    our_label: str
    partner_label: str
    out_dir: str
    overlaps: int
    matched_records: int
    new_pairs: int | None
    gone_pairs: int | None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class History:
    """A history database file; opening checks it is one (or creates it, owner-only)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise UsageError(f"--history {self.path}: is a directory, not a history file")
        if not self.path.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # Created owner-only before SQLite opens it: it lists our CRM ids.
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                if not self.path.exists():  # the parent is a file
                    raise UsageError(
                        f"--history {self.path}: cannot create it: {self.path.parent} is not "
                        "a directory"
                    ) from None
            except OSError as exc:
                raise UsageError(
                    f"--history {self.path}: cannot create it: {exc.strerror or exc}"
                ) from None
            else:
                os.close(fd)
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UsageError(
                    f"--history {self.path}: written by a newer blindmatch (schema {version}); "
                    "update blindmatch or use another file"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def __repr__(self) -> str:
        return f"History({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as exc:
            raise UsageError(f"--history {self.path}: cannot open it: {exc}") from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        except sqlite3.OperationalError as exc:  # locked past the timeout, disk full, ...
            raise UsageError(f"--history {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise UsageError(
                f"--history {self.path}: not a blindmatch history database ({exc})"
            ) from None
        finally:
            db.close()

    def previous(self, partner: str) -> PastRun | None:
        """The latest run recorded with ``partner``, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT id, run_id, finished FROM runs WHERE partner = ? ORDER BY id DESC LIMIT 1",
                (partner,),
            ).fetchone()
            if row is None:
                return None
            cells = {
                (o, p): (int(n), bool(r))
                for o, p, n, r in db.execute(
                    "SELECT our_population, partner_population, count, record_level "
                    "FROM cells WHERE run = ?",
                    (row[0],),
                )
            }
            pairs = frozenset(
                (str(a), str(b), str(c))
                for a, b, c in db.execute(
                    "SELECT record_id, our_population, partner_population FROM pairs WHERE run = ?",
                    (row[0],),
                )
            )
        return PastRun(id=row[0], run_id=row[1], finished=row[2], cells=cells, pairs=pairs)

    def record(
        self,
        *,
        partner: str,
        result: OverlapResult,
        summary: Mapping[str, Any],
        run_id: str,
        role: str,
        transport: str,
        out_dir: Path,
        deltas: Deltas,
    ) -> None:
        """Add a completed run. ``summary`` is the summary.json data (results only)."""
        visible = _record_level(result)
        kept = {k: v for k, v in summary.items() if k != "deltas"}
        finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (partner, run_id, finished, role, transport, our_label, "
                "partner_label, out_dir, matched_records, new_pairs, gone_pairs, summary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    partner, run_id, finished, role, transport, result.our_label,
                    result.partner_label, str(out_dir.resolve()), len(result.matches),
                    None if deltas.first_run else len(deltas.new),
                    None if deltas.first_run else len(deltas.gone),
                    json.dumps(kept, ensure_ascii=False),
                ),
            )  # fmt: skip
            run = cursor.lastrowid
            db.executemany(
                "INSERT INTO cells VALUES (?, ?, ?, ?, ?)",
                [
                    (run, ours, theirs, int(n), int(theirs in visible))
                    for ours, row in result.counts.items()
                    for theirs, n in row.items()
                ],
            )
            db.executemany(
                "INSERT INTO pairs VALUES (?, ?, ?, ?)",
                ((run, *pair) for pair in sorted(result_pairs(result))),
            )

    def runs(self, partner: str | None = None) -> list[RunRow]:
        """Recorded runs, by partner and then oldest first."""
        query = (
            "SELECT r.partner, r.run_id, r.finished, r.role, r.transport, r.our_label, "
            "r.partner_label, r.out_dir, COALESCE((SELECT SUM(count) FROM cells c "
            "WHERE c.run = r.id), 0), r.matched_records, r.new_pairs, r.gone_pairs FROM runs r"
        )
        params: Iterable[str] = ()
        if partner is not None:
            query += " WHERE r.partner = ?"
            params = (partner,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY r.partner, r.id", tuple(params)).fetchall()
        return [RunRow(**dict(zip(RunRow.__slots__, row, strict=True))) for row in rows]
