"""``psi-run map`` reaching partners every way there is, with real components only.

One map meets three partners at once, each a real psi-run process: one over mutual TLS with
real certificates and pins (we listen), one through a real magic-wormhole mailbox server and
transit relay started here (relay only), one through a real mailbox folder (the offline
protocol, polled). A second map a week later must list exactly the added pairs in each
partner's new.csv. A partner that fails (its certificate is not the pinned one) is reported
while the other two complete; a partner's own policy is the one its partner sees.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pki_support import make_pki
from test_workflow_cli import (
    A_ROWS,
    EXTRA,
    POLICY,
    SHARED,
    _crm,
    _finish,
    _id,
    _port,
    _rows,
    _run,
)
from wormhole_support import Servers, relayed_bytes, wait_relayed, wormhole_servers

from blindmatch.protocol import seeded_rng
from blindmatch.transport import PairingCode
from blindmatch.transport.tls_identity import certificate_pins, first_certificate
from blindmatch.transport.wormhole import wormhole_code

pytestmark = pytest.mark.slow

CODE_W = PairingCode.generate(seeded_rng(b"map reach wormhole")).reveal()
CODE_M = PairingCode.generate(seeded_rng(b"map reach mailbox")).reveal()
FIRST = [(d, "Customer") for d in SHARED]
# a week later: three accounts added, one of the shared ones became a prospect
SECOND = [(d, "Customer") for d in SHARED[1:] + EXTRA] + [(SHARED[0], "Prospect")]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with wormhole_servers(tmp_path_factory.mktemp("wormhole-servers")) as running:
        yield running


@pytest.fixture
def world(tmp_path: Path, servers: Servers) -> dict[str, object]:
    """Our inputs and policies, each partner's policy, the PKI, and the partners file."""
    _crm(tmp_path / "a.csv", "A", A_ROWS)
    (tmp_path / "a.toml").write_text(POLICY.format(label="Alpha"), encoding="utf-8")
    # the wormhole partner sees our customers as counts only: its own policy replaces ours
    counts_only = POLICY.format(label="Alpha").replace(
        'disclosure = "records"\nfields = ["Owner"]', 'disclosure = "counts"'
    )
    (tmp_path / "a-for-wh.toml").write_text(counts_only, encoding="utf-8")
    for name in ("tls", "wh", "box"):
        (tmp_path / f"{name}.toml").write_text(POLICY.format(label=name.title()), encoding="utf-8")
    pki = make_pki(tmp_path)
    client_spki = str(certificate_pins(first_certificate(pki["client_cert"]))[1])
    port = _port()
    (tmp_path / "partners.toml").write_text(
        f"""
[[partners]]
name = "tls"
role = "sender"
listen = "127.0.0.1:{port}"
tls_cert = "northwind.crt"
tls_key = "northwind.key"
tls_ca = "ca.crt"
tls_pin = ["{client_spki}"]

[[partners]]
name = "wh"
role = "receiver"
wormhole = "{servers.mailbox}"
wormhole_transit = "{servers.transit}"
wormhole_relay_only = true
code_env = "CODE_W"
policy = "a-for-wh.toml"

[[partners]]
name = "box"
role = "sender"
mailbox = "box-folder"
mailbox_poll = 0.2
code_env = "CODE_M"
""",
        encoding="utf-8",
    )
    return {"tmp": tmp_path, "pki": pki, "port": port, "servers": servers}


