"""Magic-wormhole rendezvous against a real mailbox server and transit relay on loopback.

The servers are the pip packages magic-wormhole-mailbox-server and
magic-wormhole-transit-relay, started with ``twistd`` as their operators would. Whole
sessions run through them, from the library and as two psi-run processes, and must give the
results of a direct TCP run.
"""

from __future__ import annotations

import copyreg
import csv
import json
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_end_to_end import CODE, Party, _receiver, _sender, _write_inputs
from test_transport_support import expected, in_thread, receiver, sender
from wormhole_support import Servers, relayed_bytes, wormhole_servers

from blindmatch.crypto import Scalar
from blindmatch.errors import TransportTimeoutError
from blindmatch.protocol import seeded_rng
from blindmatch.transport import ChannelSecured, PairingCode
from blindmatch.transport.wormhole import (
    NAMEPLATE_DIGITS,
    WormholeConnected,
    run_wormhole,
    wormhole_code,
)

pytestmark = pytest.mark.slow

JOIN = 60.0


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with wormhole_servers(tmp_path_factory.mktemp("wormhole-servers")) as running:
        yield running


def _matches(out: Path) -> list[dict[str, str]]:
    """matches.csv without the run identifier (different for every run)."""
    with (out / "matches.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    return [{k: v for k, v in row.items() if k != "run_id"} for row in rows]


def test_the_wormhole_code_is_derived_one_way_from_the_pairing_code() -> None:
    code = PairingCode.generate(seeded_rng(b"wormhole code"))
    again = PairingCode.parse(code.reveal())
    derived = wormhole_code(code)
    assert derived == wormhole_code(again)  # both sides compute the same
    nameplate, password = derived.split("-")
    assert nameplate.isdigit() and int(nameplate) < 10**NAMEPLATE_DIGITS
    assert len(password) == 64
    digits = code.reveal().replace("-", "")
    assert digits not in derived and digits[:5] not in derived
    assert derived != wormhole_code(PairingCode.generate(seeded_rng(b"another code")))


def test_the_spec_carries_the_wormhole_code_vector() -> None:
    derived = wormhole_code(PairingCode.parse("10000-00000-00009"))
    spec = (Path(__file__).parent.parent / "protocol_spec.md").read_text(encoding="utf-8")
    assert "`10000-00000-00009`" in spec and f"`{derived}`" in spec.replace("\n", "")


@pytest.mark.parametrize("direct", [False, True], ids=["relay only", "direct allowed"])
def test_a_session_through_the_wormhole_gives_the_in_memory_result(
    servers: Servers, direct: bool
) -> None:
    code = PairingCode.generate()
    before = relayed_bytes(servers.usage_db)
    options = {"code": code, "timeout": 20.0, "mailbox": servers.mailbox,
               "transit": servers.transit, "direct": direct}  # fmt: skip
    events: list[object] = []
    thread, s_out = in_thread(lambda: run_wormhole(sender(), on_event=events.append, **options))
    r_value = run_wormhole(receiver(), **options)
    thread.join(JOIN)
    assert s_out.error is None, s_out.error
    assert (s_out.value, r_value) == expected()
    assert isinstance(events[0], WormholeConnected)
    assert isinstance(events[1], ChannelSecured) and events[1].method == "pairing code"
    if not direct:
        assert events[0].route == "relay"
        # the relay carried the whole session (it logs each finished connection's bytes)
        give_up = time.monotonic() + 10
        while relayed_bytes(servers.usage_db) <= before and time.monotonic() < give_up:
            time.sleep(0.1)
        assert relayed_bytes(servers.usage_db) > before + 2000


def test_different_codes_never_meet_and_both_sides_time_out(servers: Servers) -> None:
    options = {"timeout": 2.0, "mailbox": servers.mailbox, "transit": servers.transit}
    thread, s_out = in_thread(
        lambda: run_wormhole(sender(), code=PairingCode.generate(), **options)
    )
    with pytest.raises(TransportTimeoutError, match="did not appear on the wormhole"):
        run_wormhole(receiver(), code=PairingCode.generate(), **options)
    thread.join(JOIN)
    assert isinstance(s_out.error, TransportTimeoutError)


def test_two_processes_through_the_wormhole_match_a_tcp_run(
    tmp_path: Path, servers: Servers
) -> None:
    files = _write_inputs(tmp_path, "records", "records")
    # the same inputs over direct TCP
    tcp_s = _sender(files, tmp_path / "tcp-nw", "--json")
    tcp_r = _receiver(files, tmp_path / "tcp-gx", tcp_s.wait_port(), "--json")
    (rc_r, tcp_gx, err_r), (rc_s, tcp_nw, err_s) = tcp_r.finish(), tcp_s.finish()
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    # through the wormhole: the sender shows no port, both take the code from the environment
    wormhole = ["--wormhole", "--wormhole-server", servers.mailbox, "--wormhole-transit",
                servers.transit, "--wormhole-relay-only", "--json"]  # fmt: skip
    env = {"BLINDMATCH_PAIRING_CODE": CODE}
    before = relayed_bytes(servers.usage_db)
    common = ["--yes", "--quiet", "--timeout", "30", *wormhole]
    s = Party(
        ["--role", "sender", "--input", str(files["nw"]), "--policy", str(files["nw_policy"]),
         "--out-dir", str(tmp_path / "wh-nw"), *common], env,
    )  # fmt: skip
    r = Party(
        ["--role", "receiver", "--input", str(files["gx"]), "--policy", str(files["gx_policy"]),
         "--out-dir", str(tmp_path / "wh-gx"), *common], env,
    )  # fmt: skip
    (rc_r, wh_gx, err_r), (rc_s, wh_nw, err_s) = r.finish(JOIN), s.finish(JOIN)
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    give_up = time.monotonic() + 10  # the relay logs a connection's bytes when it ends
    while relayed_bytes(servers.usage_db) <= before and time.monotonic() < give_up:
        time.sleep(0.1)
    assert relayed_bytes(servers.usage_db) > before
    assert CODE not in err_s + err_r + wh_nw + wh_gx
    for tcp, wh in ((tcp_nw, wh_nw), (tcp_gx, wh_gx)):
        a, b = json.loads(tcp), json.loads(wh)
        # The same result; only the run and what it is compared with differ (the second run
        # of the pair finds the first in the history, so its deltas name it).
        for doc in (a, b):
            doc.pop("run_id", None), doc.pop("deltas", None)
        assert a == b
    for side in ("nw", "gx"):
        assert _matches(tmp_path / f"wh-{side}") == _matches(tmp_path / f"tcp-{side}")
    run = json.loads((tmp_path / "wh-nw" / "run.json").read_text(encoding="utf-8"))
    assert run.get("transport") == "wormhole", run
    assert os.environ.get("BLINDMATCH_PAIRING_CODE") is None  # nothing leaked into this process


def test_using_the_wormhole_leaves_the_process_pickling_alone(servers: Servers) -> None:
    """Twisted's import registers picklers process-wide; they broke classmethod reducers."""
    before = dict(copyreg.dispatch_table)
    code = PairingCode.generate()
    options = {"code": code, "timeout": 20.0, "mailbox": servers.mailbox,
               "transit": servers.transit, "direct": False}  # fmt: skip
    thread, s_out = in_thread(lambda: run_wormhole(sender(), **options))
    run_wormhole(receiver(), **options)
    thread.join(JOIN)
    assert s_out.error is None, s_out.error
    assert dict(copyreg.dispatch_table) == before
    scalar = Scalar.generate(seeded_rng(b"pickle after the wormhole"))
    assert pickle.loads(pickle.dumps(scalar)).to_bytes() == scalar.to_bytes()
