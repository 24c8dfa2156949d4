"""The socket edge: one TCP connection carries one session, and every wait is bounded.

Why this shape: the protocol and the channel are sans-I/O, so all that is left here is moving
bytes and turning socket conditions into errors a person can act on. One thread, non-blocking
sockets and ``select``: both sides may send megabytes at once, so we read while we write (two
blocking writers would deadlock on full TCP buffers), and we pull more from the session only
when less than :data:`HIGH_WATER` bytes wait for the network, which bounds memory.

Authentication, one of:

* a pairing code (default): :class:`~.channel.SecureChannel` runs CPace and encrypts records;
* mutual TLS (``ssl_context`` from :func:`make_tls_contexts`): the certificates authenticate
  both ends, so the channel skips CPace and carries plaintext records *inside* TLS; its CLOSE
  record still detects truncation, which ``ssl`` would otherwise let pass as a normal end;
* both: CPace inside TLS.

There is no unauthenticated mode: without either, an eavesdropper learns the overlap.

The listener accepts exactly one connection and then stops listening: a stranger who connects
first gets one guess at the code and the run ends on both sides, like magic-wormhole.
The listener is the CPace responder, the connector the initiator.

Errors: a wait with no progress for ``timeout`` seconds raises
:class:`~blindmatch.errors.TransportTimeoutError` naming what was awaited; the partner going
away raises :class:`~blindmatch.errors.PeerGoneError` naming the protocol step (chained to the
session's :class:`~blindmatch.errors.RemoteProtocolError`); a wrong code or a bad certificate
raises :class:`~blindmatch.errors.AuthenticationError`. On any error we still try, for a
moment, to deliver what explains it to the partner (our abort message, our key confirmation),
then close without a TCP reset. Ctrl-C closes the socket at once and re-raises.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..errors import (
    AgreementError,
    AuthenticationError,
    BlindmatchError,
    InputError,
    PeerGoneError,
    ProtocolError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from ..protocol import Event, OverlapResult, PartnerTerms, Session, State
from .channel import TCP_CHANNEL_ID, SecureChannel
from .pairing import PairingCode
from .pake import Side

__all__ = [
    "ChannelSecured",
    "Connected",
    "Decide",
    "OnEvent",
    "TlsContexts",
    "make_tls_contexts",
    "run_connector",
    "run_listener",
]

#: ``decide(terms)`` returns None to accept the partner's terms, or a reason to reject them.
Decide = Callable[[PartnerTerms], str | None]
OnEvent = Callable[[Event], None]

#: Pull more from the session only while less than this waits for the network.
HIGH_WATER: Final = 1 << 20
_RECV_BYTES: Final = 256 * 1024
_SEND_BYTES: Final = 256 * 1024
_CONNECT_RETRY_INTERVAL: Final = 0.1
#: How long, at most, we linger at the end to let our last bytes reach the partner.
_CLOSE_GRACE: Final = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(Event):
    """A connection to the partner is up (TLS included, if used); authentication follows."""

    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSecured(Event):
    """The partner is authenticated: ``pairing code``, ``TLS`` or ``TLS + pairing code``."""

    method: str


# -- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsContexts:
    """The two contexts one party needs: ``server`` when it listens, ``client`` when it connects."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def make_tls_contexts(
    cert: str | os.PathLike[str], key: str | os.PathLike[str], ca: str | os.PathLike[str]
) -> TlsContexts:
    """Mutual TLS 1.3 (RFC 8446) contexts from our certificate chain, its key and the CA.

    Both directions require a certificate issued by ``ca``: the server refuses clients without
    one (``CERT_REQUIRED``), and the client also checks that the server's certificate names the
    host it connects to (a DNS or IP subjectAltName). The server accepts any client the CA
    vouches for, so use a CA dedicated to this partnership.
    """
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for ctx in (server, client):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(
                f"cannot load the TLS certificate and key ({_reason(exc)})", file=os.fspath(cert)
            ) from exc
        try:
            ctx.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(
                f"cannot load the TLS CA certificate ({_reason(exc)})", file=os.fspath(ca)
            ) from exc
    client.check_hostname = True
    return TlsContexts(server=server, client=client)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _tls_error(exc: ssl.SSLError) -> TransportError:
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return PeerGoneError("the partner closed the TLS connection")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return AuthenticationError(
            f"TLS: the partner's certificate was refused ({exc.verify_message})"
        )
    return AuthenticationError(
        f"TLS: the connection failed ({_reason(exc)}); if this is a certificate alert, the "
        f"partner refused our certificate"
    )


