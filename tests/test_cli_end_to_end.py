"""psi-run as two real processes over loopback: every disclosure mode, every way to fail.

Each test starts the command line in subprocesses exactly as two companies would, checks exit
codes and messages, that outputs exist only after a complete run, and that no secret or
partner-only key shows up anywhere we can look (stdout, stderr, output files).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pki_support import make_pki

from blindmatch.protocol import seeded_rng
from blindmatch.transport import PairingCode, Pin, certificate_pins
from blindmatch.transport.tls_identity import first_certificate

pytestmark = pytest.mark.slow

CODE = PairingCode.generate(seeded_rng(b"cli tests")).reveal()
WRONG = PairingCode.generate(seeded_rng(b"wrong code")).reveal()

NORTHWIND = [
    ("001A", "Acme, Inc.", "https://www.acme.com/about", "Customer - Direct", "Ada"),
    ("001B", "Initech LLC", "initech.io", "Customer - Channel", "Bo"),
    ("001C", "Umbrella Corp", "http://umbrella.org:8080", "Prospect", "Cy"),
    ("001D", "Hidden Gem GmbH", "northwind-only-secret.de", "Customer - Direct", "Di"),
    ("001E", "Free Mailer", "gmail.com", "Prospect", "Ed"),
]
GLOBEX = [
    ("9001", "ACME", "acme.com", "customer", "Gus"),
    ("9002", "Initech", "www.initech.io", "opportunity", "Hal"),
    ("9003", "Umbrella", "umbrella.org", "customer", "Ivy"),
    ("9004", "Globex Secret Client", "globex-only-secret.com", "customer", "Jo"),
]


#: acme: Customers x Customers; initech: Customers x Opportunities; umbrella: Prospects x Customers
NORTHWIND_LEARNS = {
    "Customers": {"Customers": 1, "Opportunities": 1},
    "Prospects": {"Customers": 1, "Opportunities": 0},
}
GLOBEX_LEARNS = {
    "Customers": {"Customers": 1, "Prospects": 1},
    "Opportunities": {"Customers": 1, "Prospects": 0},
}


def _write_inputs(tmp: Path, northwind_disclosure: str, globex_disclosure: str) -> dict[str, Path]:
    nw = tmp / "northwind.csv"
    with nw.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Account ID", "Account Name", "Website", "Type", "Account Owner"])
        w.writerows(NORTHWIND)
    gx = tmp / "globex.csv"
    with gx.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["Record ID", "Company name", "Company Domain Name", "Lifecycle Stage", "Company owner"]
        )
        w.writerows(GLOBEX)
    nw_fields = 'fields = ["Account Owner"]' if northwind_disclosure == "records" else ""
    gx_fields = 'fields = ["Company owner"]' if globex_disclosure == "records" else ""
    (tmp / "northwind.toml").write_text(
        f"""label = "Northwind"
[keys]
use = ["domain"]
[populations.Customers]
where = {{ Type = ["Customer - Direct", "Customer - Channel"] }}
disclosure = "{northwind_disclosure}"
{nw_fields}
[populations.Prospects]
where = {{ Type = "Prospect" }}
disclosure = "counts"
""",
        encoding="utf-8",
    )
    (tmp / "globex.toml").write_text(
        f"""label = "Globex"
