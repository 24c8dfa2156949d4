"""Both parties in one process, wired back to back in memory (h11's ``ConnectionPair``).

For tests, notebooks and benchmarks: one call runs a whole session and returns what each side
learned. It is two :class:`~.core.SessionDriver` objects passing bytes to each other in one
thread; the bytes each side sends can be recorded, which is how the specification's
full-session test vector is produced and checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import LocalProtocolError
from ..protocol import CryptoEngine, Event, OverlapResult, Record, Role, Session, Terms
from ..protocol.messages import FrameDecoder
from ..protocol.randomness import Rng
from .core import SessionDriver

__all__ = ["PairRun", "run_pair"]


@dataclass(slots=True)
class PairRun:
    """The outcome of :func:`run_pair`: each side's result, and optionally every message."""

    sender: OverlapResult
    receiver: OverlapResult
    #: (role, message body) in the order sent, when ``record_messages`` was set
    messages: list[tuple[Role, bytes]] = field(default_factory=list)
    events: dict[Role, list[Event]] = field(default_factory=dict)


def run_pair(
    *,
    sender_terms: Terms,
    sender_records: Sequence[Record],
    receiver_terms: Terms,
    receiver_records: Sequence[Record],
    sender_rng: Rng | None = None,
    receiver_rng: Rng | None = None,
    engine: CryptoEngine | None = None,
    record_messages: bool = False,
) -> PairRun:
    """Run a whole session between two in-process parties that accept each other's terms."""
    events: dict[Role, list[Event]] = {Role.SENDER: [], Role.RECEIVER: []}
    setup = {
        Role.SENDER: (sender_terms, sender_records, sender_rng),
        Role.RECEIVER: (receiver_terms, receiver_records, receiver_rng),
    }
    drivers = {
        role: SessionDriver(
            Session(
                role=role, terms=terms, records=records, rng=rng, engine=engine, auto_accept=True
            ),
            on_event=events[role].append,
        )
        for role, (terms, records, rng) in setup.items()
    }
    messages: list[tuple[Role, bytes]] = []
    splitters = {role: FrameDecoder() for role in drivers}
    for driver in drivers.values():
        driver.start()
    while not all(d.finished() for d in drivers.values()):
        moved = False
        for role, driver in drivers.items():
            # One call into each session per turn: the interleaving the spec's vectors record.
            data = driver.outgoing(limit=1)
            if data:
                moved = True
                if record_messages:
                    messages.extend((role, body) for body in splitters[role].feed(data))
                drivers[role.other].incoming(data)
        if not moved and not all(d.finished() for d in drivers.values()):
            raise LocalProtocolError("the in-memory session stalled with nothing to send")
    return PairRun(
        sender=drivers[Role.SENDER].result,
        receiver=drivers[Role.RECEIVER].result,
        messages=messages,
        events=events,
    )
