"""A listener on the open internet: junk of every kind, then the real partner.

Real sockets on loopback. Each kind of stray traffic (a port scan, an HTTP request, a TLS
ClientHello, random bytes, a slow trickle, a flood of silent connections, wrong codes) must be
dropped with one Dropped event while the listener keeps waiting, and a real partner arriving
after all of it must complete its session with the in-memory result.
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_cli_end_to_end import CODE as CODE_TEXT
from test_cli_end_to_end import GLOBEX_LEARNS, NORTHWIND_LEARNS, _write_inputs
from test_cli_end_to_end import _receiver as _cli_receiver
from test_cli_end_to_end import _sender as _cli_sender
from test_transport_support import Outcome, expected, in_thread, receiver, sender

from blindmatch.errors import AuthenticationError, TransportTimeoutError
from blindmatch.transport import (
    MAX_GUESSES,
    MAX_UNAUTHENTICATED,
    TCP_CHANNEL_ID,
    Dropped,
    PairingCode,
    SecureChannel,
    Side,
    run_connector,
    run_listener,
)

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
CODE = PairingCode.generate()
JOIN = 30.0


class Listener:
    """run_listener in a thread, its events collected."""

    def __init__(self, **kwargs: Any) -> None:
        self.events: list[Any] = []
        ready = threading.Event()
        self.port = 0

        def bound(port: int) -> None:
            self.port = port
            ready.set()

        kwargs.setdefault("timeout", 10.0)
        kwargs.setdefault("code", CODE)
        self.thread, self.out = in_thread(
            lambda: run_listener(
                sender(), host=HOST, port=0, bound=bound, on_event=self.events.append, **kwargs
            )
        )
        assert ready.wait(JOIN)

    def dropped(self) -> list[Dropped]:
        return [e for e in self.events if isinstance(e, Dropped)]

    def wait_dropped(self, n: int, within: float = JOIN) -> None:
        give_up = time.monotonic() + within
        while len(self.dropped()) < n:
            assert time.monotonic() < give_up, [d.reason for d in self.dropped()]
            time.sleep(0.02)

    def wait_reason(self, text: str, within: float = JOIN) -> None:
        give_up = time.monotonic() + within
        while not any(text in d.reason for d in self.dropped()):
            assert time.monotonic() < give_up, [d.reason for d in self.dropped()]
            time.sleep(0.02)

    def join(self) -> Outcome:
        self.thread.join(JOIN)
        assert not self.thread.is_alive()
        return self.out


def _client_hello() -> bytes:
    """The first flight of a real TLS client, produced by Python's ssl module."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="partner.example")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert hello[0] == 0x16  # handshake record
    return hello


def _send_and_hold(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection((HOST, port))
    sock.sendall(data)
    return sock


def _partner(port: int, code: PairingCode = CODE, timeout: float = 10.0) -> Outcome:
    out = Outcome()
    try:
        out.value = run_connector(receiver(), host=HOST, port=port, code=code, timeout=timeout)
    except BaseException as exc:  # noqa: BLE001 - inspected by the test
        out.error = exc
    return out


def _trickle(port: int, stop: threading.Event, going: threading.Event | None = None) -> None:
    """A peer that sends most of a well-formed pairing message, one byte every 100 ms, and
    then holds the connection open."""
    share = SecureChannel(side=Side.INITIATOR, code=CODE, channel_id=TCP_CHANNEL_ID)
    data = share.data_to_send()
    with socket.create_connection((HOST, port)) as sock:
        for n, byte in enumerate(data[:-1]):
            if n == 3 and going is not None:
                going.set()
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(0.1)
        stop.wait(JOIN)


def test_a_burst_of_junk_then_the_real_partner_completes() -> None:
    listener = Listener(timeout=10.0, pairing_timeout=1.5)
    port = listener.port
    held: list[socket.socket] = []
    stop = threading.Event()
    going = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(port, stop, going), daemon=True)
    try:
        trickler.start()
        assert going.wait(JOIN)  # in a pairing slot before the flood below
        socket.create_connection((HOST, port)).close()  # a port scan: connect, close
        held.append(_send_and_hold(port, b"GET / HTTP/1.1\r\nHost: partner\r\n\r\n"))
        held.append(_send_and_hold(port, _client_hello()))
        held.append(_send_and_hold(port, random.Random(18).randbytes(2048)))
        listener.wait_dropped(4)
        # more silent connections than the listener pairs at once
        held += [socket.create_connection((HOST, port)) for _ in range(MAX_UNAUTHENTICATED + 2)]
        listener.wait_dropped(6)
        for sock in held:
            sock.close()
        held.clear()
        # the trickler's pairing never completes: it is dropped at its handshake deadline
        listener.wait_reason("did not complete the pairing within 1.5 s", within=10)
        partner = _partner(port)
    finally:
        stop.set()
        for sock in held:
            sock.close()
    l_out = listener.join()
    assert l_out.error is None and partner.error is None, (l_out.error, partner.error)
    want_s, want_r = expected()
    assert (l_out.value, partner.value) == (want_s, want_r)
    reasons = [d.reason for d in listener.dropped()]
    assert any("without sending anything" in r for r in reasons), reasons
    assert sum("not a blindmatch peer" in r for r in reasons) == 3, reasons
    assert sum("connections are pairing already" in r for r in reasons) >= 2, reasons
    assert any("did not complete the pairing within 1.5 s" in r for r in reasons), reasons
    assert all(d.guesses == 0 for d in listener.dropped())
    # every dropped connection was one line, and the session's events followed
    assert not any(CODE.reveal() in repr(e) for e in listener.events)


