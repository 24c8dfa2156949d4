"""After a session: outputs with deltas and a report, the history record, the alert.

One path for every way a run ends well (``psi-run`` over TCP, offline, each partner of
``psi-run map``), in an order that never loses a result: the previous run is read, every
output file (summary.json with the deltas, new.csv, gone.csv, report.html, and the usual
matrix and matches) is committed as one set, and only then is the run recorded in the history
and the alert posted. A history or webhook failure is reported as a warning with its own exit
code; the output files are already there.

Also the two commands that only look back: ``psi-run history`` and ``psi-run report DIR``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..io import AtomicOutputSet, restore_cell, write_json, write_table
from ..io.writers import Cell
from ..protocol import OverlapResult
from ..workflow import Deltas, History, compute_deltas, default_history_path, render_report
from ..workflow.alerts import AlertError, alert_body, check_url, post
from ..workflow.history import Pair
from ..workflow.partners import partner_name_problem
from ..workflow.report_html import IndexEntry, render_index
from .exits import EXIT_CODES
from .report import RunInfo, for_terminal, write_outputs

__all__ = [
    "FOLLOWUP_FAILED",
    "Followups",
    "Published",
    "followups_from_args",
    "publish",
    "regenerate_report",
    "report_page",
    "report_warnings",
    "show_history",
    "write_index",
]

#: Exit code when the results are written but the history or the alert failed.
FOLLOWUP_FAILED = EXIT_CODES["followup"]

NEW_COLUMNS = ["record_id", "our_population", "partner_population", "key_types"]
GONE_COLUMNS = ["record_id", "our_population", "partner_population", "last_seen_run_id"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Followups:
    """What happens after a session besides the usual output files."""

    history: History
    partner: str | None = None
    webhook: str | None = None
    webhook_format: str = "json"


def followups_from_args(args: argparse.Namespace) -> Followups:
    """Checked before any session starts: a bad history file or URL fails now, not later."""
    partner = getattr(args, "partner", None)
    if partner is not None and (why := partner_name_problem(partner)):
        raise UsageError(f"--partner: {why}")
    webhook = check_url(args.webhook) if args.webhook else None
    return Followups(
        history=History(args.history or default_history_path()),
        partner=partner,
        webhook=webhook,
        webhook_format=args.webhook_format,
    )


@dataclass(slots=True)
class Published:
    """What :func:`publish` did: the files, the deltas, and any follow-up that failed."""

    written: list[Path]
    deltas: Deltas
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _new_rows(result: OverlapResult, new: Sequence[Pair]) -> tuple[list[str], list[list[Cell]]]:
    """new.csv: the added pairs, with how they matched and what the partner revealed (one
    value per matching partner record, as in the matches table)."""
    by_id = {m.record_id: m for m in result.matches}
    fields = sorted({n for m in result.matches for f in m.partner_fields for n in f})
    rows: list[list[Cell]] = []
    for record_id, ours, theirs in new:
        match = by_id[record_id]
        revealed = [[f.get(n, "") for f in match.partner_fields] for n in fields]
        rows.append([record_id, ours, theirs, list(match.key_types), *revealed])
    return [*NEW_COLUMNS, *(f"partner.{n}" for n in fields)], rows


def publish(
    out_dir: Path,
    result: OverlapResult,
    info: RunInfo,
    *,
    followups: Followups,
    matches_format: str = "csv",
    partner: str | None = None,
) -> Published:
    """Write every output of a run, then record it and post the alert (see the module doc)."""
    name = partner or followups.partner or result.partner_label
    warnings: list[str] = []
    try:
        previous = followups.history.previous(name)
    except UsageError as exc:  # checked before the session; a result is never lost to it
        warnings.append(f"no comparison with the previous run: {exc}")
        previous = None
    deltas = compute_deltas(name, previous, result)
    summary_extra = {"partner": name, "deltas": deltas.to_dict()}
    new_columns, new_rows = _new_rows(result, deltas.new)
    last = deltas.previous_run_id or ""
    gone_rows: list[list[Cell]] = [[r, o, p, last] for r, o, p in deltas.gone]

    summary_out: dict[str, Any] = {}

    def extend(
        out: AtomicOutputSet, out_dir: Path, summary: dict[str, Any], manifest: dict[str, Any]
    ) -> list[Path]:
        summary_out.update(summary)
        paths = [out_dir / "new.csv", out_dir / "gone.csv", out_dir / "report.html"]
        write_table(paths[0], new_columns, new_rows, list_columns=new_columns[3:], outputs=out)
        write_table(paths[1], GONE_COLUMNS, gone_rows, outputs=out)
        page = render_report(summary, manifest=manifest, new=new_rows, gone=gone_rows)
        out.write(paths[2], page)
        return paths

    written = write_outputs(
        out_dir, result, info, matches_format=matches_format, summary_extra=summary_extra,
        extend=extend,
    )  # fmt: skip
    done = Published(written=written, deltas=deltas, summary=summary_out, warnings=warnings)
    try:
        followups.history.record(
            partner=name, result=result, summary=summary_out, run_id=info.run_id,
            role=info.role, transport=info.transport, out_dir=out_dir, deltas=deltas,
        )  # fmt: skip
    except UsageError as exc:
        done.warnings.append(f"the run was not recorded in the history: {exc}")
    if followups.webhook is not None:
        body = alert_body(
            followups.webhook_format, deltas=deltas, summary=summary_out, out_dir=str(out_dir)
        )
        try:
            post(followups.webhook, body)
        except AlertError as exc:
            done.warnings.append(f"{exc} (the results are written in {out_dir})")
    return done


def report_page(
    out: AtomicOutputSet, out_dir: Path, summary: dict[str, Any], manifest: dict[str, Any]
) -> list[Path]:
    """Stage report.html alone, for a run kept out of the history (the demo)."""
    out.write(out_dir / "report.html", render_report(summary, manifest=manifest))
    return [out_dir / "report.html"]


def report_warnings(done: Published, *, prefix: str = "") -> None:
    for text in done.warnings:
        print(f"psi-run: warning: {prefix}{for_terminal(text)}", file=sys.stderr)


# -- looking back -----------------------------------------------------------------------------


def _read_pairs(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [[restore_cell(c) for c in row] for row in csv.reader(handle)]
    return rows[1:]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: not found; is this a blindmatch output directory?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    return data


def regenerate_report(args: argparse.Namespace) -> int:
    """``psi-run report DIR``: rebuild report.html from the files of a finished run."""
    out_dir: Path = args.dir
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: not a directory")
    if (out_dir / "map-summary.json").exists():
        path = write_index(out_dir, _read_json(out_dir / "map-summary.json"))
        print(path)
        return 0
    summary = _read_json(out_dir / "summary.json")
    manifest = _read_json(out_dir / "run.json") if (out_dir / "run.json").exists() else {}
    page = render_report(
        summary,
        manifest=manifest,
        new=_read_pairs(out_dir / "new.csv"),
        gone=_read_pairs(out_dir / "gone.csv"),
    )
    with AtomicOutputSet(private=True) as out:
        out.write(out_dir / "report.html", page)
    print(out_dir / "report.html")
    return 0


def show_history(args: argparse.Namespace) -> int:
    """``psi-run history``: past runs, grouped by partner."""
    path = args.history or default_history_path()
    if not path.exists():
        raise UsageError(f"--history {path}: no history yet (it is created by the first run)")
    rows = History(path).runs(args.partner)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no runs recorded in {path}" + (f" with {args.partner}" if args.partner else ""))
        return 0
    current = None
    for row in rows:
        if row.partner != current:
            current = row.partner
            print(for_terminal(f"{row.partner}  ({row.partner_label}, we are {row.our_label})"))
        change = (
            "first run"
            if row.new_pairs is None
            else f"+{row.new_pairs} new, -{row.gone_pairs} gone"
        )
        print(
            for_terminal(
                f"  {row.finished}  run {row.run_id}  {row.role:<8}  overlaps {row.overlaps:>7}"
                f"  matched {row.matched_records:>7}  {change}  {row.out_dir}"
            )
        )
    return 0


def write_index(out_dir: Path, data: Mapping[str, Any]) -> Path:
    """``index.html`` and ``map-summary.json`` across the partners of a map, together."""
    entries = [
        IndexEntry(
            name=str(r.get("name", "")),
            ok=r.get("status") == "ok",
            error=r.get("error"),
            partner_label=r.get("partner_label"),
            overlaps=int(r.get("overlaps", 0) or 0),
            matched_records=int(r.get("matched_records", 0) or 0),
            new_pairs=r.get("new_pairs"),
            gone_pairs=r.get("gone_pairs"),
            transport=str(r.get("transport", "")),
        )  # fmt: skip
        for r in data.get("partners", [])
        if isinstance(r, Mapping)
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    with AtomicOutputSet(private=True) as out:
        out.write(out_dir / "index.html", render_index("Account mapping across partners", entries))
        write_json(out_dir / "map-summary.json", data, outputs=out)
    return out_dir / "index.html"
