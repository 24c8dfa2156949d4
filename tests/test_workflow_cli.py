"""The routine as a partner team runs it: real psi-run processes over loopback.

Two runs with the same partner, the second with added overlaps, must yield new.csv with exactly
the added pairs; a map over two partners completes both, and reports one when the other fails;
the history keeps results and nothing secret; the webhook hears about it, and a dead webhook
costs no results.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from test_workflow_alerts import Hook

from blindmatch.protocol import seeded_rng
from blindmatch.transport import PairingCode

pytestmark = pytest.mark.slow

CODE_B = PairingCode.generate(seeded_rng(b"workflow b")).reveal()
CODE_C = PairingCode.generate(seeded_rng(b"workflow c")).reveal()

POLICY = """label = "{label}"
[keys]
use = ["domain"]
[populations.Customers]
where = {{ Type = "Customer" }}
disclosure = "records"
fields = ["Owner"]
[populations.Prospects]
where = {{ Type = "Prospect" }}
disclosure = "counts"
"""


def _crm(path: Path, prefix: str, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Account ID", "Account Name", "Website", "Type", "Owner"])
        for domain, kind in rows:
            w.writerow([_id(prefix, domain), f"Company {domain}", f"https://{domain}/", kind,
                        f"owner-{_id(prefix, domain)}"])  # fmt: skip


def _id(prefix: str, domain: str) -> str:
    """A CRM id that stays with its account from run to run and does not spell its domain."""
    return f"{prefix}{zlib.crc32(domain.encode()):08x}"


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if k != "BLINDMATCH_DEBUG"}
    full.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "blindmatch.cli.main", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=full,
    )  # fmt: skip


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


SHARED = [f"shared{i}.com" for i in range(20)]
EXTRA = [f"extra{i}.com" for i in range(3)]  # A holds these; B adds them in the second run
A_ROWS = [(d, "Customer") for d in SHARED + EXTRA] + [(f"a{i}.net", "Prospect") for i in range(15)]


def _pair(
    tmp: Path, tag: str, b_rows: list[tuple[str, str]], *extra_a: str, code: str = CODE_B
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    _crm(tmp / f"b-{tag}.csv", "B", b_rows)
    port = _port()
    a = _run(["--role", "sender", "--input", str(tmp / "a.csv"), "--policy", str(tmp / "a.toml"),
              "--out-dir", str(tmp / f"{tag}-a"), "--history", str(tmp / "hist-a.sqlite"),
              "--listen", f"127.0.0.1:{port}", "--yes", "--quiet", "--json", "--timeout", "30",
              *extra_a], {"BLINDMATCH_PAIRING_CODE": code})  # fmt: skip
    b = _run(["--role", "receiver", "--input", str(tmp / f"b-{tag}.csv"), "--policy",
              str(tmp / "b.toml"), "--out-dir", str(tmp / f"{tag}-b"), "--history",
              str(tmp / "hist-b.sqlite"), "--connect", f"127.0.0.1:{port}", "--connect-retry",
              "30", "--yes", "--quiet", "--json"], {"BLINDMATCH_PAIRING_CODE": code})  # fmt: skip
    rb = _finish(b)
    ra = _finish(a)
    return ra, rb


@pytest.fixture
def files(tmp_path: Path) -> Path:
    _crm(tmp_path / "a.csv", "A", A_ROWS)
    (tmp_path / "a.toml").write_text(POLICY.format(label="Alpha"), encoding="utf-8")
    (tmp_path / "b.toml").write_text(POLICY.format(label="Beta"), encoding="utf-8")
    return tmp_path


def test_the_second_run_lists_exactly_the_added_overlaps(files: Path) -> None:
    tmp = files
    b_first = [(d, "Customer") for d in SHARED] + [(f"b{i}.org", "Prospect") for i in range(10)]
    hook = Hook()
    try:
        ra, rb = _pair(tmp, "run1", b_first, "--webhook", hook.url)
        assert (ra[0], rb[0]) == (0, 0), ra[2] + rb[2]
        first = json.loads(ra[1])
        assert first["deltas"]["previous_run_id"] is None
        assert _rows(tmp / "run1-a" / "new.csv") == [] and _rows(tmp / "run1-a" / "gone.csv") == []
        assert hook.json()["first_run"] is True

        # B adds the three accounts A already holds; one shared account becomes a prospect
        b_second = [(d, "Customer") for d in SHARED[1:] + EXTRA] + [(SHARED[0], "Prospect")]
        ra, rb = _pair(tmp, "run2", b_second + b_first[20:], "--webhook", hook.url)
        assert (ra[0], rb[0]) == (0, 0), ra[2] + rb[2]
    finally:
        hook.stop()
    new_a = _rows(tmp / "run2-a" / "new.csv")
    assert {(r["record_id"], r["our_population"], r["partner_population"]) for r in new_a} == {
        (_id("A", d), "Customers", "Customers") for d in EXTRA
    }
    assert {r["partner.Owner"] for r in new_a} == {f"owner-{_id('B', d)}" for d in EXTRA}
    gone_a = _rows(tmp / "run2-a" / "gone.csv")
    assert [(r["record_id"], r["partner_population"]) for r in gone_a] == [
        (_id("A", SHARED[0]), "Customers")
    ]
    # B's side: B's three added records, and shared0 now as one of B's prospects; A discloses
    # its Customers at record level, so B sees them all
    new_b = _rows(tmp / "run2-b" / "new.csv")
    assert sorted((r["record_id"], r["our_population"]) for r in new_b) == sorted(
        [(_id("B", d), "Customers") for d in EXTRA] + [(_id("B", SHARED[0]), "Prospects")]
    )
    gone_b = _rows(tmp / "run2-b" / "gone.csv")
    assert [(r["record_id"], r["our_population"]) for r in gone_b] == [
        (_id("B", SHARED[0]), "Customers")
    ]
    summary = json.loads((tmp / "run2-a" / "summary.json").read_text())
    assert summary == json.loads(ra[1])
    assert summary["deltas"]["new_pairs"] == 3 and summary["deltas"]["gone_pairs"] == 1
    assert summary["deltas"]["previous_run_id"] == first["run_id"]
    cell = {(c["our_population"], c["partner_population"]): c for c in summary["deltas"]["cells"]}
    assert cell["Customers", "Prospects"]["compared"] == "counts"  # B's prospects: counts only
    assert cell["Customers", "Prospects"]["change"] == 1
    alert = hook.json()
    assert alert["new_pairs"] == 3 and alert["partner"] == "Beta"
    assert "owner-B" not in json.dumps(alert)  # no partner-revealed values in alerts
    page = (tmp / "run2-a" / "report.html").read_text(encoding="utf-8")
    assert _id("A", EXTRA[1]) in page and "+3 new" in page

    listing = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "history", "--history",
         str(tmp / "hist-a.sqlite"), "--json"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    runs = json.loads(listing.stdout)
    assert [(r["partner"], r["new_pairs"], r["gone_pairs"]) for r in runs] == [
        ("Beta", None, None), ("Beta", 3, 1),
    ]  # fmt: skip
    text = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "history", "--history",
         str(tmp / "hist-a.sqlite")], capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    assert text.startswith("Beta  (Beta, we are Alpha)") and "+3 new, -1 gone" in text

    # results only: no code, no keys (normalized or raw), nothing of the partner's records
    for side in ("a", "b"):
        stored = (tmp / f"hist-{side}.sqlite").read_bytes()
        for secret in [CODE_B, CODE_B.replace("-", ""), "shared1.com", "extra0", "b3.org",
                       "a1.net", "owner-", "Company "]:  # fmt: skip
            assert secret.encode() not in stored, (side, secret)


def test_a_dead_webhook_costs_no_results(files: Path) -> None:
    dead = f"http://127.0.0.1:{_port()}/hook"
    ra, rb = _pair(files, "run1", [(d, "Customer") for d in SHARED], "--webhook", dead)
    assert rb[0] == 0
    assert ra[0] == 8, ra[2]
    assert "could not post the alert to 127.0.0.1" in ra[2]
    assert "the results are written" in ra[2]
    assert (files / "run1-a" / "summary.json").exists()
    assert (files / "run1-a" / "report.html").exists()
    runs = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "history", "--history",
         str(files / "hist-a.sqlite"), "--json"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert len(json.loads(runs.stdout)) == 1  # recorded all the same


def _partner_sender(tmp: Path, name: str, rows: list[tuple[str, str]], port: int, code: str):  # type: ignore[no-untyped-def]
    _crm(tmp / f"{name}.csv", name[0].upper(), rows)
    (tmp / f"{name}.toml").write_text(POLICY.format(label=name.title()), encoding="utf-8")
    return _run(["--role", "sender", "--input", str(tmp / f"{name}.csv"), "--policy",
                 str(tmp / f"{name}.toml"), "--out-dir", str(tmp / f"{name}-out"), "--listen",
                 f"127.0.0.1:{port}", "--yes", "--quiet", "--timeout", "30"],
                {"BLINDMATCH_PAIRING_CODE": code})  # fmt: skip


def _partners_file(tmp: Path, port_b: int, port_c: int) -> Path:
    path = tmp / "partners.toml"
    path.write_text(
        f'[[partners]]\nname = "beta"\nrole = "receiver"\nconnect = "127.0.0.1:{port_b}"\n'
        'code_env = "CODE_B"\n\n'
        f'[[partners]]\nname = "gamma"\nrole = "receiver"\nconnect = "127.0.0.1:{port_c}"\n'
        'code_env = "CODE_C"\npolicy = "a-for-gamma.toml"\n',
        encoding="utf-8",
    )
    # gamma sees our customers at counts only: its own policy replaces the base one
    counts_only = POLICY.format(label="Alpha").replace(
        'disclosure = "records"\nfields = ["Owner"]', 'disclosure = "counts"'
    )
    (tmp / "a-for-gamma.toml").write_text(counts_only, encoding="utf-8")
    return path


def _map(tmp: Path, partners: Path, *extra: str) -> tuple[int, str, str]:
    return _finish(
        _run(
            [
                "map",
                "--partners",
                str(partners),
                "--input",
                str(tmp / "a.csv"),
                "--policy",
                str(tmp / "a.toml"),
                "--out-dir",
                str(tmp / "map"),
                "--history",
                str(tmp / "hist-map.sqlite"),
                "--yes",
                "--quiet",
                "--connect-retry",
                "20",
                "--timeout",
                "30",
                *extra,
            ],
            {"CODE_B": CODE_B, "CODE_C": CODE_C},
        )  # fmt: skip
    )


def test_map_runs_both_partners_at_once(files: Path) -> None:
    tmp = files
    port_b, port_c = _port(), _port()
    partners = _partners_file(tmp, port_b, port_c)
    b = _partner_sender(tmp, "beta", [(d, "Customer") for d in SHARED], port_b, CODE_B)
    c = _partner_sender(tmp, "gamma", [(d, "Customer") for d in SHARED[:7]], port_c, CODE_C)
    started = time.monotonic()
    rc, out, err = _map(tmp, partners, "--json")
    elapsed = time.monotonic() - started
    assert rc == 0, err
    assert _finish(b)[0] == 0 and _finish(c)[0] == 0
    data = json.loads(out)
    assert [(p["name"], p["status"], p["overlaps"]) for p in data["partners"]] == [
        ("beta", "ok", 20), ("gamma", "ok", 7),
    ]  # fmt: skip
    for name, matched in (("beta", 20), ("gamma", 7)):
        summary = json.loads((tmp / "map" / name / "summary.json").read_text())
        assert summary["partner"] == name
        assert summary["matches"]["records"] == matched
        assert (tmp / "map" / name / "report.html").exists()
    # gamma saw our customers only as counts: its own policy was used
    gamma_side = json.loads((tmp / "gamma-out" / "summary.json").read_text())
    assert gamma_side["partner_disclosure"]["Customers"] == "counts"
    index = (tmp / "map" / "index.html").read_text(encoding="utf-8")
    assert 'href="beta/report.html"' in index and "2 of 2 partners completed" in index
    assert (
        json.loads((tmp / "map" / "map-summary.json").read_text())["format"] == "blindmatch-map/1"
    )
    assert elapsed < 60


def test_map_reports_the_failed_partner_and_keeps_the_other(files: Path) -> None:
    tmp = files
    port_b, port_c = _port(), _port()  # nobody will listen on port_c
    partners = _partners_file(tmp, port_b, port_c)
    b = _partner_sender(tmp, "beta", [(d, "Customer") for d in SHARED], port_b, CODE_B)
    rc, out, err = _map(tmp, partners, "--connect-retry", "2")
    assert _finish(b)[0] == 0
    assert rc == 9, err
    lines = out.splitlines()
    assert lines[0].startswith("beta   ok      overlaps      20")
    assert lines[1].startswith("gamma  FAILED  partner unreachable: could not connect to")
    assert lines[1].endswith("(exit 6)")
    assert (tmp / "map" / "beta" / "summary.json").exists()
    assert not (tmp / "map" / "gamma").exists()
    data = json.loads((tmp / "map" / "map-summary.json").read_text())
    assert [p["status"] for p in data["partners"]] == ["ok", "failed"]
    assert "1 of 2 partners completed" in (tmp / "map" / "index.html").read_text()


def test_map_checks_everything_before_any_session(files: Path) -> None:
    tmp = files
    partners = _partners_file(tmp, _port(), _port())
    (tmp / "a-for-gamma.toml").write_text("label = 3\n", encoding="utf-8")
    started = time.monotonic()
    rc, _, err = _finish(
        _run(
            [
                "map",
                "--partners",
                str(partners),
                "--input",
                str(tmp / "a.csv"),
                "--policy",
                str(tmp / "a.toml"),
                "--out-dir",
                str(tmp / "map"),
                "--history",
                str(tmp / "h.sqlite"),
                "--yes",
                "--quiet",
            ],
            {"CODE_B": CODE_B},
        )  # fmt: skip
    )
    assert rc == 2, err
    assert "2 problems before any session started" in err
    # each problem names the file, the line, the partner (number and name) and the field
    assert "a-for-gamma.toml" in err
    assert f"(the policy of {partners}, line 12 (partner #2 'gamma', field 'policy'))" in err
    assert (
        f"{partners}, line 11 (partner #2 'gamma', field 'code_env'): the environment variable "
        "CODE_C is not set" in err
    )
    assert not (tmp / "map").exists()
    assert time.monotonic() - started < 20  # nobody was waited for


def test_a_hostile_partner_is_shown_in_the_report_not_run(files: Path) -> None:
    label = "Beta</title><script>alert(1)</script>"
    population = '"><img src=x onerror=alert(2)>'
    (files / "b.toml").write_text(
        POLICY.format(label=label.replace('"', '\\"')).replace(
            "[populations.Customers]", f"[populations.'{population}']"
        ),
        encoding="utf-8",
    )
    ra, rb = _pair(files, "run1", [(d, "Customer") for d in SHARED])
    assert (ra[0], rb[0]) == (0, 0), ra[2] + rb[2]
    page = (files / "run1-a" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page


def test_map_listens_for_a_partner_that_connects(files: Path) -> None:
    tmp = files
    port = _port()
    partners = tmp / "listen.toml"
    partners.write_text(
        f'[[partners]]\nname = "delta"\nrole = "sender"\nlisten = "127.0.0.1:{port}"\n'
        'code_env = "CODE_B"\n',
        encoding="utf-8",
    )
    _crm(tmp / "delta.csv", "D", [(d, "Customer") for d in SHARED[:11]])
    (tmp / "delta.toml").write_text(POLICY.format(label="Delta"), encoding="utf-8")
    mapping = _run(["map", "--partners", str(partners), "--input", str(tmp / "a.csv"),
                    "--policy", str(tmp / "a.toml"), "--out-dir", str(tmp / "map"),
                    "--yes", "--quiet", "--timeout", "30"], {"CODE_B": CODE_B})  # fmt: skip
    partner = _run(["--role", "receiver", "--input", str(tmp / "delta.csv"), "--policy",
                    str(tmp / "delta.toml"), "--out-dir", str(tmp / "delta-out"), "--connect",
                    f"127.0.0.1:{port}", "--connect-retry", "30", "--yes", "--quiet"],
                   {"BLINDMATCH_PAIRING_CODE": CODE_B})  # fmt: skip
    assert _finish(partner)[0] == 0
    rc, out, err = _finish(mapping)
    assert rc == 0, err
    assert f"delta: listening on 127.0.0.1:{port}." in err  # no display: the address is logged
    assert out.startswith("delta  ok      overlaps      11")
    # no --history: the per-user default (a fresh XDG_STATE_HOME in tests) recorded it
    assert (Path(os.environ["XDG_STATE_HOME"]) / "blindmatch" / "history.sqlite").exists()
