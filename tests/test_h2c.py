"""RFC 9380 hash-to-curve for curve25519: published vectors, bulk path, properties."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import gmpy2  # type: ignore[import-untyped]
import pytest
from _vectors import checker_cases, load_vectors, vector_params
from hypothesis import example, given, settings
from hypothesis import strategies as st

from blindmatch.crypto import (
    GROUP_ORDER,
    expand_message_xmd,
    h2c,
    hash_to_curve,
    hash_to_curve_many,
    hash_to_field,
    map_to_curve_elligator2,
)
from blindmatch.errors import UsageError

P = 2**255 - 19
A = 486662

XMD_FILE = "expand_message_xmd_sha512.json"
H2C_FILE = "h2c_curve25519_XMD_SHA-512_ELL2_RO.json"
H2C_DST = load_vectors(H2C_FILE)["dst"].encode()
APP_DST = b"blindmatch/1 h2c " + bytes(range(32))


# --- independent curve arithmetic for the checks (plain ints, affine and x-only) --------------


def on_curve(x: int, y: int) -> bool:
    return (y * y - (x * x * x + A * x * x + x)) % P == 0


def affine_add(q0: tuple[int, int] | None, q1: tuple[int, int] | None) -> tuple[int, int] | None:
    """Montgomery addition with B = 1 (RFC 9380 Appendix C); None is the identity."""
    if q0 is None:
        return q1
    if q1 is None:
        return q0
    (x0, y0), (x1, y1) = q0, q1
    if x0 == x1 and (y0 + y1) % P == 0:
        return None
    if x0 == x1:
        slope = (3 * x0 * x0 + 2 * A * x0 + 1) * pow(2 * y0, -1, P) % P
    else:
        slope = (y1 - y0) * pow(x1 - x0, -1, P) % P
    x2 = (slope * slope - A - x0 - x1) % P
    return x2, (slope * (x0 - x2) - y0) % P


def ladder_is_identity(u: int, k: int) -> bool:
    """Whether [k](u, .) is the identity, by the x-only Montgomery ladder of RFC 7748 §5."""
    x1, x2, z2, x3, z3 = u % P, 1, 0, u % P, 1
    for bit in reversed(range(k.bit_length())):
        if (k >> bit) & 1:
            x2, z2, x3, z3 = x3, z3, x2, z2
        a, b = x2 + z2, x2 - z2
        c, d = x3 + z3, x3 - z3
        aa, bb = a * a % P, b * b % P
        da, cb = d * a % P, c * b % P
        e = aa - bb
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + 121665 * e) % P
        if (k >> bit) & 1:
            x2, z2, x3, z3 = x3, z3, x2, z2
    return z2 % P == 0


def sqrt_mod_p(a: int) -> int | None:
    """A square root modulo p (p = 5 mod 8, RFC 9380 Appendix I.2), or None."""
    root = pow(a, (P + 3) // 8, P)
    if root * root % P != a % P:
        root = root * pow(2, (P - 1) // 4, P) % P
    return root if root * root % P == a % P else None


def decode_u(data: bytes) -> int:
    return int.from_bytes(data, "little")


# --- published vectors ------------------------------------------------------------------------


@pytest.mark.parametrize(("engine", "check"), checker_cases(XMD_FILE, "python"))
def test_expand_message_xmd_rfc9380_k3(engine: Any, check: Callable[[], None]) -> None:
    """The conformance kit's check of each case (blindmatch.conformance.checks)."""
    check()


@pytest.mark.parametrize(("engine", "check"), checker_cases(H2C_FILE, "python"))
def test_h2c_rfc9380_j41(engine: Any, check: Callable[[], None]) -> None:
    """The kit's check: u0, u1 (hash_to_field), Q0, Q1 (both maps) and P.x (hash_to_curve)."""
    check()


