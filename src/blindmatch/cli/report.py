"""What a run shows a person and writes for programs: tables, progress bars, output files.

Kept apart from argument parsing so the demo, the network run and the offline run present
results the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..accounts.outputs import MATCH_FORMATS, summary_dict, write_matches, write_overlap_csv
from ..accounts.warehouse import WarehouseTables, warehouse_tables
from ..errors import UsageError
from ..io import AtomicOutputSet, write_json
from ..io.warehouse import write_arrow
from ..protocol import Disclosure, Event, OverlapResult, Progress
from ..protocol.agreement import PROTOCOL_VERSION, SUITE, Agreement

__all__ = [
    "ProgressBars",
    "RunInfo",
    "check_out_dir",
    "check_output_file",
    "for_terminal",
    "render_matrix",
    "shared_run_id",
    "warehouse_tables_of",
    "write_outputs",
]

#: phase -> (what the bar says, what it counts). Our accounts come back once per lane of the
#: partner, so the last phase counts values, not accounts.
_PHASES = {
    "blind": ("hashing and blinding our accounts", " accounts"),
    "double-blind": ("blinding the partner's accounts", " accounts"),
    "receive": ("receiving our double-blinded values", " values"),
}
#: For a phase whose first report already completes it (one chunk): a rate measured over no
#: time would read millions per second, so the bar shows none.
_NO_RATE = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}]"


class ProgressBars:
    """tqdm bars on stderr, one per protocol phase, fed from session events."""

    def __init__(self, *, quiet: bool, prefix: str = "", stream: TextIO | None = None) -> None:
        # Bars redraw lines with control characters: on a log file (stderr not a terminal)
        # they would only be noise, so they are drawn only where someone watches.
        self._quiet = quiet or (stream is None and not sys.stderr.isatty())
        self._prefix = prefix
        self._stream = stream or sys.stderr
        self._bars: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        if self._quiet or not isinstance(event, Progress) or event.total == 0:
            return
        from tqdm import tqdm  # type: ignore[import-untyped]

        bar = self._bars.get(event.phase)
        if bar is None:
            desc, unit = _PHASES.get(event.phase, (event.phase, ""))
            bar = tqdm(
                total=event.total,
                desc=f"{self._prefix}{desc}",
                unit=unit,
                file=self._stream,
                leave=True,
                mininterval=0.2,
                bar_format=_NO_RATE if event.done >= event.total else None,
            )
            self._bars[event.phase] = bar
        bar.update(event.done - bar.n)
        if event.done >= event.total:
            bar.close()

    def rows(self, done: int) -> None:
        """Rows read and normalized so far (the total is unknown until the end)."""
        if self._quiet:
            return
        from tqdm import tqdm

        bar = self._bars.get("rows")
        if bar is None:
            bar = self._bars["rows"] = tqdm(
                desc=f"{self._prefix}reading and normalizing",
                unit=" rows",
                file=self._stream,
                mininterval=0.2,
            )
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def for_terminal(text: str) -> str:
    """``text`` with control and format characters shown as '?' (line breaks kept).

    The partner chooses its label, population and field names, and error texts can quote
    them: printed raw, an escape sequence could rewrite the user's screen (or hide a warning),
    a bidi override could reorder what it shows.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)


