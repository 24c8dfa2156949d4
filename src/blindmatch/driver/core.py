"""The one place that runs a Session over a channel: events, decisions, deadlines, failure.

Why one driver: a session is driven the same way whatever carries its bytes (a TCP socket, a
relay, message files, memory). What differs between transports is only how bytes move and
how long a wait may last; everything else is decided here, once:

* which bytes go out next (the session's, sealed by the channel; at most ``limit`` at a time,
  so a slow partner bounds our memory), and when our CLOSE record goes out (as soon as our
  session is done or closed);
* what the partner's bytes do (channel first, then the session), and what the end of its
  stream means at each step (fine after our result; an error naming the step before);
* the partner's terms: ``decide(event)`` returns None to accept or a reason to reject, and
  after a rejection the partner's further bytes are moot;
* events for the program (the session's, plus :class:`ChannelSecured`);
* time: an idle timeout (no byte from the partner for that long), a handshake deadline (the
  partner must prove the pairing code by then: a stranger who trickles bytes cannot hold us),
  and a whole-session deadline; :meth:`wait_budget` tells a transport how long its next wait
  may last, and :meth:`timeout_error` words the error by what we were waiting for;
* after a failure, :meth:`farewell` is what still tells the partner why (our abort, our close).

The driver itself never touches a socket, a file or a thread; :mod:`.blocking` and :mod:`.aio`
loop it over a transport, and :mod:`.memory` wires two of them back to back. The clock is an
argument, so tests can drive time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ..errors import (
    AgreementError,
    BlindmatchError,
    PeerGoneError,
    ProtocolError,
    TransportError,
    TransportTimeoutError,
    UsageError,
)
from ..protocol import Event, OverlapResult, PartnerTerms, Session, State

__all__ = [
    "HIGH_WATER",
    "Channel",
    "ChannelSecured",
    "Decide",
    "Handshake",
    "OnEvent",
    "Rejection",
    "SessionDriver",
    "Timeouts",
    "pump_channels",
]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A reason to reject the partner's terms, worded for each side: ``ours`` for our user,
    ``theirs`` for the partner's, sent in the abort (where "we" is the partner)."""

    ours: str
    theirs: str


#: ``decide(event)`` returns None to accept the partner's terms, or a reason to reject them
#: (one text for both sides, or a :class:`Rejection` worded for each).
Decide = Callable[[PartnerTerms], "str | Rejection | None"]
OnEvent = Callable[[Event], None]

#: Pull more from the session only while less than this waits for the network.
HIGH_WATER: Final = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSecured(Event):
    """The partner is authenticated: ``pairing code``, ``TLS`` or ``TLS + pairing code``."""

    method: str


