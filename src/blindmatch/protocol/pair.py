"""Both parties in one process, wired back to back in memory (h11's ``ConnectionPair``).

For tests, notebooks and benchmarks: one call runs a whole session and returns what each side
learned. The bytes each side sends can be recorded, which is how the specification's
full-session test vector is produced and checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import LocalProtocolError
from .agreement import Role
from .engine import CryptoEngine
from .events import Event
from .messages import FrameDecoder
from .model import OverlapResult, Record, Terms
from .randomness import Rng
from .session import Session

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
    sessions = {
        Role.SENDER: Session(
            role=Role.SENDER,
            terms=sender_terms,
            records=sender_records,
            rng=sender_rng,
            engine=engine,
            auto_accept=True,
        ),
        Role.RECEIVER: Session(
            role=Role.RECEIVER,
            terms=receiver_terms,
            records=receiver_records,
            rng=receiver_rng,
            engine=engine,
            auto_accept=True,
        ),
    }
    run = PairRun.__new__(PairRun)
    run.messages = []
    run.events = {Role.SENDER: [], Role.RECEIVER: []}
    splitters = {role: FrameDecoder() for role in sessions}
    for session in sessions.values():
        session.start()
    while not all(s.done for s in sessions.values()):
        moved = False
        for role, session in sessions.items():
            data = session.data_to_send()
            if data:
                moved = True
                if record_messages:
                    run.messages.extend((role, body) for body in splitters[role].feed(data))
                sessions[role.other].receive_data(data)
            while (event := session.next_event()) is not None:
                run.events[role].append(event)
        if not moved and not all(s.done for s in sessions.values()):
            raise LocalProtocolError("the in-memory session stalled with nothing to send")
    for role, session in sessions.items():
        while (event := session.next_event()) is not None:
            run.events[role].append(event)
    sender_result = sessions[Role.SENDER].result
    receiver_result = sessions[Role.RECEIVER].result
    # Internal: the loop ends only when both are done, and a done session has its result.
    assert sender_result is not None and receiver_result is not None
    run.sender = sender_result
    run.receiver = receiver_result
    return run
