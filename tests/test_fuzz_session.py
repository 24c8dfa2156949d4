"""A session fed any sequence of real, replayed, foreign, mutated and garbage frames.

Hypothesis drives one receiver through random orders of the sender's recorded frames (valid
ones in order, out of order, repeated, dropped, reflected back, from another session, or
mutated), interleaved with our own sending, end of stream and local API calls. Whatever
happens (protocol_spec.md §5.6):

* only BlindmatchError subclasses escape;
* an error about the partner's bytes leaves the session in ERROR, and from then on
  receive_data() is refused with LocalProtocolError; a local misuse (accept() at the wrong
  time) changes nothing;
* at most one abort is ever sent and nothing follows it; after a failure caused by the
  partner (not by the partner's own abort) the next bytes sent end with that abort;
* error texts are printable and bounded.
"""

from __future__ import annotations

import functools
from typing import Any

import msgpack  # type: ignore[import-untyped]
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from test_hostile_support import Transcript, messages, new_pair, record

from blindmatch.errors import BlindmatchError, LocalProtocolError, PeerAbortedError
from blindmatch.protocol import State
from blindmatch.protocol.messages import Abort


@functools.cache
def _ours() -> Transcript:
    """The recorded run whose receiver the victim is: it expects ``_ours().sender``."""
    return record()


@functools.cache
def _pool() -> list[bytes]:
    """Frames a partner could send: this run's, another session's, and our own reflected."""
    return _ours().sender + record(b"another session").sender + _ours().receiver


#: Index into _pool() (modulo its length); frames are recorded lazily, not at import.
FRAME = st.integers(min_value=0, max_value=255)

#: msgpack values a mutated field may take: wrong types, huge and negative numbers, long text.
WIRE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=80),
    st.lists(st.integers(-5, 5), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(-5, 5), max_size=3),
    st.sampled_from(["records", "counts", "hello", "blinded", "returned", "\x1b[2J"]),
)


#: width of one item of the element arrays (masks: one byte per account in these terms)
_ITEM_WIDTHS = {"digests": 16, "points": 32, "oprf": 32, "wraps": 48, "masks": 1, "payloads": 144}


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def _mutate(frame: bytes, data: st.DataObject) -> bytes:
    body = frame[4:]
    kind = data.draw(
        st.sampled_from(["flip", "truncate", "extend", "field", "drop", "header", "item"])
    )
    if kind == "flip":
        at = data.draw(st.integers(0, len(body) - 1))
        bit = data.draw(st.integers(0, 7))
        return _frame(body[:at] + bytes([body[at] ^ (1 << bit)]) + body[at + 1 :])
    if kind == "truncate":
        return _frame(body[: data.draw(st.integers(1, max(1, len(body) - 1)))])
    if kind == "extend":
        return _frame(body + data.draw(st.binary(min_size=1, max_size=64)))
    if kind == "header":  # the length says something else than the body
        length = data.draw(
            st.sampled_from([0, 1, len(body) - 1, len(body) + 1, 2**25 + 1, 2**32 - 1])
        )
        return length.to_bytes(4, "big") + body
    raw: dict[str, Any] = msgpack.unpackb(body, raw=False)
    key = data.draw(st.sampled_from(sorted(raw)))
    if kind == "item" and isinstance(raw[key], bytes) and len(raw[key]) >= 2:
        # Structure-aware: one item of an element array copied over or swapped with another.
        blob = raw[key]
        width = _ITEM_WIDTHS.get(key, 1)
        items = [blob[at : at + width] for at in range(0, len(blob), width)]
        if len(items) >= 2:
            a, b = data.draw(st.lists(st.integers(0, len(items) - 1), min_size=2, max_size=2))
            if data.draw(st.booleans()):
                items[b] = items[a]
            else:
                items[a], items[b] = items[b], items[a]
            raw[key] = b"".join(items)
        return _frame(msgpack.packb(raw, use_bin_type=True))
    if kind == "drop":
        del raw[key]
    else:
        raw[key] = data.draw(WIRE_VALUES)
    return _frame(msgpack.packb(raw, use_bin_type=True))


