"""Render a report.html in a real headless browser and check that it shows the matrix.

    python tools/render_report.py OUT_DIR/report.html --png docs/report.png

Two passes of Debian's ``chromium`` (``apt-get install chromium``), each with a fresh, empty
profile and no network helpers:

1. ``--dump-dom``: the DOM after rendering must hold the overlap matrix with exactly the counts
   of the ``summary.json`` next to the report (in the policies' order);
2. ``--screenshot``: the PNG must show the heat map, i.e. pixels of the ramp's darkest colour
   (the largest cell), which only appear if the page's inline styles were applied.

Prints what it measured and exits non-zero on any mismatch, so it can serve as a check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path

#: The darkest colour of report_html's heat ramp: the largest cell of the matrix.
DARKEST = (0x08, 0x30, 0x6B)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip


class _Matrix(HTMLParser):
    """The numbers in the heat cells of the matrix, row by row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[int]] = []
        self._in_matrix = False
        self._cell: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("class") == "matrix":
            self._in_matrix = True
        elif self._in_matrix and tag == "tr":
            self.rows.append([])
        elif self._in_matrix and tag == "td" and "heat" in (found.get("class") or ""):
            self._cell = ""
        elif self._cell is not None:
            self._depth += 1  # a delta inside the cell: not the count

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_matrix = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(int(self._cell.strip()))
            self._cell = None
        elif self._cell is not None:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self._depth == 0:
            self._cell += data


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=120,
        check=False,
    )


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB(A), non-interlaced PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour})")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # PNG specification, section 9: filter types
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(x for j, x in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--png", type=Path, required=True, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    report = args.report.resolve()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        dom = _chromium(args.chromium, Path(tmp) / "dom", "--dump-dom", report.as_uri())
        dom_seconds = time.monotonic() - started
        if dom.returncode != 0:
            print(f"chromium --dump-dom failed: {dom.stderr.decode(errors='replace')[-500:]}")
            return 1
        matrix = _Matrix()
        matrix.feed(dom.stdout.decode("utf-8"))
        rows = [r for r in matrix.rows if r]
        summary_path = report.parent / "summary.json"
        if summary_path.exists():
            counts = json.loads(summary_path.read_text(encoding="utf-8"))["counts"]
            want = [list(row.values()) for row in counts.values()]
            good = rows == want
            ok &= good
            print(f"DOM matrix {rows} {'equals' if good else 'DIFFERS FROM'} summary.json {want}")
        else:
            ok &= bool(rows)
            print(f"DOM matrix {rows} (no summary.json next to the report to compare)")
        started = time.monotonic()
        args.png.parent.mkdir(parents=True, exist_ok=True)
        shot = _chromium(
            args.chromium, Path(tmp) / "shot", f"--screenshot={args.png.resolve()}",
            f"--window-size={args.width},{args.height}", report.as_uri(),
        )  # fmt: skip
        shot_seconds = time.monotonic() - started
        if shot.returncode != 0 or not args.png.exists():
            print(f"chromium --screenshot failed: {shot.stderr.decode(errors='replace')[-500:]}")
            return 1
        width, height, pixels = _png_pixels(args.png.read_bytes())
        target = bytes(DARKEST)
        dark = sum(row[i : i + 3] == target for row in pixels for i in range(0, len(row), 3))
        ok &= dark > 0
        print(
            f"screenshot {args.png}: {width}x{height}, {args.png.stat().st_size} bytes, "
            f"{dark} pixels of the heat map's darkest cell colour"
        )
        print(f"chromium: DOM pass {dom_seconds:.1f} s, screenshot pass {shot_seconds:.1f} s")
    print("render check: " + ("pass" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