@pytest.mark.parametrize("case", vector_params(H2C_FILE))
def test_the_vector_points_are_consistent(case: dict[str, Any]) -> None:
    """Beyond the kit: Q0 and Q1 lie on the curve, the single-message path agrees with the
    bulk one, and P.y follows from the vector's Q0 and Q1 by affine arithmetic independent
    of h2c."""
    msg = case["msg"].encode()
    expected_x = int(case["P"]["x"], 16)
    assert hash_to_curve(msg, H2C_DST) == expected_x.to_bytes(32, "little")
    for name in ("Q0", "Q1"):
        assert on_curve(int(case[name]["x"], 16), int(case[name]["y"], 16))
    q0 = (int(case["Q0"]["x"], 16), int(case["Q0"]["y"], 16))
    q1 = (int(case["Q1"]["x"], 16), int(case["Q1"]["y"], 16))
    point = affine_add(q0, q1)
    for _ in range(3):
        point = affine_add(point, point)
    assert point == (expected_x, int(case["P"]["y"], 16))


def test_bulk_path_reproduces_all_vectors_in_one_batch() -> None:
    cases = load_vectors(H2C_FILE)["vectors"]
    msgs = [c["msg"].encode() for c in cases]
    expected = [int(c["P"]["x"], 16).to_bytes(32, "little") for c in cases]
    assert hash_to_curve_many(msgs, H2C_DST) == expected


# --- expand_message_xmd limits (RFC 9380 §5.3.1, §5.3.3) --------------------------------------


@pytest.mark.parametrize("length", [0, -1, 255 * 64 + 1, 65535, 65536])
def test_expand_message_xmd_rejects_lengths(length: int) -> None:
    with pytest.raises(UsageError):
        expand_message_xmd(b"abc", b"DST", length)


def test_expand_message_xmd_longest_output() -> None:
    # ell = 255 blocks is the most the expander may produce with SHA-512.
    assert len(expand_message_xmd(b"abc", b"DST", 255 * 64)) == 255 * 64


def test_usage_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        expand_message_xmd(b"abc", b"DST", 0)


def test_oversize_dst_is_hashed() -> None:
    long_dst = b"x" * 256
    short = hashlib.sha512(b"H2C-OVERSIZE-DST-" + long_dst).digest()
    assert expand_message_xmd(b"abc", long_dst, 96) == expand_message_xmd(b"abc", short, 96)
    assert hash_to_curve(b"abc", long_dst) == hash_to_curve(b"abc", short)
    assert hash_to_curve_many([b"abc"], long_dst) == [hash_to_curve(b"abc", short)]
    # A DST of exactly 255 bytes is still used as it is.
    assert expand_message_xmd(b"abc", b"y" * 255, 32) != expand_message_xmd(
        b"abc", hashlib.sha512(b"H2C-OVERSIZE-DST-" + b"y" * 255).digest(), 32
    )


def test_empty_dst_is_refused() -> None:
    with pytest.raises(UsageError):
        expand_message_xmd(b"abc", b"", 32)
    with pytest.raises(UsageError):
        hash_to_curve(b"abc", b"")
    with pytest.raises(UsageError):
        hash_to_curve_many([b"abc"], b"")


def test_hash_to_field_needs_a_count() -> None:
    with pytest.raises(UsageError):
        hash_to_field(b"abc", b"DST", 0)


# --- the bulk path ----------------------------------------------------------------------------


def test_bulk_equals_single_across_chunks_and_workers() -> None:
    msgs = [i.to_bytes(4, "big") * (i % 7) for i in range(2 * h2c._CHUNK + 37)]
    expected = [hash_to_curve(m, APP_DST) for m in msgs]
    assert hash_to_curve_many(msgs, APP_DST, workers=0) == expected
    assert hash_to_curve_many(msgs, APP_DST, workers=1) == expected
    assert hash_to_curve_many(msgs, APP_DST, workers=3) == expected
    assert hash_to_curve_many(msgs, APP_DST, workers=None) == expected
    assert hash_to_curve_many(tuple(msgs[:5]), APP_DST) == expected[:5]


