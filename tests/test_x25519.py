"""X25519 scalars, point validation and batch blinding: published vectors and properties."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from typing import Any

import gmpy2  # type: ignore[import-untyped]
import pytest
from _vectors import checker_cases, load_vectors
from hypothesis import given, settings
from hypothesis import strategies as st

import blindmatch.crypto
from blindmatch.crypto import (
    FIELD_PRIME,
    GROUP_ORDER,
    Scalar,
    blind_many,
    hash_to_curve,
    small_order_points,
    validate_point,
    validate_points,
)
from blindmatch.errors import CryptoError, UsageError

DST = b"blindmatch/1 h2c " + bytes(32)
RFC7748_FILE = "x25519_rfc7748.json"
WYCHEPROOF_FILE = "x25519_wycheproof.json"


def stream(seed: bytes) -> Callable[[int], bytes]:
    """A deterministic rng(n): SHAKE-256 of the seed, read sequentially."""
    state = {"offset": 0}

    def draw(n: int) -> bytes:
        start = state["offset"]
        state["offset"] = start + n
        return hashlib.shake_256(seed).digest(start + n)[start:]

    return draw


def clamp(data: bytes) -> int:
    k = int.from_bytes(data, "little")
    return (k & ~7 & (2**255 - 1)) | 2**254


def x_double(x: int, z: int) -> tuple[int, int]:
    p = FIELD_PRIME
    s, d = (x + z) % p, (x - z) % p
    aa, bb = s * s % p, d * d % p
    e = aa - bb
    return aa * bb % p, e * (aa + 121665 * e) % p


# --- constants and exports --------------------------------------------------------------------


def test_constants() -> None:
    assert FIELD_PRIME == 2**255 - 19
    assert gmpy2.is_prime(FIELD_PRIME) and gmpy2.is_prime(GROUP_ORDER)
    assert 2**252 < GROUP_ORDER < 2**253


def test_exports_are_sorted_and_resolve() -> None:
    names = blindmatch.crypto.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert getattr(blindmatch.crypto, name) is not None
    assert callable(blindmatch.crypto.hash_to_curve)


# --- published vectors ------------------------------------------------------------------------


@pytest.mark.parametrize(("engine", "check"), checker_cases(RFC7748_FILE, "python"))
def test_x25519_rfc7748_section_5_2(engine: Any, check: Callable[[], None]) -> None:
    """The conformance kit's check: the two vectors, and 1 and 1,000 iterations."""
    check()


@pytest.mark.parametrize(("engine", "check"), checker_cases(WYCHEPROOF_FILE, "python"))
def test_x25519_wycheproof(engine: Any, check: Callable[[], None]) -> None:
    """The kit's check: the output; blinding refuses the small-order points; and, since
    Wycheproof flags values >= 2^255 - 19 as non-canonical except p itself (its tcId 83 calls
    it "public key == 0"), that we refuse every encoding whose integer is not below p."""
    check()


def test_small_order_list_matches_wycheproof_low_order_cases() -> None:
    listed = set(small_order_points())
    assert len(listed) == 14
    low_order = {
        bytes.fromhex(c["public"])
        for c in load_vectors(WYCHEPROOF_FILE)["vectors"]
        if "LowOrderPublic" in c["flags"]
    }
    assert low_order <= listed


@pytest.mark.parametrize("point", small_order_points(), ids=lambda b: b.hex()[:8] + b.hex()[-2:])
def test_small_order_points_are_small_and_rejected(point: bytes) -> None:
    # Independently of any library: 8 times the point is the identity (Z = 0).
    x, z = int.from_bytes(point, "little") % 2**255 % FIELD_PRIME, 1
    for _ in range(3):
        x, z = x_double(x, z)
    assert z == 0
    scalar = Scalar.generate(stream(b"small order"))
    points = [hash_to_curve(b"a", DST), point, hash_to_curve(b"b", DST)]
    with pytest.raises(CryptoError, match=r"^blinded message: element 1 is a small-order"):
        blind_many(scalar, points, message="blinded message")


# --- validate_point(s) ------------------------------------------------------------------------


def _points(n: int) -> list[bytes]:
    return [hash_to_curve(i.to_bytes(2, "big"), DST) for i in range(n)]


POINTS = _points(24)


