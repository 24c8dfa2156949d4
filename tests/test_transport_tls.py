"""TLS mode: the channel binding and partner pins, against a real relay holding a CA-signed
certificate of its own (protocol_spec.md §13).

Each network test runs both parties over loopback sockets with certificates made here, and the
intruder is a real process-local relay that completes a TLS handshake towards each party and
forwards the plaintext in between; it records what it saw so the tests can check what reached
it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import socket
import ssl
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pki_support import HOST, make_pki
from test_transport_support import (
    Outcome,
    expected,
    in_thread,
    receiver,
    sender,
)

from blindmatch.conformance import VECTORS_DIR
from blindmatch.errors import (
    AgreementError,
    AuthenticationError,
    PeerAbortedError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from blindmatch.protocol import AgreementReached, Session
from blindmatch.protocol.agreement import Role, agreement_id
from blindmatch.protocol.messages import (
    Accept,
    Confirm,
    FrameDecoder,
    Hello,
    Returned,
    decode_message,
    encode_frame,
    encode_message,
)
from blindmatch.protocol.transcript import Transcript
from blindmatch.transport import (
    Pin,
    RecordType,
    certificate_pins,
    make_tls_contexts,
    run_connector,
    run_listener,
    tls_binding,
)
from blindmatch.transport.tls_identity import first_certificate, parse_pins

ROOT = Path(__file__).resolve().parents[1]
JOIN = 20.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _pins(pki: dict[str, Path], name: str) -> tuple[Pin, Pin]:
    """(cert pin, spki pin) of a leaf."""
    return certificate_pins(first_certificate(pki[f"{name}_cert"]))


def _contexts(pki: dict[str, Path], name: str, pins: Any = ()) -> Any:
    return make_tls_contexts(pki[f"{name}_cert"], pki[f"{name}_key"], pki["ca"], pins=pins)


# -- the vector ----------------------------------------------------------------------------------


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_tls_binding_vector", ROOT / "tools" / "make_tls_binding_vector.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _stored() -> dict[str, Any]:
    path = VECTORS_DIR / "tls_binding_v1.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_the_binding_vector_is_rebuilt_byte_for_byte() -> None:
    assert _tool().build() == _stored()


def test_the_binding_vector_follows_the_spec_construction() -> None:
    """Recomputed here from the spec's words, not through tls_binding()."""
    v = _stored()
    server = bytes.fromhex(v["server_certificate_der"])
    client = bytes.fromhex(v["client_certificate_der"])
    binding = (
        b"blindmatch/2 tls-certificates"
        + hashlib.sha256(server).digest()
        + hashlib.sha256(client).digest()
    )
    assert binding.hex() == v["binding"] and tls_binding(server, client) == binding
    assert len(binding) == 93
    session = json.loads((VECTORS_DIR / "session_v1.json").read_text())
    s, r = (bytes.fromhex(m["hex"]) for m in session["messages"] if m["type"] == "hello")
    by_hand = hashlib.sha256(b"blindmatch/1 agreement")
    for blob in (s, r, binding):
        by_hand.update(len(blob).to_bytes(8, "big") + blob)
    assert by_hand.hexdigest() == v["agreement_id"] == agreement_id(s, r, binding).hex()
    # an empty binding appends nothing: the pairing-code vector keeps its id
    assert agreement_id(s, r, b"").hex() == agreement_id(s, r).hex() == session["agreement_id"]
    assert [str(p) for p in certificate_pins(server)] == v["server_pins"]
    assert v["server_pins"][0] == "cert-sha256:" + _b64(hashlib.sha256(server).digest())


def _b64(digest: bytes) -> str:
    import base64

    return base64.b64encode(digest).decode()


def test_the_spec_carries_the_same_vector() -> None:
    text = (ROOT / "protocol_spec.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- tls-binding-vector:begin -->.*?```json\n(.*?)```", text, re.S)
    assert block is not None, "protocol_spec.md lost its TLS binding vector"
    assert json.loads(block.group(1)) == _stored()


# -- pin syntax ----------------------------------------------------------------------------------

DIGEST = hashlib.sha256(b"partner").digest()