def _partners(world: dict[str, object], tag: str, rows: list[tuple[str, str]],
              tls_as: str = "client") -> list[subprocess.Popen[str]]:  # fmt: skip
    """The three partners as psi-run processes, each with ``rows`` as its accounts."""
    tmp, pki, servers = world["tmp"], world["pki"], world["servers"]
    assert isinstance(tmp, Path) and isinstance(pki, dict) and isinstance(servers, Servers)
    common = ["--yes", "--quiet", "--json"]
    procs = []
    for name in ("tls", "wh", "box"):
        _crm(tmp / f"{name}-{tag}.csv", name[0].upper(), rows)
        party = ["--input", str(tmp / f"{name}-{tag}.csv"), "--policy", str(tmp / f"{name}.toml"),
                 "--out-dir", str(tmp / f"{name}-{tag}-out"), "--history",
                 str(tmp / f"{name}-hist.sqlite"), *common]  # fmt: skip
        if name == "tls":
            args = ["--role", "receiver", *party, "--connect", f"127.0.0.1:{world['port']}",
                    "--connect-retry", "60", "--tls-cert", str(pki[f"{tls_as}_cert"]),
                    "--tls-key", str(pki[f"{tls_as}_key"]), "--tls-ca", str(pki["ca"])]  # fmt: skip
            procs.append(_run(args))
        elif name == "wh":
            args = ["--role", "sender", *party, "--wormhole", "--wormhole-server",
                    servers.mailbox, "--wormhole-transit", servers.transit,
                    "--wormhole-relay-only", "--timeout", "60"]  # fmt: skip
            procs.append(_run(args, {"BLINDMATCH_PAIRING_CODE": CODE_W}))
        else:
            args = ["offline", "--role", "receiver", *party, "--state",
                    str(tmp / f"box-{tag}.state"), "--mailbox", str(tmp / "box-folder"),
                    "--poll", "0.2", "--timeout", "60"]  # fmt: skip
            procs.append(_run(args, {"BLINDMATCH_PAIRING_CODE": CODE_M}))
    return procs


def _map(world: dict[str, object], tag: str) -> tuple[int, str, str]:
    tmp = world["tmp"]
    assert isinstance(tmp, Path)
    return _finish(
        _run(
            [
                "map",
                "--partners",
                str(tmp / "partners.toml"),
                "--input",
                str(tmp / "a.csv"),
                "--policy",
                str(tmp / "a.toml"),
                "--out-dir",
                str(tmp / f"map-{tag}"),
                "--history",
                str(tmp / "hist-map.sqlite"),
                "--yes",
                "--quiet",
                "--json",
                "--timeout",
                "60",
            ],
            {"CODE_W": CODE_W, "CODE_M": CODE_M},
        )  # fmt: skip
    )


def test_a_map_over_tls_wormhole_and_mailbox_partners_and_what_changed(
    world: dict[str, object],
) -> None:
    tmp, servers = world["tmp"], world["servers"]
    assert isinstance(tmp, Path) and isinstance(servers, Servers)
    relayed = relayed_bytes(servers.usage_db)
    partners = _partners(world, "w1", FIRST)
    started = time.monotonic()
    rc, out, err = _map(world, "w1")
    elapsed = time.monotonic() - started
    finished = [_finish(p) for p in partners]
    assert rc == 0, err + "".join(f[2] for f in finished)
    assert [f[0] for f in finished] == [0, 0, 0], [f[2] for f in finished]
    data = json.loads(out)
    assert [(p["name"], p["status"], p["transport"], p["overlaps"], p["new_pairs"])
            for p in data["partners"]] == [
        ("tls", "ok", "listen+tls", 20, None),
        ("wh", "ok", "wormhole", 20, None),
        ("box", "ok", "mailbox", 20, None),
    ]  # fmt: skip
    for name, transport in (("tls", "tls"), ("wh", "wormhole"), ("box", "mailbox")):
        run = json.loads((tmp / "map-w1" / name / "run.json").read_text(encoding="utf-8"))
        assert run["transport"] == transport
        summary = json.loads((tmp / "map-w1" / name / "summary.json").read_text())
        assert summary["partner"] == name and summary["matches"]["records"] == 20
        # both sides of each session agree on the run
        theirs = json.loads((tmp / f"{name}-w1-out" / "summary.json").read_text())
        assert theirs["run_id"] == summary["run_id"]
    # the wormhole partner saw our customers as counts only (its own policy), the others not
    seen = {n: json.loads((tmp / f"{n}-w1-out" / "summary.json").read_text())
            for n in ("tls", "wh", "box")}  # fmt: skip
    assert seen["wh"]["partner_disclosure"]["Customers"] == "counts"
    assert seen["tls"]["partner_disclosure"]["Customers"] == "records"
    assert seen["box"]["partner_disclosure"]["Customers"] == "records"
    assert wait_relayed(servers.usage_db, relayed) > relayed  # the relay carried the wormhole
    index = (tmp / "map-w1" / "index.html").read_text(encoding="utf-8")
    assert "3 of 3 partners completed" in index and "wormhole" in index
    # the mailbox run completed: its state is gone, and so are the messages in the folder
    assert not (tmp / "map-w1" / ".mailbox-state" / "box").exists()
    assert not [p for p in (tmp / "box-folder").iterdir() if p.suffix == ".bmx"]
    assert CODE_W not in out + err and CODE_M not in out + err
    assert elapsed < 120

    # a week later: every partner added the same three accounts and lost one
    partners = _partners(world, "w2", SECOND)
    rc, out, err = _map(world, "w2")
    finished = [_finish(p) for p in partners]
    assert rc == 0, err + "".join(f[2] for f in finished)
    assert [(p["name"], p["new_pairs"], p["gone_pairs"]) for p in json.loads(out)["partners"]] == [
        ("tls", 3, 1), ("wh", 3, 1), ("box", 3, 1),
    ]  # fmt: skip
    for name in ("tls", "wh", "box"):
        new = _rows(tmp / "map-w2" / name / "new.csv")
        assert {(r["record_id"], r["our_population"], r["partner_population"]) for r in new} == {
            (_id("A", d), "Customers", "Customers") for d in EXTRA
        }, name
        prefix = name[0].upper()
        assert {r["partner.Owner"] for r in new} == {f"owner-{_id(prefix, d)}" for d in EXTRA}
        gone = _rows(tmp / "map-w2" / name / "gone.csv")
        assert [(r["record_id"], r["partner_population"]) for r in gone] == [
            (_id("A", SHARED[0]), "Customers")
        ]
    history = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "history", "--history",
         str(tmp / "hist-map.sqlite"), "--json"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    runs = json.loads(history.stdout)
    assert sorted((r["partner"], r["new_pairs"] or 0) for r in runs) == [
        ("box", 0), ("box", 3), ("tls", 0), ("tls", 3), ("wh", 0), ("wh", 3),
    ]  # fmt: skip
    assert sum(r["new_pairs"] is None for r in runs) == 3  # each partner's first run
    stored = (tmp / "hist-map.sqlite").read_bytes()
    for secret in (CODE_W, CODE_M, CODE_W.replace("-", ""), "shared1.com", "owner-"):
        assert secret.encode() not in stored, secret


