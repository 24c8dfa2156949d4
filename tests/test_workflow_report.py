"""report.html and the map index: self-contained, escaped, and showing what the run found."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from blindmatch.workflow import render_index, render_report
from blindmatch.workflow.report_html import IndexEntry

HOSTILE = [
    '<script>alert("label")</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(2)",
    "</style><script src=https://evil.example/x.js></script>",
    "&lt;already escaped&gt; & <b>bold</b>",
]


class _Page(HTMLParser):
    """Collects what a browser would act on: tags, attributes, and text by cell."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.cells: list[str] = []
        self._in_heat = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._in_heat = "heat" in (dict(attrs).get("class") or "")
            if self._in_heat:
                self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_heat = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_heat:
            self.cells[-1] += data


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _summary(ours: list[str], theirs: list[str], label: str = "Globex") -> dict[str, Any]:
    counts = {o: {t: (i + 1) * (j + 2) for j, t in enumerate(theirs)} for i, o in enumerate(ours)}
    return {
        "format": "blindmatch-overlap/1",
        "run_id": "0123456789abcdef",
        "our_label": "Northwind",
        "partner_label": label,
        "counts": counts,
        "our_sizes": {o: 100 for o in ours},
        "partner_sizes": {t: 200 for t in theirs},
        "our_disclosure": {o: "counts" for o in ours},
        "partner_disclosure": {t: "records" for t in theirs},
        "matches": {"records": 7},
        "partner": "globex",
        "deltas": {
            "partner": "globex",
            "previous_run_id": "fedcba9876543210",
            "previous_finished": "2026-11-27T09:00:00+00:00",
            "new_pairs": 1,
            "gone_pairs": 0,
            "cells": [
                {
                    "our_population": ours[0],
                    "partner_population": theirs[0],
                    "count": 2,
                    "previous": 1,
                    "change": 1,
                    "compared": "records",
                    "new": 1,
                    "gone": 0,
                },
            ],  # fmt: skip
        },
    }


def _assert_self_contained(page: str) -> None:
    parsed = _parse(page)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    for _, attrs in parsed.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), key  # no event handler made it in as markup
            if key in ("src", "href", "action") and value:
                assert not re.match(r"[a-z]+:", value), value  # relative links only
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page  # the browser refuses any fetch


def test_the_report_shows_the_matrix_sizes_disclosures_and_deltas() -> None:
    summary = _summary(["Customers", "Prospects"], ["Customers", "Pipeline"])
    page = render_report(
        summary,
        manifest={"finished": "2026-12-04T10:00:00+00:00", "role": "sender", "transport": "pake"},
        new=[["001A", "Customers", "Customers", "domain"]],
    )
    _assert_self_contained(page)
    parsed = _parse(page)
    assert [c.split("+")[0] for c in parsed.cells] == ["2", "3", "4", "6"]
    assert "+1 new" in parsed.cells[0]
    text = " ".join(parsed.text)
    assert "001A" in text and "fedcba9876543210" in text and "records" in text
    # the largest cell gets the darkest colour of the ramp, zero the lightest
    assert 'style="background:#08306b' in page


def test_a_first_run_says_there_is_nothing_to_compare_yet() -> None:
    summary = _summary(["Customers"], ["Customers"])
    summary["deltas"] = {"partner": "globex", "previous_run_id": None, "cells": []}
    assert "first recorded run" in render_report(summary)


def test_hostile_names_are_shown_not_run() -> None:
    summary = _summary(HOSTILE[:3], HOSTILE[3:], label=HOSTILE[0])
    summary["deltas"]["partner"] = HOSTILE[1]
    page = render_report(summary, new=[[HOSTILE[2], HOSTILE[0], HOSTILE[3]]])
    _assert_self_contained(page)
    text = "".join(_parse(page).text)
    for name in HOSTILE:
        assert name in text  # shown as text, exactly as the partner wrote it


def test_the_index_lists_every_partner_and_links_only_the_completed() -> None:
    page = render_index(
        "Map <of> partners",
        [
            IndexEntry(name="beta", ok=True, partner_label=HOSTILE[0], overlaps=100,
                       matched_records=100, new_pairs=5, gone_pairs=0),
            IndexEntry(name="gamma", ok=False, error=f"partner unreachable: {HOSTILE[1]}"),
        ],
    )  # fmt: skip
    _assert_self_contained(page)
    parsed = _parse(page)
    links = [attrs.get("href") for tag, attrs in parsed.tags if tag == "a"]
    assert links == ["beta/report.html"]
    text = "".join(parsed.text)
    assert "1 of 2 partners completed" in text and HOSTILE[1] in text


def test_psi_run_report_rebuilds_the_page_from_the_files(tmp_path: Path) -> None:
    summary = _summary(["Customers"], ["Customers"])
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (tmp_path / "run.json").write_text(json.dumps({"role": "receiver"}), encoding="utf-8")
    (tmp_path / "new.csv").write_text(
        "record_id,our_population,partner_population,key_types\n'=1+1,Customers,Customers,domain\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "report", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "our role receiver" in page
    assert "=1+1" in "".join(_parse(page).text)  # the CSV's formula guard is undone for display
    missing = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "report", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "not a directory" in missing.stderr
