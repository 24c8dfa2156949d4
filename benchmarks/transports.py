#!/usr/bin/env python3
"""What each way to connect costs over direct TCP: psi-run as two processes, same inputs.

Usage (from the repository root, with the dev venv, which has every extra)::

    .venv/bin/python benchmarks/transports.py --records 100000 --repeat 2

For n records per side (50% overlap, the data of ``run.py``) it runs ``psi-run`` twice as
separate processes on this machine, once per transport:

* ``tcp``            --listen / --connect on loopback (the baseline);
* ``wormhole``       --wormhole through a local mailbox server and transit relay (started
                     here with ``twistd``, as an operator would), direct connection allowed;
* ``wormhole-relay`` the same with --wormhole-relay-only: every byte through the relay;
* ``mailbox-dir``    psi-run offline --mailbox DIR (a local folder), --poll 0.2;
* ``mailbox-sftp``   psi-run offline --mailbox sftp://... (the asyncssh server of the tests).

Wall time is from starting both processes to the later one's exit (so it includes reading the
CSV, start-up and, for the wormhole, the rendezvous). Each transport is run ``--repeat``
times and the fastest run is reported: the machine is shared, and other work only ever adds
time. Results go to ``results/transports.json`` and ``results/transports.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from run import make_values  # noqa: E402

CODE = "10000-00000-00009"  # fixed: the benchmark's data is not secret
PSI = [sys.executable, "-m", "blindmatch.cli.main"]


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def _wait_port(port: int) -> None:
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def write_inputs(folder: Path, n: int) -> dict[str, Path]:
    paths = {}
    for side in ("sender", "receiver"):
        path = folder / f"{side}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["Id", "Name", "Website"])
            for i, domain in enumerate(make_values(side, n, 0.5)):
                w.writerow([f"{side[0]}{i}", f"Account {i}", domain])
        paths[side] = path
    return paths


def _party(side: str, inputs: dict[str, Path], out: Path) -> list[str]:
    return ["--role", side, "--input", str(inputs[side]), "--label", side.title(),
            "--out-dir", str(out / side), "--yes", "--quiet", "--json"]  # fmt: skip


def _run_pair(commands: list[list[str]], env: dict[str, str]) -> tuple[float, list[dict[str, Any]]]:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for c in commands
    ]
    outs = [p.communicate(timeout=3600) for p in procs]
    wall = time.perf_counter() - start
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"psi-run exited {p.returncode}: {err.strip()[-2000:]}")
    return wall, [json.loads(out) for out, _ in outs]


class Servers:
    """Wormhole mailbox server, transit relay and an SFTP server, on loopback."""

    def __init__(self, folder: Path) -> None:
        # twistd from this interpreter, wherever pip put its scripts
        twistd = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
        self.mailbox_port, self.transit_port = _free_port(), _free_port()
        self.sftp_root = folder / "sftp-root"
        self.sftp_root.mkdir()
        self.procs = [
            subprocess.Popen(
                [*twistd, "--nodaemon", "--pidfile=", "wormhole-mailbox",
                 f"--port=tcp:{self.mailbox_port}:interface=127.0.0.1",
                 f"--channel-db={folder / 'mailbox.sqlite'}"],
                cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [*twistd, "--nodaemon", "--pidfile=", "transitrelay",
                 f"--port=tcp:{self.transit_port}:interface=127.0.0.1"],
                cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
        ]  # fmt: skip
        sftp = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "servers" / "sftp_server.py"),
             str(self.sftp_root), "bench", "bench-password"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.append(sftp)
        assert sftp.stdout is not None
        self.sftp_port = int(sftp.stdout.readline().split()[1])
        _wait_port(self.mailbox_port)
        _wait_port(self.transit_port)

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
            p.wait(10)


def commands(
    transport: str, inputs: dict[str, Path], work: Path, servers: Servers
) -> list[list[str]]:
    out = work / "out"
    if transport == "tcp":
        port = _free_port()
        return [
            [*PSI, *_party("sender", inputs, out), "--listen", f"127.0.0.1:{port}"],
            [*PSI, *_party("receiver", inputs, out), "--connect", f"127.0.0.1:{port}"],
        ]
    if transport.startswith("wormhole"):
        extra = ["--wormhole", "--wormhole-server", f"ws://127.0.0.1:{servers.mailbox_port}/v1",
                 "--wormhole-transit", f"tcp:127.0.0.1:{servers.transit_port}"]  # fmt: skip
        if transport == "wormhole-relay":
            extra.append("--wormhole-relay-only")
        return [[*PSI, *_party(s, inputs, out), *extra] for s in ("sender", "receiver")]
    if transport == "mailbox-dir":
        url, opts = str(work / "shared"), []
    else:
        url = f"sftp://bench@127.0.0.1:{servers.sftp_port}/{work.name}"
        opts = ["--mailbox-option", "password=bench-password"]
    return [
        [*PSI, "offline", *_party(s, inputs, out), "--state", str(work / f"{s}.state"),
         "--outbox", str(work / f"{s}-outbox"), "--mailbox", url, "--poll", "0.2", *opts]
        for s in ("sender", "receiver")
    ]  # fmt: skip


TRANSPORTS = ["tcp", "wormhole", "wormhole-relay", "mailbox-dir", "mailbox-sftp"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--transports", nargs="+", default=TRANSPORTS, choices=TRANSPORTS)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    env = {**os.environ, "BLINDMATCH_PAIRING_CODE": CODE}
    env.pop("BLINDMATCH_DEBUG", None)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bm-transports-") as tmp:
        folder = Path(tmp)
        inputs = write_inputs(folder, args.records)
        servers = Servers(folder)
        try:
            for round_no in range(args.repeat):
                for transport in args.transports:
                    work = folder / f"{transport}-{round_no}"
                    work.mkdir()
                    wall, summaries = _run_pair(commands(transport, inputs, work, servers), env)
                    counts = [s["counts"] for s in summaries]
                    row = rows.setdefault(transport, {"walls": [], "counts": counts})
                    assert row["counts"] == counts, f"{transport} computed other counts"
                    row["walls"].append(round(wall, 2))
                    print(f"{transport:15s} round {round_no + 1}: {wall:7.2f} s", flush=True)
                    shutil.rmtree(work, ignore_errors=True)
        finally:
            servers.close()
    base = min(rows["tcp"]["walls"]) if "tcp" in rows else None
    for row in rows.values():
        row["best"] = min(row["walls"])
        row["vs_tcp"] = round(row["best"] / base, 2) if base else None
    counts = {json.dumps(r["counts"], sort_keys=True) for r in rows.values()}
    assert len(counts) == 1, "transports disagree on the result"
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"records": args.records, "repeat": args.repeat, "rows": rows,
           "cpus": os.cpu_count(), "python": sys.version.split()[0]}  # fmt: skip
    (args.out / "transports.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# Transports at {args.records:,} records per side (best of {args.repeat})",
        "",
        "| transport | best wall | vs direct TCP | all runs |",
        "|---|---|---|---|",
    ]
    for name, row in rows.items():
        walls = ", ".join(f"{w:.2f}" for w in row["walls"])
        lines.append(f"| {name} | {row['best']:.2f} s | {row['vs_tcp']}x | {walls} |")
    (args.out / "transports.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
