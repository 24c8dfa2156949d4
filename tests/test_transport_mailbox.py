"""The offline protocol through a shared mailbox: a real folder, and a real SFTP server.

Both the library (run_mailbox over two OfflineParty objects, in threads) and psi-run (two
processes with --mailbox) must give the results of a direct run; puts are atomic, a crashed
run resumes, stale files expire, and nothing in the mailbox is readable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_end_to_end import CODE, GLOBEX_LEARNS, NORTHWIND_LEARNS, _write_inputs
from test_transport_support import (
    RECEIVER_LABEL,
    SENDER_LABEL,
    Outcome,
    expected,
    in_thread,
    receiver,
    sender,
)

from blindmatch.errors import TransportTimeoutError
from blindmatch.protocol import Role, seeded_rng
from blindmatch.transport import OfflineParty, PairingCode
from blindmatch.transport.mailbox import Mailbox, run_mailbox

pytestmark = pytest.mark.slow

LIB_CODE = PairingCode.generate(seeded_rng(b"mailbox tests"))
JOIN = 60.0
SERVER = Path(__file__).parent / "servers" / "sftp_server.py"


def _party(tmp: Path, name: str, role: Role) -> OfflineParty:
    return OfflineParty(
        tmp / name / "state.json",
        make_session=sender if role is Role.SENDER else receiver,
        code=LIB_CODE,
        fingerprint=b"inputs",
        out_dir=tmp / name / "outbox",
    )


def _run(
    tmp: Path, name: str, role: Role, url: str, **kwargs: object
) -> tuple[threading.Thread, Outcome]:
    party = _party(tmp, name, role)
    kwargs.setdefault("timeout", 20.0)
    return in_thread(
        lambda: run_mailbox(
            party, Mailbox(url), role=role, inbox=tmp / name / "inbox", poll=0.05, **kwargs
        )
    )


def _both(tmp: Path, url: str) -> tuple[Outcome, Outcome]:
    (ts, s_out), (tr, r_out) = _run(tmp, "s", Role.SENDER, url), _run(tmp, "r", Role.RECEIVER, url)
    ts.join(JOIN)
    tr.join(JOIN)
    return s_out, r_out


def test_a_folder_mailbox_gives_both_sides_the_in_memory_result(tmp_path: Path) -> None:
    box = tmp_path / "box"
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:  # what a bystander with read access to the folder sees
        while not stop.is_set():
            for p in box.glob("*") if box.exists() else []:
                if p.name not in seen:
                    try:  # a put's temporary file may be renamed between listing and reading
                        data = p.read_bytes() if p.is_file() else b""
                    except FileNotFoundError:
                        continue
                    seen.add(p.name)
                    assert SENDER_LABEL.encode() not in data and RECEIVER_LABEL.encode() not in data
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    s_out, r_out = _both(tmp_path, str(box))
    stop.set()
    watcher.join(5)
    assert s_out.error is None and r_out.error is None, (s_out.error, r_out.error)
    assert (s_out.value, r_out.value) == expected()
    assert any(n.startswith("blindmatch-sender-") for n in seen)
    # Every message was consumed and removed; only nothing (or the last, unread one) remains.
    assert len(list(box.glob("blindmatch-*.bmx"))) <= 1
    assert not (tmp_path / "s" / "state.json").exists()


def test_a_crashed_side_resumes_from_its_state(tmp_path: Path) -> None:
    box = str(tmp_path / "box")
    # The sender starts alone and gives up waiting: its state and first message stay.
    t, out = _run(tmp_path, "s", Role.SENDER, box, timeout=0.3)
    t.join(JOIN)
    assert isinstance(out.error, TransportTimeoutError), out.error
    assert "run the same command again" in str(out.error)
    assert (tmp_path / "s" / "state.json").exists()
    # The mailbox lost the sender's message (someone cleaned up): the rerun puts it again.
    for p in (tmp_path / "box").glob("blindmatch-sender-*"):
        p.unlink()
    s_out, r_out = _both(tmp_path, box)
    assert s_out.error is None and r_out.error is None, (s_out.error, r_out.error)
    assert (s_out.value, r_out.value) == expected()


def test_stale_files_expire_and_other_runs_are_left_alone(tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.mkdir()
    # a message of an old run, 8 days old; a temporary of a crashed put, 2 hours old
    old_run = _party(tmp_path, "old", Role.RECEIVER).step()
    assert old_run is not None
    stale = box / old_run.name
    stale.write_bytes(old_run.read_bytes())
    crashed = box / f".{old_run.name}.0123456789ab"
    crashed.write_bytes(b"half a file")
    week = time.time() - 8 * 86400
    os.utime(stale, (week, week))
    os.utime(crashed, (time.time() - 7200, time.time() - 7200))
    # a receiver's answer to another sender, in a run going on: not ours to touch, ignored
    other_s = _party(tmp_path, "other-s", Role.SENDER)
    other_r = _party(tmp_path, "other-r", Role.RECEIVER)
    first = other_s.step()
    other_r.step()
    assert first is not None
    other = other_r.step([first])
    assert other is not None
    (box / other.name).write_bytes(other.read_bytes())
    t, out = _run(tmp_path, "s", Role.SENDER, str(box), timeout=0.3)
    t.join(JOIN)
    assert isinstance(out.error, TransportTimeoutError), out.error  # nobody answered
    assert not stale.exists() and not crashed.exists()
    assert (box / other.name).exists()


# -- psi-run processes -------------------------------------------------------------------------


def _psi_offline(
    files: dict[str, Path], side: str, tmp: Path, url: str, *extra: str
) -> subprocess.Popen[str]:
    data, policy = ("nw", "nw_policy") if side == "sender" else ("gx", "gx_policy")
    return subprocess.Popen(
        [sys.executable, "-m", "blindmatch.cli.main", "offline", "--role", side,
         "--input", str(files[data]), "--policy", str(files[policy]),
         "--state", str(tmp / f"{side}.state"), "--out-dir", str(tmp / f"{side}-out"),
         "--outbox", str(tmp / f"{side}-outbox"), "--mailbox", url, "--poll", "0.1",
         "--timeout", "60", "--yes", "--quiet", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "BLINDMATCH_PAIRING_CODE": CODE},
    )  # fmt: skip


def _two_processes(tmp: Path, url: str, *extra: str) -> tuple[dict[str, object], dict[str, object]]:
    files = _write_inputs(tmp, "records", "counts")
    procs = [_psi_offline(files, side, tmp, url, *extra) for side in ("sender", "receiver")]
    outs = [p.communicate(timeout=JOIN * 2) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert CODE not in out + err
    return json.loads(outs[0][0]), json.loads(outs[1][0])


def test_two_processes_through_a_shared_folder(tmp_path: Path) -> None:
    nw, gx = _two_processes(tmp_path, str(tmp_path / "shared"))
    assert nw["counts"] == NORTHWIND_LEARNS and gx["counts"] == GLOBEX_LEARNS
    assert not (tmp_path / "sender.state").exists() and not (tmp_path / "receiver.state").exists()


@pytest.fixture
def sftp_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    root = tmp_path / "sftp-root"
    root.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(root), "partner", "mailbox-password"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("port "), line
        yield int(line.split()[1]), root
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_two_processes_through_an_sftp_server(
    tmp_path: Path, sftp_server: tuple[int, Path]
) -> None:
    port, root = sftp_server
    url = f"sftp://partner@127.0.0.1:{port}/exchange"
    # fsspec's SFTP (paramiko) accepts the server's new host key: the channel inside the
    # message files authenticates the partner, so the server is not trusted with anything.
    nw, gx = _two_processes(tmp_path, url, "--mailbox-option", "password=mailbox-password")
    assert nw["counts"] == NORTHWIND_LEARNS and gx["counts"] == GLOBEX_LEARNS
    assert (root / "exchange").is_dir()  # the messages went through the server's folder
    left = list((root / "exchange").glob("blindmatch-*.bmx"))
    assert len(left) <= 1, left


def test_both_sides_creating_the_sftp_folder_at_once_is_no_error(
    sftp_server: tuple[int, Path],
) -> None:
    """fsspec's SFTP makedirs checks, then creates: a partner in between made it fail."""
    port, root = sftp_server
    for attempt in range(3):
        url = f"sftp://partner@127.0.0.1:{port}/race-{attempt}/box"
        barrier = threading.Barrier(6)

        def open_box(url: str = url, barrier: threading.Barrier = barrier) -> Mailbox:
            barrier.wait()
            return Mailbox(url, password="mailbox-password")

        outs = [in_thread(open_box) for _ in range(6)]
        for thread, out in outs:
            thread.join(JOIN)
            assert out.error is None, out.error
        assert (root / f"race-{attempt}" / "box").is_dir()