class Channel(Protocol):
    """What the driver needs of a record layer (:class:`blindmatch.transport.SecureChannel`)."""

    @property
    def established(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def peer_closed(self) -> bool: ...
    @property
    def pending(self) -> int: ...
    @property
    def awaiting(self) -> str: ...
    def send(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def data_to_send(self) -> bytes: ...
    def receive_data(self, data: bytes) -> None: ...
    def next_app_data(self) -> bytes: ...
    def receive_eof(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long the driver waits, in seconds.

    :param idle: any single wait for the partner with no byte from it (our own work, such as
        hashing a chunk or the user deciding, does not count).
    :param handshake: from the start until the partner proved the pairing code (or, without a
        channel, sent its hello); None: only ``idle`` applies.
    :param session: the whole session, from the start to the partner's close; None: no limit.
    """

    idle: float = 120.0
    handshake: float | None = None
    session: float | None = None

    def __post_init__(self) -> None:
        for name in ("idle", "handshake", "session"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UsageError(
                    f"timeout {name} must be a positive number of seconds, not {value!r}"
                )


class SessionDriver:
    """Moves one session's bytes through an optional channel; see the module docstring.

    :param session: the session to run (started here if it was not).
    :param channel: the record layer, or None to put the session's bytes on the wire as they
        are (in memory, or inside a transport that authenticates and encrypts by itself).
    :param decide: asked about the partner's terms unless the session auto-accepts.
    :param on_event: receives the session's events and :class:`ChannelSecured`.
    :param method: how the channel authenticates, for :class:`ChannelSecured`.
    :param close_when_done: end our stream with the channel's CLOSE record once our session is
        done or closed (streams: it tells truncation from a clean end). Message transports
        whose last message is the partner's last read pass False: a CLOSE would be a message
        nobody reads, and a cut run never completes its session anyway.
    """

    def __init__(
        self,
        session: Session,
        *,
        channel: Channel | None = None,
        decide: Decide | None = None,
        on_event: OnEvent | None = None,
        timeouts: Timeouts | None = None,
        method: str = "pairing code",
        close_when_done: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.channel = channel
        self.decide = decide
        self.on_event = on_event
        self.timeouts = timeouts or Timeouts()
        self.method = method
        self._close_when_done = close_when_done
        self._clock = clock
        self._started_at: float | None = None
        self._secured_reported = channel is None
        #: the reason we gave when we rejected the partner's terms
        self.rejected: str | None = None
        #: the partner's byte stream ended
        self.eof = False
        #: the last :meth:`outgoing` stopped at its limit: the session may have more right now
        self.more_to_send = True
        #: the partner ended its stream cleanly before our session was done; judged once we
        #: have nothing left to send (its last bytes may be all we needed, see :meth:`outgoing`)
        self._peer_ended = False
        self._adopted = False
        #: a defect found while computing our result (protocol_spec.md §5.5): the session goes
        #: on exactly as a successful one, on the wire and on disk, and this is raised at the
        #: end, so a cheating partner cannot tell the two apart
        self.quiet_failure: BlindmatchError | None = None

    def __repr__(self) -> str:
        rejected = self.rejected is not None
        return f"SessionDriver({self.session!r}, eof={self.eof}, rejected={rejected})"

    # -- going ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the session (queue our hello) and the clocks."""
        if self._started_at is None:
            self._started_at = self._clock()
        if self.session.state is State.START:
            self.session.start()
            # A channel paired by a :class:`Handshake`: the partner's first data may have come
            # in with its confirmation; it is fed after our hello is out (see outgoing()).
            self._adopted = self.channel is not None and self.channel.established

    def outgoing(self, limit: int = HIGH_WATER, *, queued_first: bool = False) -> bytes:
        """Wire bytes to send now: the session's (sealed), computed up to about ``limit``.

        Computing a chunk of our blinded values happens here, so a transport calls this only
        when the bytes it holds have gone out. ``queued_first``: if the session has frames
        queued (our accept, our lanes), return just those, so they reach the partner, which
        may be waiting on them, before we spend a while computing."""
        self.start()
        session = self.session
        out = bytearray()
        self._events()
        self.more_to_send = False
        compute = not queued_first
        while True:
            data = self._session_call(functools.partial(session.data_to_send, compute=compute))
            self._events()
            if not data:
                if compute:
                    break
                compute = True
                continue
            if self.channel is None:
                out += data
            else:
                self.channel.send(data)
                out += self.channel.data_to_send()
            if len(out) >= limit or not compute:
                self.more_to_send = True
                break
        if self.channel is not None:
            if self._over() and self._close_when_done and not self.channel.closed:
                self.channel.close()
            out += self.channel.data_to_send()
        if self._peer_ended and not self.more_to_send and not self._over():
            # The partner may end its stream as soon as it has its result, which can come
            # before our last returned chunks are flushed (when it expects nothing from us).
            # Once we have nothing left to send, a session still not done is a cut one.
            self._session_gone(None)
        if self._adopted and self.channel is not None:
            self._adopted = False
            early = self.channel.next_app_data()
            if early:
                self.session.receive_data(early)
                self.more_to_send = True  # its events and our answer come with the next call
        return bytes(out)

    def incoming(self, data: bytes, *, boundary: str | None = None) -> None:
        """Feed wire bytes from the partner.

        :param boundary: for transports that carry whole messages (files, mailboxes): the
            message's name; bytes that end inside a channel record are refused, naming it.
        """
        self.start()
        if self.rejected is not None:
            # We said no: whatever the partner sent meanwhile (its own decision, or more if it
            # had accepted) is moot; the session is closed and must not see it.
            return
        channel = self.channel
        if channel is None:
            self._feed_session(data)
        else:
            channel.receive_data(data)
            if boundary is not None and channel.pending:
                raise TransportError(
                    f"{boundary} ends inside a channel record ({channel.pending} bytes): it was "
                    f"not written by blindmatch"
                )
            app = channel.next_app_data()
            if app:
                self._feed_session(app)
        self._events()
        if channel is not None and channel.peer_closed:
            self._peer_ended = not self._over()

    def incoming_eof(self) -> None:
        """The partner's stream ended: fine once we are done, an error naming the step before."""
        self.eof = True
        if self.rejected is not None:
            return  # finished() reports our rejection, the reason the session ended
        channel = self.channel
        if channel is not None:
            try:
                channel.receive_eof()
            except PeerGoneError as gone:
                if not channel.established:
                    raise
                if not self._over():
                    self._session_gone(gone)
                # Done: everything we needed arrived authenticated; only the partner's
                # goodbye is missing. Our result stands.
                return
            if channel.peer_closed and not self._over():
                self._peer_ended = True  # a clean end: judged by outgoing()
                return
        if not self._over():
            self._session_gone(None)

    def finished(self) -> bool:
        """The session is over for us: True once we have our result and the partner's stream
        ended (its close record, or end of stream). Raises AgreementError once our rejection
        went out, since that ends the session too."""
        if self.rejected is not None:
            raise AgreementError(
                f"we rejected the partner's terms ({self.rejected}); the partner was told"
            )
        quiet = self.quiet_failure
        if self.session.state is not State.DONE and quiet is None:
            return False
        if self.channel is None:
            ended = self.session.done or quiet is not None
        else:
            ended = self.eof or self.channel.peer_closed
        if ended and quiet is not None:
            raise quiet
        return ended

    @property
    def result(self) -> OverlapResult:
        result = self.session.result
        if result is None:
            raise UsageError("the session has no result yet")
        return result

    # -- time -----------------------------------------------------------------------------------

    def wait_budget(self) -> float:
        """Seconds the next wait for the partner may last (<= 0: raise :meth:`timeout_error`)."""
        now = self._clock()
        budget = self.timeouts.idle
        started = self._started_at if self._started_at is not None else now
        if self.timeouts.session is not None:
            budget = min(budget, started + self.timeouts.session - now)
        if self.timeouts.handshake is not None and not self._authenticated():
            budget = min(budget, started + self.timeouts.handshake - now)
        return budget

    def timeout_error(self, *, stuck_sending: bool = False) -> TransportTimeoutError:
        """The error for a wait that ran out, naming what we were waiting for."""
        now = self._clock()
        started = self._started_at if self._started_at is not None else now
        awaited = self.awaiting()
        limits = self.timeouts
        if limits.session is not None and now >= started + limits.session:
            return TransportTimeoutError(
                f"the session did not finish within its deadline of {limits.session:g} s "
                f"(it was waiting for the partner's {awaited})"
            )
        if (
            limits.handshake is not None
            and not self._authenticated()
            and (now >= started + limits.handshake)
        ):
            return TransportTimeoutError(
                f"the partner did not complete the handshake within {limits.handshake:g} s "
                f"(it was waiting for the partner's {awaited})"
            )
        stuck = ", and it stopped taking ours," if stuck_sending and not self.eof else ""
        return TransportTimeoutError(
            f"no data from the partner for {limits.idle:g} s{stuck} while waiting for its {awaited}"
        )

    def awaiting(self) -> str:
        """What we wait for from the partner ("pairing message", "blinded message", ...)."""
        channel = self.channel
        if channel is not None and not channel.established:
            return channel.awaiting
        if self.session.state is State.DONE:
            return "close record"
        return f"{self.session.waiting_for} message"

    def _authenticated(self) -> bool:
        if self.channel is not None:
            return self.channel.established
        return self.session.state not in (State.START, State.AWAIT_HELLO)

    # -- the end --------------------------------------------------------------------------------

    def farewell(self) -> bytes:
        """After an error: the bytes that still tell the partner why (our abort, our close)."""
        out = bytearray()
        try:
            if self.session.state in (State.ERROR, State.CLOSED):
                data = self.session.data_to_send()
                if data:
                    if self.channel is None:
                        out += data
                    else:
                        self.channel.send(data)
            if self.channel is not None:
                self.channel.close()
        except BlindmatchError:
            pass
        if self.channel is not None:
            out += self.channel.data_to_send()
        return bytes(out)

    # -- internals ------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _events(self) -> None:
        if not self._secured_reported and self.channel is not None and self.channel.established:
            self._secured_reported = True
            self._emit(ChannelSecured(method=self.method))
        session = self.session
        while (event := session.next_event()) is not None:
            self._emit(event)
            if isinstance(event, PartnerTerms) and session.needs_decision:
                if self.decide is None:
                    raise UsageError(
                        "the partner's terms need a decision: pass decide=... or create the "
                        "Session with auto_accept=True"
                    )
                reason = self.decide(event)
                if reason is None:
                    session.accept()
                else:
                    if isinstance(reason, str):
                        reason = Rejection(reason, reason)
                    session.reject(reason.theirs)
                    self.rejected = reason.ours

    def _over(self) -> bool:
        """Our session has nothing more to receive: done, closed, or failed quietly."""
        return self.session.state in (State.DONE, State.CLOSED) or self.quiet_failure is not None

    def _session_call(self, call: Callable[[], bytes]) -> bytes:
        """``session.data_to_send`` keeping a quiet failure (§5.5) for the end: the session
        then still hands over what it owed the partner, as a successful run would."""
        try:
            return call()
        except BlindmatchError as exc:
            if exc is not self.session.quiet_failure:
                raise
            self.quiet_failure = exc
            return self.session.data_to_send()

    def _feed_session(self, data: bytes) -> None:
        """``session.receive_data``, keeping a quiet failure for the end (its owed bytes stay
        queued for :meth:`outgoing`)."""
        try:
            self.session.receive_data(data)
        except BlindmatchError as exc:
            if exc is not self.session.quiet_failure:
                raise
            self.quiet_failure = exc

    def _session_gone(self, cause: BaseException | None) -> None:
        try:
            self.session.receive_eof()
        except ProtocolError as exc:
            raise PeerGoneError(f"connection to the partner lost: {exc}") from (cause or exc)
        raise PeerGoneError("connection to the partner lost before the session finished") from cause


class Handshake:
    """A channel's pairing alone, before any session: how a listener vets strangers.

    Why: a listener on the internet meets port scanners, web crawlers and people who typed the
    wrong code before it meets its partner. It pairs several connections at once, each under
    its own handshake deadline, and gives its session only to the first that proves the code;
    the winner's channel (and any data that came with its confirmation) then goes to a
    :class:`SessionDriver`. No session byte is sealed before that, so a stranger receives
    only our SHARE and CONFIRM records.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        timeouts: Timeouts,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.timeouts = timeouts
        self._clock = clock
        self._started_at = clock()
        self._last_byte = self._started_at

    def __repr__(self) -> str:
        return f"Handshake(established={self.channel.established})"

    @property
    def established(self) -> bool:
        return self.channel.established

    @property
    def guessed(self) -> bool:
        """The stranger got our CONFIRM for its SHARE without proving the code: whether or
        not it answered, it could test one guess at the code against that tag."""
        return self.channel.awaiting == "pairing confirmation"

    def outgoing(self) -> bytes:
        return self.channel.data_to_send()

    def incoming(self, data: bytes) -> None:
        """Feed the stranger's bytes (raises on anything that is not a blindmatch pairing)."""
        if data:
            self._last_byte = self._clock()
        self.channel.receive_data(data)

    def incoming_eof(self) -> None:
        """The stranger hung up: always an error before the pairing completed."""
        self.channel.receive_eof()

    def wait_budget(self) -> float:
        """Seconds left before this stranger is dropped (the handshake deadline, and the
        idle timeout since its last byte)."""
        now = self._clock()
        budget = self._last_byte + self.timeouts.idle - now
        limit = self.timeouts.handshake
        if limit is not None:
            budget = min(budget, self._started_at + limit - now)
        return budget

    def timeout_error(self) -> TransportTimeoutError:
        limit = self.timeouts.handshake
        if limit is not None and self._clock() >= self._started_at + limit:
            return TransportTimeoutError(
                f"it did not complete the pairing within {limit:g} s "
                f"(waiting for its {self.channel.awaiting})"
            )
        return TransportTimeoutError(
            f"no data from it for {self.timeouts.idle:g} s "
            f"(waiting for its {self.channel.awaiting})"
        )


def pump_channels(
    initiator: Channel, responder: Channel, *, rounds: int = 10
) -> tuple[bytes, bytes]:
    """Two bare channels back to back in memory, shuttled until neither has anything to send
    (at most ``rounds`` turns): what each sent, initiator's first. The conformance kit's
    channel vector (protocol_spec.md §13.7) is made this way, with no session on top."""
    sent_i = sent_r = b""
    for _ in range(rounds):
        to_r, to_i = initiator.data_to_send(), responder.data_to_send()
        if not to_r and not to_i:
            break
        sent_i += to_r
        sent_r += to_i
        responder.receive_data(to_r)
        initiator.receive_data(to_i)
    return sent_i, sent_r