def test_validate_points_accepts_and_splits() -> None:
    assert validate_points(b"".join(POINTS), len(POINTS), message="blinded message") == POINTS
    assert validate_points(b"", 0, message="blinded message") == []
    # p - 1 is canonical but of small order (libsodium's blocklist), so it is refused; the
    # largest canonical value of large order, p - 2, passes.
    minus_one = (FIELD_PRIME - 1).to_bytes(32, "little")
    with pytest.raises(CryptoError, match="element 0 is a small-order"):
        validate_points(minus_one + POINTS[0], 2, message="m")
    top = (FIELD_PRIME - 2).to_bytes(32, "little")
    assert validate_points(top + POINTS[0], 2, message="m") == [top, POINTS[0]]


@pytest.mark.parametrize(
    "bad",
    [
        FIELD_PRIME.to_bytes(32, "little"),  # p itself, top bit clear
        (FIELD_PRIME + 5).to_bytes(32, "little"),
        (2**255 - 1).to_bytes(32, "little"),
        bytes(31) + b"\x80",  # only the top bit set
    ],
    ids=["p", "p+5", "2^255-1", "top-bit"],
)
def test_validate_points_rejects_non_canonical(bad: bytes) -> None:
    data = POINTS[:17] + [bad] + POINTS[17:20]
    with pytest.raises(CryptoError) as info:
        validate_points(b"".join(data), len(data), message="blinded message")
    text = str(info.value)
    assert text == "blinded message: element 17 is not a canonical curve25519 u-coordinate"
    assert bad.hex() not in text


def test_validate_points_rejects_short_data() -> None:
    data = b"".join(POINTS[:5]) + POINTS[5][:7]
    with pytest.raises(CryptoError, match=r"^blinded message: element 5 is 7 bytes long"):
        validate_points(data, 6, message="blinded message")
    with pytest.raises(CryptoError, match=r"^blinded message: element 5 is 0 bytes long"):
        validate_points(b"".join(POINTS[:5]), 6, message="blinded message")


def test_validate_points_rejects_long_data() -> None:
    data = b"".join(POINTS[:5]) + b"\x01\x02"
    with pytest.raises(CryptoError, match=r"^blinded message: 2 bytes after the last of 5"):
        validate_points(data, 5, message="blinded message")
    with pytest.raises(CryptoError, match=r"32 bytes after the last of 4"):
        validate_points(b"".join(POINTS[:5]), 4, message="blinded message")


def test_validate_points_rejects_duplicates() -> None:
    data = POINTS[:9] + [POINTS[3]] + POINTS[9:12]
    with pytest.raises(CryptoError) as info:
        validate_points(b"".join(data), len(data), message="returned points")
    assert str(info.value) == "returned points: element 9 duplicates element 3"
    assert POINTS[3].hex() not in str(info.value)


def test_validate_points_rejects_negative_count() -> None:
    with pytest.raises(UsageError):
        validate_points(b"", -1, message="m")


def test_validate_point_single() -> None:
    validate_point(POINTS[0], message="m", index=4)
    with pytest.raises(CryptoError, match=r"^m: element 4 is 31 bytes long, expected 32$"):
        validate_point(POINTS[0][:31], message="m", index=4)
    with pytest.raises(CryptoError, match=r"^m: element 4 is 33 bytes long"):
        validate_point(POINTS[0] + b"\x00", message="m", index=4)
    with pytest.raises(CryptoError, match=r"^m: element 4 is not a canonical"):
        validate_point(bytes(31) + b"\xff", message="m", index=4)


# --- blind_many -------------------------------------------------------------------------------


def test_blind_many_rejects_wrong_length_with_index() -> None:
    scalar = Scalar.generate(stream(b"length"))
    with pytest.raises(CryptoError, match=r"^own points: element 2 is 31 bytes long"):
        blind_many(scalar, [POINTS[0], POINTS[1], POINTS[2][:31]], message="own points")


def test_blind_many_reports_the_index_within_the_whole_message() -> None:
    scalar = Scalar.generate(stream(b"first"))
    points = [POINTS[0], small_order_points()[2], POINTS[1]]
    with pytest.raises(CryptoError, match=r"^peer points: element 1001 is a small-order"):
        blind_many(scalar, points, message="peer points", first=1000)


def test_blind_many_on_empty_input() -> None:
    assert blind_many(Scalar.generate(), [], message="m") == []


