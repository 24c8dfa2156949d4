"""Structure-aware mutations of a recorded transcript (issue 22), with a fixed seed.

The engine is tools/fuzz_structured.py (run longer from there); here every message type of
both roles gets every operation a few times, then a fixed-seed random batch runs. The
verdicts are the tool's: only BlindmatchError escapes, a session that raised is in ERROR with
one abort queued last, or quiet only for a defect found while matching, and a repeated
returned digest is always refused with an abort. Plus the repeated-digest case itself, on both
sides and across chunks, the dummy-slot swap (quiet), and the old failure under ``python -O``.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from test_hostile_support import (
    assert_refused_quietly,
    assert_stopped_cleanly,
    rechunk,
    replay,
    victim_and_frames,
    when,
)

from blindmatch.cli.main import exit_code_for
from blindmatch.protocol import Role
from blindmatch.protocol.agreement import DIGEST_BYTES
from blindmatch.protocol.messages import Message, Returned

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fuzz_structured", ROOT / "tools/fuzz_structured.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_structured"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


fs = _tool()


@pytest.mark.parametrize("role", [Role.SENDER, Role.RECEIVER])
def test_every_operation_on_every_message(role: Role) -> None:
    partner = [body for r, body in fs.transcript() if r is not role]
    rng = random.Random(22)
    ran: set[tuple[str, str]] = set()
    failures = []
    for index in range(len(partner)):
        for op in fs.OPS:
            for _ in range(3):
                mutation = fs.mutate(partner, rng, index=index, op=op)
                if mutation is None:
                    continue
                outcome = fs.run_case(role, mutation)
                ran.add((mutation.kind, op))
                if outcome.verdict.startswith("FAIL"):
                    failures.append((mutation.kind, op, mutation.path, outcome))
    assert not failures, failures[:5]
    kinds = {kind for kind, _ in ran}
    assert kinds == {"hello", "accept", "lanes", "blinded", "returned", "tally", "confirm"}, kinds
    assert {op for kind, op in ran if kind == "returned"} == set(fs.OPS)


def test_fixed_seed_batch() -> None:
    report = fs.fuzz(800, 20261204)
    assert report.cases == 800
    assert not report.failures, report.failures[:5]
    verdicts = {v for (_, _, _, v) in report.verdicts}
    # The batch reaches every kind of ending, so the verdicts above were really exercised.
    assert {"abort", "accepted", "quiet"} <= verdicts, verdicts


def _copy_digest(msg: Message, src: int, dst: int) -> Message:
    assert isinstance(msg, Returned)
    d = bytearray(msg.digests)
    d[dst * DIGEST_BYTES : (dst + 1) * DIGEST_BYTES] = msg.digests[
        src * DIGEST_BYTES : (src + 1) * DIGEST_BYTES
    ]
    return msg.model_copy(update={"digests": bytes(d)})


def _is_returned(lane: str, target: str) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, Returned) and m.lane == lane and m.target == target


@pytest.mark.parametrize(
    ("lane", "target"),
    # Every returned stream there is: the partner's counts lane does not return our records
    # lane, since only we compare that pair (protocol_spec.md 5.4, arranged comparisons).
    [("records", "records"), ("records", "counts"), ("counts", "counts")],
)
def test_repeated_digest_is_refused_with_an_abort(lane: str, target: str) -> None:
    victim, frames = victim_and_frames(
        edit=when(_is_returned(lane, target), lambda m: _copy_digest(m, 0, 1))
    )
    exc = replay(victim, frames)
    assert exc is not None
    assert_stopped_cleanly(victim, exc, "returned message", "digest 1 repeats")
    assert exit_code_for(exc) == 7  # psi-run: protocol violation by the partner


def test_repeated_digest_across_chunks_is_refused() -> None:
    """Each chunk alone is fine: the second repeats a digest of the first."""

    def split_and_copy(msg: Message) -> list[Message]:
        assert isinstance(msg, Returned)
        first, second = rechunk(msg, [2, msg.count - 2])
        assert isinstance(first, Returned) and isinstance(second, Returned)
        digests = first.digests[:DIGEST_BYTES] + second.digests[DIGEST_BYTES:]
        return [first, second.model_copy(update={"digests": digests})]

    victim, frames = victim_and_frames(
        edit=when(_is_returned("records", "records"), split_and_copy)
    )
    exc = replay(victim, frames)
    assert exc is not None
    assert_stopped_cleanly(victim, exc, "chunk 1", "digest 0 repeats", "earlier")


def _swap(a: int, b: int) -> Callable[[Message], Message]:
    def edit(msg: Message) -> Message:
        assert isinstance(msg, Returned)
        items = [
            msg.digests[at : at + DIGEST_BYTES] for at in range(0, len(msg.digests), DIGEST_BYTES)
        ]
        items[a], items[b] = items[b], items[a]
        return msg.model_copy(update={"digests": b"".join(items)})

    return edit


def test_a_value_moved_onto_a_dummy_slot_is_refused_quietly() -> None:
    """A swap repeats nothing, so only matching sees a matching value on a dummy slot: a
    defect found while matching, reported to our user only (no abort)."""
    for a, b in itertools.combinations(range(12), 2):
        victim, frames = victim_and_frames(
            edit=when(_is_returned("records", "records"), _swap(a, b))
        )
        exc = replay(victim, frames)
        if exc is not None and "dummy" in str(exc):
            assert_refused_quietly(victim, exc, "filler (dummy) slot", "altered")
            return
    raise AssertionError("no swap in the transcript put a matching value on a dummy slot")


_OPTIMIZED = """
import sys
sys.path.insert(0, {tests!r})
from test_hostile_support import replay, victim_and_frames, when
from blindmatch.protocol.messages import Returned
assert not __debug__, "run with python -O"

def copy(m):
    d = bytearray(m.digests)
    d[16:32] = m.digests[:16]
    return m.model_copy(update={{"digests": bytes(d)}})

for target in ("records", "counts"):
    victim, frames = victim_and_frames(
        edit=when(lambda m: isinstance(m, Returned) and m.target == target, copy)
    )
    exc = replay(victim, frames)
    print(type(exc).__name__, victim.state.value, victim.result is None, exc)
"""


def test_repeated_digest_under_python_O() -> None:
    """Asserts vanish under -O: the old guard did, and counted a bogus match. The real check
    must hold there too."""
    out = subprocess.run(
        [sys.executable, "-O", "-c", _OPTIMIZED.format(tests=str(ROOT / "tests"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 2, out
    for line in out:
        assert line.startswith("RemoteProtocolError error True returned message"), line
        assert "repeats" in line