@pytest.mark.parametrize(
    "text",
    [
        "cert-sha256:" + DIGEST.hex(),
        "CERT-SHA256:" + DIGEST.hex().upper(),
        "cert-sha256:" + ":".join(f"{b:02X}" for b in DIGEST),  # openssl -fingerprint
        "cert-sha256:" + _b64(DIGEST),
        "cert-sha256:" + _b64(DIGEST).rstrip("="),
        "cert-sha256:" + _b64(DIGEST).replace("+", "-").replace("/", "_"),
    ],
)
def test_every_written_form_of_a_fingerprint_parses_to_the_same_pin(text: str) -> None:
    assert Pin.parse(text) == Pin(kind="cert", digest=DIGEST)
    assert Pin.parse(str(Pin.parse(text))) == Pin.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + DIGEST.hex(),  # which of the two is meant?
        "cert-sha1:" + DIGEST.hex()[:40],
        "spki-sha256:" + DIGEST.hex()[:-2],
        "spki-sha256:" + DIGEST.hex() + "00",
        "spki-sha256:" + _b64(DIGEST)[:-3] + "!!=",
        "spki-sha256:",
        "cert-sha256 " + DIGEST.hex(),
    ],
)
def test_a_malformed_pin_is_a_usage_error_quoting_it(text: str) -> None:
    with pytest.raises(UsageError, match="TLS pin") as info:
        Pin.parse(text)
    assert text[:12] in str(info.value)


def test_a_single_string_is_not_taken_for_a_list_of_pins() -> None:
    with pytest.raises(UsageError, match="list of pins"):
        parse_pins("cert-sha256:" + DIGEST.hex())


def test_pin_syntax_is_checked_before_the_files(pki: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="TLS pin"):
        make_tls_contexts(tmp_path / "missing.crt", pki["server_key"], pki["ca"], pins=["x:y"])


def test_a_plain_ssl_context_is_refused_before_listening() -> None:
    """It cannot tell our own certificate, so the session could not be bound."""
    with pytest.raises(UsageError, match="make_tls_contexts"):
        run_listener(
            sender(), host=HOST, port=0, code=None, timeout=1.0,
            ssl_context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
        )  # fmt: skip


def test_a_started_session_is_refused_in_tls_mode(pki: dict[str, Path]) -> None:
    """Its hello is queued and its binding fixed: it could not be bound to the connection."""
    session = sender()
    session.start()
    with pytest.raises(UsageError, match="unstarted"):
        run_listener(
            session, host=HOST, port=0, code=None, timeout=1.0,
            ssl_context=_contexts(pki, "server").server,
        )  # fmt: skip


# -- two parties, and an intruder between them ---------------------------------------------------