[keys]
use = ["domain"]
[populations.Customers]
where = {{ "Lifecycle Stage" = "customer" }}
disclosure = "{globex_disclosure}"
{gx_fields}
[populations.Opportunities]
where = {{ "Lifecycle Stage" = "opportunity" }}
disclosure = "counts"
""",
        encoding="utf-8",
    )
    return {
        "nw": nw,
        "gx": gx,
        "nw_policy": tmp / "northwind.toml",
        "gx_policy": tmp / "globex.toml",
    }


class Party:
    """A psi-run subprocess whose stderr is collected as it arrives."""

    def __init__(self, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "BLINDMATCH_DEBUG"}
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "blindmatch.cli.main", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.err_lines: list[str] = []
        self._port = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err_lines.append(line)
            m = re.search(r"Listening on [^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._port.set()

    def wait_port(self) -> int:
        assert self._port.wait(30), "".join(self.err_lines)
        return self.port

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()  # stderr belongs to the reader thread
        self.proc.wait(timeout=timeout)
        self._reader.join(5)
        self.proc.stdout.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return self.proc.returncode, out, "".join(self.err_lines)


def _sender(files: dict[str, Path], out: Path, *extra: str, code: str = CODE) -> Party:
    return Party(
        ["--role", "sender", "--input", str(files["nw"]), "--policy", str(files["nw_policy"]),
         "--out-dir", str(out), "--listen", "127.0.0.1:0", "--code", code, "--yes", "--quiet",
         "--timeout", "20", *extra]
    )  # fmt: skip


def _receiver(files: dict[str, Path], out: Path, port: int, *extra: str, code: str = CODE) -> Party:
    return Party(
        ["--role", "receiver", "--input", str(files["gx"]), "--policy", str(files["gx_policy"]),
         "--out-dir", str(out), "--connect", f"127.0.0.1:{port}", "--code", code, "--yes",
         "--quiet", "--timeout", "20", "--connect-retry", "5", *extra]
    )  # fmt: skip


def _everything_written(*dirs: Path) -> str:
    text = ""
    for d in dirs:
        if d.exists():
            for p in sorted(d.rglob("*")):
                if p.is_file():
                    text += p.read_text(encoding="utf-8", errors="replace")
    return text


@pytest.mark.parametrize(
    ("nw_mode", "gx_mode"), [("counts", "counts"), ("records", "counts"), ("records", "records")]
)
def test_two_processes_learn_what_each_side_allowed(
    tmp_path: Path, nw_mode: str, gx_mode: str
) -> None:
    files = _write_inputs(tmp_path, nw_mode, gx_mode)
    nw_out, gx_out = tmp_path / "nw-out", tmp_path / "gx-out"
    sender = _sender(files, nw_out, "--json")
    receiver = _receiver(files, gx_out, sender.wait_port(), "--json")
    rc_r, out_r, err_r = receiver.finish()
    rc_s, out_s, err_s = sender.finish()
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    nw = json.loads(out_s)
    gx = json.loads(out_r)
    assert nw["counts"] == NORTHWIND_LEARNS
    assert gx["counts"] == GLOBEX_LEARNS
    assert json.loads((nw_out / "summary.json").read_text())["counts"] == nw["counts"]
    overlap = list(csv.reader((nw_out / "overlap.csv").read_text(encoding="utf-8").splitlines()))
    assert overlap[1][:3] == ["Customers", "1", "1"]  # the matrix row, as in summary.json
    # matches.csv exists exactly when the partner revealed a records-level population
    assert (nw_out / "matches.csv").exists() == (gx_mode == "records")
    assert (gx_out / "matches.csv").exists() == (nw_mode == "records")
    if gx_mode == "records":
        rows = list(
            csv.DictReader((nw_out / "matches.csv").read_text(encoding="utf-8").splitlines())
        )
        # acme and umbrella are Globex customers; initech is only an opportunity (counts)
        assert {r["record_id"]: r["partner.Company owner"] for r in rows} == {
            "001A": "Gus",
            "001C": "Ivy",
        }
    if nw_mode == "records":
        rows = list(
            csv.DictReader((gx_out / "matches.csv").read_text(encoding="utf-8").splitlines())
        )
        assert {r["record_id"] for r in rows} == {"9001", "9002"}
    # What must never appear: the pairing code, and keys only the partner holds.
    seen_by_northwind = out_s + err_s + _everything_written(nw_out)
    seen_by_globex = out_r + err_r + _everything_written(gx_out)
    for text in (seen_by_northwind, seen_by_globex):
        assert CODE not in text and CODE.replace("-", "") not in text
    assert "globex-only-secret" not in seen_by_northwind
    assert "northwind-only-secret" not in seen_by_globex
    manifest = json.loads((nw_out / "run.json").read_text())
    assert manifest["partner_label"] == "Globex" and manifest["transport"] == "pake"
    assert oct((nw_out / "summary.json").stat().st_mode & 0o777) == oct(0o600)


def test_receiver_takes_the_code_from_the_environment_not_the_command_line(tmp_path: Path) -> None:
    """`ps` shows arguments to every local user; the environment is private to the process."""
    files = _write_inputs(tmp_path, "counts", "counts")
    sender = _sender(files, tmp_path / "nw-out")
    port = sender.wait_port()
    receiver = Party(
        ["--role", "receiver", "--input", str(files["gx"]), "--policy", str(files["gx_policy"]),
         "--out-dir", str(tmp_path / "gx-out"), "--connect", f"127.0.0.1:{port}", "--yes",
         "--quiet", "--timeout", "20"],
        extra_env={"BLINDMATCH_PAIRING_CODE": CODE},
    )  # fmt: skip
    assert CODE not in " ".join(receiver.proc.args)  # type: ignore[arg-type]
    rc_r, _, err_r = receiver.finish()
    rc_s, _, err_s = sender.finish()
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert json.loads((tmp_path / "gx-out" / "summary.json").read_text())["counts"] == GLOBEX_LEARNS


def test_both_sides_take_a_pre_agreed_code_from_the_environment(tmp_path: Path) -> None:
    """An automated sender (no terminal) needs no code on its command line either."""
    files = _write_inputs(tmp_path, "counts", "counts")
    args = ["--yes", "--quiet", "--timeout", "20"]
    env = {"BLINDMATCH_PAIRING_CODE": CODE}
    sender = Party(
        ["--role", "sender", "--input", str(files["nw"]), "--policy", str(files["nw_policy"]),
         "--out-dir", str(tmp_path / "nw-out"), "--listen", "127.0.0.1:0", *args],
        extra_env=env,
    )  # fmt: skip
    receiver = Party(
        [
            "--input",
            str(files["gx"]),
            "--policy",
            str(files["gx_policy"]),
            "--role",
            "receiver",
            "--out-dir",
            str(tmp_path / "gx-out"),
            "--connect",
            f"127.0.0.1:{sender.wait_port()}",
            *args,
        ],
        extra_env=env,
    )  # fmt: skip (and options in any order: --role need not come first)
    rc_r, _, err_r = receiver.finish()
    rc_s, _, err_s = sender.finish()
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert CODE not in err_s + err_r


def test_a_code_file_is_owner_only_and_gone_when_the_run_ends(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    code_file = tmp_path / "code.txt"
    sender = Party(
        ["--role", "sender", "--input", str(files["nw"]), "--policy", str(files["nw_policy"]),
         "--out-dir", str(tmp_path / "nw-out"), "--listen", "127.0.0.1:0", "--code-file",
         str(code_file), "--yes", "--quiet", "--timeout", "20"]
    )  # fmt: skip
    port = sender.wait_port()
    deadline = time.monotonic() + 10
    while not code_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert oct(code_file.stat().st_mode & 0o777) == oct(0o600)
    code = code_file.read_text().strip()
    receiver = _receiver(files, tmp_path / "gx-out", port, code=code)
    rc_r, _, err_r = receiver.finish()
    rc_s, _, err_s = sender.finish()
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert not code_file.exists()


def test_a_rerun_into_the_same_out_dir_leaves_no_stale_matches(tmp_path: Path) -> None:
    """A matches.csv of an earlier run next to a new counts-only summary would be read as
    this run's; the new run's output set removes it."""
    nw_out, gx_out = tmp_path / "nw-out", tmp_path / "gx-out"
    for nw_mode in ("records", "counts"):
        (tmp_path / nw_mode).mkdir()
        files = _write_inputs(tmp_path / nw_mode, nw_mode, "counts")
        sender = _sender(files, nw_out)
        receiver = _receiver(files, gx_out, sender.wait_port())
        rc_r, _, err_r = receiver.finish()
        rc_s, _, err_s = sender.finish()
        assert (rc_s, rc_r) == (0, 0), err_s + err_r
        assert (gx_out / "matches.csv").exists() == (nw_mode == "records")
    assert sorted(p.name for p in gx_out.iterdir()) == [
        "counts.csv", "counts.parquet", "gone.csv", "new.csv", "overlap.csv", "overlaps.csv",
        "overlaps.parquet", "report.html", "run.json", "summary.json",
    ]  # fmt: skip


def test_an_unusable_out_dir_is_refused_before_any_session(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    not_a_dir = tmp_path / "afile"
    not_a_dir.write_text("x")
    for out in (not_a_dir, not_a_dir / "sub"):
        party = _sender(files, out)
        rc, _, err = party.finish()
        assert rc == 2, err
        assert "not a directory" in err and "Listening" not in err
    rc, _, err = Party(["demo", "--quiet", "--out-dir", str(not_a_dir)]).finish()
    assert rc == 2 and "not a directory" in err


def test_every_output_path_is_checked_before_any_session(tmp_path: Path) -> None:
    """Found only after the session, a bad output path left us with an internal error and
    nothing, while the partner had its result: each is refused up front, exit 2, nothing made."""
    files = _write_inputs(tmp_path, "counts", "counts")
    occupied = tmp_path / "occupied"
    (occupied / "summary.json").mkdir(parents=True)
    cases = [
        (Path("/proc/nope/x"), [], "cannot create it in /proc"),
        (Path("/sys/blindmatch-out"), [], "cannot create it in /sys"),  # no permission, even root
        (occupied, [], "summary.json exists and is not a file"),
        (tmp_path / "nw-out", ["--code-file", str(tmp_path / "missing" / "code.txt")],
         "--code-file"),
        (tmp_path / "nw-out", ["--code-file", "/proc/code.txt"], "cannot write in /proc"),
    ]  # fmt: skip
    for out, extra, message in cases:
        rc, _, err = _sender(files, out, *extra).finish()
        assert rc == 2, err
        assert message in err and "Listening" not in err and "internal" not in err, err
    assert not (tmp_path / "nw-out").exists()
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    bad_input = _sender({**files, "nw": tmp_path / "absent.csv"}, tmp_path / "nw-out").finish()
    assert bad_input[0] == 3 and "absent.csv" in bad_input[2] and "Listening" not in bad_input[2]
    bad_policy = tmp_path / "bad.toml"
    bad_policy.write_text('label = "x"\n[populations.A]\ndisclosure = "everything"\n')
    rc, _, err = _sender({**files, "nw_policy": bad_policy}, tmp_path / "nw-out").finish()
    assert rc == 4 and "bad.toml" in err and "Listening" not in err, err  # policy error
    rc, _, err = Party(["demo", "--quiet", "--out-dir", "/proc/nope/x"]).finish()
    assert rc == 2 and "cannot create it in /proc" in err, err


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    sender = _sender(files, tmp_path / "nw-out")
    sender.wait_port()
    sender.proc.send_signal(signal.SIGTERM)
    rc, _, err = sender.finish()
    assert rc == 130 and "interrupted" in err
    assert not (tmp_path / "nw-out").exists()


def test_a_closed_stdout_is_not_reported_as_an_internal_error(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    with subprocess.Popen(
        [sys.executable, "-m", "blindmatch.cli.main", "demo", "--quiet", "--out-dir", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # like `| head -0`
        err = proc.stderr.read()
        rc = proc.wait(120)
    assert "internal error" not in err and "Traceback" not in err, err
    assert "standard output was closed" in err and rc == 1
    assert (out / "northwind" / "summary.json").exists()


def test_wrong_pairing_code_fails_the_guesser_and_writes_nothing(tmp_path: Path) -> None:
    """The receiver with a wrong code stops (exit 5); the listening sender logs the failed
    pairing and waits on (a stranger's guess must not end its run) until its timeout."""
    files = _write_inputs(tmp_path, "records", "records")
    nw_out, gx_out = tmp_path / "nw-out", tmp_path / "gx-out"
    sender = _sender(files, nw_out, "--timeout", "3")
    receiver = _receiver(files, gx_out, sender.wait_port(), code=WRONG)
    rc_r, _, err_r = receiver.finish()
    rc_s, _, err_s = sender.finish()
    assert (rc_s, rc_r) == (6, 5), err_s + err_r
    assert "failed the pairing code" in err_s and "[failed pairings: 1]" in err_s
    assert "pairing code does not match" in err_r
    assert not nw_out.exists() and not gx_out.exists()
    assert WRONG not in err_s + err_r and CODE not in err_s + err_r


class CuttingProxy:
    """Forwards one connection both ways and cuts it after ``limit`` bytes from the sender."""

    def __init__(self, target: int, limit: int) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.target, self.limit = target, limit
        self.forwarded = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        client, _ = self.server.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target))
        done = threading.Event()

        def pump(src: socket.socket, dst: socket.socket, counted: bool) -> None:
            try:
                while not done.is_set():
                    data = src.recv(4096)
                    if not data:
                        break
                    if counted:
                        room = self.limit - self.forwarded
                        data = data[: max(room, 0)]
                        self.forwarded += len(data)
                    if data:
                        dst.sendall(data)
                    if counted and self.forwarded >= self.limit:
                        break
            except OSError:
                pass
            done.set()
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        pump(upstream, client, True)
        self.server.close()


