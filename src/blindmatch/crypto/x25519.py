"""X25519 blinding: secret scalars, checks on received points, and batch scalar multiplication.

Theory of operation
-------------------
Each party blinds a curve point P (the output of :func:`~blindmatch.crypto.h2c.hash_to_curve`,
so in the subgroup of prime order l) by X25519 (RFC 7748 §5) with a secret scalar. X25519
clamps every scalar to ``c = 2^254 + 8 t`` (0 <= t < 2^251), a multiple of 8, so it maps any
input into the prime-order subgroup, and on that subgroup it only depends on ``c mod l``.
Because ``[a][b]P = [b][a]P``, equal keys blinded by both parties meet at the same point,
which is the whole DH-PSI construction (protocol specification §1, §2).

Points received from the peer are checked before use (specification §6): 32 bytes each,
canonical (the little-endian integer is below p = 2^255 - 19, so the top bit is clear),
no duplicates within one message, and not of small order. The last check happens during
blinding: a clamped scalar kills every small-order component, so a small-order input gives
the all-zero output that RFC 7748 §6.1 tells us to reject. Points on the quadratic twist are
not rejected: X25519 is defined there, and the twist's order is 4 times a large prime, so
its only small subgroup is killed by the clamped scalar's factor 8 as well.

The scalar multiplications are done by ``cryptography`` (OpenSSL), never in Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ..errors import CryptoError, UsageError

__all__ = [
    "FIELD_PRIME",
    "GROUP_ORDER",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "Scalar",
    "blind_many",
    "small_order_points",
    "validate_point",
    "validate_points",
    "x25519",
]

#: p, the prime of the field curve25519 is defined over.
FIELD_PRIME: Final = 2**255 - 19
#: l, the prime order of the curve25519 base-point subgroup.
GROUP_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
#: Size of an encoded point (a u-coordinate, RFC 7748 §5) and of a scalar.
POINT_BYTES: Final = 32
SCALAR_BYTES: Final = 32

_CLAMP_HIGH: Final = 2**254
#: t of a clamped scalar 2^254 + 8 t ranges over [0, 2^251).
_T_LIMIT: Final = 2**251
_INV_8: Final = pow(8, -1, GROUP_ORDER)
#: Any encoding whose last byte is below 0x7f is an integer below 2^255 - 2^248 < p.
_SURELY_CANONICAL_TOP: Final = 0x7F


def _clamp(data: bytes) -> int:
    """decodeScalar25519 of RFC 7748 §5: clear bits 0-2 and 255, set bit 254."""
    k = int.from_bytes(data, "little")
    return (k & ~7 & (2**255 - 1)) | _CLAMP_HIGH


def _clamped_inverse(k: int) -> int | None:
    """The clamped representative of k^-1 mod l, or None if it has none (specification §2.1).

    c = 2^254 + 8 t with c = k^-1 (mod l) forces t = (k^-1 - 2^254) / 8 (mod l); since
    l > 2^251 that residue is the only candidate, and it qualifies when it is below 2^251.
    A clamped k is never a multiple of l (8 l > 2^255), so k^-1 always exists.
    """
    inverse = pow(k, -1, GROUP_ORDER)
    t = (inverse - _CLAMP_HIGH) * _INV_8 % GROUP_ORDER
    if t >= _T_LIMIT:
        return None
    return _CLAMP_HIGH + 8 * t


def _draw(rng: Callable[[int], bytes]) -> bytes:
    data = rng(SCALAR_BYTES)
    if not isinstance(data, bytes) or len(data) != SCALAR_BYTES:
        raise UsageError(f"rng({SCALAR_BYTES}) must return {SCALAR_BYTES} bytes")
    return data


class Scalar:
    """A secret X25519 scalar.

    It holds the 32 bytes it was made from (X25519 clamps them on every use, RFC 7748 §5) and
    the matching ``X25519PrivateKey``. Its ``repr`` and ``str`` never show the bytes; only
    :meth:`to_bytes` does, for the offline state file.
    """

    __slots__ = ("_secret", "_key")

    _secret: bytes
    _key: X25519PrivateKey

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != SCALAR_BYTES:
            raise UsageError(f"a scalar is exactly {SCALAR_BYTES} bytes")
        self._secret = bytes(secret)
        self._key = X25519PrivateKey.from_private_bytes(self._secret)

    @classmethod
    def generate(cls, rng: Callable[[int], bytes] = os.urandom) -> Scalar:
        """A fresh scalar from ``rng(32)`` (specification §12 step 4)."""
        return cls(_draw(rng))

    @classmethod
    def generate_invertible(cls, rng: Callable[[int], bytes] = os.urandom) -> Scalar:
        """A fresh scalar that :meth:`inverse` accepts (specification §2.1, §12 step 3).

        X25519 always clamps, so the only multipliers it can apply are the clamped values
        ``2^254 + 8 t``. Undoing a blinding by ``k`` needs a multiplier congruent to
        ``k^-1 mod l``, and for about half of all k no clamped value is; those scalars could
        blind but never unblind. This draws ``rng(32)``, clamps it, and draws again until the
        inverse has a clamped representative. The draws are exactly those of the
        specification, so an injected deterministic ``rng`` reproduces its test vector.
        """
        while True:
            data = _draw(rng)
            if _clamped_inverse(_clamp(data)) is not None:
                return cls(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> Scalar:
        """The scalar stored as ``data`` (32 bytes, as returned by :meth:`to_bytes`)."""
        return cls(data)

    def to_bytes(self) -> bytes:
        """The secret bytes. Only for persisting a session's state; never log or send them."""
        return self._secret

    def inverse(self) -> Scalar:
        """The scalar that undoes this one on the prime-order subgroup.

        For every P in the subgroup, ``X25519(inverse, X25519(self, P)) == P``: on that
        subgroup X25519 multiplies by the clamped scalar modulo l, and the inverse is the
        clamped representative of ``clamp(self)^-1 mod l``. It exists only for scalars made
        by :meth:`generate_invertible` (or that happen to qualify); otherwise this raises
        :class:`~blindmatch.errors.UsageError`, since X25519 would clamp any other
        representative into a different multiplier.
        """
        c = _clamped_inverse(_clamp(self._secret))
        if c is None:
            raise UsageError(
                "this scalar has no clamped inverse; create it with Scalar.generate_invertible"
            )
        return Scalar(c.to_bytes(SCALAR_BYTES, "little"))

    def __repr__(self) -> str:
        return "Scalar(<secret>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Callable[[bytes], Scalar], tuple[bytes]]:
        # Process pools hand scalars to their workers by pickling; the key object itself
        # cannot be pickled, so rebuild it from the bytes on the other side.
        return (Scalar.from_bytes, (self._secret,))