def test_wrong_codes_are_bounded_then_the_listener_stops() -> None:
    listener = Listener()
    wrong = [_partner(listener.port, PairingCode.generate()) for _ in range(MAX_GUESSES)]
    l_out = listener.join()
    for out in wrong:
        assert isinstance(out.error, AuthenticationError), out.error
    assert isinstance(l_out.error, AuthenticationError), l_out.error
    assert f"{MAX_GUESSES} connections failed the pairing code" in str(l_out.error)
    assert [d.guesses for d in listener.dropped()] == list(range(1, MAX_GUESSES + 1))


def _without_confirm(wire: bytes) -> bytes:
    """Our channel's records with any CONFIRM (type 0x02) left out."""
    out = b""
    while wire:
        length = int.from_bytes(wire[1:5], "big")
        record, wire = wire[: 5 + length], wire[5 + length :]
        if record[0] != 0x02:
            out += record
    return out


def test_a_guesser_that_hangs_up_after_our_confirmation_still_counts() -> None:
    """Our CONFIRM lets a stranger test its guess offline; answering is optional."""
    listener = Listener()
    guess = SecureChannel(
        side=Side.INITIATOR, code=PairingCode.generate(), channel_id=TCP_CHANNEL_ID
    )
    with socket.create_connection((HOST, listener.port)) as sock:
        sock.settimeout(JOIN)
        sock.sendall(guess.data_to_send())  # HELLO
        while True:
            data = sock.recv(4096)
            assert data, "the listener hung up before its CONFIRM"
            try:
                guess.receive_data(data)
            except AuthenticationError:
                break  # the listener's CONFIRM arrived: this guess is tested, offline
            sock.sendall(_without_confirm(guess.data_to_send()))  # our SHARE, never a CONFIRM
    listener.wait_dropped(1)
    assert listener.dropped()[0].guesses == 1
    partner = _partner(listener.port)  # the real partner still gets in
    l_out = listener.join()
    assert l_out.error is None and partner.error is None, (l_out.error, partner.error)
    assert l_out.value == expected()[0]


def test_a_partner_after_wrong_guesses_below_the_bound_completes() -> None:
    listener = Listener()
    for _ in range(MAX_GUESSES - 1):
        assert isinstance(
            _partner(listener.port, PairingCode.generate()).error, AuthenticationError
        )
    partner = _partner(listener.port)
    l_out = listener.join()
    assert l_out.error is None and partner.error is None, (l_out.error, partner.error)
    assert partner.value == expected()[1]


def test_slow_trickles_cannot_hold_the_listener_past_its_timeouts() -> None:
    stop = threading.Event()
    start = time.monotonic()
    listener = Listener(timeout=1.0)
    threads = [
        threading.Thread(target=_trickle, args=(listener.port, stop), daemon=True) for _ in range(3)
    ]
    for t in threads:
        t.start()
    l_out = listener.join()
    stop.set()
    elapsed = time.monotonic() - start
    assert isinstance(l_out.error, TransportTimeoutError), l_out.error
    assert "no partner connected" in str(l_out.error)
    # the accept window (1 s) plus one handshake deadline (1 s) at most, with slack
    assert elapsed < 3.5, elapsed


def test_the_whole_run_deadline_cuts_waiting_and_pairing() -> None:
    stop = threading.Event()
    start = time.monotonic()
    listener = Listener(timeout=30.0, deadline=1.0)
    threading.Thread(target=_trickle, args=(listener.port, stop), daemon=True).start()
    l_out = listener.join()
    stop.set()
    assert isinstance(l_out.error, TransportTimeoutError), l_out.error
    assert "within the deadline" in str(l_out.error)
    assert time.monotonic() - start < 3.5


def test_psi_run_sender_logs_each_stray_connection_and_then_completes(tmp_path: Path) -> None:
    files = _write_inputs(tmp_path, "records", "counts")
    nw_out, gx_out = tmp_path / "nw-out", tmp_path / "gx-out"
    sender_proc = _cli_sender(files, nw_out, "--json")
    port = sender_proc.wait_port()
    socket.create_connection((HOST, port)).close()
    junk = [b"GET / HTTP/1.1\r\nHost: partner\r\n\r\n", _client_hello(), bytes(range(256)) * 4]
    held = [_send_and_hold(port, data) for data in junk]
    try:
        deadline = time.monotonic() + JOIN
        while sum("dropped a connection" in line for line in sender_proc.err_lines) < 4:
            assert time.monotonic() < deadline, "".join(sender_proc.err_lines)
            time.sleep(0.05)
    finally:
        for sock in held:
            sock.close()
    receiver_proc = _cli_receiver(files, gx_out, port, "--json")
    rc_r, out_r, err_r = receiver_proc.finish()
    rc_s, out_s, err_s = sender_proc.finish()
    assert (rc_s, rc_r) == (0, 0), err_s + err_r
    assert json.loads(out_s)["counts"] == NORTHWIND_LEARNS
    assert json.loads(out_r)["counts"] == GLOBEX_LEARNS
    dropped = [line for line in err_s.splitlines() if "dropped a connection" in line]
    assert len(dropped) == 4, dropped  # one line each, nothing more
    assert CODE_TEXT not in err_s