def render_matrix(result: OverlapResult) -> str:
    """The overlap matrix as a text table: our populations down, the partner's across."""
    theirs = list(result.partner_sizes)
    ours = list(result.our_sizes)
    head = [for_terminal(f"{result.our_label} \\ {result.partner_label}")] + [
        for_terminal(f"{q} ({result.partner_sizes[q]}, {result.partner_disclosure[q].value})")
        for q in theirs
    ]
    rows = [head]
    for p in ours:
        rows.append(
            [for_terminal(f"{p} ({result.our_sizes[p]})")]
            + [str(result.counts[p][q]) for q in theirs]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    shown = [q for q in theirs if result.partner_disclosure[q] is Disclosure.RECORDS]
    footer = f"{len(result.matches)} of our records matched"
    footer += (
        for_terminal(f" the partner's records-level populations ({', '.join(shown)})")
        if shown
        else (" (the partner revealed no records-level population)")
    )
    return "\n".join(lines + [footer])


#: Stages more files of a run in its output set: (set, out dir, summary data, manifest) -> paths.
Extend = Callable[[AtomicOutputSet, Path, dict[str, Any], dict[str, Any]], list[Path]]


def shared_run_id(agreement: Agreement | None) -> str:
    """The run id both parties write: 16 hex digits of SHA-256 over a label and the agreement
    id, which both compute from the two hellos. Two outputs (ours and the partner's) of one
    session carry the same id, and no other session's do."""
    if agreement is None:
        raise UsageError("a run id needs the session's agreement, and this session has none")
    return hashlib.sha256(b"blindmatch run id\x00" + agreement.agreement_id).hexdigest()[:16]


@dataclass(slots=True)
class RunInfo:
    """The facts run.json records: no keys, no secrets, nothing of the partner's records."""

    role: str
    policy_text: str
    inputs: list[Path]
    transport: str
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    run_id: str = ""
    records_in: int = 0
    records_without_keys: int = 0

    def manifest(self, result: OverlapResult) -> dict[str, Any]:
        return {
            "format": "blindmatch-run/1",
            "run_id": self.run_id,
            "blindmatch_version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "suite": SUITE,
            "role": self.role,
            "transport": self.transport,
            "our_label": result.our_label,
            "partner_label": result.partner_label,
            "policy_sha256": hashlib.sha256(self.policy_text.encode("utf-8")).hexdigest(),
            "inputs": [
                {"file": p.name, "sha256": _file_hash(p)} for p in self.inputs if p.is_file()
            ],
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "counts": {
                "records_in": self.records_in,
                "records_without_keys": self.records_without_keys,
                "our_accounts": dict(result.our_sizes),
                "partner_accounts": dict(result.partner_sizes),
                "matched_records": len(result.matches),
            },
        }


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: Every file a run may write into --out-dir (matches.* of other formats are removed, so
#: they must be files too).
OUTPUT_NAMES = (
    "summary.json", "run.json", "overlap.csv", *(f"matches.{f}" for f in MATCH_FORMATS),
    *(f"{t}.{f}" for t in ("overlaps", "counts") for f in ("parquet", "csv")),
)  # fmt: skip


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def _try_writing_in(directory: Path, *, as_directory: bool) -> str | None:
    """Create and remove a probe (a file, or a directory when ours would have to be created)
    in ``directory``: permission bits, read-only mounts and pseudo file systems such as /proc
    all say no only when asked for real. Returns why not, or None."""
    try:
        if as_directory:
            os.rmdir(tempfile.mkdtemp(prefix=".blindmatch-probe-", dir=directory))
        else:
            fd, name = tempfile.mkstemp(prefix=".blindmatch-probe-", dir=directory)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output directory we could not write to, before any session starts: finding
    out after the partner already has its result would leave us with nothing. Nothing is
    created here (an interrupted run leaves no directory behind)."""
    probe = _nearest_existing(out_dir)
    if not probe.is_dir():
        where = "is" if probe == out_dir else f"is inside {probe}, which is"
        raise UsageError(f"--out-dir {out_dir} {where} not a directory")
    why = _try_writing_in(probe, as_directory=probe != out_dir)
    if why is not None:
        what = "write in" if probe == out_dir else f"create it in {probe}"
        raise UsageError(f"--out-dir {out_dir}: cannot {what}: {why}")
    if probe == out_dir:
        for name in OUTPUT_NAMES:
            target = out_dir / name
            if target.exists() and not target.is_file():
                raise UsageError(
                    f"--out-dir {out_dir}: {name} exists and is not a file; a run writes "
                    "(or replaces) a file of that name there"
                )


def check_output_file(path: Path, option: str) -> None:
    """Refuse a file we could not write (its folder missing, not writable, or the path a
    directory) before any session starts."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a directory, not a file")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    why = _try_writing_in(folder, as_directory=False)
    if why is not None:
        raise UsageError(f"{option} {path}: cannot write in {folder}: {why}")


def warehouse_tables_of(
    result: OverlapResult, info: RunInfo, *, id_type: Any = None
) -> WarehouseTables | None:
    """The run's warehouse tables, or None (with a note on stderr) without pyarrow."""
    try:
        importlib.import_module("pyarrow")
    except ImportError:
        print(
            "note: the overlaps and counts tables need pyarrow: pip install "
            "'blindmatch[warehouse]'",
            file=sys.stderr,
        )
        return None
    return warehouse_tables(
        result,
        run_id=info.run_id,
        role=info.role,
        transport=info.transport,
        started=info.started,
        finished=datetime.now(timezone.utc),
        policy_sha256=hashlib.sha256(info.policy_text.encode("utf-8")).hexdigest(),
        id_type=id_type,
    )


def write_outputs(
    out_dir: Path,
    result: OverlapResult,
    info: RunInfo,
    *,
    matches_format: str = "csv",
    tables: WarehouseTables | None = None,
    summary_extra: Mapping[str, Any] | None = None,
    extend: Extend | None = None,
) -> list[Path]:
    """summary.json, overlap.csv, matches.<fmt> (when the partner revealed records), the
    warehouse tables overlaps and counts (Parquet and CSV) and run.json, together or not at
    all.

    ``summary_extra`` adds keys to summary.json (the deltas); ``extend`` stages more files in
    the same set (new.csv, gone.csv, report.html), given the summary and manifest data, and
    returns their paths.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "summary.json", out_dir / "run.json", out_dir / "overlap.csv"]
    summary = summary_dict(result, run_id=info.run_id)
    summary.update(summary_extra or {})
    manifest = info.manifest(result)
    with AtomicOutputSet(private=True) as out:
        if tables is not None:
            for name in ("overlaps", "counts"):
                for fmt in ("parquet", "csv"):
                    path = out_dir / f"{name}.{fmt}"
                    write_arrow(path, getattr(tables, name), format=fmt, outputs=out)
                    written.append(path)
        write_json(written[0], summary, outputs=out)
        write_overlap_csv(written[2], result, outputs=out)
        if any(d is Disclosure.RECORDS for d in result.partner_disclosure.values()):
            path = out_dir / f"matches.{matches_format}"
            write_matches(path, result, run_id=info.run_id, format=matches_format, outputs=out)
            written.append(path)
        # A matches table of an earlier run into this directory is not this run's.
        for stale in MATCH_FORMATS:
            if out_dir / f"matches.{stale}" not in written:
                out.remove(out_dir / f"matches.{stale}")
        write_json(written[1], manifest, outputs=out)
        if extend is not None:
            written += extend(out, out_dir, summary, manifest)
    return written


def summary_json(result: OverlapResult, run_id: str) -> str:
    return json.dumps(summary_dict(result, run_id=run_id), indent=2, ensure_ascii=False)


Printer = Callable[[str], None]


def counts_equal(result: OverlapResult, expected: Mapping[str, Mapping[str, int]]) -> bool:
    return all(
        result.counts.get(p, {}).get(q) == n for p, row in expected.items() for q, n in row.items()
    )
