"""The blocking face of the driver: one thread runs one session over a byte transport.

A transport is three calls (plus a hard stop). ``send`` must not deadlock when both sides send
megabytes at once: a socket transport keeps reading into its own buffer while it waits to
write (see :class:`blindmatch.transport.tcp.SocketTransport`). Everything else (what to send,
what the partner's bytes mean, how long to wait, what an error says) is the driver's.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from ..errors import BlindmatchError, PeerGoneError, TransportTimeoutError
from ..protocol import OverlapResult
from .core import SessionDriver

__all__ = ["Transport", "run_blocking"]

#: How long, at most, we linger at the end to let our last bytes reach the partner.
CLOSE_GRACE = 2.0


class Transport(Protocol):
    """A reliable, ordered byte stream to the partner, with bounded waits."""

    def send(self, data: bytes, *, timeout: float) -> None:
        """Deliver all of ``data``. Raise TransportTimeoutError if the partner takes none of it
        for ``timeout`` seconds, PeerGoneError if it is gone. May read meanwhile."""
        ...

    def receive(self, *, timeout: float) -> bytes | None:
        """The partner's next bytes; ``b""`` at the end of its stream; None only once
        ``timeout`` seconds passed with nothing (0: do not wait)."""
        ...

    def close(self, *, grace: float) -> None:
        """End our side cleanly, giving the partner up to ``grace`` seconds to read it."""
        ...

    def abort(self) -> None:
        """Drop the connection at once (Ctrl-C)."""
        ...


def run_blocking(driver: SessionDriver, transport: Transport) -> OverlapResult:
    """Run ``driver``'s session over ``transport`` to its result, then close the transport.

    Raises what the session, the channel or the transport raised; on any error the partner is
    still told why (:meth:`SessionDriver.farewell`) before the transport closes."""
    grace = min(driver.timeouts.idle, CLOSE_GRACE)
    try:
        _loop(driver, transport)
    except KeyboardInterrupt:
        transport.abort()
        raise
    except BaseException as exc:
        with contextlib.suppress(BlindmatchError, OSError):
            farewell = driver.farewell()
            if farewell:
                transport.send(farewell, timeout=grace)
        transport.close(grace=grace)
        if isinstance(exc, OSError) and not isinstance(exc, BlindmatchError):
            raise PeerGoneError(f"connection to the partner failed: {exc.strerror or exc}") from exc
        raise
    transport.close(grace=grace)
    return driver.result


def _loop(driver: SessionDriver, transport: Transport) -> None:
    driver.start()
    while True:
        out = driver.outgoing(queued_first=True)
        if out:
            try:
                transport.send(out, timeout=max(driver.wait_budget(), 0.0))
            except TransportTimeoutError as exc:
                raise driver.timeout_error(stuck_sending=True) from exc
        if driver.finished():
            return
        if driver.more_to_send:
            data = transport.receive(timeout=0)
        else:
            budget = driver.wait_budget()
            if budget <= 0:
                raise driver.timeout_error()
            data = transport.receive(timeout=budget)
            if data is None:  # the whole budget passed without a byte
                raise driver.timeout_error()
        if data is None:
            continue
        if data:
            driver.incoming(data)
        else:
            driver.incoming_eof()
