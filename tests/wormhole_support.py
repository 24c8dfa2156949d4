"""A real magic-wormhole mailbox server and transit relay on loopback, for the tests that need
them (no tests here).

The servers are the pip packages magic-wormhole-mailbox-server and
magic-wormhole-transit-relay, started with ``twistd`` as their operators would; the relay logs
each finished connection's bytes to its usage database, which tests read to see it was used.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Servers:
    mailbox: str
    transit: str
    usage_db: Path


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        assert proc.poll() is None, f"the {what} exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the {what} did not start listening on {port}")


@contextlib.contextmanager
def wormhole_servers(folder: Path) -> Iterator[Servers]:
    """Both servers as processes, in ``folder``, until the block ends."""
    # twistd from this interpreter, wherever pip put its scripts
    twistd = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
    mailbox_port, transit_port = free_port(), free_port()
    usage = folder / "transit-usage.sqlite"
    procs = [
        subprocess.Popen(
            [*twistd, "--nodaemon", "--pidfile=", "wormhole-mailbox",
             f"--port=tcp:{mailbox_port}:interface=127.0.0.1",
             f"--channel-db={folder / 'mailbox.sqlite'}"],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [*twistd, "--nodaemon", "--pidfile=", "transitrelay",
             f"--port=tcp:{transit_port}:interface=127.0.0.1", f"--usage-db={usage}"],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        _wait_listening(mailbox_port, procs[0], "mailbox server")
        _wait_listening(transit_port, procs[1], "transit relay")
        yield Servers(
            mailbox=f"ws://127.0.0.1:{mailbox_port}/v1",
            transit=f"tcp:127.0.0.1:{transit_port}",
            usage_db=usage,
        )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def relayed_bytes(db: Path) -> int:
    """Bytes the transit relay carried, over every connection that has ended."""
    with sqlite3.connect(db) as conn:
        (total,) = conn.execute("SELECT COALESCE(SUM(total_bytes), 0) FROM usage").fetchone()
    return int(total)


def wait_relayed(db: Path, more_than: int) -> int:
    """The relay logs a connection's bytes when it ends: wait a little for that."""
    give_up = time.monotonic() + 10
    while relayed_bytes(db) <= more_than and time.monotonic() < give_up:
        time.sleep(0.1)
    return relayed_bytes(db)
