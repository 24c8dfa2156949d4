"""One Elligator 2 map onto curve25519, written to run without secret-dependent branches.

Why: CPace's generator is derived from the pairing code, so the map that turns the hashed code
into a point sees a secret; draft-irtf-cfrg-cpace-21 §10.10 ("Side channel attacks") says it
SHALL execute in constant time. The RFC 9380 code in :mod:`.h2c` is written for throughput on
public keys and branches on values; this module is the constant-time formulation used for
CPace (``G_X25519.calculate_generator``), and the Python fallback of the
:meth:`~blindmatch.crypto.engine.CryptoEngine.elligator2_map` hook that a native engine
replaces.

The map (draft-irtf-cfrg-cpace-21 Appendix A.5 "Elligator 2 reference implementation", which
is RFC 9380 §6.7.1's ``map_to_curve_elligator2`` keeping only the u-coordinate), with Z = 2 and
A = 486662, in projective form so that it needs one inversion::

    u   = decodeUCoordinate(u_bytes, 255) mod p      (RFC 7748 §5: bit 255 cleared)
    vd  = 1 + 2 u^2                                   (never 0: -1/2 is not a square mod p)
    vn  = -A                                          (v = vn / vd)
    e   = [ (vn^3 + A vn^2 vd + vn vd^2) vd is a square ]     (g(v) = that / vd^4, never 0)
    xn  = e ? vn : -vn - A vd                         (x = v, or x = -v - A)
    out = encodeUCoordinate(xn * vd^(p-2))

What the Python fallback guarantees, and what it does not:

* Our code has the same control flow and the same sequence of arithmetic operations for every
  input: no ``if``, loop bound, table index or early exit depends on a secret (a test traces
  the executed lines for inputs of both square classes and requires identical traces). The
  selection ``e ? a : b`` is ``a ^ ((a ^ b) & mask)`` with ``mask`` all ones or zero, built
  arithmetically from the bit ``e``; equality with 1 is computed by an addition and a shift.
* The two exponentiations (the quadratic character and the inversion, both by fixed public
  exponents) run in GMP's ``mpz_powm_sec`` (``gmpy2.powmod_sec``), which GMP documents as taking
  the same time and memory access pattern for any operands of the same size.
* Reductions modulo p = 2^255 - 19 use shifts, masks, additions and a multiplication by 19,
  never a division, and end in a masked conditional subtraction.
* Not guaranteed: GMP and CPython work on variable-length integers. A result whose top limbs
  are zero is stored shorter (for a uniform residue, probability about 2^-63 per value; the
  select mask is 0 or 4 limbs by design), object allocation and reference counting run in the
  interpreter, and neither GMP's ``mpz`` layer nor CPython promises constant time. The
  fallback removes every branch and table lookup an attacker could time at the level of this
  code; it does not make CPython a constant-time machine. A native engine
  (``blindmatch._native``) provides the map in fixed-width C for that guarantee.
"""

from __future__ import annotations

from typing import Any, Final

import gmpy2  # type: ignore[import-untyped]

from ..errors import UsageError

__all__ = ["elligator2_map"]

_mpz = gmpy2.mpz
_powmod_sec = gmpy2.powmod_sec

_P_INT: Final = 2**255 - 19
_P = _mpz(_P_INT)
_A = _mpz(486662)
_LOW_255 = _mpz(2**255 - 1)
_LOW_256 = _mpz(2**256 - 1)
#: (p - 1) / 2 (Euler's criterion) and p - 2 (Fermat inversion): public, fixed exponents.
_LEGENDRE = _mpz((_P_INT - 1) // 2)
_INVERSE = _mpz(_P_INT - 2)


def _reduce(t: Any) -> Any:
    """t mod p for 0 <= t < 2^512, by folding 2^255 = 19 twice and a masked subtraction."""
    t = (t & _LOW_255) + 19 * (t >> 255)  # < 20 * 2^255
    t = (t & _LOW_255) + 19 * (t >> 255)  # < 2^255 + 380 < 2 p
    ge = (t + 19) >> 255  # 1 exactly when t >= p
    return (t + 19 * ge) & _LOW_255  # t - p when ge, else t


def _mul(a: Any, b: Any) -> Any:
    return _reduce(a * b)


def _is_one(x: Any) -> Any:
    """1 if x == 1 else 0, for 0 <= x < p: no comparison, no branch."""
    diff = x ^ 1
    return 1 - ((diff + _LOW_256) >> 256)


def _select(bit: Any, a: Any, b: Any) -> Any:
    """a if bit else b (bit is 0 or 1), by a mask rather than a branch."""
    keep_b = (_LOW_256 + bit) & _LOW_256  # all ones when bit = 0, zero when bit = 1
    return a ^ ((a ^ b) & keep_b)


def elligator2_map(u_bytes: bytes) -> bytes:
    """The u-coordinate (32 bytes, little-endian) that Elligator 2 maps ``u_bytes`` to.

    ``u_bytes`` is decoded as RFC 7748's ``decodeUCoordinate(u_bytes, 255)`` (bit 255
    cleared, the value reduced modulo p), exactly as draft-irtf-cfrg-cpace-21 §8.2 feeds
    ``map_to_curve_elligator2``. See the module docstring for what "constant time" means here.
    """
    if len(u_bytes) != 32:
        raise UsageError(f"elligator2_map takes exactly 32 bytes, not {len(u_bytes)}")
    u = _reduce(_mpz(int.from_bytes(u_bytes, "little")) & _LOW_255)
    vd = _reduce(2 * _mul(u, u) + 1)
    vn = _P - _A  # -A
    vd2 = _mul(vd, vd)
    # g(v) vd^4 = (vn^3 + A vn^2 vd + vn vd^2) vd: a square exactly when g(v) is one.
    gv = _mul(_reduce(_mul(_reduce(_mul(vn, vn) + _mul(_A, _mul(vn, vd))), vn) + _mul(vn, vd2)), vd)
    square = _is_one(_powmod_sec(gv, _LEGENDRE, _P))
    xn = _select(square, vn, _reduce(_P - vn + _P - _mul(_A, vd)))
    x = _mul(xn, _powmod_sec(vd, _INVERSE, _P))
    return int(x).to_bytes(32, "little")
