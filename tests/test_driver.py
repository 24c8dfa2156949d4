"""The one session driver: its faces (blocking, asyncio, memory), its clocks and its table."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from blindmatch.driver import (
    SessionDriver,
    StreamTransport,
    Timeouts,
    run_async,
    run_blocking,
    run_pair,
)
from blindmatch.errors import LocalProtocolError, TransportTimeoutError, UsageError
from blindmatch.protocol import (
    TRANSITIONS,
    Disclosure,
    Input,
    PopulationTerms,
    Record,
    Role,
    Session,
    State,
    Terms,
)
from blindmatch.transport import PairingCode, SecureChannel, Side

ROOT = Path(__file__).resolve().parent.parent


def _terms(label: str) -> Terms:
    return Terms(
        label=label,
        key_types=("domain",),
        populations=(PopulationTerms(name="C", disclosure=Disclosure.RECORDS),),
    )


def _records(prefix: str, shared: int, own: int) -> list[Record]:
    keys = [f"shared{i}.com" for i in range(shared)] + [f"{prefix}{i}.com" for i in range(own)]
    return [
        Record(record_id=f"{prefix}-{n}", keys=(("domain", k),), populations=frozenset({"C"}))
        for n, k in enumerate(keys)
    ]


def _session(role: Role) -> Session:
    prefix = "s" if role is Role.SENDER else "r"
    return Session(
        role=role, terms=_terms(prefix.upper()), records=_records(prefix, 7, 5), auto_accept=True
    )


# -- the asyncio face ----------------------------------------------------------------------------


def test_two_sessions_run_inside_one_event_loop_over_real_sockets() -> None:
    """A platform runs both parties as asyncio tasks over loopback TCP, through the pairing-code
    channel, with no thread of ours; the results equal the in-memory pair's."""
    code = PairingCode.generate()

    async def main() -> tuple[object, object]:
        accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )

        async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.set_result((r, w))

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        their_reader, their_writer = await accepted
        server.close()
        listener = SessionDriver(
            _session(Role.SENDER),
            channel=SecureChannel(side=Side.RESPONDER, code=code, channel_id=b"test"),
        )
        connector = SessionDriver(
            _session(Role.RECEIVER),
            channel=SecureChannel(side=Side.INITIATOR, code=code, channel_id=b"test"),
        )
        return await asyncio.gather(
            run_async(listener, StreamTransport(their_reader, their_writer)),
            run_async(connector, StreamTransport(reader, writer), offload=True),
        )

    sender, receiver = asyncio.run(main())
    pair = run_pair(
        sender_terms=_terms("S"),
        sender_records=_records("s", 7, 5),
        receiver_terms=_terms("R"),
        receiver_records=_records("r", 7, 5),
    )
    assert sender.counts == pair.sender.counts == {"C": {"C": 7}}  # type: ignore[attr-defined]
    assert receiver.matches == pair.receiver.matches  # type: ignore[attr-defined]


# -- clocks ------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _SilentPartner:
    """A transport whose partner takes our bytes and never answers; waiting moves the clock."""

    def __init__(self, clock: _Clock, trickle: bytes = b"") -> None:
        self.clock = clock
        self.trickle = trickle
        self.waits: list[float] = []
        self.closed = False

    def send(self, data: bytes, *, timeout: float) -> None:
        pass

    def receive(self, *, timeout: float) -> bytes | None:
        if timeout == 0:
            return None
        self.waits.append(timeout)
        if self.trickle:  # one byte a second: never idle long enough to time out
            self.clock.now += 1.0
            byte, self.trickle = self.trickle[:1], self.trickle[1:]
            return byte
        self.clock.now += timeout
        return None

    def close(self, *, grace: float) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def test_an_idle_partner_times_out_naming_what_we_wait_for() -> None:
    clock = _Clock()
    driver = SessionDriver(_session(Role.SENDER), timeouts=Timeouts(idle=30), clock=clock)
    transport = _SilentPartner(clock)
    with pytest.raises(
        TransportTimeoutError,
        match=r"no data from the partner for 30 s while "
        r"waiting for its hello message",
    ):
        run_blocking(driver, transport)
    assert transport.waits == [30] and transport.closed


def test_the_whole_session_deadline_bounds_a_trickling_partner() -> None:
    """Bytes that keep arriving reset the idle timer but not the session's deadline."""
    clock = _Clock()
    driver = SessionDriver(
        _session(Role.SENDER), timeouts=Timeouts(idle=5, session=40), clock=clock
    )
    transport = _SilentPartner(clock, trickle=b"\x00\x00\x10\x00" + b"\x81" * 200)
    with pytest.raises(TransportTimeoutError, match="did not finish within its deadline of 40 s"):
        run_blocking(driver, transport)
    assert 39 <= clock.now - 1000 <= 41


def test_the_handshake_deadline_bounds_a_stranger_before_it_authenticates() -> None:
    clock = _Clock()
    channel = SecureChannel(side=Side.RESPONDER, code=PairingCode.generate(), channel_id=b"t")
    driver = SessionDriver(
        _session(Role.SENDER),
        channel=channel,
        timeouts=Timeouts(idle=5, handshake=12),
        clock=clock,
    )
    # A real pairing message, one byte a second, never quite complete.
    stranger = SecureChannel(side=Side.INITIATOR, code=PairingCode.generate(), channel_id=b"t")
    transport = _SilentPartner(clock, trickle=stranger.data_to_send()[:-1])
    with pytest.raises(TransportTimeoutError, match="did not complete the handshake within 12 s"):
        run_blocking(driver, transport)
    assert 11 <= clock.now - 1000 <= 13


@pytest.mark.parametrize("field", ["idle", "handshake", "session"])
def test_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(UsageError, match=f"timeout {field} must be a positive number"):
        Timeouts(**{field: 0})  # type: ignore[arg-type]


# -- the transition table ------------------------------------------------------------------------


def _spec_table() -> dict[tuple[State, Input], State]:
    text = (ROOT / "protocol_spec.md").read_text(encoding="utf-8")
    section = text[text.index("### 5.6 State machine") : text.index("## 6. Receiver checks")]
    inputs = {i.value: i for i in Input}
    inputs["error"] = Input.FAIL
    table: dict[tuple[State, Input], State] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[1] not in inputs:
            continue
        after = State[cells[2].replace("-", "_")]
        for name in re.split(r",\s*", cells[0]):
            table[(State[name.replace("-", "_")], inputs[cells[1]])] = after
    return table


def test_the_spec_and_the_code_follow_one_transition_table() -> None:
    assert _spec_table() == dict(TRANSITIONS)


def test_every_state_is_reachable_and_only_closed_and_error_are_final() -> None:
    reachable = {State.START}
    for _ in State:
        reachable |= {after for (before, _i), after in TRANSITIONS.items() if before in reachable}
    assert reachable == set(State)
    final = {s for s in State if not any(before is s for before, _ in TRANSITIONS)}
    assert final == {State.CLOSED, State.ERROR}


@pytest.mark.parametrize(
    "call",
    ["accept", "reject"],
)
def test_calls_outside_the_table_are_refused_and_change_nothing(call: str) -> None:
    session = _session(Role.SENDER)
    session.start()
    with pytest.raises(LocalProtocolError, match=rf"cannot {call}\(\) in state await-hello"):
        getattr(session, call)(*(["no"] if call == "reject" else []))
    assert session.state is State.AWAIT_HELLO
