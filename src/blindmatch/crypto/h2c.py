"""Hashing to curve25519: the RFC 9380 suite ``curve25519_XMD:SHA-512_ELL2_RO_``.

Theory of operation
-------------------
``hash_to_curve(msg, DST)`` (RFC 9380 §3) maps an arbitrary byte string to a point of the
prime-order subgroup of curve25519 such that nobody knows a discrete logarithm relation
between the outputs, which is what the blinded-exchange (Diffie-Hellman) private set
intersection needs. The ``_RO_`` ("random oracle") suite (§8.5) does it in four steps:

1. ``hash_to_field(msg, count=2)`` (§5.2): ``expand_message_xmd`` (§5.3.1) stretches the
   message with SHA-512 into 96 uniform bytes under the domain separation tag (DST, §3.1;
   tags over 255 bytes are hashed first, §5.3.3), and each 48-byte half (L = 48, §5) is
   reduced modulo p = 2^255 - 19 to a field element u0, u1 with negligible bias.
2. ``map_to_curve`` (§6.7.1, Elligator 2 with Z = 2) sends each u to a point Q0, Q1 on the
   Montgomery curve K t^2 = s^3 + J s^2 + s with J = 486662, K = 1 (§6.7). One map alone
   is not uniform, which is why the ``_RO_`` suite maps two field elements and adds them.
3. ``R = Q0 + Q1`` with the affine Montgomery addition law.
4. ``P = clear_cofactor(R) = 8 R`` (§7, h_eff = 8 in §8.5), which lands in the subgroup of
   prime order l = 2^252 + 27742317777372353535851937790883648493.

The result is returned the way X25519 (RFC 7748 §5) consumes points: the little-endian
32-byte encoding of the u-coordinate. The identity (reachable only with negligible
probability) encodes as 32 zero bytes, which X25519 then rejects as a small-order input.

Implementation notes
--------------------
The single-message functions follow the RFC text literally: ``map_to_curve_elligator2`` is
the straight-line curve25519 routine of Appendix G.2.1, the addition is the textbook affine
chord-and-tangent law, and the cofactor is cleared with three x-only doublings (RFC 7748 §5
ladder formulas) and one inversion.

``hash_to_curve_many`` is the bulk path the protocol uses for millions of keys. It computes
the same function (the test suite checks that) but restructured for CPython:

* field arithmetic runs on ``gmpy2.mpz`` (GMP): a multiplication modulo p costs half of
  what it does on ``int``, and an exponentiation is cheaper too;
* every inversion of a chunk is shared through Montgomery's batch-inversion trick (one
  ``invert`` plus three multiplications per element), once for Elligator's denominators
  before the square roots and once for the projective results at the end;
* each Elligator 2 square root costs a single exponentiation, g(x1)^((p+3)/8) (the p = 5
  mod 8 method of Appendix I.2); its square tells at once whether g(x1) is a square and
  which fourth root of unity fixes the candidate, for x1 and x2 alike. These two
  exponentiations per message dominate the cost (``gmpy2.powmod_base_list``, one call per
  chunk); everything around them is kept to as few interpreter operations as possible;
* Q0 + Q1 is formed directly in projective x-only form (X : Z), the three doublings stay
  projective, and only the final u = X / Z needs a (batched) inversion. All three cofactor
  doublings are always done: folding some into the blinding scalar works only for some
  scalars, so it would make the work depend on the secret.

The bulk path runs in the calling thread; spreading batches over cores is the caller's job
(:class:`blindmatch.parallel.PoolEngine` runs them in worker processes).

Neither path is constant-time: CPython and GMP branch and allocate on the values. The inputs
are the party's own, already-normalized keys, processed locally; the peer only ever sees the
blinded outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import gmpy2  # type: ignore[import-untyped]

from ..errors import UsageError

__all__ = [
    "SUITE_ID",
    "expand_message_xmd",
    "hash_to_curve",
    "hash_to_curve_many",
    "hash_to_field",
    "map_to_curve_elligator2",
]

#: The suite identifier of RFC 9380 §4.1 / §8.5, for building domain separation tags.
SUITE_ID: Final = b"curve25519_XMD:SHA-512_ELL2_RO_"

_mpz = gmpy2.mpz
_invert = gmpy2.invert
_powmod = gmpy2.powmod
_powmod_base_list = gmpy2.powmod_base_list

_P_INT: Final = 2**255 - 19
_P = _mpz(_P_INT)
#: Montgomery coefficient A of curve25519 (J in RFC 9380 §6.7); B (K there) is 1.
_A = _mpz(486662)
_NEG_A = _P - _A
#: (A - 2) / 4, the ladder constant of RFC 7748 §5.
_A24 = _mpz(121665)
#: expand_message_xmd with SHA-512: b_in_bytes and s_in_bytes (§5.3.1).
_B_IN_BYTES: Final = 64
_S_IN_BYTES: Final = 128
#: L of the suite: ceil((ceil(log2(p)) + k) / 8) with k = 128 (§5, §8.5).
_L: Final = 48
_MAX_DST: Final = 255
_OVERSIZE_DST_PREFIX: Final = b"H2C-OVERSIZE-DST-"

# Appendix G.2.1 constants.
_C1 = (_P + 3) // 8
_C2 = _powmod(2, _C1, _P)
#: sqrt(-1): 2 is a non-square because p = 5 mod 8, so 2^((p-1)/4) squares to -1.
_C3 = _powmod(2, (_P - 1) // 4, _P)
_C4 = (_P - 5) // 8
#: In the bulk path a non-square g(x1) has g^((p+3)/8) squaring to +-sqrt(-1) * g; then
#: sqrt(2 g) is _C2 * root or _C2 * sqrt(-1) * root (Appendix I.2, 2^((p-1)/4) = _C3).
_C2_C3 = _C2 * _C3 % _P

_ZERO_POINT: Final = bytes(32)
_LOW_384 = (_mpz(1) << 384) - 1

#: Messages per chunk of the bulk path: large enough to amortize the two batch inversions
#: and the thread hand-off, small enough that the pipeline fills quickly.
_CHUNK: Final = 1024


def _sha512_factory() -> Callable[..., Any]:
    # CPython's built-in SHA-512 has noticeably less per-call overhead than the OpenSSL one
    # behind hashlib.sha512 (which allocates an EVP context per object); both compute the
    # same function, so prefer it when the interpreter has it.
    for name in ("_sha2", "_sha512"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        constructor = getattr(module, "sha512", None)
        if constructor is not None:
            return constructor  # type: ignore[no-any-return]
    return hashlib.sha512


_sha512: Final = _sha512_factory()


def _effective_dst(dst: bytes) -> bytes:
    """Apply RFC 9380 §5.3.3: a DST longer than 255 bytes is replaced by its hash."""
    if not isinstance(dst, (bytes, bytearray, memoryview)):
        raise UsageError("the domain separation tag must be bytes")
    dst = bytes(dst)
    if not dst:
        # RFC 9380 §3.1: "Tags MUST have nonzero length."
        raise UsageError("the domain separation tag must not be empty")
    if len(dst) > _MAX_DST:
        dst = hashlib.sha512(_OVERSIZE_DST_PREFIX + dst).digest()
    return dst


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """``expand_message_xmd`` with SHA-512 (RFC 9380 §5.3.1), including §5.3.3 for long DSTs.

    Raises :class:`~blindmatch.errors.UsageError` when ``len_in_bytes`` is not in
    1..65535 or needs more than 255 hash blocks (ell > 255), and when ``dst`` is empty.
    """
    if not 1 <= len_in_bytes <= 65535:
        raise UsageError(f"len_in_bytes must be between 1 and 65535, not {len_in_bytes}")
    ell = -(-len_in_bytes // _B_IN_BYTES)
    if ell > 255:
        raise UsageError(
            f"len_in_bytes {len_in_bytes} needs {ell} SHA-512 blocks; at most 255 are allowed"
        )
    dst = _effective_dst(dst)
    dst_prime = dst + len(dst).to_bytes(1, "big")
    msg_prime = (
        bytes(_S_IN_BYTES) + bytes(msg) + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime
    )
    b_0 = hashlib.sha512(msg_prime).digest()
    b_i = hashlib.sha512(b_0 + b"\x01" + dst_prime).digest()
    blocks = [b_i]
    b_0_int = int.from_bytes(b_0, "big")
    for i in range(2, ell + 1):
        mixed = (b_0_int ^ int.from_bytes(b_i, "big")).to_bytes(_B_IN_BYTES, "big")
        b_i = hashlib.sha512(mixed + i.to_bytes(1, "big") + dst_prime).digest()
        blocks.append(b_i)
    return b"".join(blocks)[:len_in_bytes]


def hash_to_field(msg: bytes, dst: bytes, count: int) -> list[int]:
    """``hash_to_field`` for GF(2^255 - 19) (RFC 9380 §5.2, m = 1, L = 48)."""
    if count < 1:
        raise UsageError(f"count must be at least 1, not {count}")
    uniform = expand_message_xmd(msg, dst, count * _L)
    return [int.from_bytes(uniform[_L * i : _L * (i + 1)], "big") % _P_INT for i in range(count)]


def map_to_curve_elligator2(u: int) -> tuple[int, int]:
    """Elligator 2 for curve25519 (RFC 9380 §6.7.1), as the straight-line Appendix G.2.1.

    Returns the affine Montgomery point (x, y) with x and y reduced modulo p.
    """
    p = _P
    u = _mpz(u) % p
    tv1 = u * u % p
    tv1 = 2 * tv1 % p
    xd = tv1 + 1  # nonzero: -1/2 is not a square modulo p
    x1n = _NEG_A
    tv2 = xd * xd % p
    gxd = tv2 * xd % p  # xd^3
    gx1 = _A * tv1 % p  # x1n + A xd
    gx1 = gx1 * x1n % p
    gx1 = (gx1 + tv2) % p
    gx1 = gx1 * x1n % p  # x1n^3 + A x1n^2 xd + x1n xd^2
    tv3 = gxd * gxd % p
    tv2 = tv3 * tv3 % p  # gxd^4
    tv3 = tv3 * gxd % p  # gxd^3
    tv3 = tv3 * gx1 % p  # gx1 gxd^3
    tv2 = tv2 * tv3 % p  # gx1 gxd^7
    y11 = _powmod(tv2, _C4, p)
    y11 = y11 * tv3 % p
    y12 = y11 * _C3 % p
    tv2 = y11 * y11 % p
    tv2 = tv2 * gxd % p
    e1 = tv2 == gx1
    y1 = y11 if e1 else y12  # sqrt(g(x1)) when g(x1) is a square
    x2n = x1n * tv1 % p
    y21 = y11 * u % p
    y21 = y21 * _C2 % p
    y22 = y21 * _C3 % p
    gx2 = gx1 * tv1 % p
    tv2 = y21 * y21 % p
    tv2 = tv2 * gxd % p
    e2 = tv2 == gx2
    y2 = y21 if e2 else y22  # sqrt(g(x2)) when g(x1) is not a square
    tv2 = y1 * y1 % p
    tv2 = tv2 * gxd % p
    e3 = tv2 == gx1
    xn = x1n if e3 else x2n
    y = y1 if e3 else y2
    e4 = (y & 1) == 1  # sgn0 (§4.1)
    if e3 != e4:
        y = (p - y) % p
    x = xn * _invert(xd, p) % p
    return int(x), int(y)


_Point = tuple[int, int]


def _affine_add(q0: _Point, q1: _Point) -> _Point | None:
    """Q0 + Q1 on t^2 = s^3 + A s^2 + s (the affine addition law); None is the identity."""
    p = _P_INT
    a = int(_A)
    x0, y0 = q0
    x1, y1 = q1
    if x0 == x1:
        if (y0 + y1) % p == 0:  # Q1 = -Q0, including the 2-torsion point (0, 0)
            return None
        slope = (3 * x0 * x0 + 2 * a * x0 + 1) * pow(2 * y0, -1, p) % p
    else:
        slope = (y1 - y0) * pow(x1 - x0, -1, p) % p
    x2 = (slope * slope - a - x0 - x1) % p
    y2 = (slope * (x0 - x2) - y0) % p
    return x2, y2


def _x_double(x: Any, z: Any) -> tuple[Any, Any]:
    """x-only doubling (X : Z) -> (X' : Z') with the RFC 7748 §5 ladder formulas."""
    s = x + z
    d = x - z
    aa = s * s
    bb = d * d
    e = aa - bb
    return aa * bb % _P, e * (aa + _A24 * e) % _P


def _clear_cofactor_encode(point: _Point | None) -> bytes:
    """Encode the u-coordinate of 8 * point (RFC 9380 §7 with h_eff = 8)."""
    if point is None:
        return _ZERO_POINT
    x, z = _mpz(point[0]), _mpz(1)
    for _ in range(3):
        x, z = _x_double(x, z)
    if not z:
        return _ZERO_POINT
    return int(x * _invert(z, _P) % _P).to_bytes(32, "little")


def hash_to_curve(msg: bytes, dst: bytes) -> bytes:
    """Hash ``msg`` to the prime-order subgroup of curve25519 (RFC 9380 §3, suite §8.5).

    Returns the 32-byte little-endian u-coordinate (RFC 7748 §5 encoding) of
    ``clear_cofactor(map_to_curve(u0) + map_to_curve(u1))``.
    """
    u0, u1 = hash_to_field(msg, dst, 2)
    return _clear_cofactor_encode(
        _affine_add(map_to_curve_elligator2(u0), map_to_curve_elligator2(u1))
    )


# --- bulk path --------------------------------------------------------------------------------

if hasattr(_mpz, "from_bytes"):
    _mpz_from_bytes: Callable[[bytes, str], Any] = _mpz.from_bytes
    _mpz_to_bytes: Callable[[Any, int, str], bytes] = _mpz.to_bytes
else:  # gmpy2 < 2.2

    def _mpz_from_bytes(data: bytes, byteorder: str) -> Any:
        return _mpz(int.from_bytes(data, byteorder))  # type: ignore[arg-type]

    def _mpz_to_bytes(value: Any, length: int, byteorder: str) -> bytes:
        return int(value).to_bytes(length, byteorder)  # type: ignore[arg-type]


class _Chunk:
    """What the first stage of the bulk path hands to the exponentiations and the second."""

    __slots__ = ("us", "x1s", "bases")

    def __init__(self, us: list[Any], x1s: list[Any], bases: list[Any]) -> None:
        self.us = us  # u0, u1 of each message, not reduced
        self.x1s = x1s  # x1 = -A / (1 + 2 u^2) of each u
        self.bases = bases  # g(x1) of each u


def _stage_one(msgs: Sequence[bytes], dst_prime: bytes) -> _Chunk:
    """expand_message_xmd, hash_to_field and Elligator 2 up to the square roots."""
    p = _P
    a = _A
    low_384 = _LOW_384
    sha512 = _sha512
    from_bytes = int.from_bytes
    mpz_from_bytes = _mpz_from_bytes
    # Z_pad is exactly one SHA-512 block, so its compression is done once per chunk.
    zpad_copy = _sha512(bytes(_S_IN_BYTES)).copy
    tail0 = (2 * _L).to_bytes(2, "big") + b"\x00" + dst_prime
    tail1 = b"\x01" + dst_prime
    tail2 = b"\x02" + dst_prime
    us: list[Any] = []
    xds: list[Any] = []
    prefix: list[Any] = []
    push_u = us.append
    push_xd = xds.append
    push_prefix = prefix.append
    acc = _mpz(1)
    for msg in msgs:
        h = zpad_copy()
        h.update(msg + tail0)
        b0 = h.digest()
        b1 = sha512(b0 + tail1).digest()
        b2 = sha512((from_bytes(b0, "big") ^ from_bytes(b1, "big")).to_bytes(64, "big") + tail2)
        # uniform_bytes[0:96] = b1 || b2[0:32]; u0 and u1 are its two 48-byte halves. They
        # stay unreduced (< 2^384) because they only enter products that get reduced.
        both = mpz_from_bytes(b1 + b2.digest()[:32], "big")
        u0 = both >> 384
        u1 = both & low_384
        push_u(u0)
        push_u(u1)
        # xd = 1 + Z u^2 (Z = 2), also unreduced; the prefix products of Montgomery's batch
        # inversion are accumulated on the way.
        xd = (u0 * u0 << 1) + 1
        push_xd(xd)
        push_prefix(acc)
        acc = acc * xd % p
        xd = (u1 * u1 << 1) + 1
        push_xd(xd)
        push_prefix(acc)
        acc = acc * xd % p

    # The running inverse is pre-scaled by -A so that the backward pass of the batch
    # inversion yields x1 = -A / xd directly.
    inv = _invert(acc, p) * _NEG_A % p
    x1s: list[Any] = []
    bases: list[Any] = []
    push_x1 = x1s.append
    push_base = bases.append
    for pre, xd in zip(reversed(prefix), reversed(xds), strict=True):
        x1 = pre * inv % p
        inv = inv * xd % p
        push_x1(x1)
        push_base(x1 * (x1 * (x1 + a) + 1) % p)  # g(x1) = x1^3 + A x1^2 + x1
    x1s.reverse()
    bases.reverse()
    return _Chunk(us, x1s, bases)


def _stage_two(chunk: _Chunk, roots: list[Any], doublings: int = 3) -> list[bytes]:
    """Finish Elligator 2 from r = g(x1)^((p+3)/8), add, double, encode.

    r^2 = chi(g) g with chi(g) = g^((p-1)/4) a fourth root of unity (Appendix I.2): chi = 1 or -1
    means g is a square with root r or r sqrt(-1); otherwise the point is x2 = -x1 - A with
    y = u sqrt(2 g), and sqrt(2 g) is C2 r or C2 sqrt(-1) r as chi(g) = -sqrt(-1) or
    sqrt(-1) (C2 = 2^((p+3)/8), and 2^((p-1)/4) = sqrt(-1)). The sign of y follows §6.7.1
    steps 15-16: sgn0(y) = 1 exactly when g(x1) is a square. The two map outputs of each
    message are unrolled in the loop body because a call per point costs more than the
    arithmetic it would share.

    The result is u(2^doublings (Q0 + Q1)): ``doublings = 3`` clears the cofactor, which is
    ``hash_to_curve``.
    """
    p = _P
    a = _A
    a24 = _A24
    neg_a = _NEG_A
    c3 = _C3
    c2 = _C2
    c2c3 = _C2_C3
    zero = _mpz(0)
    one = _mpz(1)
    steps = range(doublings)
    xs_out: list[Any] = []
    zs_out: list[Any] = []
    prefix: list[Any] = []
    push_x = xs_out.append
    push_z = zs_out.append
    push_prefix = prefix.append
    acc = one
    us, x1s, bases = chunk.us, chunk.x1s, chunk.bases
    pairs = zip(
        us[0::2],
        x1s[0::2],
        bases[0::2],
        roots[0::2],
        us[1::2],
        x1s[1::2],
        bases[1::2],
        roots[1::2],
        strict=True,
    )
    for ua, xa, ga, ra, ub, xb, gb, rb in pairs:
        r2 = ra * ra % p
        if r2 == ga:
            ya = ra if ra & 1 else p - ra
        elif r2 + ga == p:
            ya = ra * c3 % p
            if not ya & 1:
                ya = p - ya
        else:
            xa = neg_a - xa
            ya = ua * ra * (c2c3 if r2 == ga * c3 % p else c2) % p
            if ya & 1:
                ya = p - ya
        r2 = rb * rb % p
        if r2 == gb:
            yb = rb if rb & 1 else p - rb
        elif r2 + gb == p:
            yb = rb * c3 % p
            if not yb & 1:
                yb = p - yb
        else:
            xb = neg_a - xb
            yb = ub * rb * (c2c3 if r2 == gb * c3 % p else c2) % p
            if yb & 1:
                yb = p - yb
        d = xb - xa
        z = d * d % p
        if z:
            # Q0 + Q1 in x-only projective form: u = lambda^2 - A - xa - xb with
            # lambda = (yb - ya) / (xb - xa), i.e. X = n^2 - d^2 (A + xa + xb), Z = d^2.
            n = yb - ya
            x = (n * n - z * (a + xa + xb)) % p
        else:
            # xa = xb: Q1 = Q0 (double it once more) or Q1 = -Q0 (the identity).
            x, z = _x_double(xa % p, one) if ya == yb else (one, zero)
        # Doublings with the RFC 7748 §5 ladder formulas (three clear the cofactor).
        for _ in steps:
            s = x + z
            d = x - z
            s *= s
            d *= d
            x = s * d % p
            d = s - d
            z = d * (s + a24 * d) % p
        push_x(x)
        push_z(z)
        # Prefix products for the batch inversion of Z; Z = 0 is the identity.
        push_prefix(acc)
        if z:
            acc = acc * z % p

    # u = X / Z for the whole chunk with one inversion (the backward pass).
    inv = _invert(acc, p)
    to_bytes = _mpz_to_bytes
    out: list[bytes] = []
    push_out = out.append
    for pre, x, z in zip(reversed(prefix), reversed(xs_out), reversed(zs_out), strict=True):
        if z:
            push_out(to_bytes(x * pre * inv % p, 32, "little"))
            inv = inv * z % p
        else:
            push_out(_ZERO_POINT)
    out.reverse()
    return out


def _chunks(msgs: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(msgs), _CHUNK):
        yield msgs[start : start + _CHUNK]


def _points_many(msgs: Sequence[bytes], dst: bytes, doublings: int) -> list[bytes]:
    dst = _effective_dst(dst)
    dst_prime = dst + len(dst).to_bytes(1, "big")
    exponent = _C1
    p = _P
    out: list[bytes] = []
    for part in _chunks(msgs):
        chunk = _stage_one(part, dst_prime)
        out.extend(_stage_two(chunk, _powmod_base_list(chunk.bases, exponent, p), doublings))
    return out


def hash_to_curve_many(
    msgs: Sequence[bytes], dst: bytes, *, workers: int | None = 0
) -> list[bytes]:
    """``[hash_to_curve(m, dst) for m in msgs]``, computed in bulk (same bytes, much faster).

    Runs in the calling thread: parallelism belongs to the caller (the protocol spreads
    batches over processes, :class:`blindmatch.parallel.PoolEngine`). ``workers`` is
    accepted for compatibility and does not change the output; it must not be negative.
    Raises :class:`~blindmatch.errors.UsageError` for an empty ``dst`` or a negative
    ``workers``.
    """
    if workers is not None and workers < 0:
        raise UsageError(f"workers must be 0 or more, not {workers}")
    return _points_many(msgs, dst, 3)


# --- cofactor clearing folded into the blinding scalar -------------------------------------------

#: l, the prime order of the subgroup (RFC 7748 §4.1).
_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