@settings(deadline=None, max_examples=40)
@given(msgs=st.lists(st.binary(max_size=32), min_size=1, max_size=6), seed=st.binary(max_size=8))
def test_blinding_commutes(msgs: list[bytes], seed: bytes) -> None:
    rng = stream(b"commute" + seed)
    a, b = Scalar.generate(rng), Scalar.generate(rng)
    points = [hash_to_curve(m, DST) for m in msgs]
    ab = blind_many(a, blind_many(b, points, message="m"), message="m")
    ba = blind_many(b, blind_many(a, points, message="m"), message="m")
    assert ab == ba


# --- Scalar -----------------------------------------------------------------------------------


@settings(deadline=None, max_examples=50)
@given(msg=st.binary(max_size=64), seed=st.binary(max_size=16))
def test_inverse_undoes_blinding_on_hashed_points(msg: bytes, seed: bytes) -> None:
    scalar = Scalar.generate_invertible(stream(b"inverse" + seed))
    point = hash_to_curve(msg, DST)
    blinded = blind_many(scalar, [point], message="m")
    assert blinded != [point]
    assert blind_many(scalar.inverse(), blinded, message="m") == [point]


@settings(deadline=None, max_examples=50)
@given(seed=st.binary(max_size=16))
def test_inverse_is_clamped_and_involutive(seed: bytes) -> None:
    scalar = Scalar.generate_invertible(stream(b"clamped" + seed))
    inverse = scalar.inverse()
    c = int.from_bytes(inverse.to_bytes(), "little")
    assert c == clamp(inverse.to_bytes())  # its own clamping leaves it unchanged
    assert c * clamp(scalar.to_bytes()) % GROUP_ORDER == 1
    assert inverse.inverse().to_bytes() == clamp(scalar.to_bytes()).to_bytes(32, "little")


def test_generate_invertible_follows_the_specified_draws() -> None:
    # Specification §12 step 3: draw 32 bytes until the clamped value qualifies, keep it.
    draws: list[bytes] = []
    source = stream(b"draws")

    def recording(n: int) -> bytes:
        draws.append(source(n))
        return draws[-1]

    for _ in range(6):
        scalar = Scalar.generate_invertible(recording)
        assert scalar.to_bytes() == draws[-1]
        scalar.inverse()
        for rejected in draws[:-1]:
            with pytest.raises(UsageError):
                Scalar.from_bytes(rejected).inverse()
        draws.clear()
    again = stream(b"draws")
    assert (
        Scalar.generate_invertible(again).to_bytes()
        == Scalar.generate_invertible(stream(b"draws")).to_bytes()
    )


def test_about_half_of_scalars_are_invertible() -> None:
    rng = stream(b"half")
    results = []
    for _ in range(200):
        try:
            Scalar.generate(rng).inverse()
            results.append(True)
        except UsageError:
            results.append(False)
    assert 60 < sum(results) < 140


def test_scalar_repr_hides_the_secret() -> None:
    scalar = Scalar.generate(stream(b"repr"))
    secret = scalar.to_bytes()
    for text in (repr(scalar), str(scalar), f"{scalar}", f"{scalar!r}", repr([scalar])):
        assert "Scalar(<secret>)" in text
        assert secret.hex() not in text
        assert repr(secret) not in text


def test_scalar_bytes_round_trip_and_pickle() -> None:
    scalar = Scalar.generate(stream(b"round trip"))
    assert Scalar.from_bytes(scalar.to_bytes()).to_bytes() == scalar.to_bytes()
    restored = pickle.loads(pickle.dumps(scalar))
    assert restored.to_bytes() == scalar.to_bytes()
    assert blind_many(restored, POINTS[:3], message="m") == blind_many(
        scalar, POINTS[:3], message="m"
    )


@pytest.mark.parametrize("size", [0, 31, 33])
def test_scalar_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(UsageError):
        Scalar.from_bytes(bytes(size))
    with pytest.raises(UsageError):
        Scalar.generate(lambda n: bytes(size))
    with pytest.raises(UsageError):
        Scalar.generate_invertible(lambda n: bytes(size))


def test_scalar_default_rng_gives_distinct_scalars() -> None:
    assert Scalar.generate().to_bytes() != Scalar.generate().to_bytes()
    Scalar.generate_invertible().inverse()