@pytest.mark.parametrize("limit", [0, 40, 300, 900, 1500, 2400, 3100])
def test_connection_cut_at_each_step_stops_both_cleanly(tmp_path: Path, limit: int) -> None:
    """A clean run sends about 3,230 bytes from sender to receiver here; cut inside the
    channel handshake, after it, around the hello and accept, inside the blinded data, and
    inside the returned values, just before the end."""
    files = _write_inputs(tmp_path, "records", "counts")
    nw_out, gx_out = tmp_path / "nw-out", tmp_path / "gx-out"
    sender = _sender(files, nw_out)
    proxy = CuttingProxy(sender.wait_port(), limit)
    receiver = _receiver(files, gx_out, proxy.port)
    rc_r, _, err_r = receiver.finish()
    rc_s, _, err_s = sender.finish()
    proxy.server.close()
    # Each side either stops with "partner gone" and writes nothing, or (only a side that had
    # already received everything it needed, as the last messages were cut) has its complete
    # result; no one can make both sides fail together at the last byte (spec §8, fairness).
    assert rc_r == 6, (limit, err_r)
    for rc, err, out in ((rc_s, err_s, nw_out), (rc_r, err_r, gx_out)):
        assert rc in (0, 6), (limit, err)
        assert "Traceback" not in err
        if rc == 6:
            assert "partner unreachable" in err and not out.exists()
        else:
            assert {"run.json", "summary.json", "overlap.csv"} <= {p.name for p in out.iterdir()}
    if limit < 2400:
        assert rc_s == 6, (limit, err_s)


