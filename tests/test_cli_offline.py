"""psi-run offline as a new user meets it (issue 14, item 6): each defect, as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_end_to_end import CODE, _write_inputs

from blindmatch.transport import PairingCode

pytestmark = pytest.mark.slow


def _psi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "offline", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip


def _side(files: dict[str, Path], tmp: Path, side: str, *extra: str) -> list[str]:
    data, policy = ("nw", "nw_policy") if side == "sender" else ("gx", "gx_policy")
    (tmp / side).mkdir(exist_ok=True)
    return ["--role", side, "--input", str(files[data]), "--policy", str(files[policy]),
            "--state", str(tmp / side / "state"), "--out-dir", str(tmp / f"{side}-results"),
            "--code", CODE, "--yes", "--quiet", *extra]  # fmt: skip


def test_new_code_needs_no_other_argument() -> None:
    done = _psi("--new-code")
    assert done.returncode == 0, done.stderr
    PairingCode.parse(done.stdout.strip())  # a valid code, check digit included


def test_a_run_without_its_arguments_names_them() -> None:
    done = _psi("--role", "sender")
    assert done.returncode == 2
    assert "--input (or --sql), --out-dir, --state" in done.stderr


def test_a_damaged_message_file_is_named_with_its_damage(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    first = _psi(*_side(files, tmp_path, "receiver"))
    assert first.returncode == 0, first.stderr
    (message,) = (tmp_path / "receiver" / "blindmatch-outbox").glob("*.bmx")
    damaged = tmp_path / "from-partner.bmx"
    data = bytearray(message.read_bytes())
    data[-1] ^= 0x40
    damaged.write_bytes(bytes(data))
    done = _psi(*_side(files, tmp_path, "sender"), str(damaged))
    assert done.returncode == 3, done.stderr
    assert f"input error: {damaged}: the message file is damaged" in done.stderr
    assert "unreachable" not in done.stderr


def test_messages_go_to_the_outbox_and_the_last_step_does_not_say_run_again(
    tmp_path: Path,
) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    custom = tmp_path / "to-send"
    outboxes = {"sender": custom, "receiver": tmp_path / "receiver" / "blindmatch-outbox"}
    extra = {"sender": ["--outbox", str(custom)], "receiver": []}
    got: dict[str, list[Path]] = {"sender": [], "receiver": []}
    last_words = {}
    for _ in range(8):
        for side, other in (("sender", "receiver"), ("receiver", "sender")):
            if side in last_words:
                continue
            before = set(outboxes[side].glob("*.bmx")) if outboxes[side].exists() else set()
            done = _psi(*_side(files, tmp_path, side, *extra[side]), *map(str, got[side]))
            assert done.returncode == 0, done.stderr
            got[other] += sorted(set(outboxes[side].glob("*.bmx")) - before)
            if (tmp_path / f"{side}-results" / "summary.json").exists():
                last_words[side] = done.stderr
    assert set(last_words) == {"sender", "receiver"}
    for side, words in last_words.items():
        assert "run this command again" not in words, words
        assert not list((tmp_path / f"{side}-results").glob("*.bmx"))  # results only
    # whichever side finished with a message to send is told it is the last one
    assert any("the last message they need" in w for w in last_words.values()), last_words


def test_the_outbox_cannot_be_the_results_folder(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    done = _psi(*_side(files, tmp_path, "sender", "--outbox", str(tmp_path / "sender-results")))
    assert done.returncode == 2 and "--outbox must not be --out-dir" in done.stderr