def _tls_handshake(
    sock: socket.socket,
    ctx: ssl.SSLContext,
    *,
    server_side: bool,
    server_hostname: str | None,
    timeout: float,
) -> ssl.SSLSocket:
    sock.settimeout(timeout)
    tls = ctx.wrap_socket(
        sock,
        server_side=server_side,
        server_hostname=server_hostname,
        do_handshake_on_connect=False,
    )
    try:
        tls.do_handshake()
    except BaseException as exc:
        tls.close()
        if isinstance(exc, ssl.SSLError):
            raise _tls_error(exc) from exc
        if isinstance(exc, TimeoutError):
            raise TransportTimeoutError(
                f"no TLS handshake from the partner within {timeout:g} s"
            ) from exc
        if isinstance(exc, OSError):
            raise PeerGoneError(
                f"the partner disconnected during the TLS handshake ({_reason(exc)})"
            ) from exc
        raise
    return tls


# -- the connection ----------------------------------------------------------------------------


class _Conn:
    """A non-blocking socket, plain or TLS, with the TLS corner cases folded in."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.send_wants_read = False
        sock.setblocking(False)

    def pending(self) -> int:
        """Decrypted TLS bytes buffered in OpenSSL (select cannot see them)."""
        return self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0

    def recv(self) -> bytes | None:
        """Bytes, ``b""`` at end of stream (a reset counts: the channel judges truncation),
        or None if nothing is ready."""
        try:
            return self.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
            return b""
        except ssl.SSLError as exc:
            raise _tls_error(exc) from exc

    def send(self, data: bytes) -> int:
        """Bytes accepted (0 if the socket is full), or -1 if the partner is gone."""
        self.send_wants_read = False
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
            return 0
        except ssl.SSLWantReadError:
            self.send_wants_read = True
            return 0
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
            return -1
        except ssl.SSLError as exc:
            raise _tls_error(exc) from exc


def _session_awaits(session: Session) -> str:
    """Which partner message the session waits for ("blinded"), for timeout messages."""
    return session.waiting_for


class _Pump:
    """Moves bytes between one socket, one channel and one session until both ends close."""

    def __init__(
        self,
        conn: _Conn,
        session: Session,
        channel: SecureChannel,
        *,
        timeout: float,
        on_event: OnEvent | None,
        decide: Decide | None,
        method: str,
    ) -> None:
        self.conn = conn
        self.session = session
        self.channel = channel
        self.timeout = timeout
        self.on_event = on_event
        self.decide = decide
        self.method = method
        self.out = bytearray()
        self.last_progress = time.monotonic()
        self.secured_reported = False
        self.rejected: str | None = None
        self.eof = False

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> OverlapResult:
        if self.session.state is State.START:
            self.session.start()
        while True:
            # Our own work (hashing a chunk, the user deciding) is not the partner's silence:
            # it does not count against the timeout of the next wait.
            began = time.monotonic()
            self._events()
            self._produce()
            self.last_progress += time.monotonic() - began
            if self.rejected is not None and (not self.out or self.eof):
                raise AgreementError(
                    f"we rejected the partner's terms ({self.rejected}); the partner was told"
                )
            done = self.session.state is State.DONE
            if done and (self.eof or (self.channel.peer_closed and not self.out)):
                break
            self._wait_and_move()
        result = self.session.result
        assert result is not None  # internal: the loop ends at DONE, which sets the result
        return result

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _events(self) -> None:
        if not self.secured_reported and self.channel.established:
            self.secured_reported = True
            self._emit(ChannelSecured(method=self.method))
        session = self.session
        while (event := session.next_event()) is not None:
            self._emit(event)
            if isinstance(event, PartnerTerms) and session.state is State.AWAIT_DECISION:
                if self.decide is None:
                    raise UsageError(
                        "the partner's terms need a decision: pass decide=... or create the "
                        "Session with auto_accept=True"
                    )
                reason = self.decide(event)
                if reason is None:
                    session.accept()
                else:
                    session.reject(reason)
                    self.rejected = reason

    def _produce(self) -> None:
        session = self.session
        while len(self.out) < HIGH_WATER:
            data = session.data_to_send()
            self._events()
            if not data:
                break
            self.channel.send(data)
            self.out += self.channel.data_to_send()
        if (session.done or session.state is State.CLOSED) and not self.channel.closed:
            self.channel.close()
        self.out += self.channel.data_to_send()

    def _wait_and_move(self) -> None:
        conn = self.conn
        readable = writable = False
        if conn.pending():
            readable = True
        else:
            remaining = self.last_progress + self.timeout - time.monotonic()
            if remaining <= 0:
                raise self._timeout_error()
            want_write = bool(self.out) and not conn.send_wants_read
            r, w, _ = select.select(
                [] if self.eof else [conn.sock], [conn.sock] if want_write else [], [], remaining
            )
            readable, writable = bool(r), bool(w)
            if not (readable or writable):
                if self.eof:  # nothing more can come: the loop would only spin
                    raise self._timeout_error()
                return
        if writable:
            sent = conn.send(bytes(self.out[:_SEND_BYTES]))
            if sent < 0:
                self._on_eof()
                self.out.clear()
            elif sent:
                del self.out[:sent]
                self.last_progress = time.monotonic()
        if readable and not self.eof:
            data = conn.recv()
            if data is None:
                return
            if not data:
                self._on_eof()
                return
            self._feed(data)
            self.last_progress = time.monotonic()  # after our work on it, see run()

    def _feed(self, data: bytes) -> None:
        if self.rejected is not None:
            # We said no: whatever the partner sent meanwhile (its own decision, or more if it
            # had accepted) is moot; the session is closed and must not see it.
            return
        channel = self.channel
        channel.receive_data(data)
        app = channel.next_app_data()
        if app:
            self.session.receive_data(app)
        self._events()
        if channel.peer_closed and self.session.state not in (State.DONE, State.CLOSED):
            self._session_gone(None)

    def _on_eof(self) -> None:
        """The partner's stream ended: fine once we are done, an error naming the step before."""
        self.eof = True
        if self.rejected is not None:
            return  # run() reports our rejection, the reason the session ended
        try:
            self.channel.receive_eof()
        except PeerGoneError as gone:
            if not self.channel.established:
                raise
            if self.session.state is not State.DONE:
                self._session_gone(gone)
            # Done: everything we needed arrived authenticated; only the partner's goodbye
            # is missing. Our result stands.
            return
        if self.session.state is not State.DONE:
            self._session_gone(None)

    def _session_gone(self, cause: BaseException | None) -> None:
        try:
            self.session.receive_eof()
        except ProtocolError as exc:
            raise PeerGoneError(f"connection to the partner lost: {exc}") from (cause or exc)
        raise PeerGoneError("connection to the partner lost before the session finished") from cause

    def _awaiting(self) -> str:
        if not self.channel.established:
            return self.channel.awaiting
        if self.session.state is State.DONE:
            return "close record"
        return f"{_session_awaits(self.session)} message"

    def _timeout_error(self) -> TransportTimeoutError:
        stuck = ", and it stopped taking ours," if self.out and not self.eof else ""
        return TransportTimeoutError(
            f"no data from the partner for {self.timeout:g} s{stuck} while waiting for its "
            f"{self._awaiting()}"
        )

    # -- the end --------------------------------------------------------------------------------

    def salvage(self) -> None:
        """After an error: queue what tells the partner why, then close gracefully."""
        try:
            if self.session.state in (State.ERROR, State.CLOSED):
                data = self.session.data_to_send()
                if data:
                    self.channel.send(data)
            self.channel.close()
        except BlindmatchError:
            pass
        self.out += self.channel.data_to_send()
        self.close()

    def close(self) -> None:
        """Deliver what is left, shut our side, and drain until the partner closes too.

        Closing a socket with unread input makes the kernel send a reset, which can destroy
        our own last bytes before the partner reads them; draining first avoids that.
        """
        sock = self.conn.sock
        deadline = time.monotonic() + min(self.timeout, _CLOSE_GRACE)
        try:
            if self.out and not self.eof:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock.sendall(bytes(self.out))
            self.out.clear()
            sock.shutdown(socket.SHUT_WR)
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                if not sock.recv(_RECV_BYTES):
                    break
        except (OSError, ValueError):
            pass
        finally:
            sock.close()