def test_a_partner_that_fails_is_reported_while_the_others_complete(
    world: dict[str, object],
) -> None:
    tmp = world["tmp"]
    assert isinstance(tmp, Path)
    # The TLS partner presents a certificate of our CA, but not the one we pinned: our
    # listener drops it and waits on for the right one, here for at most 8 s.
    partners_file = tmp / "partners.toml"
    text = partners_file.read_text(encoding="utf-8")
    partners_file.write_text(text.replace('name = "tls"\n', 'name = "tls"\ntimeout = 8\n'))
    partners = _partners(world, "w1", FIRST, tls_as="mallory")
    rc, out, err = _map(world, "w1")
    finished = [_finish(p) for p in partners]
    assert rc == 9, err
    assert [f[0] for f in finished[1:]] == [0, 0], [f[2] for f in finished]
    assert finished[0][0] != 0  # the refused partner learns it was refused
    rows = {p["name"]: p for p in json.loads(out)["partners"]}
    assert rows["tls"]["status"] == "failed" and rows["tls"]["exit_code"] == 6
    assert rows["tls"]["error"].startswith("partner unreachable: no partner")
    assert "within 8 s" in rows["tls"]["error"]
    # why nobody got in is in the log, as the two-party command says it
    assert "tls: dropped a connection from 127.0.0.1:" in err
    assert "certificate matches none of the 1 pinned fingerprint(s)" in err
    assert (rows["wh"]["status"], rows["wh"]["overlaps"]) == ("ok", 20)
    assert (rows["box"]["status"], rows["box"]["overlaps"]) == ("ok", 20)
    assert not (tmp / "map-w1" / "tls").exists()
    assert (tmp / "map-w1" / "wh" / "new.csv").exists()
    assert (tmp / "map-w1" / "box" / "report.html").exists()
    assert "2 of 3 partners completed" in (tmp / "map-w1" / "index.html").read_text()
    summary = json.loads((tmp / "map-w1" / "map-summary.json").read_text())
    assert [p["status"] for p in summary["partners"]] == ["failed", "ok", "ok"]