def validate_point(data: bytes, *, message: str, index: int) -> None:
    """Check one received point: exactly 32 bytes and canonical (specification §6 item 6).

    Raises :class:`~blindmatch.errors.CryptoError` naming ``message`` and ``index``, never
    the bytes.
    """
    if len(data) != POINT_BYTES:
        raise CryptoError(
            f"{message}: element {index} is {len(data)} bytes long, expected {POINT_BYTES}"
        )
    if int.from_bytes(data, "little") >= FIELD_PRIME:
        raise CryptoError(f"{message}: element {index} is not a canonical curve25519 u-coordinate")


def validate_points(data: bytes, count: int, *, message: str) -> list[bytes]:
    """Split ``count`` concatenated points and check each one (specification §6 item 6).

    Every element must be 32 bytes, canonical and not of small order, and no element may
    occur twice in the batch. Returns the elements in order. Raises
    :class:`~blindmatch.errors.CryptoError` naming ``message`` and the offending index (never
    the bytes), or
    :class:`~blindmatch.errors.UsageError` for a negative ``count``.
    """
    if count < 0:
        raise UsageError(f"count must be 0 or more, not {count}")
    size = POINT_BYTES * count
    if len(data) < size:
        index = len(data) // POINT_BYTES
        got = len(data) - POINT_BYTES * index
        raise CryptoError(
            f"{message}: element {index} is {got} bytes long, expected {POINT_BYTES} "
            f"({count} elements expected)"
        )
    if len(data) > size:
        raise CryptoError(f"{message}: {len(data) - size} bytes after the last of {count} elements")
    data = bytes(data)
    # The top byte of each element, gathered in C: only elements whose top byte is 0x7f
    # or more can be >= p, so the per-element check runs only on those.
    tops = data[POINT_BYTES - 1 :: POINT_BYTES]
    if tops and max(tops) >= _SURELY_CANONICAL_TOP:
        for index, top in enumerate(tops):
            if top >= _SURELY_CANONICAL_TOP:
                start = POINT_BYTES * index
                validate_point(data[start : start + POINT_BYTES], message=message, index=index)
    elements = [data[i : i + POINT_BYTES] for i in range(0, size, POINT_BYTES)]
    distinct = set(elements)
    if not distinct.isdisjoint(_SMALL_ORDER):
        # Caught here for every element, not only those later multiplied (an X25519 output
        # of zero would reveal them too, but some elements, like unmatched OPRF points, are
        # never multiplied).
        index = next(i for i, e in enumerate(elements) if e in _SMALL_ORDER)
        raise CryptoError(f"{message}: element {index} is a small-order curve25519 point")
    if len(distinct) != count:
        first: dict[bytes, int] = {}
        for index, element in enumerate(elements):
            earlier = first.setdefault(element, index)
            if earlier != index:
                raise CryptoError(f"{message}: element {index} duplicates element {earlier}")
    return elements