class _TlsRelay:
    """M: holds a certificate from the partners' own CA (so every handshake succeeds),
    accepts the connector's TLS connection as a server, opens its own TLS connection to the
    listener as a client, and relays the plaintext between the two, recording it."""

    def __init__(self, upstream: int, pki: dict[str, Path]) -> None:
        cert, key, ca = pki["mallory_cert"], pki["mallory_key"], pki["ca"]
        self.as_server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.as_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for ctx in (self.as_server, self.as_client):
            ctx.load_cert_chain(cert, key)
            ctx.load_verify_locations(cafile=ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        self.upstream = upstream
        self.server = socket.create_server((HOST, 0))
        self.port = int(self.server.getsockname()[1])
        #: plaintext M forwarded, by direction
        self.to_listener = bytearray()
        self.to_connector = bytearray()
        self.thread, self.outcome = in_thread(self._run)

    def _run(self) -> None:
        self.server.settimeout(JOIN)
        try:
            raw, _ = self.server.accept()
        finally:
            self.server.close()
        raw.settimeout(JOIN)
        down = self.as_server.wrap_socket(raw, server_side=True)
        up = self.as_client.wrap_socket(
            socket.create_connection((HOST, self.upstream), timeout=JOIN), server_hostname=HOST
        )
        peers = {down: up, up: down}
        seen = {down: self.to_listener, up: self.to_connector}
        for s in peers:
            s.settimeout(0.02)
        give_up = time.monotonic() + JOIN
        try:
            while time.monotonic() < give_up:
                for src, dst in peers.items():
                    try:
                        data = src.recv(65536)
                    except (TimeoutError, ssl.SSLWantReadError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        return  # one side is gone: so is M, towards both
                    seen[src] += data
                    dst.sendall(self.forward(data, to_listener=src is down))
        finally:
            down.close()
            up.close()

    def forward(self, data: bytes, *, to_listener: bool) -> bytes:
        """What M passes on for ``data`` received from the other side: a relay passes it all."""
        return data


class _RewritingRelay(_TlsRelay):
    """M, active: it relays, but replaces each ``accept`` and ``confirm`` with what the side
    receiving it expects. Nothing in TLS-only mode is secret from M (both certificates, both
    hellos, every frame), so it can compute both sides' agreement ids and transcripts."""

    def __init__(self, upstream: int, pki: dict[str, Path]) -> None:
        mallory = first_certificate(pki["mallory_cert"])
        #: the binding each side computes: the listener serves M, the connector is M's server
        self.binding = {
            True: tls_binding(first_certificate(pki["server_cert"]), mallory),
            False: tls_binding(mallory, first_certificate(pki["client_cert"])),
        }
        self.transcript = {True: Transcript(Role.SENDER), False: Transcript(Role.RECEIVER)}
        self.records = {True: bytearray(), False: bytearray()}
        self.frames = {True: FrameDecoder(), False: FrameDecoder()}
        self.hellos: dict[str, bytes] = {}
        #: digests returned to each side (True: to the listener)
        self.returned: dict[bool, set[bytes]] = {True: set(), False: set()}
        super().__init__(upstream, pki)

    def _id(self, to_listener: bool) -> bytes:
        return agreement_id(
            self.hellos["sender"], self.hellos["receiver"], self.binding[to_listener]
        )

    def forward(self, data: bytes, *, to_listener: bool) -> bytes:
        buf, out = self.records[to_listener], bytearray()
        buf += data
        while len(buf) >= 5 and len(buf) >= 5 + struct.unpack_from(">I", buf, 1)[0]:
            length = struct.unpack_from(">I", buf, 1)[0]
            kind, body = buf[0], bytes(buf[5 : 5 + length])
            del buf[: 5 + length]
            if kind != RecordType.DATA:
                out += struct.pack(">BI", kind, len(body)) + body
                continue
            session = bytearray()
            for frame in self.frames[to_listener].feed(body):
                session += self._rewrite(frame, to_listener=to_listener)
            for at in range(0, len(session), 1 << 16):
                chunk = session[at : at + (1 << 16)]
                out += struct.pack(">BI", RecordType.DATA, len(chunk)) + chunk
        return bytes(out)

    def _rewrite(self, body: bytes, *, to_listener: bool) -> bytes:
        msg = decode_message(body)
        if isinstance(msg, Confirm):  # confirms are outside the transcripts
            return encode_frame(Confirm(transcript=self.transcript[to_listener].value(
                self._id(to_listener)
            )))  # fmt: skip
        self.transcript[not to_listener].sent(len(body).to_bytes(4, "big") + body)
        if isinstance(msg, Hello):
            self.hellos[msg.role] = body
        elif isinstance(msg, Accept):
            body = encode_message(Accept(agreement=self._id(to_listener)))
        elif isinstance(msg, Returned):
            width = len(msg.digests) // msg.count if msg.count else 1
            self.returned[to_listener].update(
                msg.digests[i : i + width] for i in range(0, len(msg.digests), width)
            )
        self.transcript[to_listener].received(body)
        return len(body).to_bytes(4, "big") + body


def _messages(stream: bytes) -> list[str]:
    """The session messages inside a TLS-mode channel stream (DATA bodies are plaintext)."""
    session, at = bytearray(), 0
    while at + 5 <= len(stream):
        kind = stream[at]
        (length,) = struct.unpack_from(">I", stream, at + 1)
        if kind == RecordType.DATA:
            session += stream[at + 5 : at + 5 + length]
        at += 5 + length
    return [decode_message(body).t for body in FrameDecoder().feed(bytes(session))]


def _run_pair(server_ctx: Any, client_ctx: Any, *, via: Any = None) -> tuple[Outcome, Outcome]:
    """Listener (sender, TLS server) in a thread; connector (receiver) here."""
    ports: list[int] = []
    ready = threading.Event()
    l_events: list[Any] = []

    def bound(port: int) -> None:
        ports.append(port)
        ready.set()

    thread, l_out = in_thread(
        lambda: run_listener(
            sender(), host=HOST, port=0, code=None, ssl_context=server_ctx, timeout=5.0,
            on_event=l_events.append, bound=bound,
        )
    )  # fmt: skip
    assert ready.wait(JOIN)
    port = via(ports[0]) if via else ports[0]
    c_out = Outcome()
    try:
        c_out.value = run_connector(
            receiver(), host=HOST, port=port, code=None, ssl_context=client_ctx, timeout=5.0,
            on_event=c_out.events.append,
        )  # fmt: skip
    except BaseException as exc:  # noqa: BLE001 - inspected by the test
        c_out.error = exc
    thread.join(JOIN)
    assert not thread.is_alive()
    l_out.events = l_events
    return l_out, c_out


def _through_relay(
    pki: dict[str, Path], server_ctx: Any, client_ctx: Any, relay: type[_TlsRelay] = _TlsRelay
) -> tuple[Outcome, Outcome, Any]:
    relays: list[_TlsRelay] = []

    def via(port: int) -> int:
        relays.append(relay(port, pki))
        return relays[0].port

    l_out, c_out = _run_pair(server_ctx, client_ctx, via=via)
    relays[0].thread.join(JOIN)
    return l_out, c_out, relays[0]


def test_a_relay_with_its_own_ca_signed_certificate_is_refused_before_records_move(
    pki: dict[str, Path],
) -> None:
    """No pins: M's certificate is valid for both parties, and TLS alone would let it read
    every blinded and returned value. The binding makes both accepts differ."""
    l_out, c_out, relay = _through_relay(
        pki, _contexts(pki, "server").server, _contexts(pki, "client").client
    )
    assert relay.outcome.error is None, relay.outcome.error
    # Each side refuses the other's accept; whichever refuses first tells the other, which may
    # then read that abort before its own check runs (the listener now sends its first record
    # at accept, so the two race).
    assert any(isinstance(out.error, AgreementError) for out in (l_out, c_out))
    for out in (l_out, c_out):
        assert isinstance(out.error, AgreementError | PeerAbortedError), out.error
        assert "TLS connections" in str(out.error)
        assert out.value is None
        assert not any(isinstance(e, AgreementReached) for e in out.events)
    # What reached M: both hellos and both accepts (and the aborts), nothing derived from
    # records.
    for stream in (relay.to_listener, relay.to_connector):
        seen = _messages(bytes(stream))
        assert seen[0] == "hello", seen  # (its accept or its abort next: they race)
        assert set(seen) <= {"hello", "accept", "abort"}, seen


def test_the_same_parties_without_the_relay_complete(pki: dict[str, Path]) -> None:
    """The control for the test above: the binding agrees on a direct connection."""
    l_out, c_out = _run_pair(_contexts(pki, "server").server, _contexts(pki, "client").client)
    assert l_out.error is None and c_out.error is None, (l_out.error, c_out.error)
    assert (l_out.value, c_out.value) == expected()


def test_pinned_partners_complete(pki: dict[str, Path]) -> None:
    """The listener pins the client's public key, the connector the server's certificate
    (written the way ``openssl x509 -fingerprint -sha256`` prints it)."""
    server_cert = _pins(pki, "server")[0].digest
    openssl_style = "cert-sha256:" + ":".join(f"{b:02X}" for b in server_cert)
    server = _contexts(pki, "server", [str(_pins(pki, "client")[1])]).server
    client = _contexts(pki, "client", [str(_pins(pki, "rogue")[0]), openssl_style]).client
    l_out, c_out = _run_pair(server, client)
    assert l_out.error is None and c_out.error is None, (l_out.error, c_out.error)
    assert (l_out.value, c_out.value) == expected()


def test_the_connector_refuses_another_ca_signed_listener(pki: dict[str, Path]) -> None:
    """Mallory listens with a certificate from the same CA, valid for the address: without the
    pin the connector would take it for the partner."""
    client = _contexts(pki, "client", [str(_pins(pki, "server")[1])]).client
    l_out, c_out = _run_pair(_contexts(pki, "mallory").server, client)
    assert isinstance(c_out.error, AuthenticationError), c_out.error
    message = str(c_out.error)
    assert "none of the 1 pinned" in message
    for pin in _pins(pki, "mallory"):
        assert str(pin) in message  # the fingerprints seen, so the user can check them
    assert isinstance(l_out.error, TransportError), l_out.error
    assert l_out.value is None and c_out.value is None


def test_the_listener_refuses_another_ca_signed_connector(pki: dict[str, Path]) -> None:
    server = _contexts(pki, "server", [str(_pins(pki, "client")[0])]).server
    l_out, c_out = _run_pair(server, _contexts(pki, "mallory").client)
    # The listener drops an unpinned connector like any stranger, naming the fingerprint it
    # saw, and goes on waiting (issue 18: nobody but the partner can end a listener's run).
    dropped = [e for e in l_out.events if type(e).__name__ == "Dropped"]
    assert any(str(_pins(pki, "mallory")[0]) in e.reason for e in dropped), dropped
    assert isinstance(l_out.error, TransportTimeoutError), l_out.error
    assert isinstance(c_out.error, TransportError), c_out.error
    assert l_out.value is None and c_out.value is None


def test_pins_stop_the_relay_before_any_session_byte(pki: dict[str, Path]) -> None:
    server = _contexts(pki, "server", [str(_pins(pki, "client")[1])]).server
    client = _contexts(pki, "client", [str(_pins(pki, "server")[1])]).client
    l_out, c_out, relay = _through_relay(pki, server, client)
    assert isinstance(c_out.error, AuthenticationError), c_out.error
    assert str(_pins(pki, "mallory")[1]) in str(c_out.error)
    # The listener drops the unpinned relay like any stranger (issue 18: junk cannot end a
    # listener), naming the fingerprint it saw, and goes on waiting for its real partner.
    dropped = [e for e in l_out.events if type(e).__name__ == "Dropped"]
    assert any(str(_pins(pki, "mallory")[1]) in e.reason for e in dropped), dropped
    assert relay.to_listener == b"" and relay.to_connector == b""


def test_binding_is_what_makes_the_relay_fail(pki: dict[str, Path]) -> None:
    """Two sessions over the very relay above, but with equal bindings forced on both sides,
    complete: so the refusal in the relay test comes from the binding, and without it M would
    have relayed, and read, a whole session."""
    forced = b"blindmatch/2 tls-certificates" + bytes(64)
    original = Session.start

    def bind_same(self: Session, *, binding: bytes = b"") -> None:
        original(self, binding=forced)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Session, "start", bind_same)
        l_out, c_out, relay = _through_relay(
            pki, _contexts(pki, "server").server, _contexts(pki, "client").client
        )
    assert l_out.error is None and c_out.error is None, (l_out.error, c_out.error)
    assert (l_out.value, c_out.value) == expected()
    assert {"lanes", "blinded", "returned"} <= set(_messages(bytes(relay.to_listener)))


def test_a_relay_that_rewrites_accepts_and_confirms_learns_nothing_and_empties_results(
    pki: dict[str, Path],
) -> None:
    """The limit of any binding in TLS-only mode (protocol_spec.md §13): M rewrites each
    accept and confirm to what the receiving side expects, so both sessions complete. But each
    side hashed under its own agreement id: no digest returned to one side equals any returned
    to the other (M learns no overlap), and both results are empty, as if M had been the
    partner with no accounts. The control relays the same way with the bindings forced equal:
    then the two directions share digests, which is what M would read without the binding."""
    l_out, c_out, relay = _through_relay(
        pki, _contexts(pki, "server").server, _contexts(pki, "client").client, _RewritingRelay
    )
    assert l_out.error is None and c_out.error is None, (l_out.error, c_out.error)
    assert relay.returned[True] and relay.returned[False]
    assert not relay.returned[True] & relay.returned[False]
    for result, honest in zip((l_out.value, c_out.value), expected(), strict=True):
        assert _matched(honest) > 0 and _matched(result) == 0

    forced = b"blindmatch/2 tls-certificates" + bytes(64)
    original = Session.start
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Session, "start", lambda self, binding=b"": original(self, binding=forced))
        mp.setattr(_RewritingRelay, "_id", lambda self, _to: agreement_id(
            self.hellos["sender"], self.hellos["receiver"], forced
        ))  # fmt: skip
        l_out, c_out, relay = _through_relay(
            pki, _contexts(pki, "server").server, _contexts(pki, "client").client, _RewritingRelay
        )
    assert (l_out.value, c_out.value) == expected()
    assert relay.returned[True] & relay.returned[False]


def _matched(result: Any) -> int:
    """Overlapping accounts in a result, over every population pair."""
    return sum(sum(row.values()) for row in result.counts.values())