def test_silent_partner_times_out(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    started = time.monotonic()
    receiver = _receiver(files, tmp_path / "gx-out", silent.getsockname()[1], "--timeout", "1")
    rc, _, err = receiver.finish()
    for s in accepted + [silent]:
        s.close()
    assert rc == 6, err
    assert "partner unreachable" in err and time.monotonic() - started < 20
    assert not (tmp_path / "gx-out").exists()


def test_connection_refused_is_named(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    receiver = _receiver(files, tmp_path / "gx-out", port, "--connect-retry", "0.5")
    rc, _, err = receiver.finish()
    assert rc == 6 and "refused" in err, err


def _offline(files: dict[str, Path], side: str, tmp: Path, *incoming: Path) -> tuple[int, str]:
    data, policy = ("nw", "nw_policy") if side == "sender" else ("gx", "gx_policy")
    result = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "offline", "--role", side,
         "--input", str(files[data]), "--policy", str(files[policy]), "--state",
         str(tmp / f"{side}.state"), "--out-dir", str(tmp / f"{side}-out"), "--code", CODE,
         "--outbox", str(tmp / f"{side}-outbox"),
         "--yes", "--quiet", *map(str, incoming)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def _new_files(folder: Path, seen: set[Path]) -> list[Path]:
    fresh = sorted(p for p in folder.glob("*.bmx") if p not in seen)
    seen.update(fresh)
    return fresh


def test_offline_round_trip_equals_online_result(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "records", "counts")
    got: dict[str, list[Path]] = {"sender": [], "receiver": []}
    seen: dict[str, set[Path]] = {"sender": set(), "receiver": set()}
    logs = ""
    for _ in range(12):
        for side, other in (("sender", "receiver"), ("receiver", "sender")):
            if (tmp_path / f"{side}-out" / "summary.json").exists():
                continue
            rc, log = _offline(files, side, tmp_path, *got[side])
            logs += log
            assert rc == 0, log
            for new in _new_files(tmp_path / f"{side}-outbox", seen[side]):
                got[other].append(new)
        if all((tmp_path / f"{s}-out" / "summary.json").exists() for s in got):
            break
    nw = json.loads((tmp_path / "sender-out" / "summary.json").read_text())
    gx = json.loads((tmp_path / "receiver-out" / "summary.json").read_text())
    assert nw["counts"] == NORTHWIND_LEARNS
    assert gx["counts"] == GLOBEX_LEARNS
    assert not (tmp_path / "sender.state").exists() and not (tmp_path / "receiver.state").exists()
    carried = b"".join(p.read_bytes() for p in tmp_path.rglob("*.bmx"))
    assert CODE.encode() not in carried and b"Northwind" not in carried  # encrypted, even the terms
    assert CODE not in logs
    _assert_one_run_id(tmp_path / "sender-out", tmp_path / "receiver-out")


def _assert_one_run_id(*out_dirs: Path) -> str:
    """Every output of both sides names the same run: summary.json, run.json, matches.csv."""
    ids = set()
    for out in out_dirs:
        ids.add(json.loads((out / "summary.json").read_text())["run_id"])
        ids.add(json.loads((out / "run.json").read_text())["run_id"])
        if (out / "matches.csv").exists():
            rows = csv.DictReader((out / "matches.csv").read_text(encoding="utf-8").splitlines())
            ids.update(r["run_id"] for r in rows)
    assert len(ids) == 1 and re.fullmatch(r"[0-9a-f]{16}", next(iter(ids))), ids
    return ids.pop()


def test_both_sides_of_a_session_share_one_run_id(tmp_path: Path) -> None:
    """run_id joins our outputs to the partner's for one session (it used to be drawn at random
    on each side); a new session gets a new one."""
    files = _write_inputs(tmp_path, "records", "records")
    seen = []
    for n in range(2):
        nw_out, gx_out = tmp_path / f"nw-out{n}", tmp_path / f"gx-out{n}"
        sender = _sender(files, nw_out)
        receiver = _receiver(files, gx_out, sender.wait_port())
        rc_r, _, err_r = receiver.finish()
        rc_s, _, err_s = sender.finish()
        assert (rc_s, rc_r) == (0, 0), err_s + err_r
        seen.append(_assert_one_run_id(nw_out, gx_out))
    assert seen[0] != seen[1]
    rc, _, err = Party(["demo", "--quiet", "--out-dir", str(tmp_path / "demo")]).finish(120)
    assert rc == 0, err
    _assert_one_run_id(tmp_path / "demo" / "northwind", tmp_path / "demo" / "globex")


def test_inspect_reports_locally(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    result = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "inspect", str(files["nw"]),
         "--policy", str(files["nw_policy"]), "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"] == 5


def test_inspect_and_run_json_count_rows_without_a_key_alike(tmp_path: Path) -> None:
    """inspect counted 217 rows without a key on the Northwind sample where run.json said 172:
    both now show the one definition, which the sample's ground truth (computed without
    blindmatch) also follows."""
    from blindmatch.accounts import sample

    rc, _, err = Party(["demo", "--quiet", "--out-dir", str(tmp_path / "demo")]).finish(120)
    assert rc == 0, err
    files = {"northwind": ("northwind_salesforce.csv", "northwind_policy.toml"),
             "globex": ("globex_hubspot.csv", "globex_policy.toml")}  # fmt: skip
    for side, (data, policy) in files.items():
        truth = sample.expected()["parties"][side]["rows_without_keys"]
        run = json.loads((tmp_path / "demo" / side / "run.json").read_text())
        summary = json.loads((tmp_path / "demo" / side / "summary.json").read_text())
        with sample.path(data) as data_path, sample.path(policy) as policy_path:
            base = [sys.executable, "-m", "blindmatch.cli.main", "inspect", str(data_path),
                    "--policy", str(policy_path)]  # fmt: skip
            as_json = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=60)
            as_text = subprocess.run(base, capture_output=True, text=True, timeout=60)
        assert as_json.returncode == 0 and as_text.returncode == 0, as_json.stderr
        report = json.loads(as_json.stdout)
        assert report["rows_without_usable_key"] == truth
        assert f"Rows without a usable key: {truth:,} " in as_text.stdout
        assert run["counts"]["records_without_keys"] == truth
        assert summary["records_without_keys"] == truth


def test_short_rows_are_refused_unless_allowed(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    with files["nw"].open("a", encoding="utf-8") as f:
        f.write("001F,Cut Short\n")  # 2 cells for 5 columns

    def inspect(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "blindmatch.cli.main", "inspect", str(files["nw"]),
             "--policy", str(files["nw_policy"]), "--json", *extra],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    refused = inspect()
    assert refused.returncode == 3
    assert "northwind.csv, row 7: row has 2 cells but the header has 5 columns" in refused.stderr
    allowed = inspect("--allow-short-rows")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["rows"] == 6
    party = _sender(files, tmp_path / "nw-out")
    rc, _, err = party.finish()
    assert rc == 3 and "row 7" in err and "Listening" not in err, err


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["inspect", "{missing}"], 3, "missing.csv"),
        (
            [
                "--role",
                "sender",
                "--input",
                "{nw}",
                "--policy",
                "{bad_policy}",
                "--out-dir",
                "{out}",
                "--code",
                CODE,
            ],
            4,
            "disclosure",
        ),
        (
            [
                "--role",
                "receiver",
                "--input",
                "{nw}",
                "--label",
                "X",
                "--out-dir",
                "{out}",
                "--connect",
                "127.0.0.1:1",
            ],
            2,
            "--code",
        ),
        (
            [
                "--role",
                "sender",
                "--input",
                "{nw}",
                "--label",
                "X",
                "--out-dir",
                "{out}",
                "--code",
                "12345",
            ],
            2,
            "pairing code",
        ),
    ],
)
def test_bad_invocations_get_named_errors_and_exit_codes(
    tmp_path: Path, args: list[str], code: int, needle: str
) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    bad = tmp_path / "bad.toml"
    bad.write_text('label = "X"\n[populations.C]\ndisclosure = "everything"\n', encoding="utf-8")
    values = {
        "nw": files["nw"],
        "missing": tmp_path / "missing.csv",
        "bad_policy": bad,
        "out": tmp_path / "out",
    }
    argv = [a.format(**values) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


# -- TLS with pins ---------------------------------------------------------------------------


def _tls_party(
    role: str, files: dict[str, Path], pki: dict[str, Path], out: Path, *extra: str
) -> Party:
    name, data, policy = (
        ("server", "nw", "nw_policy") if role == "sender" else ("client", "gx", "gx_policy")
    )
    return Party(
        ["--role", role, "--input", str(files[data]), "--policy", str(files[policy]),
         "--out-dir", str(out), "--tls-cert", str(pki[f"{name}_cert"]),
         "--tls-key", str(pki[f"{name}_key"]), "--tls-ca", str(pki["ca"]), "--yes", "--quiet",
         "--timeout", "20", *extra]
    )  # fmt: skip


def _pin(pki: dict[str, Path], name: str, kind: str) -> Pin:
    cert, spki = certificate_pins(first_certificate(pki[f"{name}_cert"]))
    return cert if kind == "cert" else spki


def test_tls_with_pins_runs_end_to_end(tmp_path: Path) -> None:
    """Each side pins the other (one by public key, one by certificate, in hex, among two
    pins); the run completes as over a pairing code."""
    pki = make_pki(_mkdir(tmp_path / "pki"))
    files = _write_inputs(tmp_path, "records", "counts")
    nw_out, gx_out = tmp_path / "nw-out", tmp_path / "gx-out"
    sender = _tls_party(
        "sender", files, pki, nw_out, "--listen", "127.0.0.1:0", "--json",
        "--tls-pin", str(_pin(pki, "client", "spki")),
    )  # fmt: skip
    as_hex = "cert-sha256:" + _pin(pki, "server", "cert").digest.hex()
    receiver = _tls_party(
        "receiver", files, pki, gx_out, "--connect", f"127.0.0.1:{sender.wait_port()}",
        "--json", "--tls-pin", str(_pin(pki, "rogue", "cert")), "--tls-pin", as_hex,
    )  # fmt: skip
    rc_r, out_r, err_r = receiver.finish()
    rc_s, out_s, err_s = sender.finish()
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert json.loads(out_s)["counts"] == NORTHWIND_LEARNS
    assert json.loads(out_r)["counts"] == GLOBEX_LEARNS
    assert json.loads((nw_out / "run.json").read_text())["transport"] == "tls"


def test_a_tls_partner_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    """The receiver pinned someone else: the sender's certificate is CA-signed and valid for
    the address, yet refused right after the handshake (exit 5, naming what it saw)."""
    pki = make_pki(_mkdir(tmp_path / "pki"))
    files = _write_inputs(tmp_path, "records", "records")
    nw_out, gx_out = tmp_path / "nw-out", tmp_path / "gx-out"
    sender = _tls_party("sender", files, pki, nw_out, "--listen", "127.0.0.1:0")
    receiver = _tls_party(
        "receiver", files, pki, gx_out, "--connect", f"127.0.0.1:{sender.wait_port()}",
        "--tls-pin", str(_pin(pki, "mallory", "spki")),
    )  # fmt: skip
    rc_r, _, err_r = receiver.finish()
    rc_s, _, err_s = sender.finish()
    assert rc_r == 5, err_r
    assert "authentication failed" in err_r and str(_pin(pki, "server", "spki")) in err_r
    assert rc_s == 6, err_s  # the partner hung up before its hello
    assert not nw_out.exists() and not gx_out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tls-pin", "sha256:00"], "TLS pin 'sha256:00'"),
        (["--tls-pin", "cert-sha256:abcd"], "not a SHA-256 value"),
    ],
)
def test_a_malformed_tls_pin_is_refused_before_listening(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    pki = make_pki(_mkdir(tmp_path / "pki"))
    files = _write_inputs(tmp_path, "counts", "counts")
    party = _tls_party("sender", files, pki, tmp_path / "out", "--listen", "127.0.0.1:0", *extra)
    rc, _, err = party.finish()
    assert rc == 2 and message in err, err
    assert "Listening" not in err


def test_a_tls_pin_without_tls_is_a_usage_error(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "counts", "counts")
    pin = "spki-sha256:" + "00" * 32
    party = _sender(files, tmp_path / "out", "--tls-pin", pin)
    rc, _, err = party.finish()
    assert rc == 2 and "--tls-pin needs TLS" in err, err


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_the_sender_listens_before_reading_and_an_early_partner_waits(tmp_path: Path) -> None:
    """The port is bound before the accounts are read: a taken port shows at once, and a
    partner connecting while the sender still reads is paired once it is ready."""
    files = _write_inputs(tmp_path, "counts", "counts")
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    sender = subprocess.Popen(
        [sys.executable, "-m", "blindmatch.cli.main", "--role", "sender", "--input", "-",
         "--policy", str(files["nw_policy"]), "--out-dir", str(tmp_path / "nw-out"),
         "--listen", f"127.0.0.1:{port}", "--code", CODE, "--yes", "--quiet", "--timeout", "20"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # The sender waits for its input on stdin, and yet its port already takes a connection.
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the sender never listened"
                time.sleep(0.05)
        assert sender.poll() is None
        receiver = _receiver(files, tmp_path / "gx-out", port, "--connect-retry", "0")
        time.sleep(0.3)  # the receiver is connected and waiting for the sender to be ready
        assert receiver.proc.poll() is None, "".join(receiver.err_lines)
        _, err = sender.communicate(files["nw"].read_bytes(), timeout=60)
        assert sender.returncode == 0, err.decode()
        rc, _, rerr = receiver.finish()
        assert rc == 0, rerr
        assert (tmp_path / "gx-out" / "summary.json").exists()
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