class HostilePartner(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        _, self.victim = new_pair(auto_accept=False)
        self.cursor = 0  # the next frame of _ours().sender on the honest path
        self.sent: list[str] = []
        self.abort_seen = False
        self.must_abort_next = False

    # -- driving ------------------------------------------------------------------------------

    def _call(self, action: str, *args: Any) -> None:
        victim = self.victim
        before = victim.state
        try:
            getattr(victim, action)(*args)
        except BlindmatchError as exc:
            text = str(exc)
            assert text.isprintable() and len(text) <= 800, repr(text)
            if isinstance(exc, LocalProtocolError):
                assert victim.state is before, (
                    f"{action}: local misuse moved {before} -> {victim.state}"
                )
                return
            assert victim.state is State.ERROR, (
                f"{action}() raised {type(exc).__name__} ({text}) but left the session in "
                f"{victim.state.value}"
            )
            if before not in (State.ERROR, State.CLOSED) and not isinstance(exc, PeerAbortedError):
                self.must_abort_next = True
        # anything that is not a BlindmatchError propagates and fails the test

    def _feed(self, data: bytes) -> None:
        self._call("receive_data", data)

    # The middle of the run (lanes in, blinded chunks crossing) is where most state is held.
    @initialize(depth=st.integers(0, 9) | st.sampled_from([3, 4, 5]), drain=st.booleans())
    def advance(self, depth: int, drain: bool) -> None:
        """Start anywhere along the honest path, with or without our own sending between."""
        self._call("start")
        for frame in _ours().sender[:depth]:
            if self.victim.state is State.AWAIT_DECISION:
                self._call("accept")
            self._feed(frame)
            self.cursor += 1
            while drain and self.victim.state is not State.ERROR and self._drain():
                pass

    @rule(n=st.integers(1, 3), drain=st.booleans())
    def deliver_next(self, n: int, drain: bool) -> None:
        """The next honest frames, several in one read as TCP often delivers them."""
        frames = _ours().sender[self.cursor : self.cursor + n]
        self.cursor += n
        if frames:
            self._feed(b"".join(frames))
            if drain:
                self._drain()

    @rule(data=st.data())
    def deliver_next_then_corrupt(self, data: st.DataObject) -> None:
        """An honest frame and a corrupted one in the same read."""
        if self.cursor < len(_ours().sender):
            pool = _pool()
            bad = _mutate(pool[data.draw(FRAME) % len(pool)], data)
            self._feed(_ours().sender[self.cursor] + bad)
            self.cursor += 1

    @rule(frame=FRAME)
    def deliver_any(self, frame: int) -> None:
        pool = _pool()
        self._feed(pool[frame % len(pool)])

    @rule(data=st.data())
    def deliver_next_mutated(self, data: st.DataObject) -> None:
        """The next honest frame, changed: the rest of the honest path then follows it."""
        if self.cursor < len(_ours().sender):
            self._feed(_mutate(_ours().sender[self.cursor], data))
            self.cursor += 1

    @rule(frame=FRAME, data=st.data())
    def deliver_mutated(self, frame: int, data: st.DataObject) -> None:
        pool = _pool()
        self._feed(_mutate(pool[frame % len(pool)], data))

    @rule(cut=st.integers(1, 64))
    def deliver_next_in_two_parts(self, cut: int) -> None:
        if self.cursor < len(_ours().sender):
            frame = _ours().sender[self.cursor]
            self.cursor += 1
            self._feed(frame[:cut])
            if self.victim.state not in (State.ERROR, State.CLOSED):
                self._feed(frame[cut:])

    @rule()
    def skip_next(self) -> None:
        """Drop a frame: the partner never sends it."""
        self.cursor += 1

    @rule(garbage=st.binary(max_size=48))
    def deliver_garbage(self, garbage: bytes) -> None:
        self._feed(garbage)

    @rule()
    def drain(self) -> None:
        """What we send now (a network pump calls this after every read)."""
        self._drain()

    def _drain(self) -> bool:
        try:
            out = self.victim.data_to_send()
        except BlindmatchError as exc:
            assert self.victim.state is State.ERROR, (
                f"data_to_send() raised {type(exc).__name__} ({exc}) but left the session in "
                f"{self.victim.state.value}"
            )
            self.must_abort_next = True
            return False
        sent = [m.t for m in messages(out)]
        if not sent:
            return False
        assert not self.abort_seen, f"{sent} sent after the abort"
        if self.must_abort_next:
            # What was queued before the error may still go out, but the abort ends it.
            assert sent[-1] == "abort", f"after an error the session sent {sent}"
            self.must_abort_next = False
        aborts = sent.count("abort")
        assert aborts <= 1 and (not aborts or sent[-1] == "abort"), sent
        if aborts:
            (abort,) = [m for m in messages(out) if isinstance(m, Abort)]
            assert abort.reason.isprintable()
        self.abort_seen = self.abort_seen or bool(aborts)
        self.sent += sent
        return True

    @rule()
    def end_of_stream(self) -> None:
        self._call("receive_eof")

    @rule(choice=st.sampled_from(["accept", "reject", "start"]))
    def local_call(self, choice: str) -> None:
        if choice == "reject":
            self._call("reject", "no thanks")
        else:
            self._call(choice)

    @precondition(lambda self: self.victim.state is State.AWAIT_DECISION)
    @rule()
    def accept_terms(self) -> None:
        self._call("accept")

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def a_dead_session_stays_dead(self) -> None:
        if self.victim.state in (State.ERROR, State.CLOSED):
            try:
                self.victim.receive_data(b"")
            except LocalProtocolError:
                return
            raise AssertionError(f"receive_data() accepted after {self.victim.state.value}")

    @invariant()
    def a_result_only_when_done(self) -> None:
        assert (self.victim.result is not None) == (self.victim.state is State.DONE) or (
            self.victim.state is State.ERROR
        )


# A fixed seed rather than derandomize (whose examples change when the file is merely
# reformatted). Hypothesis also mixes in constants from every module loaded, so the examples
# still depend on which tests ran before; 300 of them found the abort-then-returned defect
# in every test order tried, alone or in the whole suite.
TestHostilePartner = seed(20261123)(HostilePartner).TestCase
TestHostilePartner.settings = settings(
    max_examples=300,
    stateful_step_count=20,
    deadline=None,
    database=None,
    # No shrinking: a failing run reports its (longer) sequence within seconds instead of
    # spending a minute minimizing it; add Phase.shrink locally to get the minimal one.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