def _drive(
    sock: socket.socket,
    session: Session,
    *,
    side: Side,
    code: PairingCode | None,
    timeout: float,
    on_event: OnEvent | None,
    decide: Decide | None,
) -> OverlapResult:
    tls = isinstance(sock, ssl.SSLSocket)
    method = " + ".join(m for m, on in (("TLS", tls), ("pairing code", code is not None)) if on)
    channel = SecureChannel(side=side, code=code, channel_id=TCP_CHANNEL_ID)
    pump = _Pump(
        _Conn(sock),
        session,
        channel,
        timeout=timeout,
        on_event=on_event,
        decide=decide,
        method=method,
    )
    try:
        result = pump.run()
    except KeyboardInterrupt:
        sock.close()
        raise
    except BlindmatchError:
        pump.salvage()
        raise
    except OSError as exc:
        pump.salvage()
        raise PeerGoneError(f"connection to the partner failed: {_reason(exc)}") from exc
    except BaseException:
        pump.salvage()
        raise
    pump.close()
    return result


def _check_args(
    code: PairingCode | None, ssl_context: ssl.SSLContext | None, timeout: float
) -> None:
    if code is None and ssl_context is None:
        raise UsageError(
            "an unauthenticated connection would show the overlap to anyone on the network: "
            "give a pairing code, a TLS context, or both"
        )
    if not timeout > 0:
        raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _start(
    sock: socket.socket,
    session: Session,
    *,
    side: Side,
    code: PairingCode | None,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    address: str,
    timeout: float,
    on_event: OnEvent | None,
    decide: Decide | None,
) -> OverlapResult:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            sock = _tls_handshake(
                sock,
                ssl_context,
                server_side=side is Side.RESPONDER,
                server_hostname=server_hostname,
                timeout=timeout,
            )
        if on_event is not None:
            on_event(Connected(address=address))
    except BaseException:
        sock.close()
        raise
    return _drive(
        sock, session, side=side, code=code, timeout=timeout, on_event=on_event, decide=decide
    )