def test_bulk_on_empty_input() -> None:
    assert hash_to_curve_many([], APP_DST) == []
    assert hash_to_curve_many([], APP_DST, workers=2) == []


def test_bulk_rejects_negative_workers() -> None:
    with pytest.raises(UsageError):
        hash_to_curve_many([b"abc"], APP_DST, workers=-1)


def _chunk_for(us: list[int]) -> tuple[Any, list[Any]]:
    """Build the bulk path's stage-one output for chosen field elements."""
    p = gmpy2.mpz(P)
    x1s = [(-A) * gmpy2.invert(1 + 2 * u * u, p) % p for u in us]
    bases = [(x * x * x + A * x * x + x) % p for x in x1s]
    roots = [gmpy2.powmod(g, (P + 3) // 8, p) for g in bases]
    return h2c._Chunk([gmpy2.mpz(u) for u in us], x1s, bases), roots


def test_bulk_handles_q0_equal_to_q1() -> None:
    # Equal field elements give Q0 = Q1, so the sum is a doubling.
    u = 1234567
    chunk, roots = _chunk_for([u, u])
    q = map_to_curve_elligator2(u)
    expected = affine_add(q, q)
    for _ in range(3):
        expected = affine_add(expected, expected)
    assert expected is not None
    assert h2c._stage_two(chunk, roots) == [expected[0].to_bytes(32, "little")]


def test_bulk_handles_q0_opposite_to_q1() -> None:
    # Pick u0 whose point uses x1 (g(x1) square, so y is odd), then u1 whose x2 is that same
    # x (so y is even): Q1 = -Q0 and the hash is the identity, encoded as zeros.
    for u0 in range(2, 1000):
        x, y = map_to_curve_elligator2(u0)
        if y % 2 == 0:
            continue
        # x2(u1) = x  <=>  1 + 2 u1^2 = A / (x + A).
        u1 = sqrt_mod_p((A * pow(x + A, -1, P) - 1) * pow(2, -1, P) % P)
        if u1 is not None:
            break
    else:
        pytest.fail("no suitable pair found")
    assert map_to_curve_elligator2(u1) == (x, P - y)
    chunk, roots = _chunk_for([u0, u1])
    assert h2c._stage_two(chunk, roots) == [bytes(32)]
    assert h2c._clear_cofactor_encode(affine_add((x, y), (x, P - y))) == bytes(32)


# --- properties -------------------------------------------------------------------------------


@settings(deadline=None, max_examples=40)
@given(msg=st.binary(max_size=200), dst=st.binary(min_size=1, max_size=300))
@example(msg=b"", dst=b"D")
def test_output_is_canonical_and_in_the_prime_order_subgroup(msg: bytes, dst: bytes) -> None:
    out = hash_to_curve(msg, dst)
    assert len(out) == 32
    u = decode_u(out)
    assert u < P  # canonical, so also the top bit is clear
    assert u != 0
    assert ladder_is_identity(u, GROUP_ORDER)
    assert not ladder_is_identity(u, 8)  # not of small order either
    assert hash_to_curve_many([msg], dst) == [out]


@settings(deadline=None, max_examples=60)
@given(u=st.integers(min_value=0, max_value=P - 1))
@example(u=0)
@example(u=1)
@example(u=P - 1)
def test_map_to_curve_lands_on_the_curve(u: int) -> None:
    x, y = map_to_curve_elligator2(u)
    assert 0 <= x < P and 0 <= y < P
    assert on_curve(x, y)
    assert map_to_curve_elligator2(P - u) == (x, y)  # Elligator 2 depends on u^2 only


@settings(deadline=None, max_examples=25)
@given(msgs=st.lists(st.binary(max_size=40), max_size=12))
def test_bulk_matches_single_on_random_batches(msgs: list[bytes]) -> None:
    assert hash_to_curve_many(msgs, APP_DST) == [hash_to_curve(m, APP_DST) for m in msgs]
