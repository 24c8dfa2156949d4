"""``report.html``: one file a person opens to see what a run found and what changed.

Self-contained on purpose: the page is often mailed around or opened from a shared drive, so it
may fetch nothing. Styles are inline, the heat map is table cells coloured by inline styles,
there are no scripts, fonts or images, and a Content-Security-Policy of ``default-src 'none'``
tells the browser to refuse any fetch should a future change slip one in.

Every string the partner chose (its label, population names) and every string from our own
files is HTML-escaped where it is placed: a partner named ``<script>`` is shown, not run.

The page is rendered from the run's own output files (``summary.json`` with its deltas,
``run.json``, ``new.csv``, ``gone.csv``), so ``psi-run report DIR`` can rebuild it at any time.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["IndexEntry", "render_index", "render_report"]

#: Lists of new and gone overlaps shown in the page; the CSV files hold them all.
MAX_LISTED = 500

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f24;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
.meta{color:#57606a;margin:0 0 1.5rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.35rem .6rem;border:1px solid #d0d7de;text-align:right;vertical-align:top}
th{background:#f6f8fa;font-weight:600}th.row,td.row{text-align:left}
td.heat{min-width:5.5rem;font-variant-numeric:tabular-nums;font-size:1.05rem}
.delta{display:block;font-size:.75rem}.up{color:#1a7f37}.down{color:#cf222e}
.on-dark .up,.on-dark .down{color:#fff}
.bar{display:inline-block;height:.7rem;background:#54aeff;vertical-align:middle;margin-right:.4rem}
.tag{display:inline-block;padding:0 .4rem;border-radius:.6rem;font-size:.8rem;border:1px solid}
.records{color:#0969da;border-color:#0969da}.counts{color:#9a6700;border-color:#9a6700}
.failed{color:#cf222e;border-color:#cf222e}.ok{color:#1a7f37;border-color:#1a7f37}
.legend{display:flex;align-items:center;gap:.5rem;color:#57606a;font-size:.85rem}
.legend span.ramp{display:inline-block;width:10rem;height:.8rem;
background:linear-gradient(to right,#f7fbff,#6baed6,#08306b)}
.note{color:#57606a;font-size:.9rem}
""".strip()


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )


