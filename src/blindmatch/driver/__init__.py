"""One driver for every transport: a Session and its channel, run to a result.

:class:`SessionDriver` decides everything about running a session (what to send, what the
partner's bytes mean, decisions, events, deadlines, what to tell the partner on failure);
its faces only loop it over a transport:

* :func:`run_blocking` over a :class:`Transport` (TCP, relays), in the calling thread;
* :func:`run_async` over an :class:`AsyncTransport`, inside the caller's event loop;
* :func:`run_pair`: two parties back to back in memory;
* message transports (offline files, mailboxes) call ``incoming``/``outgoing`` step by step.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .aio import AsyncTransport as AsyncTransport
    from .aio import StreamTransport as StreamTransport
    from .aio import run_async as run_async
    from .blocking import Transport as Transport
    from .blocking import run_blocking as run_blocking
    from .core import HIGH_WATER as HIGH_WATER
    from .core import Channel as Channel
    from .core import ChannelSecured as ChannelSecured
    from .core import Decide as Decide
    from .core import Handshake as Handshake
    from .core import OnEvent as OnEvent
    from .core import Rejection as Rejection
    from .core import SessionDriver as SessionDriver
    from .core import Timeouts as Timeouts
    from .core import pump_channels as pump_channels
    from .memory import PairRun as PairRun
    from .memory import run_pair as run_pair

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AsyncTransport": ".aio",
        "StreamTransport": ".aio",
        "run_async": ".aio",
        "Transport": ".blocking",
        "run_blocking": ".blocking",
        "HIGH_WATER": ".core",
        "Channel": ".core",
        "ChannelSecured": ".core",
        "Decide": ".core",
        "Handshake": ".core",
        "OnEvent": ".core",
        "Rejection": ".core",
        "SessionDriver": ".core",
        "Timeouts": ".core",
        "pump_channels": ".core",
        "PairRun": ".memory",
        "run_pair": ".memory",
    },
)

__all__ = [
    "HIGH_WATER",
    "AsyncTransport",
    "Channel",
    "ChannelSecured",
    "Decide",
    "Handshake",
    "OnEvent",
    "PairRun",
    "Rejection",
    "SessionDriver",
    "StreamTransport",
    "Timeouts",
    "Transport",
    "pump_channels",
    "run_async",
    "run_blocking",
    "run_pair",
]
