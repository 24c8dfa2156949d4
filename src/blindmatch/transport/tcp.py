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
  record still detects truncation, which ``ssl`` would otherwise let pass as a normal end.
  Right after the handshake the partner's certificate is checked against the pins, if any, and
  the session is bound to the two certificates used (:mod:`.tls_identity`);
* both: CPace inside TLS.

There is no unauthenticated mode: without either, an eavesdropper learns the overlap.

The listener survives the internet: it pairs up to :data:`MAX_UNAUTHENTICATED` connections at
once, each under its own handshake deadline, and gives the session to the first one that
proves the pairing code (CPace key confirmation). Port scans, web requests, TLS hellos, random
bytes and slow trickles are each dropped with one :class:`Dropped` event while it waits on.
Every connection that got our key confirmation without proving the code could test one guess
at the code; after :data:`MAX_GUESSES` of them the listener stops (protocol_spec.md section 13).
The listener is the CPace responder, the connector the initiator; a connector with a wrong
code fails at once, and may try again while the listener waits.

Errors: a wait with no progress for ``timeout`` seconds raises
:class:`~blindmatch.errors.TransportTimeoutError` naming what was awaited; the partner going
away raises :class:`~blindmatch.errors.PeerGoneError` naming the protocol step (chained to the
session's :class:`~blindmatch.errors.RemoteProtocolError`); a wrong code or a bad certificate
raises :class:`~blindmatch.errors.AuthenticationError`. On any error we still try, for a
moment, to deliver what explains it to the partner (our abort message, our key confirmation),
then close without a TCP reset. Ctrl-C closes the socket at once and re-raises.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from ..crypto.engine import CryptoEngine
from ..driver import (
    ChannelSecured,
    Decide,
    Handshake,
    OnEvent,
    SessionDriver,
    Timeouts,
    run_blocking,
)
from ..errors import (
    AuthenticationError,
    BlindmatchError,
    InputError,
    PeerGoneError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from ..protocol import Event, OverlapResult, Session, State
from .channel import TCP_CHANNEL_ID, SecureChannel
from .pairing import PairingCode
from .pake import Side
from .tls_identity import Pin, TlsContext, first_certificate, parse_pins

__all__ = [
    "MAX_GUESSES",
    "MAX_UNAUTHENTICATED",
    "ChannelSecured",
    "Connected",
    "Decide",
    "Dropped",
    "OnEvent",
    "SocketTransport",
    "TlsContexts",
    "make_tls_contexts",
    "run_connector",
    "open_listener",
    "run_listener",
]

_RECV_BYTES: Final = 256 * 1024
_SEND_BYTES: Final = 256 * 1024
_CONNECT_RETRY_INTERVAL: Final = 0.1
#: Connections a listener pairs at once; more are closed on arrival until a slot frees up.
MAX_UNAUTHENTICATED: Final = 8
#: Failed pairings (each one online guess at the code) after which a listener stops.
MAX_GUESSES: Final = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(Event):
    """A connection to the partner is up (TLS included, if used); authentication follows."""

    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped(Event):
    """A listener closed a connection that did not prove the pairing code, and waits on.

    ``guesses``: how many failed pairings so far (each is one online guess at the code)."""

    address: str
    reason: str
    guesses: int


# -- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsContexts:
    """The two contexts one party needs: ``server`` when it listens, ``client`` when it connects."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def make_tls_contexts(
    cert: str | os.PathLike[str],
    key: str | os.PathLike[str],
    ca: str | os.PathLike[str],
    *,
    pins: Iterable[str | Pin] = (),
) -> TlsContexts:
    """Mutual TLS 1.3 (RFC 8446) contexts from our certificate chain, its key and the CA.

    Both directions require a certificate issued by ``ca``: the server refuses clients without
    one (``CERT_REQUIRED``), and the client also checks that the server's certificate names the
    host it connects to (a DNS or IP subjectAltName). Without ``pins`` any certificate the CA
    vouches for is accepted, so use a CA dedicated to this partnership, or pin the partner:
    ``pins`` (``"cert-sha256:..."``, ``"spki-sha256:..."``, see :class:`~.tls_identity.Pin`)
    are checked right after the handshake. Pin syntax is checked here, before anything else.
    """
    pinned = parse_pins(pins)
    ours = first_certificate(cert)
    server = TlsContext(ssl.PROTOCOL_TLS_SERVER)
    client = TlsContext(ssl.PROTOCOL_TLS_CLIENT)
    for ctx in (server, client):
        ctx.certificate, ctx.pins = ours, pinned
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


class SocketTransport:
    """A :class:`~blindmatch.driver.Transport` over one connected socket, plain or TLS.

    ``send`` keeps reading into a buffer while it waits to write: both sides may send megabytes
    at once, and two writers that stop reading would deadlock on full TCP buffers."""

    def __init__(self, sock: socket.socket) -> None:
        self.conn = _Conn(sock)
        self._inbox = bytearray()
        self._eof = False

    def __repr__(self) -> str:
        return f"SocketTransport(tls={self.conn.tls}, eof={self._eof})"

    def send(self, data: bytes, *, timeout: float) -> None:
        conn = self.conn
        view = memoryview(data)
        at = 0
        last_progress = time.monotonic()
        while at < len(data) and not self._eof:
            remaining = last_progress + timeout - time.monotonic()
            if remaining <= 0:
                raise TransportTimeoutError("the partner stopped taking our data")
            if conn.pending():
                self._read()
            reads = [conn.sock] if not self._eof else []
            writes = [] if conn.send_wants_read else [conn.sock]
            r, w, _ = select.select(reads, writes, [], remaining)
            if r:
                self._read()
            if w or (r and conn.send_wants_read):
                sent = conn.send(bytes(view[at : at + _SEND_BYTES]))
                if sent < 0:
                    self._eof = True  # the partner is gone: receive() reports it in order
                elif sent:
                    at += sent
                    last_progress = time.monotonic()

    def receive(self, *, timeout: float) -> bytes | None:
        if self._inbox:
            data = bytes(self._inbox)
            self._inbox.clear()
            return data
        if self._eof:
            return b""
        conn = self.conn
        give_up = time.monotonic() + timeout
        while True:
            if not conn.pending():
                remaining = give_up - time.monotonic()
                r, _, _ = select.select([conn.sock], [], [], max(remaining, 0.0))
                if not r and remaining <= 0:
                    return None
                if not r:
                    continue
            got = conn.recv()
            if got is not None:
                if not got:
                    self._eof = True
                return got
            if give_up - time.monotonic() <= 0:
                return None

    def _read(self) -> None:
        data = self.conn.recv()
        if data is None:
            return
        if not data:
            self._eof = True
        self._inbox += data

    def close(self, *, grace: float) -> None:
        """Shut our side, then drain until the partner closes too (at most ``grace`` s).

        Closing a socket with unread input makes the kernel send a reset, which can destroy
        our own last bytes before the partner reads them; draining first avoids that.
        """
        sock = self.conn.sock
        deadline = time.monotonic() + grace
        try:
            sock.setblocking(True)
            sock.shutdown(socket.SHUT_WR)
            while not self._eof:
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

    def abort(self) -> None:
        self.conn.sock.close()


def _drive(
    transport: SocketTransport,
    session: Session,
    *,
    channel: SecureChannel,
    timeouts: Timeouts,
    on_event: OnEvent | None,
    decide: Decide | None,
    binding: bytes,
) -> OverlapResult:
    if session.state is State.START:  # (in TLS mode, always: see _check_args)
        session.start(binding=binding)  # the binding enters the agreement (spec §5.1)
    method = " + ".join(
        m
        for m, on in (("TLS", transport.conn.tls), (channel.method, channel.method != "none"))
        if on
    )
    driver = SessionDriver(
        session,
        channel=channel,
        decide=decide,
        on_event=on_event,
        timeouts=timeouts,
        method=method,
    )
    return run_blocking(driver, transport)


def _check_args(
    session: Session, code: PairingCode | None, ssl_context: ssl.SSLContext | None, timeout: float
) -> None:
    if code is None and ssl_context is None:
        raise UsageError(
            "an unauthenticated connection would show the overlap to anyone on the network: "
            "give a pairing code, a TLS context, or both"
        )
    if not timeout > 0:
        raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if ssl_context is not None and not isinstance(ssl_context, TlsContext):
        raise UsageError(
            "the TLS context must come from make_tls_contexts(): it knows our certificate, "
            "which binds the session to the connection, and the partner pins"
        )
    if ssl_context is not None and session.state is not State.START:
        raise UsageError(
            "in TLS mode, leave the session unstarted: its agreement binds the TLS connection"
        )


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
    deadline: float | None,
    on_event: OnEvent | None,
    decide: Decide | None,
) -> OverlapResult:
    binding = b""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            assert isinstance(ssl_context, TlsContext)  # checked by _check_args
            sock = _tls_handshake(
                sock,
                ssl_context,
                server_side=side is Side.RESPONDER,
                server_hostname=server_hostname,
                timeout=timeout,
            )
            assert isinstance(sock, ssl.SSLSocket)
            # Pins first: nothing of the session goes to a partner we did not pin.
            binding = ssl_context.binding_for(sock, server_side=side is Side.RESPONDER)
        if on_event is not None:
            on_event(Connected(address=address))
    except BaseException:
        sock.close()
        raise
    timeouts = Timeouts(idle=timeout, handshake=timeout, session=deadline)
    channel = SecureChannel(side=side, code=code, channel_id=TCP_CHANNEL_ID, engine=session.engine)
    return _drive(
        SocketTransport(sock),
        session,
        channel=channel,
        timeouts=timeouts,
        on_event=on_event,
        decide=decide,
        binding=binding,
    )


def open_listener(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; ``UsageError`` if the port is taken or the
    address is not ours.

    Why separately: a party binds before it reads its accounts, so a port problem shows at
    once, and a partner who connects while we read waits in the backlog instead of retrying.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=MAX_UNAUTHENTICATED)
    except OSError as exc:
        # Our own machine's problem (port taken, address not ours), not the partner's.
        raise UsageError(f"cannot listen on {_hostport(host, port)}: {_reason(exc)}") from exc


def run_listener(
    session: Session,
    *,
    host: str,
    port: int,
    code: PairingCode | None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float,
    deadline: float | None = None,
    on_event: OnEvent | None = None,
    decide: Decide | None = None,
    bound: Callable[[int], None] | None = None,
    pairing_timeout: float | None = None,
    server: socket.socket | None = None,
) -> OverlapResult:
    """Listen on ``host:port``, pair with the first connection that proves the code, and run
    ``session`` with it to its result.

    :param code: the pairing code we printed for the partner (None only with TLS).
    :param ssl_context: ``make_tls_contexts(...).server`` for mutual TLS.
    :param timeout: seconds to wait for a partner to connect, the most any one connection may
        take to pair, and the most any single wait may last without progress.
    :param deadline: seconds the whole run may last, waiting included (None: no limit).
    :param on_event: receives the session's events and :class:`Connected`,
        :class:`ChannelSecured`, :class:`Dropped`.
    :param decide: called with :class:`~blindmatch.protocol.PartnerTerms` unless the session
        auto-accepts; returns None to accept or a reason to reject.
    :param bound: told the port actually bound (useful with ``port=0``) before we wait.
    :param pairing_timeout: the most one connection may take to prove the code (default:
        ``timeout``).
    :param server: a socket :func:`open_listener` bound on ``host:port`` earlier (taken over
        and closed); None binds one now.
    """
    _check_args(session, code, ssl_context, timeout)
    pairing = Timeouts(idle=timeout, handshake=pairing_timeout or timeout)
    started = time.monotonic()
    where = _hostport(host, port)
    if server is None:
        server = open_listener(host, port)
    try:
        actual = server.getsockname()[1]
        where = _hostport(host, actual)
        if bound is not None:
            bound(actual)
        vetting = _Vetting(
            server,
            code=code,
            ssl_context=ssl_context,
            timeouts=pairing,
            give_up=started + timeout,
            deadline_at=None if deadline is None else started + deadline,
            on_event=on_event,
            where=where,
            engine=session.engine,
        )
        winner = vetting.run()
    finally:
        server.close()
    binding = winner.binding  # pins were checked while vetting
    if on_event is not None:
        on_event(Connected(address=winner.address))
    transport = SocketTransport(winner.sock)
    left = None if deadline is None else max(started + deadline - time.monotonic(), 1e-3)
    try:
        if winner.out:  # the rest of our CONFIRM, if the socket did not take it at once
            transport.send(bytes(winner.out), timeout=timeout)
    except BaseException:
        transport.abort()
        raise
    return _drive(
        transport,
        session,
        channel=winner.channel,
        timeouts=Timeouts(idle=timeout, session=left),
        on_event=on_event,
        decide=decide,
        binding=binding,
    )


class _Candidate:
    """A connection that has not proved the code yet: its socket, TLS and pairing progress."""

    def __init__(
        self,
        sock: socket.socket,
        address: str,
        channel: SecureChannel,
        timeouts: Timeouts,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.sock = sock
        self.tls_context = tls_context
        #: the TLS channel binding (§13), once the handshake is through and the pins held
        self.binding = b""
        self.address = address
        self.channel = channel
        self.handshake = Handshake(channel, timeouts=timeouts)
        self.tls_done = not isinstance(sock, ssl.SSLSocket)
        self.tls_wants_write = False
        self.out = bytearray(self.handshake.outgoing() if self.tls_done else b"")  # our SHARE
        self.conn = _Conn(sock)

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def wants_write(self) -> bool:
        return self.tls_wants_write or (self.tls_done and bool(self.out))

    def farewell(self) -> None:
        """Before the close, one try (never a wait) to send what the channel still holds: a
        partner who typed a wrong code then reads "pairing code does not match" from our
        CONFIRM rather than a cut connection."""
        if not self.tls_done:
            return
        with contextlib.suppress(BlindmatchError, OSError):
            self.out += self.handshake.outgoing()
            if self.out:
                self.conn.send(bytes(self.out))

    def step(self, readable: bool, writable: bool) -> None:
        """Advance TLS, then move pairing bytes; raises what makes the connection a stranger."""
        if not self.tls_done:
            assert isinstance(self.sock, ssl.SSLSocket)
            self.tls_wants_write = False
            try:
                self.sock.do_handshake()
            except ssl.SSLWantReadError:
                return
            except ssl.SSLWantWriteError:
                self.tls_wants_write = True
                return
            except ssl.SSLError as exc:
                raise _tls_error(exc) from exc
            if isinstance(self.tls_context, TlsContext):
                # Pins first: a partner we did not pin is a stranger like any other.
                self.binding = self.tls_context.binding_for(self.sock, server_side=True)
            self.tls_done = True
            readable = True  # the hello may have come with pairing bytes
        self.out += self.handshake.outgoing()
        if readable:
            while not self.handshake.established:
                data = self.conn.recv()
                if data is None:
                    break
                if not data:
                    self.handshake.incoming_eof()
                self.handshake.incoming(data)
                self.out += self.handshake.outgoing()
        if self.out and (writable or readable):
            sent = self.conn.send(bytes(self.out))
            if sent < 0:
                raise PeerGoneError("it closed the connection")
            del self.out[:sent]


class _Vetting:
    """The listener's accept loop: strangers are paired concurrently until one proves the code."""

    def __init__(
        self,
        server: socket.socket,
        *,
        code: PairingCode | None,
        ssl_context: ssl.SSLContext | None,
        timeouts: Timeouts,
        give_up: float,
        deadline_at: float | None,
        on_event: OnEvent | None,
        where: str,
        engine: CryptoEngine,
    ) -> None:
        self.server = server
        self.engine = engine
        self.code = code
        self.ssl_context = ssl_context
        self.timeouts = timeouts
        self.give_up = give_up if deadline_at is None else min(give_up, deadline_at)
        self.deadline_at = deadline_at
        self.on_event = on_event
        self.where = where
        self.candidates: list[_Candidate] = []
        self.guesses = 0
        server.setblocking(False)

    def run(self) -> _Candidate:
        try:
            return self._loop()
        finally:
            for c in self.candidates:
                c.sock.close()

    def _loop(self) -> _Candidate:
        while True:
            now = time.monotonic()
            for c in list(self.candidates):
                budget = c.handshake.wait_budget()
                if self.deadline_at is not None:
                    budget = min(budget, self.deadline_at - now)
                if budget <= 0:
                    self._drop(c, c.handshake.timeout_error())
            accepting = now < self.give_up
            if not accepting and not self.candidates:
                if self.deadline_at is not None and now >= self.deadline_at:
                    raise TransportTimeoutError(
                        f"no partner paired on {self.where} within the deadline"
                    )
                raise TransportTimeoutError(
                    f"no partner connected to {self.where} within {self.timeouts.idle:g} s"
                )
            waits = [c.handshake.wait_budget() for c in self.candidates]
            if accepting:
                waits.append(self.give_up - now)
            reads: list[socket.socket | _Candidate] = list(self.candidates)
            if accepting:
                reads.append(self.server)
            writes = [c for c in self.candidates if c.wants_write]
            r, w, _ = select.select(reads, writes, [], max(min(waits), 0.0))
            if self.server in r:
                self._accept()
            for c in list(self.candidates):
                ready_r = c in r or (c.conn.pending() > 0)
                ready_w = c in w
                if not (ready_r or ready_w or not c.tls_done):
                    continue
                try:
                    c.step(ready_r, ready_w)
                except (BlindmatchError, OSError) as exc:
                    self._drop(c, exc)
                    continue
                if c.tls_done and c.handshake.established:
                    self.candidates.remove(c)
                    return c

    def _accept(self) -> None:
        try:
            sock, peer = self.server.accept()
        except (BlockingIOError, InterruptedError, ConnectionError):
            return
        address = _hostport(str(peer[0]), int(peer[1]))
        if len(self.candidates) >= MAX_UNAUTHENTICATED:
            sock.close()
            self._say(address, f"{MAX_UNAUTHENTICATED} connections are pairing already")
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            self._say(address, _reason(exc))
            return
        channel = SecureChannel(
            side=Side.RESPONDER, code=self.code, channel_id=TCP_CHANNEL_ID, engine=self.engine
        )
        self.candidates.append(
            _Candidate(sock, address, channel, self.timeouts, tls_context=self.ssl_context)
        )

    def _drop(self, c: _Candidate, exc: BaseException) -> None:
        self.candidates.remove(c)
        c.farewell()
        c.sock.close()
        reason = str(exc) if isinstance(exc, BlindmatchError) else _reason(exc)
        if isinstance(exc, PeerGoneError) and not c.tls_done:
            reason = "it closed the connection during the TLS handshake"
        elif (
            isinstance(exc, PeerGoneError)
            and not c.channel.pending
            and c.channel.awaiting == "channel hello"
        ):
            reason = "it closed the connection without sending anything we understand"
        if c.handshake.guessed:
            self.guesses += 1
            reason = f"it failed the pairing code ({reason})"
        self._say(c.address, reason)
        if self.guesses >= MAX_GUESSES:
            raise AuthenticationError(
                f"{self.guesses} connections failed the pairing code; the listener stopped so "
                f"that nobody gets more guesses at it. Start again with a new code"
            )

    def _say(self, address: str, reason: str) -> None:
        if self.on_event is not None:
            self.on_event(Dropped(address=address, reason=reason, guesses=self.guesses))


def run_connector(
    session: Session,
    *,
    host: str,
    port: int,
    code: PairingCode | None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float,
    deadline: float | None = None,
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
    _check_args(session, code, ssl_context, timeout)
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
        deadline=deadline,
        on_event=on_event,
        decide=decide,
    )