def blind_many(
    scalar: Scalar, points: Sequence[bytes], *, message: str, first: int = 0
) -> list[bytes]:
    """X25519(scalar, point) for every point, in order (RFC 7748 §5).

    An all-zero result means the point had small order; that raises
    :class:`~blindmatch.errors.CryptoError` naming ``message`` and the index (RFC 7748 §6.1,
    specification §6 item 6). ``first`` is the index of ``points[0]`` within the whole
    message, so a batch split into parts reports the same index as the whole batch would.
    Received points must have gone through :func:`validate_points` first: X25519 itself
    ignores the top bit and reduces modulo p.
    """
    exchange = scalar._key.exchange
    from_public_bytes = X25519PublicKey.from_public_bytes
    out: list[bytes] = []
    push = out.append
    try:
        for point in points:
            push(exchange(from_public_bytes(point)))
    except ValueError:
        local = len(out)  # every earlier point produced an output
        index = first + local
        if len(points[local]) != POINT_BYTES:
            raise CryptoError(
                f"{message}: element {index} is {len(points[local])} bytes long, "
                f"expected {POINT_BYTES}"
            ) from None
        raise CryptoError(f"{message}: element {index} is a small-order curve25519 point") from None
    return out


def x25519(scalar: bytes, point: bytes) -> bytes | None:
    """X25519(scalar, point) (RFC 7748 §5) of 32-byte strings, or None when the result is
    all zero (a small-order point, §6.1). OpenSSL computes it in constant time."""
    try:
        out = X25519PrivateKey.from_private_bytes(scalar).exchange(
            X25519PublicKey.from_public_bytes(point)
        )
    except ValueError:  # OpenSSL refuses an all-zero shared secret
        return None
    return None if out == bytes(POINT_BYTES) else out


# The curve25519 u-coordinates of small order, as libsodium's crypto_scalarmult blocklist
# and Wycheproof's x25519 "LowOrderPublic" cases list them: 0 (order 4), 1 (order 1), the two
# points of order 8, p - 1 (order 2), and the non-canonical p and p + 1; then the same seven
# with bit 255 set, which X25519 ignores (RFC 7748 §5).
_SMALL_ORDER: Final = tuple(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    )
)


def small_order_points() -> list[bytes]:
    """The 32-byte encodings of small-order points, canonical and not (for tests)."""
    return list(_SMALL_ORDER)
