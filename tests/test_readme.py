"""Every Python block in README.md runs as written, on its own, and prints what it says.

A reader copies a block into a file and runs it: so does this test, one fresh interpreter per
block, in an empty folder. A block states its output as comments: ``print(x)  # output`` on
the print line, or ``# output`` lines at the very end of the block; stdout must be exactly
those lines, as plain data (a ``mappingproxy`` in a result is noise to a reader).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_PRINT_COMMENT = re.compile(r"^\s*print\(.*\)\s+#\s(.*)$")


def _blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def expected_output(block: str) -> list[str]:
    """What the block says it prints, in order."""
    lines = block.rstrip("\n").splitlines()
    trailing: list[str] = []
    while lines and lines[-1].startswith("# "):
        trailing.insert(0, lines.pop()[2:])
    inline = [m.group(1) for line in lines if (m := _PRINT_COMMENT.match(line))]
    return inline + trailing


def test_the_readme_has_its_samples() -> None:
    assert len(_blocks()) >= 2


def test_expected_output_is_read_from_both_comment_styles() -> None:
    block = "x = 1\nprint(x)  # 1\nprint(2)\n# 2\n"
    assert expected_output(block) == ["1", "2"]


@pytest.mark.parametrize("index", range(len(_blocks())), ids=lambda i: f"block{i + 1}")
def test_readme_block_runs_on_its_own(index: int, tmp_path: Path) -> None:
    block = _blocks()[index]
    script = tmp_path / "sample.py"
    script.write_text(block, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,  # a sample that waits for bytes that never come must fail, not hang
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "mappingproxy" not in done.stdout
    assert done.stdout.splitlines() == expected_output(block), done.stdout


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_vulnerabilities_go_to_private_reporting_not_a_mailbox() -> None:
    """The README named security@blindmatch.dev, which does not exist: a report sent there
    is lost. No address is named; the tracker's private vulnerability reporting is."""
    text = README.read_text(encoding="utf-8")
    assert re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text) == []
    assert "mailto:" not in text
    security = _section("Security")
    assert "private vulnerability reporting" in security
    assert "Report a vulnerability" in security and "do not open a public issue" in security