def _check_only(tmp: Path, partners: str, env: dict[str, str]) -> tuple[int, str]:
    (tmp / "p.toml").write_text(partners, encoding="utf-8")
    rc, _, err = _finish(
        _run(
            [
                "map",
                "--partners",
                str(tmp / "p.toml"),
                "--input",
                str(tmp / "a.csv"),
                "--policy",
                str(tmp / "a.toml"),
                "--out-dir",
                str(tmp / "never"),
                "--yes",
                "--quiet",
                "--timeout",
                "60",
            ],
            env,
        )  # fmt: skip
    )
    assert not (tmp / "never").exists()  # nothing ran, nothing was written
    return rc, err


def test_transport_problems_are_found_before_any_session(world: dict[str, object]) -> None:
    tmp = world["tmp"]
    assert isinstance(tmp, Path)
    started = time.monotonic()
    rc, err = _check_only(
        tmp,
        '[[partners]]\nname = "a"\nrole = "sender"\nlisten = "127.0.0.1:0"\n'  # 1-4
        'tls_cert = "missing.crt"\ntls_key = "northwind.key"\ntls_ca = "ca.crt"\n\n'  # 5-8
        '[[partners]]\nname = "b"\nrole = "receiver"\nconnect = "127.0.0.1:9"\n'  # 9-12
        'tls_cert = "globex.crt"\ntls_key = "globex.key"\ntls_ca = "ca.crt"\n'  # 13-15
        'tls_pin = "spki-sha256:nothex"\n\n'  # 16
        '[[partners]]\nname = "c"\nrole = "sender"\nmailbox = "nosuch://bucket/x"\n'  # 18-21
        'code_env = "CODE_M"\n\n'  # 22
        '[[partners]]\nname = "d"\nrole = "sender"\nwormhole = true\n'  # 24-27
        'code_env = "CODE_W"\n',  # 28
        {"CODE_M": CODE_M},
    )
    assert rc == 2, err
    p = tmp / "p.toml"
    assert f"{p}, line 5 (partner #1 'a', field 'tls_cert'): " in err and "missing.crt" in err
    assert f"{p}, line 16 (partner #2 'b', field 'tls_pin'): TLS pin" in err
    assert (
        f"{p}, line 21 (partner #3 'c', field 'mailbox'): no storage backend for nosuch://" in err
    )
    assert (
        f"{p}, line 28 (partner #4 'd', field 'code_env'): the environment variable CODE_W" in err
    )
    assert "4 problems before any session started" in err
    assert time.monotonic() - started < 30


def test_one_code_never_serves_two_partners(world: dict[str, object]) -> None:
    tmp = world["tmp"]
    assert isinstance(tmp, Path)
    rc, err = _check_only(
        tmp,
        '[[partners]]\nname = "a"\nrole = "receiver"\nconnect = "127.0.0.1:9"\n'
        'code_env = "CODE_M"\n\n'
        '[[partners]]\nname = "b"\nrole = "receiver"\nmailbox = "elsewhere"\ncode_env = "SAME"\n',
        {"CODE_M": CODE_M, "SAME": CODE_M},
    )
    assert rc == 2, err
    assert "(partner #2 'b', field 'code_env'): the same pairing code as partner 'a'" in err


def test_wormhole_partners_whose_codes_share_a_nameplate_are_refused(
    world: dict[str, object],
) -> None:
    """The mailbox server lets two clients meet on a nameplate: four would crowd it."""
    tmp = world["tmp"]
    assert isinstance(tmp, Path)
    seen: dict[str, str] = {}
    for i in range(100_000):
        code = PairingCode.generate(seeded_rng(b"nameplate %d" % i)).reveal()
        plate = wormhole_code(PairingCode.parse(code)).split("-")[0]
        if plate in seen:
            first, second = seen[plate], code
            break
        seen[plate] = code
    servers = world["servers"]
    assert isinstance(servers, Servers)
    rc, err = _check_only(
        tmp,
        f'[[partners]]\nname = "a"\nrole = "receiver"\nwormhole = "{servers.mailbox}"\n'
        'code_env = "ONE"\n\n'
        f'[[partners]]\nname = "b"\nrole = "sender"\nwormhole = "{servers.mailbox}"\n'
        'code_env = "TWO"\n',
        {"ONE": first, "TWO": second},
    )
    assert rc == 2, err
    assert "(partner #2 'b', field 'code_env'): its code and partner 'a'" in err
    assert "same wormhole nameplate" in err
    assert first not in err and second not in err
    assert os.environ.get("ONE") is None


