"""TCP on loopback: a whole session, and every way the network can let it down."""

from __future__ import annotations

import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pki_support import make_pki
from test_transport_support import (
    RECEIVER_LABEL,
    RECEIVER_RECORDS,
    SENDER_LABEL,
    SENDER_RECORDS,
    Outcome,
    expected,
    in_thread,
    receiver,
    sender,
    terms,
)

from blindmatch.crypto.engine import InlineEngine
from blindmatch.errors import (
    AgreementError,
    AuthenticationError,
    PeerAbortedError,
    PeerGoneError,
    RemoteProtocolError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from blindmatch.protocol import AgreementReached, PartnerTerms, ResultReady, Role, Session
from blindmatch.transport import (
    TCP_CHANNEL_ID,
    ChannelSecured,
    Connected,
    Dropped,
    PairingCode,
    RecordType,
    SecureChannel,
    Side,
    make_tls_contexts,
    run_connector,
    run_listener,
)

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
CODE = PairingCode.generate()
OTHER = PairingCode.generate()
JOIN = 20.0


def _listen(
    session: Session, ports: list[int], ready: threading.Event, **kwargs: Any
) -> Callable[[], Any]:
    def bound(port: int) -> None:
        ports.append(port)
        ready.set()

    kwargs.setdefault("code", CODE)
    kwargs.setdefault("timeout", 5.0)
    return lambda: run_listener(session, host=HOST, port=0, bound=bound, **kwargs)


def _both(
    *,
    listener: Session | None = None,
    connector: Session | None = None,
    listener_kwargs: dict[str, Any] | None = None,
    connector_kwargs: dict[str, Any] | None = None,
    via: Callable[[int], int] | None = None,
) -> tuple[Outcome, Outcome]:
    """Run a listener thread and a connector; ``via`` may put a proxy in between."""
    lk = dict(listener_kwargs or {})
    ck = dict(connector_kwargs or {})
    ports: list[int] = []
    ready = threading.Event()
    l_events: list[Any] = []
    lk.setdefault("on_event", l_events.append)
    thread, l_out = in_thread(_listen(listener or sender(), ports, ready, **lk))
    assert ready.wait(JOIN)
    port = via(ports[0]) if via else ports[0]
    c_out = Outcome()
    ck.setdefault("code", CODE)
    ck.setdefault("timeout", 5.0)
    ck.setdefault("on_event", c_out.events.append)
    try:
        c_out.value = run_connector(connector or receiver(), host=HOST, port=port, **ck)
    except BaseException as exc:  # noqa: BLE001 - inspected by the test
        c_out.error = exc
    thread.join(JOIN)
    assert not thread.is_alive()
    l_out.events = l_events
    return l_out, c_out


def _free_port() -> int:
    with socket.create_server((HOST, 0)) as s:
        return int(s.getsockname()[1])


# -- end to end --------------------------------------------------------------------------------


def test_a_session_over_tcp_gives_both_sides_the_in_memory_result() -> None:
    l_out, c_out = _both()
    assert l_out.error is None and c_out.error is None, (l_out.error, c_out.error)
    want_s, want_r = expected()
    assert l_out.value == want_s
    assert c_out.value == want_r
    for events in (l_out.events, c_out.events):
        assert isinstance(events[0], Connected) and events[0].address.startswith("127.0.0.1:")
        assert isinstance(events[1], ChannelSecured) and events[1].method == "pairing code"
        kinds = {type(e) for e in events}
        assert {PartnerTerms, AgreementReached, ResultReady} <= kinds


class _CountingEngine(InlineEngine):
    """The Python engine, counting the CPace generator maps it computes."""

    def __init__(self) -> None:
        self.maps = 0

    def elligator2_map(self, u: bytes) -> bytes:
        self.maps += 1
        return super().elligator2_map(u)


def test_the_channel_maps_the_cpace_generator_on_the_sessions_engine() -> None:
    # The transports used to build their channel with the default Python map whatever engine
    # the session had; the session's engine (native when built) must do it.
    engines = (_CountingEngine(), _CountingEngine())
    listener = Session(
        role=Role.SENDER,
        terms=terms(SENDER_LABEL),
        records=SENDER_RECORDS,
        engine=engines[0],
        auto_accept=True,
    )
    connector = Session(
        role=Role.RECEIVER,
        terms=terms(RECEIVER_LABEL),
        records=RECEIVER_RECORDS,
        engine=engines[1],
        auto_accept=True,
    )
    l_out, c_out = _both(listener=listener, connector=connector)
    assert l_out.error is None and c_out.error is None, (l_out.error, c_out.error)
    assert (l_out.value, c_out.value) == expected()
    assert [e.maps for e in engines] == [1, 1]


def test_decisions_come_from_the_callback() -> None:
    seen: list[str] = []

    def accept(terms: PartnerTerms) -> None:
        seen.append(terms.terms.label)
        return None

    l_out, c_out = _both(
        listener=sender(auto_accept=False),
        connector=receiver(auto_accept=False),
        listener_kwargs={"decide": accept},
        connector_kwargs={"decide": accept},
    )
    assert l_out.error is None and c_out.error is None
    assert sorted(seen) == ["Globex-Receiver-Label", "Northwind-Sender-Label"]


@pytest.mark.parametrize("think", [0.0, 0.5], ids=["quick", "after-the-partner-accepted"])
def test_a_rejection_ends_both_sides_with_the_reason(think: float) -> None:
    def reject(terms: PartnerTerms) -> str:
        # Thinking long enough lets the partner's own accept arrive before our abort leaves:
        # it must be ignored, not fed to our closed session.
        time.sleep(think)
        return "not the partner we expected"

    l_out, c_out = _both(
        listener=sender(auto_accept=False),
        connector=receiver(auto_accept=False),
        listener_kwargs={"decide": lambda t: None},
        connector_kwargs={"decide": reject},
    )
    assert isinstance(c_out.error, AgreementError)
    assert "we rejected" in str(c_out.error)
    assert isinstance(l_out.error, PeerAbortedError)
    assert "not the partner we expected" in str(l_out.error)


def test_ctrl_c_closes_the_socket_and_the_partner_learns_the_step() -> None:
    def interrupt(terms: PartnerTerms) -> None:
        raise KeyboardInterrupt

    l_out, c_out = _both(
        listener=sender(auto_accept=False),
        connector=receiver(auto_accept=False),
        listener_kwargs={"decide": interrupt},
        connector_kwargs={"decide": lambda t: None},
    )
    assert isinstance(l_out.error, KeyboardInterrupt)
    assert isinstance(c_out.error, PeerGoneError)
    # Ctrl-C stops at once: the listener's own confirmation may not have left yet.
    assert re.search("its accept message|before its pairing confirmation", str(c_out.error))


def test_no_authentication_at_all_is_refused() -> None:
    with pytest.raises(UsageError, match="pairing code, a TLS context"):
        run_connector(receiver(), host=HOST, port=1, code=None, timeout=1.0)


# -- wrong code --------------------------------------------------------------------------------


def test_a_wrong_code_fails_the_connector_and_the_listener_waits_on() -> None:
    """A wrong guess ends the guesser's run; the listener (which junk must not knock over)
    waits on, and gives up once the listener's timeout passes with no partner."""
    l_out, c_out = _both(connector_kwargs={"code": OTHER}, listener_kwargs={"timeout": 1.0})
    assert isinstance(c_out.error, AuthenticationError), c_out.error
    assert "pairing code does not match" in str(c_out.error)
    assert isinstance(l_out.error, TransportTimeoutError), l_out.error
    dropped = [e for e in l_out.events if isinstance(e, Dropped)]
    assert len(dropped) == 1 and dropped[0].guesses == 1
    assert "failed the pairing code" in dropped[0].reason


# -- the partner disappears ---------------------------------------------------------------------


class _CuttingProxy:
    """Forwards one connection; drops the connector's record number ``cut`` and both sockets.

    Records are cut whole (the header's type byte is in clear, so the proxy knows whether it
    dropped a DATA or the CLOSE record).
    """

    def __init__(self, upstream: int, cut: int | None) -> None:
        self.upstream = upstream
        self.cut = cut
        self.wire = bytearray()  # everything seen, both directions
        self.server = socket.create_server((HOST, 0))
        self.port = int(self.server.getsockname()[1])
        self.forwarded = 0
        self.dropped: RecordType | None = None
        self.thread, self.outcome = in_thread(self._run)

    @staticmethod
    def _split(buf: bytearray) -> list[bytes]:
        out = []
        while len(buf) >= 5:
            (length,) = struct.unpack_from(">I", buf, 1)
            if len(buf) < 5 + length:
                break
            out.append(bytes(buf[: 5 + length]))
            del buf[: 5 + length]
        return out

    def _run(self) -> None:
        self.server.settimeout(JOIN)
        try:
            client, _ = self.server.accept()
        finally:
            self.server.close()
        up = socket.create_connection((HOST, self.upstream))
        pending = bytearray()
        open_ = {client, up}
        try:
            while open_:
                ready, _, _ = select.select(list(open_), [], [], JOIN)
                if not ready:
                    return
                for sock in ready:
                    dest = up if sock is client else client
                    data = sock.recv(65536)
                    self.wire += data
                    if not data:
                        open_.discard(sock)
                        dest.shutdown(socket.SHUT_WR)
                    elif sock is up:
                        client.sendall(data)
                    else:
                        pending += data
                        for record in self._split(pending):
                            if self.forwarded == self.cut:
                                self.dropped = RecordType(record[0])
                                return  # drop this record, everything after it, and both ends
                            up.sendall(record)
                            self.forwarded += 1
        finally:
            client.close()
            up.close()


def _through_proxy(cut: int | None, **kwargs: Any) -> tuple[Outcome, Outcome, _CuttingProxy]:
    proxies: list[_CuttingProxy] = []

    def via(port: int) -> int:
        proxies.append(_CuttingProxy(port, cut))
        return proxies[0].port

    l_out, c_out = _both(via=via, **kwargs)
    proxies[0].thread.join(JOIN)
    return l_out, c_out, proxies[0]


@pytest.mark.parametrize("code", [CODE, OTHER], ids=["right code", "wrong code"])
def test_nothing_of_the_session_crosses_the_network_in_clear(code: PairingCode) -> None:
    l_out, c_out, proxy = _through_proxy(
        None, connector_kwargs={"code": code}, listener_kwargs={"timeout": 1.0}
    )
    if code is CODE:
        assert l_out.error is None and c_out.error is None
    else:  # the listener drops the wrong guess and waits on until its timeout
        assert isinstance(l_out.error, TransportTimeoutError)
        assert isinstance(c_out.error, AuthenticationError)
    assert len(proxy.wire) > 200
    for text in (SENDER_LABEL, RECEIVER_LABEL, "Customers", "account", "d7.example"):
        assert text.encode() not in proxy.wire


STEP = re.compile(
    r"during pairing, before its (channel hello|pairing message|pairing confirmation)"
    r"|while waiting for its (hello|accept|lanes|blinded|returned|tally|confirm) message"
)


@pytest.mark.parametrize("cut", range(9))
def test_the_partner_vanishing_after_each_record_names_the_step(cut: int) -> None:
    l_out, c_out, proxy = _through_proxy(cut, listener_kwargs={"timeout": 2.0})
    dropped = proxy.dropped
    if dropped in (RecordType.HELLO, RecordType.SHARE, RecordType.CONFIRM):
        # Cut before it proved the code: to the listener, a stranger it drops and waits on.
        assert isinstance(l_out.error, TransportTimeoutError), l_out.error
        assert [type(e) for e in l_out.events] == [Dropped]
    elif dropped in (None, RecordType.CLOSE):
        # Only the goodbye was lost (or nothing): the listener had everything it needed.
        assert l_out.error is None and l_out.value == expected()[0], l_out.error
    else:
        assert isinstance(l_out.error, PeerGoneError), l_out.error
        assert STEP.search(str(l_out.error)), str(l_out.error)
    # The connector lost its partner too (or had everything it needed already).
    assert c_out.error is None or isinstance(c_out.error, PeerGoneError), c_out.error


# -- silence -----------------------------------------------------------------------------------


def test_a_silent_listener_times_out_naming_the_channel_hello() -> None:
    with socket.create_server((HOST, 0)) as server:
        port = server.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(
            TransportTimeoutError,
            match=r"(no data|did not complete the handshake) .*0\.5 s .*channel hello",
        ):
            run_connector(receiver(), host=HOST, port=port, code=CODE, timeout=0.5)
        assert time.monotonic() - start < 4


def test_nobody_connecting_times_out() -> None:
    with pytest.raises(TransportTimeoutError, match=r"no partner connected to 127\.0\.0\.1:\d+"):
        run_listener(sender(), host=HOST, port=0, code=CODE, timeout=0.3)


def test_a_partner_silent_after_pairing_times_out_naming_the_session_step() -> None:
    ports: list[int] = []
    ready = threading.Event()
    thread, out = in_thread(_listen(sender(), ports, ready, timeout=0.5))
    assert ready.wait(JOIN)
    channel = SecureChannel(side=Side.INITIATOR, code=CODE, channel_id=TCP_CHANNEL_ID)
    with socket.create_connection((HOST, ports[0])) as sock:
        sock.settimeout(JOIN)
        sock.sendall(channel.data_to_send())
        while not channel.established:
            channel.receive_data(sock.recv(65536))
            sock.sendall(channel.data_to_send())  # our share, then our confirmation
        sock.sendall(channel.data_to_send())  # (nothing left); then silence
        thread.join(JOIN)
    assert isinstance(out.error, TransportTimeoutError)
    assert "no data from the partner for 0.5 s while waiting for its hello message" in str(
        out.error
    )


# -- connecting --------------------------------------------------------------------------------


def test_connection_refused_after_the_retry_window() -> None:
    port = _free_port()
    start = time.monotonic()
    with pytest.raises(
        PeerGoneError, match=f"could not connect to 127.0.0.1:{port}: connection refused"
    ):
        run_connector(receiver(), host=HOST, port=port, code=CODE, timeout=1.0, connect_retry=0.3)
    assert 0.3 <= time.monotonic() - start < 3


def test_the_connector_waits_for_a_listener_that_starts_later() -> None:
    port = _free_port()
    thread, c_out = in_thread(
        lambda: run_connector(
            receiver(), host=HOST, port=port, code=CODE, timeout=5.0, connect_retry=10.0
        )
    )
    time.sleep(0.3)
    result = run_listener(sender(), host=HOST, port=port, code=CODE, timeout=5.0)
    thread.join(JOIN)
    assert c_out.error is None
    assert (result, c_out.value) == expected()


# -- mutual TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("with_code", [False, True])
def test_mutual_tls_end_to_end(pki: dict[str, Path], with_code: bool) -> None:
    server = make_tls_contexts(pki["server_cert"], pki["server_key"], pki["ca"]).server
    client = make_tls_contexts(pki["client_cert"], pki["client_key"], pki["ca"]).client
    code = CODE if with_code else None
    l_out, c_out = _both(
        listener_kwargs={"ssl_context": server, "code": code},
        connector_kwargs={"ssl_context": client, "code": code},
    )
    assert l_out.error is None and c_out.error is None, (l_out.error, c_out.error)
    assert (l_out.value, c_out.value) == expected()
    secured = [e for e in l_out.events if isinstance(e, ChannelSecured)]
    assert [e.method for e in secured] == ["TLS + pairing code" if with_code else "TLS"]


def test_tls_refuses_a_client_from_another_ca(pki: dict[str, Path]) -> None:
    server = make_tls_contexts(pki["server_cert"], pki["server_key"], pki["ca"]).server
    rogue = make_tls_contexts(pki["rogue_cert"], pki["rogue_key"], pki["ca"]).client
    l_out, c_out = _both(
        listener_kwargs={"ssl_context": server, "code": None, "timeout": 1.0},
        connector_kwargs={"ssl_context": rogue, "code": None},
    )
    # To the listener, a client without an acceptable certificate is a stranger: dropped.
    assert isinstance(l_out.error, TransportTimeoutError), l_out.error
    dropped = [e for e in l_out.events if isinstance(e, Dropped)]
    assert len(dropped) == 1 and "certificate" in dropped[0].reason, dropped
    assert isinstance(c_out.error, TransportError), c_out.error
    assert c_out.value is None


def test_tls_files_that_do_not_load_are_named(tmp_path: Path, pki: dict[str, Path]) -> None:
    missing = tmp_path / "missing.crt"
    with pytest.raises(ValueError, match="missing.crt"):
        make_tls_contexts(missing, pki["server_key"], pki["ca"])


def test_each_side_reads_a_policy_rejection_from_its_own_side() -> None:
    """The receiver's policy requires a population the sender does not share: the receiver
    reads why *it* rejected, the sender reads that *its* terms were rejected and why, both
    worded from the reader's side (issue: the sender used to read the receiver's wording)."""
    from blindmatch.accounts.policy import Policy
    from blindmatch.cli.party import make_decider

    policy = Policy.from_toml_text(
        'label = "Globex"\nnormalization = "bm-norm/1"\n'  # the profile of the terms below
        '[keys]\nuse = ["domain"]\n'
        '[populations.Customers]\nwhere = { Type = "Customer" }\ndisclosure = "counts"\n'
        '[partner]\nrequire_populations = ["Partners"]\nmin_disclosure = "records"\n'
    )
    decide = make_decider(policy, assume_yes=True, quiet=True)
    l_out, c_out = _both(
        listener=sender(auto_accept=False),
        connector=receiver(auto_accept=False),
        listener_kwargs={"decide": lambda t: None},
        connector_kwargs={"decide": decide},
    )
    assert isinstance(c_out.error, AgreementError)
    ours = str(c_out.error)
    assert ours.startswith(
        "we rejected the partner's terms (the partner shares no population named 'Partners'"
    )
    assert "the partner discloses only 'counts' for population 'Prospects'" in ours
    assert isinstance(l_out.error, PeerAbortedError)
    theirs = str(l_out.error)
    assert theirs.startswith(
        "the partner rejected our terms: we share no population named "
        "'Partners', which the partner requires"
    )
    assert "we disclose only 'counts' for population 'Prospects'; the partner requires" in theirs


def test_a_cheating_sealer_sees_a_tampered_run_end_exactly_like_an_honest_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Selective failure through the transport (issue: a quiet failure used to close the
    connection at once). The listener seals fields that do not open; the connector finds it
    only while computing its result. On the wire the listener sees what an honest run shows
    it: the connector's confirm, its close record, the end of stream, and its own result."""
    from test_hostile_support import forge_payloads, new_pair, party_terms

    quiet = party_terms("Victim", reveal=False)

    def run() -> tuple[Outcome, Outcome]:
        cheater, victim = new_pair(receiver_terms=quiet, start=False)
        return _both(listener=cheater, connector=victim)

    honest_l, honest_c = run()
    assert honest_l.error is None and honest_c.error is None
    forge_payloads(monkeypatch, b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1" + bytes(119))
    l_out, c_out = run()
    assert isinstance(c_out.error, RemoteProtocolError), c_out.error
    assert "payload" in str(c_out.error)
    assert l_out.error is None, l_out.error
    assert l_out.value == honest_l.value  # the cheater's own result, as in the honest run
    kinds = [type(e).__name__ for e in l_out.events]
    assert kinds == [type(e).__name__ for e in honest_l.events]
