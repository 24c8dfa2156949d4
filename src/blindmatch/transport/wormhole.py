"""Rendezvous through magic-wormhole: both parties connect outbound, nobody opens a port.

Why: most corporate networks forbid inbound connections, so a TCP run needs one side to open a
port it is not allowed to open. Magic-wormhole solves exactly that: both sides connect out to a
mailbox server (a WebSocket relay for small messages), run a PAKE there with a shared code,
exchange connection hints, and then meet over a direct TCP connection or, failing that, through
a transit relay that glues two outbound TCP connections together.

What each layer protects (protocol_spec.md section 13 has the full argument):

* **Our pairing code is the only secret.** The wormhole code is derived from it (HKDF-SHA256,
  one label for the nameplate and another for the wormhole password, see
  :func:`wormhole_code`): the nameplate is public on the mailbox server, so it keeps only four
  decimal digits, which reveal at most log2(10^4) = 13.3 of the code's 46.5 bits; the rest
  needs an online guess like any PAKE.
* **The wormhole's own PAKE (SPAKE2)** authenticates the mailbox messages (connection hints)
  and keys the transit records (NaCl SecretBox). A wrong code fails there, before any
  connection is made.
* **Our CPace channel runs end to end inside the transit connection**, exactly as over TCP
  (channel identifier ``blindmatch/1 wormhole``): the session's bytes are sealed under a key
  only the two parties hold, whatever the wormhole software, the mailbox server or the relay
  do. The relay sees ciphertext of ciphertext, and its timing and volume.

Bridging Twisted to our blocking driver: the Twisted reactor runs in one daemon thread for the
process; this module's :class:`WormholeTransport` is a :class:`~blindmatch.driver.Transport`
whose calls hand work to that thread and wait on queues, with the same bounded waits as the
socket transport. The session loop is the driver's (:func:`~blindmatch.driver.run_blocking`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copyreg
import functools
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ..crypto import hkdf_sha256
from ..driver import Decide, OnEvent, SessionDriver, Timeouts, run_blocking
from ..errors import (
    AuthenticationError,
    PeerGoneError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from ..protocol import Event, OverlapResult, Role, Session
from .channel import WORMHOLE_CHANNEL_ID, SecureChannel
from .pairing import PairingCode
from .pake import Side

__all__ = [
    "APPID",
    "NAMEPLATE_DIGITS",
    "PUBLIC_MAILBOX",
    "PUBLIC_TRANSIT",
    "WormholeConnected",
    "WormholeTransport",
    "run_wormhole",
    "start_reactor",
    "wormhole_code",
]

#: Scopes our nameplates on a shared mailbox server: other applications never see them.
APPID: Final = "blindmatch.psi-run/v1"
#: The public servers magic-wormhole's own command uses by default.
PUBLIC_MAILBOX: Final = "ws://relay.magic-wormhole.io:4000/v1"
PUBLIC_TRANSIT: Final = "tcp:transit.magic-wormhole.io:4001"
#: Decimal digits of the nameplate (public on the mailbox server; see the module docstring).
NAMEPLATE_DIGITS: Final = 4
_RECORD_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class WormholeConnected(Event):
    """The wormhole is up: ``route`` is ``direct`` or ``relay`` (the peer's description)."""

    route: str


def wormhole_code(code: PairingCode) -> str:
    """The wormhole code for our pairing code: ``<nameplate>-<password>``.

    Deterministic, so both sides compute it from the code they share; one-way, so the
    nameplate (which the mailbox server and anyone listing nameplates see) tells little
    about the code; domain-separated, so the wormhole's PAKE password is not the string our
    CPace uses."""
    secret = code.secret()
    plate = hkdf_sha256(secret, b"blindmatch/1 wormhole nameplate")
    password = hkdf_sha256(secret, b"blindmatch/1 wormhole password")
    nameplate = int.from_bytes(plate, "big") % 10**NAMEPLATE_DIGITS
    return f"{nameplate}-{password.hex()}"


# -- the reactor thread ------------------------------------------------------------------------

_reactor_lock = threading.Lock()
_reactor_thread: threading.Thread | None = None


def _reactor() -> Any:
    """Twisted's reactor, running in a daemon thread of its own (started once per process)."""
    global _reactor_thread
    # Importing Twisted registers its own picklers for methods, functions and modules in
    # copyreg (twisted.persisted.styles), for the whole process: afterwards a classmethod
    # reducer, such as our Scalar's, no longer unpickles. Nothing here pickles through them, so
    # the process's table is put back as it was once everything we use is imported. Under the
    # lock: a second thread (``psi-run map`` meets several partners at once) must not save the
    # table while the first one's import has changed it.
    with _reactor_lock:
        saved = dict(copyreg.dispatch_table)
        try:
            import twisted.persisted.styles  # noqa: F401 - imported here, under the guard
            import wormhole  # type: ignore[import-untyped]  # noqa: F401
            import wormhole.transit  # type: ignore[import-untyped]  # noqa: F401
            from twisted.internet import reactor as installed
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise UsageError(
                "--wormhole needs magic-wormhole: pip install 'blindmatch[wormhole]'"
            ) from exc
        finally:
            copyreg.dispatch_table.clear()
            copyreg.dispatch_table.update(saved)
        reactor: Any = installed
        if _reactor_thread is None:
            if reactor.running:
                raise UsageError(
                    "a Twisted reactor already runs in this process: call the wormhole API "
                    "from your own Twisted code instead of run_wormhole"
                )
            _reactor_thread = threading.Thread(
                target=reactor.run,
                kwargs={"installSignalHandlers": False},
                name="blindmatch-twisted",
                daemon=True,
            )
            _reactor_thread.start()
    return reactor


def start_reactor() -> None:
    """Check that magic-wormhole is installed and start the reactor thread now.

    For callers that run several wormhole sessions from threads (``psi-run map``): a missing
    extra is then a usage error before any session starts, and Twisted's import happens before
    other threads may pickle (see :func:`_reactor`)."""
    _reactor()


def _call(reactor: Any, fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
    """Run ``fn`` in the reactor thread and wait for its result (a Deferred is waited for)."""
    from twisted.internet import defer

    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    holder: list[Any] = []

    def start() -> None:
        d = defer.maybeDeferred(fn, *args)
        holder.append(d)
        d.addCallbacks(done.set_result, lambda f: done.set_exception(f.value))

    reactor.callFromThread(start)
    try:
        return done.result(timeout=max(timeout, 0.0))
    except concurrent.futures.TimeoutError:
        reactor.callFromThread(lambda: holder and holder[0].cancel())
        raise TransportTimeoutError(f"no answer within {timeout:g} s") from None


# -- the transport -----------------------------------------------------------------------------


class WormholeTransport:
    """A :class:`~blindmatch.driver.Transport` over a magic-wormhole transit connection.

    Records arrive in the reactor thread and wait in a queue for :meth:`receive`; :meth:`send`
    waits while Twisted's write buffer is full (we register as its streaming producer), so a
    slow partner bounds our memory as a socket would."""

    def __init__(self, reactor: Any, connection: Any, route: str) -> None:
        self._reactor = reactor
        self._conn = connection
        self.route = route
        self._inbox: queue.Queue[bytes] = queue.Queue()
        self._eof = False
        self._writable = threading.Event()
        self._writable.set()
        self._lost = threading.Event()
        reactor.callFromThread(self._start)

    def __repr__(self) -> str:
        return f"WormholeTransport(route={self.route!r}, eof={self._eof})"

    # producer interface, called by Twisted in the reactor thread
    def pauseProducing(self) -> None:
        self._writable.clear()

    def resumeProducing(self) -> None:
        self._writable.set()

    def stopProducing(self) -> None:
        self._writable.set()

    def _start(self) -> None:
        self._conn.registerProducer(self, True)
        self._next()

    def _next(self) -> None:
        d = self._conn.receive_record()
        d.addCallbacks(self._record, self._gone)

    def _record(self, data: bytes) -> None:
        if data:
            self._inbox.put(data)
        self._next()

    def _gone(self, failure: Any) -> None:
        self._inbox.put(b"")
        self._lost.set()

    def send(self, data: bytes, *, timeout: float) -> None:
        view = memoryview(data)
        for at in range(0, len(data), _RECORD_BYTES):
            if self._lost.is_set():
                return  # receive() reports the end in order
            if not self._writable.wait(timeout):
                raise TransportTimeoutError("the partner stopped taking our data")
            self._reactor.callFromThread(
                self._conn.send_record, bytes(view[at : at + _RECORD_BYTES])
            )

    def receive(self, *, timeout: float) -> bytes | None:
        if self._eof:
            return b""
        try:
            data = self._inbox.get(timeout=timeout) if timeout > 0 else self._inbox.get_nowait()
        except queue.Empty:
            return None
        if not data:
            self._eof = True
        return data

    def close(self, *, grace: float) -> None:
        """Close after Twisted flushed what we sent; wait up to ``grace`` for the end."""
        self._reactor.callFromThread(self._conn.close)
        self._lost.wait(grace)

    def abort(self) -> None:
        self._reactor.callFromThread(self._conn.transport.abortConnection)


# -- the rendezvous ----------------------------------------------------------------------------


def _rendezvous(
    reactor: Any,
    *,
    role: Role,
    code: str,
    mailbox: str,
    transit: str,
    direct: bool,
) -> Any:
    """In the reactor thread: meet the partner and return a Deferred transit connection."""
    from twisted.internet import defer
    from wormhole import create
    from wormhole.transit import TransitReceiver, TransitSender

    @defer.inlineCallbacks
    def meet() -> Any:
        w = create(APPID, mailbox, reactor)
        try:
            w.set_code(code)
            yield w.get_verifier()  # the wormhole's PAKE completed: the codes agree
            maker = TransitSender if role is Role.SENDER else TransitReceiver
            transit_ = maker(transit, no_listen=not direct, reactor=reactor)
            transit_.set_transit_key(w.derive_key(APPID + "/transit-key", maker.TRANSIT_KEY_LENGTH))
            hints = yield transit_.get_connection_hints()
            w.send_message(json.dumps({"transit": {"hints-v1": hints}}).encode("utf-8"))
            theirs = json.loads((yield w.get_message()).decode("utf-8"))
            transit_.add_connection_hints(theirs.get("transit", {}).get("hints-v1", []))
            connection = yield transit_.connect()
        finally:
            with contextlib.suppress(Exception):
                yield w.close()
        return connection

    return meet()


def _wormhole_error(exc: BaseException, timeout: float) -> TransportError:
    from wormhole import errors

    if isinstance(exc, errors.WrongPasswordError):
        return AuthenticationError(
            "pairing code does not match (the wormhole's key exchange failed): the partner "
            "entered a different code, or someone interfered. Start again with a new code"
        )
    if isinstance(exc, errors.ServerConnectionError):
        return PeerGoneError(f"cannot reach the wormhole mailbox server: {exc}")
    if isinstance(exc, errors.ServerError):
        return PeerGoneError(f"the wormhole mailbox server refused us: {exc}")
    if isinstance(exc, TransportTimeoutError):
        return TransportTimeoutError(
            f"the partner did not appear on the wormhole within {timeout:g} s (check that both "
            f"sides use the same pairing code and the same servers)"
        )
    return PeerGoneError(f"the wormhole connection failed: {type(exc).__name__}: {exc}")


def run_wormhole(
    session: Session,
    *,
    code: PairingCode,
    timeout: float,
    deadline: float | None = None,
    mailbox: str = PUBLIC_MAILBOX,
    transit: str = PUBLIC_TRANSIT,
    direct: bool = True,
    on_event: OnEvent | None = None,
    decide: Decide | None = None,
) -> OverlapResult:
    """Meet the partner through magic-wormhole and run ``session`` to its result.

    :param code: the pairing code both sides share (the sender generated it).
    :param timeout: seconds to wait for the partner to appear, and for any single wait after.
    :param deadline: seconds the whole run may last, the rendezvous included (None: no limit).
    :param mailbox: the mailbox server's WebSocket URL (default: the public one).
    :param transit: the transit relay hint, ``tcp:HOST:PORT`` (default: the public one).
    :param direct: also offer direct connections (False: through the relay only).
    """
    if not timeout > 0:
        raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
    started = time.monotonic()
    reactor = _reactor()
    try:
        meet = functools.partial(
            _rendezvous,
            reactor,
            role=session.role,
            code=wormhole_code(code),
            mailbox=mailbox,
            transit=transit,
            direct=direct,
        )
        connection = _call(
            reactor, meet, timeout=timeout if deadline is None else min(timeout, deadline)
        )
    except Exception as exc:  # noqa: BLE001 - every wormhole failure is named below
        raise _wormhole_error(exc, timeout) from exc
    route = str(connection.describe())
    route = "relay" if "relay" in route else "direct"
    if on_event is not None:
        on_event(WormholeConnected(route=route))
    side = Side.INITIATOR if session.role is Role.RECEIVER else Side.RESPONDER
    driver = SessionDriver(
        session,
        channel=SecureChannel(
            side=side, code=code, channel_id=WORMHOLE_CHANNEL_ID, engine=session.engine
        ),
        decide=decide,
        on_event=on_event,
        timeouts=Timeouts(
            idle=timeout,
            handshake=timeout,
            session=None if deadline is None else max(started + deadline - time.monotonic(), 1e-3),
        ),
    )
    return run_blocking(driver, WormholeTransport(reactor, connection, route))
