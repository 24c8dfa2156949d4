"""CPACE-X25519-SHA512 against draft-irtf-cfrg-cpace-21's own vectors, byte for byte.

Every value comes from ``tests/vectors/cpace_x25519_sha512.json`` (provenance in its README)
and is computed here by blindmatch's functions, the ones the channel uses. The Elligator 2 map
is also checked for having one control flow for every input (its constant-time claim).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
from _vectors import load_vectors

from blindmatch.crypto import FIELD_PRIME
from blindmatch.crypto import elligator as elligator_module
from blindmatch.crypto.cpace import (
    DSI,
    G_I,
    S_IN_BYTES,
    calculate_generator,
    derive_isk,
    generator_string,
    lv_cat,
    prepend_len,
    scalar_mult,
    scalar_mult_vfy,
    transcript_ir,
)
from blindmatch.crypto.elligator import elligator2_map
from blindmatch.crypto.engine import InlineEngine
from blindmatch.crypto.h2c import map_to_curve_elligator2
from blindmatch.errors import AuthenticationError, UsageError
from blindmatch.parallel import PoolEngine
from blindmatch.protocol import seeded_rng
from blindmatch.transport import CPace, PairingCode, Side

V = load_vectors("cpace_x25519_sha512.json")


def h(name: str) -> bytes:
    return bytes.fromhex(V[name])


# -- Appendix A: string utilities --------------------------------------------------------------


@pytest.mark.parametrize(
    "case", V["string_utils"]["prepend_len"], ids=lambda c: str(len(c["input"]))
)
def test_prepend_len(case: dict[str, str]) -> None:
    assert prepend_len(bytes.fromhex(case["input"])).hex() == case["output"]


def test_lv_cat() -> None:
    case = V["string_utils"]["lv_cat"]
    assert lv_cat(*map(bytes.fromhex, case["inputs"])).hex() == case["output"]


@pytest.mark.parametrize("case", V["string_utils"]["transcript_ir"], ids=["123", "3456"])
def test_transcript_ir_utility(case: dict[str, Any]) -> None:
    assert transcript_ir(*map(bytes.fromhex, case["inputs"])).hex() == case["output"]


# -- Appendix B.1: the X25519 / SHA-512 run ----------------------------------------------------


def test_b_1_1_generator_string_hash_decoding_and_generator() -> None:
    assert DSI == h("DSI") and S_IN_BYTES == V["s_in_bytes"]
    gen_str = generator_string(DSI, h("PRS"), h("CI"), h("sid"), S_IN_BYTES)
    assert gen_str == h("generator_string")
    assert gen_str[len(prepend_len(DSI)) + len(prepend_len(h("PRS"))) :].startswith(
        prepend_len(bytes(V["zpad_length"]))
    )
    digest = hashlib.sha512(gen_str).digest()[:32]
    assert digest == h("gen_str_hash")
    decoded = int.from_bytes(digest, "little") & (2**255 - 1)  # decodeUCoordinate(., 255)
    assert decoded.to_bytes(32, "little") == h("decoded_u")
    assert calculate_generator(h("PRS"), h("CI"), h("sid")) == h("g")


@pytest.mark.parametrize("engine", [InlineEngine(), PoolEngine(workers=1)], ids=repr)
def test_the_engine_hook_gives_the_draft_generator(engine: Any) -> None:
    g = calculate_generator(h("PRS"), h("CI"), h("sid"), map_to_curve=engine.elligator2_map)
    assert g == h("g")


def test_b_1_2_to_b_1_5_shares_secret_point_and_isk() -> None:
    g = h("g")
    assert scalar_mult(h("ya"), g) == h("Ya")
    assert scalar_mult(h("yb"), g) == h("Yb")
    assert scalar_mult_vfy(h("ya"), h("Yb")) == h("K")
    assert scalar_mult_vfy(h("yb"), h("Ya")) == h("K")
    transcript = transcript_ir(h("Ya"), h("ADa"), h("Yb"), h("ADb"))
    assert transcript == h("transcript_ir")
    assert lv_cat(DSI + b"_ISK", h("sid"), h("K")) + transcript == h("isk_input_ir")
    assert derive_isk(h("sid"), h("K"), transcript) == h("ISK_IR")


def test_b_1_7_the_session_id_output_follows_from_the_same_transcript() -> None:
    """blindmatch always has a sid, so it does not use sid_output; the formula still holds."""
    transcript = transcript_ir(h("Ya"), h("ADa"), h("Yb"), h("ADb"))
    assert hashlib.sha512(b"CPaceSidOutput" + transcript).digest() == h("sid_output_ir")


# -- Appendix B.1.10: low-order and non-canonical points ---------------------------------------

LOW = V["scalar_mult_vfy"]


@pytest.mark.parametrize("case", LOW["vectors"], ids=lambda c: c["name"])
def test_b_1_10_scalar_mult_vfy_matches_the_draft(case: dict[str, Any]) -> None:
    q = scalar_mult_vfy(bytes.fromhex(LOW["s"]), bytes.fromhex(case["u"]))
    assert q.hex() == case["q"]
    assert (q == G_I) == case["draft_aborts_in_message"]


@pytest.mark.parametrize("case", LOW["vectors"], ids=lambda c: c["name"])
def test_every_low_order_or_non_canonical_share_is_refused(case: dict[str, Any]) -> None:
    """The draft aborts on u0-u5 and u7. blindmatch also refuses u6 and u8-ub, which the
    draft accepts: they are non-canonical (bit 255 set), and our wire allows one encoding per
    point (protocol_spec.md §13, deviations)."""
    code = PairingCode.generate(seeded_rng(b"draft vectors"))
    responder = CPace(side=Side.RESPONDER, code=code)
    u = bytes.fromhex(case["u"])
    assert case["canonical"] == (int.from_bytes(u, "little") < FIELD_PRIME)
    match = "small-order" if case["canonical"] else "canonical"
    with pytest.raises(AuthenticationError, match=match):
        responder.receive(lv_cat(u, Side.INITIATOR.ad))


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
