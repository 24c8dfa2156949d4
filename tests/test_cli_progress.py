"""The progress bars psi-run draws from session events (cli/report.py)."""

from __future__ import annotations

import io
import re

import pytest

from blindmatch.cli.report import ProgressBars
from blindmatch.protocol.events import Progress


def _draw(*events: Progress) -> str:
    out = io.StringIO()
    bars = ProgressBars(quiet=False, stream=out)
    for event in events:
        bars(event)
    bars.close()
    return out.getvalue()


def test_a_phase_done_in_one_chunk_shows_no_absurd_rate() -> None:
    text = _draw(Progress(phase="double-blind", done=1927, total=1927))
    assert "blinding the partner's accounts: 100%" in text
    assert "1927/1927 accounts" in text
    assert "/s" not in text  # a rate over no time would read millions per second


def test_a_phase_in_several_chunks_shows_its_rate() -> None:
    text = _draw(
        Progress(phase="blind", done=500, total=2000),
        Progress(phase="blind", done=2000, total=2000),
    )
    assert "hashing and blinding our accounts" in text
    assert re.search(r"accounts/s", text)


def test_returned_values_are_counted_as_values() -> None:
    text = _draw(Progress(phase="receive", done=4468, total=4468))
    assert "receiving our double-blinded values: 100%" in text
    assert "4468/4468 values" in text


def test_quiet_draws_nothing() -> None:
    out = io.StringIO()
    ProgressBars(quiet=True, stream=out)(Progress(phase="blind", done=1, total=2))
    assert out.getvalue() == ""


def test_no_bars_when_stderr_is_a_log_file(capsys: pytest.CaptureFixture[str]) -> None:
    """Redrawn bars are control characters in a log: drawn only on a terminal."""
    bars = ProgressBars(quiet=False)  # stderr is captured here: not a terminal
    bars(Progress(phase="blind", done=1, total=2))
    bars.close()
    assert capsys.readouterr().err == ""
