"""The session's state machine as data: one table of legal (state, input) -> state moves.

Why a table: the code and ``protocol_spec.md`` (§4, "State machine") follow the same list, so a
reviewer can check one against the other line by line, and a move that is not listed is an
error by construction rather than by an ``if`` someone remembered to write (h11 keeps its
state machine the same way).

Inputs are what can happen to a party: a call by our program (``start()``, ``accept()``,
``reject()``), a message from the partner, or an outcome of our own work (the result is
computed, or something failed). Within ``EXCHANGE`` the order of the partner's lanes, blinded
and returned chunks is checked by the exchange itself (:mod:`.exchange`), since it depends on
the lane sizes both sides declared.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["TRANSITIONS", "Input", "State", "next_state"]


class State(enum.Enum):
    """Where our side of the session stands."""

    START = "start"
    AWAIT_HELLO = "await-hello"  # our hello is out
    AWAIT_DECISION = "await-decision"  # the partner's terms are in; accept() or reject()
    PARTNER_ACCEPTED = "partner-accepted"  # ... and the partner already accepted ours
    AWAIT_ACCEPT = "await-accept"  # we accepted; the partner has not yet
    EXCHANGE = "exchange"  # both accepted: lanes, blinded, returned
    DONE = "done"
    CLOSED = "closed"  # we rejected the partner's terms
    ERROR = "error"


class Input(enum.Enum):
    """What can move a session."""

    START = "start()"
    ACCEPT = "accept()"
    REJECT = "reject()"
    HELLO = "hello message"
    PARTNER_ACCEPT = "accept message"
    LANES = "lanes message"
    BLINDED = "blinded message"
    RETURNED = "returned message"
    TALLY = "tally message"
    CONFIRM = "confirm message"
    RESULT = "result computed"
    FAIL = "error"


_S, _I = State, Input

#: Every legal move. ``FAIL`` (a local error, a protocol violation, the partner's abort) moves
#: every state except ``CLOSED`` and ``ERROR`` to ``ERROR``; nothing leaves those two.
TRANSITIONS: Final[Mapping[tuple[State, Input], State]] = MappingProxyType(
    {
        (_S.START, _I.START): _S.AWAIT_HELLO,
        (_S.AWAIT_HELLO, _I.HELLO): _S.AWAIT_DECISION,
        (_S.AWAIT_DECISION, _I.ACCEPT): _S.AWAIT_ACCEPT,
        (_S.AWAIT_DECISION, _I.REJECT): _S.CLOSED,
        (_S.AWAIT_DECISION, _I.PARTNER_ACCEPT): _S.PARTNER_ACCEPTED,
        (_S.PARTNER_ACCEPTED, _I.ACCEPT): _S.EXCHANGE,
        (_S.PARTNER_ACCEPTED, _I.REJECT): _S.CLOSED,
        (_S.AWAIT_ACCEPT, _I.PARTNER_ACCEPT): _S.EXCHANGE,
        (_S.EXCHANGE, _I.LANES): _S.EXCHANGE,
        (_S.EXCHANGE, _I.BLINDED): _S.EXCHANGE,
        (_S.EXCHANGE, _I.RETURNED): _S.EXCHANGE,
        (_S.EXCHANGE, _I.TALLY): _S.EXCHANGE,
        (_S.EXCHANGE, _I.CONFIRM): _S.EXCHANGE,
        (_S.EXCHANGE, _I.RESULT): _S.DONE,
        **{(s, _I.FAIL): _S.ERROR for s in State if s not in (_S.CLOSED, _S.ERROR)},
    }
)


def next_state(state: State, event: Input) -> State | None:
    """The state ``event`` moves ``state`` to, or None if the table does not allow it."""
    return TRANSITIONS.get((state, event))