def _heat(value: int, top: int) -> tuple[str, bool]:
    """Background for a count: white to dark blue, linear in value / top; and if it is dark."""
    share = value / top if top > 0 else 0.0
    stops = ((0xF7, 0xFB, 0xFF), (0x6B, 0xAE, 0xD6), (0x08, 0x30, 0x6B))
    lo, hi, t = (stops[0], stops[1], share * 2) if share <= 0.5 else (stops[1], stops[2],
                                                                       share * 2 - 1)  # fmt: skip
    rgb = tuple(round(a + (b - a) * t) for a, b in zip(lo, hi, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb), share > 0.55


def _tag(kind: str) -> str:
    css = kind if kind in ("records", "counts", "failed", "ok") else "counts"
    return f'<span class="tag {css}">{_e(kind)}</span>'


def _cell_deltas(summary: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    deltas = summary.get("deltas") or {}
    return {
        (str(c.get("our_population")), str(c.get("partner_population"))): c
        for c in deltas.get("cells", [])
        if isinstance(c, Mapping)
    }


def _delta_text(cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return ""
    if cell.get("compared") == "new-cell":
        return '<span class="delta">new cell</span>'
    parts = []
    if cell.get("compared") == "records":
        if cell.get("new"):
            parts.append(f'<span class="up">+{int(cell["new"])} new</span>')
        if cell.get("gone"):
            parts.append(f'<span class="down">&minus;{int(cell["gone"])} gone</span>')
    else:
        change = cell.get("change")
        if isinstance(change, int) and change:
            css = "up" if change > 0 else "down"
            sign = "+" if change > 0 else "&minus;"
            parts.append(f'<span class="{css}">{sign}{abs(change)}</span>')
    return f'<span class="delta">{" ".join(parts)}</span>' if parts else ""


def _matrix(summary: Mapping[str, Any]) -> list[str]:
    counts: Mapping[str, Mapping[str, int]] = summary.get("counts", {})
    ours = list(counts)
    theirs = list(summary.get("partner_sizes", {}))
    for row in counts.values():
        theirs += [p for p in row if p not in theirs]
    top = max((int(n) for row in counts.values() for n in row.values()), default=0)
    our_label, partner_label = summary.get("our_label", "us"), summary.get("partner_label", "")
    deltas = _cell_deltas(summary)
    out = ['<table class="matrix" aria-label="overlap matrix">']
    out.append(
        f'<tr><th class="row">{_e(our_label)} &darr; \\ {_e(partner_label)} &rarr;</th>'
        + "".join(
            f"<th>{_e(q)}<br>{_tag(str(summary.get('partner_disclosure', {}).get(q, '')))}</th>"
            for q in theirs
        )
        + "</tr>"
    )
    for p in ours:
        cells = []
        for q in theirs:
            value = int(counts[p].get(q, 0))
            colour, dark = _heat(value, top)
            css = "heat on-dark" if dark else "heat"
            ink = "#fff" if dark else "#1b1f24"
            cells.append(
                f'<td class="{css}" style="background:{colour};color:{ink}" '
                f'title="{_e(p)} &times; {_e(q)}">{value}{_delta_text(deltas.get((p, q)))}</td>'
            )
        out.append(f'<tr><th class="row">{_e(p)}</th>{"".join(cells)}</tr>')
    out.append("</table>")
    out.append(
        f'<div class="legend">0<span class="ramp"></span>{top} of our accounts in a cell</div>'
    )
    return out


def _sizes(title: str, sizes: Mapping[str, int], disclosure: Mapping[str, str]) -> list[str]:
    top = max((int(v) for v in sizes.values()), default=0)
    out = [f"<h3>{_e(title)}</h3>", "<table><tr><th class=\"row\">population</th>"
           "<th>accounts</th><th class=\"row\">disclosed</th></tr>"]  # fmt: skip
    for name, size in sizes.items():
        width = 0 if top == 0 else max(1, round(12 * int(size) / top))
        out.append(
            f'<tr><td class="row">{_e(name)}</td><td><span class="bar" '
            f'style="width:{width}rem"></span>{int(size)}</td>'
            f'<td class="row">{_tag(str(disclosure.get(name, "hidden")))}</td></tr>'
        )
    out.append("</table>")
    return out


def _pairs(title: str, rows: Sequence[Sequence[object]], file: str) -> list[str]:
    out = [f"<h3>{_e(title)} ({len(rows)})</h3>"]
    if not rows:
        return [*out, '<p class="note">None.</p>']
    out.append('<table><tr><th class="row">our record</th><th class="row">our population</th>'
               '<th class="row">partner population</th></tr>')  # fmt: skip
    for row in rows[:MAX_LISTED]:
        out.append("<tr>" + "".join(f'<td class="row">{_e(c)}</td>' for c in row[:3]) + "</tr>")
    out.append("</table>")
    if len(rows) > MAX_LISTED:
        out.append(f'<p class="note">&hellip; and {len(rows) - MAX_LISTED} more in {_e(file)}.</p>')
    return out


def render_report(
    summary: Mapping[str, Any],
    *,
    manifest: Mapping[str, Any] | None = None,
    new: Sequence[Sequence[object]] = (),
    gone: Sequence[Sequence[object]] = (),
) -> str:
    """The report page of one run, from its summary (with deltas) and run manifest."""
    manifest = manifest or {}
    ours, theirs = summary.get("our_label", ""), summary.get("partner_label", "")
    deltas = summary.get("deltas") or {}
    body = [f"<h1>{_e(ours)} &times; {_e(theirs)}: account overlap</h1>"]
    facts = []
    if deltas.get("partner"):
        facts.append(f"partner {_e(deltas['partner'])}")
    for key, label in (("finished", "finished"), ("role", "our role"),
                       ("transport", "transport")):  # fmt: skip
        if manifest.get(key):
            facts.append(f"{label} {_e(manifest[key])}")
    if summary.get("run_id"):
        facts.append(f"run {_e(summary['run_id'])}")
    body.append(f'<p class="meta">{" &middot; ".join(facts)}</p>')
    matches = summary.get("matches", {})
    body.append("<h2>Overlap matrix</h2>")
    body.append(
        '<p class="note">Each cell: how many of our accounts in the row\'s population match at '
        "least one of the partner's accounts in the column's population.</p>"
    )
    body += _matrix(summary)
    body.append(
        f'<p class="note">{int(matches.get("records", 0))} of our records matched the '
        "partner's records-level populations.</p>"
    )
    body.append("<h2>What changed since the previous run</h2>")
    if not deltas or deltas.get("previous_run_id") is None:
        body.append('<p class="note">This is the first recorded run with this partner: the '
                    "next run will show what changed.</p>")  # fmt: skip
    else:
        body.append(
            f'<p class="note">Compared with run {_e(deltas["previous_run_id"])} of '
            f"{_e(deltas.get('previous_finished', ''))}: "
            f"<strong>{int(deltas.get('new_pairs', 0))} new</strong> and "
            f"<strong>{int(deltas.get('gone_pairs', 0))} gone</strong> overlaps at record level; "
            "counts-only cells show the change of their count.</p>"
        )
        body += _pairs("New overlaps", new, "new.csv")
        body += _pairs("Gone overlaps", gone, "gone.csv")
    body.append("<h2>Populations and what each side disclosed</h2>")
    body += _sizes(f"Ours ({ours})", summary.get("our_sizes", {}),
                   summary.get("our_disclosure", {}))  # fmt: skip
    body += _sizes(f"The partner's ({theirs})", summary.get("partner_sizes", {}),
                   summary.get("partner_disclosure", {}))  # fmt: skip
    body.append(
        '<p class="note"><span class="tag records">records</span> the other side learns which '
        'of its own records overlap; <span class="tag counts">counts</span> only how many.</p>'
    )
    return _page(f"{ours} × {theirs}: account overlap", body)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """One partner's line on the index page of a map."""

    name: str
    ok: bool
    #: why the run failed (already free of secrets), or None
    error: str | None = None
    partner_label: str | None = None
    overlaps: int = 0
    matched_records: int = 0
    new_pairs: int | None = None
    gone_pairs: int | None = None
    #: how the partner was reached (listen, connect, listen+tls, wormhole, mailbox, ...)
    transport: str = ""


def render_index(title: str, entries: Sequence[IndexEntry]) -> str:
    """The page across the partners of a map, linking each partner's report."""
    done = sum(1 for e in entries if e.ok)
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">{done} of {len(entries)} partners completed</p>',
            '<table><tr><th class="row">partner</th><th class="row">via</th>'
            '<th class="row">status</th><th>overlaps</th><th>matched records</th><th>new</th>'
            "<th>gone</th></tr>"]  # fmt: skip
    for e in entries:
        if e.ok:
            name = f'<a href="{_e(e.name)}/report.html">{_e(e.name)}</a>'
            label = f" ({_e(e.partner_label)})" if e.partner_label else ""
            new = "&ndash;" if e.new_pairs is None else str(e.new_pairs)
            gone = "&ndash;" if e.gone_pairs is None else str(e.gone_pairs)
            body.append(
                f'<tr><td class="row">{name}{label}</td><td class="row">{_e(e.transport)}</td>'
                f'<td class="row">{_tag("ok")}</td>'
                f"<td>{e.overlaps}</td><td>{e.matched_records}</td><td>{new}</td>"
                f"<td>{gone}</td></tr>"
            )
        else:
            body.append(
                f'<tr><td class="row">{_e(e.name)}</td><td class="row">{_e(e.transport)}</td>'
                f'<td class="row">{_tag("failed")} '
                f'{_e(e.error or "")}</td><td colspan="4"></td></tr>'
            )
    body.append("</table>")
    body.append('<p class="note">new/gone: overlaps at record level since the previous run '
                "with that partner (&ndash;: first run).</p>")  # fmt: skip
    return _page(title, body)