def run_listener(
    session: Session,
    *,
    host: str,
    port: int,
    code: PairingCode | None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float,
    on_event: OnEvent | None = None,
    decide: Decide | None = None,
    bound: Callable[[int], None] | None = None,
) -> OverlapResult:
    """Listen on ``host:port``, accept one partner, run ``session`` to its result.

    :param code: the pairing code we printed for the partner (None only with TLS).
    :param ssl_context: ``make_tls_contexts(...).server`` for mutual TLS.
    :param timeout: seconds any single wait may last without progress (the accept included).
    :param on_event: receives the session's events and :class:`Connected`,
        :class:`ChannelSecured`.
    :param decide: called with :class:`~blindmatch.protocol.PartnerTerms` unless the session
        auto-accepts; returns None to accept or a reason to reject.
    :param bound: told the port actually bound (useful with ``port=0``) before we wait.
    """
    _check_args(code, ssl_context, timeout)
    where = _hostport(host, port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = socket.create_server((host, port), family=family)
    except OSError as exc:
        # Our own machine's problem (port taken, address not ours), not the partner's.
        raise UsageError(f"cannot listen on {where}: {_reason(exc)}") from exc
    try:
        server.settimeout(timeout)
        actual = server.getsockname()[1]
        where = _hostport(host, actual)
        if bound is not None:
            bound(actual)
        try:
            sock, peer = server.accept()
        except TimeoutError:
            raise TransportTimeoutError(
                f"no partner connected to {where} within {timeout:g} s"
            ) from None
    finally:
        server.close()
    return _start(
        sock,
        session,
        side=Side.RESPONDER,
        code=code,
        ssl_context=ssl_context,
        server_hostname=None,
        address=_hostport(str(peer[0]), int(peer[1])),
        timeout=timeout,
        on_event=on_event,
        decide=decide,
    )


def run_connector(
    session: Session,
    *,
    host: str,
    port: int,
    code: PairingCode | None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float,
    on_event: OnEvent | None = None,
    decide: Decide | None = None,
    connect_retry: float = 10.0,
) -> OverlapResult:
    """Connect to the partner at ``host:port`` and run ``session`` to its result.

    A refused connection is retried every 0.1 s for ``connect_retry`` seconds, since the
    listener may start a moment after us. Other parameters as in :func:`run_listener`
    (``ssl_context``: ``make_tls_contexts(...).client``; the partner's certificate must name
    ``host``).
    """
    _check_args(code, ssl_context, timeout)
    where = _hostport(host, port)
    give_up = time.monotonic() + connect_retry
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            break
        except ConnectionRefusedError as exc:
            left = give_up - time.monotonic()
            if left <= 0:
                raise PeerGoneError(f"could not connect to {where}: connection refused") from exc
            time.sleep(min(_CONNECT_RETRY_INTERVAL, left))
        except TimeoutError as exc:
            raise TransportTimeoutError(
                f"could not connect to {where} within {timeout:g} s"
            ) from exc
        except OSError as exc:
            raise PeerGoneError(f"could not connect to {where}: {_reason(exc)}") from exc
    return _start(
        sock,
        session,
        side=Side.INITIATOR,
        code=code,
        ssl_context=ssl_context,
        server_hostname=host,
        address=where,
        timeout=timeout,
        on_event=on_event,
        decide=decide,
    )