def test_a_wormhole_sender_without_code_env_shows_a_new_code_as_the_cli_does(
    world: dict[str, object],
) -> None:
    """With a terminal and no code_env, a sender makes a code up and shows it there only."""
    tmp, servers = world["tmp"], world["servers"]
    assert isinstance(tmp, Path) and isinstance(servers, Servers)
    (tmp / "p.toml").write_text(
        f'[[partners]]\nname = "wh"\nrole = "sender"\nwormhole = "{servers.mailbox}"\n'
        f'wormhole_transit = "{servers.transit}"\nwormhole_relay_only = true\n',
        encoding="utf-8",
    )
    master, terminal = pty.openpty()  # stderr is a terminal; stdin is not
    env = {k: v for k, v in os.environ.items() if k != "BLINDMATCH_DEBUG"}
    mapping = subprocess.Popen(
        [sys.executable, "-m", "blindmatch.cli.main", "map", "--partners", str(tmp / "p.toml"),
         "--input", str(tmp / "a.csv"), "--policy", str(tmp / "a.toml"), "--out-dir",
         str(tmp / "map"), "--yes", "--quiet", "--json", "--timeout", "60"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, text=True, env=env,
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    code = None
    give_up = time.monotonic() + 60
    while code is None and time.monotonic() < give_up:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                shown += os.read(master, 4096)
            except OSError:
                break
        found = re.search(rb"Pairing code for wh: (\d{5}-\d{5}-\d{5})", shown)
        code = found.group(1).decode() if found else None
    assert code is not None, shown
    _crm(tmp / "wh.csv", "W", FIRST)
    partner = _run(["--role", "receiver", "--input", str(tmp / "wh.csv"), "--policy",
                    str(tmp / "wh.toml"), "--out-dir", str(tmp / "wh-out"), "--wormhole",
                    "--wormhole-server", servers.mailbox, "--wormhole-transit", servers.transit,
                    "--wormhole-relay-only", "--yes", "--quiet", "--timeout", "60"],
                   {"BLINDMATCH_PAIRING_CODE": code})  # fmt: skip
    assert _finish(partner)[0] == 0
    out, _ = mapping.communicate(timeout=120)
    os.close(master)
    assert mapping.returncode == 0
    assert json.loads(out)["partners"][0]["overlaps"] == 20
    assert code not in out  # shown on the terminal only
    for written in (tmp / "map").rglob("*"):
        if written.is_file():
            assert code.encode() not in written.read_bytes(), written


def test_a_mailbox_partner_that_timed_out_resumes_when_the_map_runs_again(
    world: dict[str, object],
) -> None:
    tmp = world["tmp"]
    assert isinstance(tmp, Path)
    (tmp / "p.toml").write_text(
        '[[partners]]\nname = "box"\nrole = "sender"\nmailbox = "box-folder"\n'
        'mailbox_poll = 0.2\ntimeout = 3\ncode_env = "CODE_M"\n',
        encoding="utf-8",
    )
    command = ["map", "--partners", str(tmp / "p.toml"), "--input", str(tmp / "a.csv"),
               "--policy", str(tmp / "a.toml"), "--out-dir", str(tmp / "map"), "--yes",
               "--quiet", "--json"]  # fmt: skip
    rc, out, err = _finish(_run(command, {"CODE_M": CODE_M}))
    assert rc == 9, err
    (row,) = json.loads(out)["partners"]
    assert row["status"] == "failed" and "no new message from the partner" in row["error"]
    assert "state is kept" in row["error"]
    assert (tmp / "map" / ".mailbox-state" / "box" / "run.state").exists()
    # the partner turns up later; the same command goes on with the same run
    _crm(tmp / "box.csv", "B", FIRST)
    partner = _run(["offline", "--role", "receiver", "--input", str(tmp / "box.csv"),
                    "--policy", str(tmp / "box.toml"), "--out-dir", str(tmp / "box-out"),
                    "--state", str(tmp / "box.state"), "--mailbox", str(tmp / "box-folder"),
                    "--poll", "0.2", "--timeout", "60", "--yes", "--quiet"],
                   {"BLINDMATCH_PAIRING_CODE": CODE_M})  # fmt: skip
    rc, out, err = _finish(_run(command, {"CODE_M": CODE_M}))
    assert _finish(partner)[0] == 0
    assert rc == 0, err
    assert json.loads(out)["partners"][0]["overlaps"] == 20
    assert not (tmp / "map" / ".mailbox-state" / "box").exists()
