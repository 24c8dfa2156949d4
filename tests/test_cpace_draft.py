"""CPACE-X25519-SHA512 against draft-irtf-cfrg-cpace-21's own vectors, byte for byte.

Every value comes from the conformance kit's ``cpace_x25519_sha512.json`` (provenance in its
README) and is computed by blindmatch's functions, the ones the channel uses. The Elligator 2 map
is also checked for having one control flow for every input (its constant-time claim).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
from _vectors import checker_cases, load_vectors

from blindmatch.crypto import FIELD_PRIME
from blindmatch.crypto import elligator as elligator_module
from blindmatch.crypto.cpace import (
    calculate_generator,
)
from blindmatch.crypto.elligator import elligator2_map
from blindmatch.crypto.engine import InlineEngine
from blindmatch.crypto.h2c import map_to_curve_elligator2
from blindmatch.errors import UsageError
from blindmatch.parallel import PoolEngine
from blindmatch.protocol import seeded_rng

FILE = "cpace_x25519_sha512.json"
V = load_vectors(FILE)


def h(name: str) -> bytes:
    return bytes.fromhex(V[name])


# -- Appendices A and B.1, through the conformance kit's checker -------------------------------


@pytest.mark.parametrize(("engine", "check"), checker_cases(FILE))
def test_draft_vectors(engine: Any, check: Callable[[], None]) -> None:
    """The kit's check of every value, on every engine: A.1.2 prepend_len, A.1.4 lv_cat,
    A.3.5 transcript_ir; B.1.1 generator string, its hash, decoding and g (through the engine's
    Elligator 2); B.1.2-B.1.5 shares, K, the ISK input and ISK; B.1.7 sid_output; and for each
    B.1.10 point, q and whether the draft aborts, and that our channel refuses it: the draft
    aborts on u0-u5 and u7, blindmatch also refuses u6 and u8-ub, which the draft accepts, as
    non-canonical (bit 255 set: our wire allows one encoding per point, protocol_spec.md §13)."""
    with engine.active():
        check()


@pytest.mark.parametrize("engine", [InlineEngine(), PoolEngine(workers=1)], ids=repr)
def test_the_engine_hook_gives_the_draft_generator(engine: Any) -> None:
    g = calculate_generator(h("PRS"), h("CI"), h("sid"), map_to_curve=engine.elligator2_map)
    assert g == h("g")


LOW = V["scalar_mult_vfy"]


def test_the_deliberate_refusals_are_exactly_the_non_canonical_vectors() -> None:
    accepted_by_draft = {c["name"] for c in LOW["vectors"] if not c["draft_aborts_in_message"]}
    non_canonical = {c["name"] for c in LOW["vectors"] if not c["canonical"]}
    assert accepted_by_draft == {"u6", "u8", "u9", "ua", "ub"}
    assert accepted_by_draft <= non_canonical


# -- the constant-time Elligator 2 map ---------------------------------------------------------


def _u_bytes(u: int, top_bit: bool = False) -> bytes:
    return (u | (1 << 255 if top_bit else 0)).to_bytes(32, "little")


def test_the_map_is_rfc_9380_elligator_2_for_every_kind_of_input() -> None:
    rng = seeded_rng(b"elligator inputs")
    specials = [0, 1, 2, FIELD_PRIME - 1, FIELD_PRIME, FIELD_PRIME + 1, 2**255 - 1]
    inputs = [_u_bytes(u) for u in specials] + [rng(32) for _ in range(300)]
    for u_bytes in inputs:
        u = (int.from_bytes(u_bytes, "little") & (2**255 - 1)) % FIELD_PRIME
        want = map_to_curve_elligator2(u)[0].to_bytes(32, "little")
        assert elligator2_map(u_bytes) == want, u_bytes.hex()


@contextmanager
def _line_trace() -> Iterator[list[tuple[str, int]]]:
    """Record every line executed in the elligator module (functions it calls included)."""
    lines: list[tuple[str, int]] = []
    target = elligator_module.__file__

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != target:
            return None
        if event == "line":
            lines.append((frame.f_code.co_name, frame.f_lineno))
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield lines
    finally:
        sys.settrace(previous)


def _is_square(x: int) -> bool:
    return pow(x, (FIELD_PRIME - 1) // 2, FIELD_PRIME) == 1


def test_the_map_runs_the_same_lines_for_inputs_of_both_square_classes() -> None:
    """No branch, early exit or loop in our code depends on the (secret) input: the traces of
    inputs where g(x1) is a square, where it is not, zero, and inputs >= p are identical."""
    by_class: dict[bool, bytes] = {}
    for _ in range(64):
        u_bytes = os.urandom(32)
        u = (int.from_bytes(u_bytes, "little") & (2**255 - 1)) % FIELD_PRIME
        x1 = (-486662 * pow(1 + 2 * u * u, -1, FIELD_PRIME)) % FIELD_PRIME
        by_class.setdefault(_is_square((x1**3 + 486662 * x1**2 + x1) % FIELD_PRIME), u_bytes)
    assert set(by_class) == {True, False}
    inputs = [*by_class.values(), _u_bytes(0), _u_bytes(FIELD_PRIME + 3), _u_bytes(5, True)]
    traces = []
    for u_bytes in inputs:
        with _line_trace() as lines:
            elligator2_map(u_bytes)
        traces.append(lines)
    assert len(traces[0]) > 10
    assert all(t == traces[0] for t in traces[1:])


def test_the_map_takes_exactly_32_bytes() -> None:
    with pytest.raises(UsageError, match="exactly 32 bytes, not 31"):
        elligator2_map(bytes(31))
