"""CPACE-X25519-SHA512 of draft-irtf-cfrg-cpace-21: the math, named as the draft names it.

The protocol side (hellos, who sends what, parsing and the order of checks) is
:class:`blindmatch.transport.pake.CPace`; this module holds the cipher suite's functions and
the keys derived from ISK, so that a native engine or another curve replaces them in one
place. It reproduces the draft's own X25519 test vectors byte for byte
(the conformance kit's ``cpace_x25519_sha512.json``, draft-irtf-cfrg-cpace-21 Appendix B.1).

Functions of the draft (section numbers of draft-irtf-cfrg-cpace-21)::

    prepend_len(data)                            LEB128 length || data          (A.1.1)
    lv_cat(a0, a1, ...)                          prepend_len(a0) || ...          (A.1.3)
    generator_string(DSI, PRS, CI, sid, s_in)    lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid)
                                                 len_zpad = max(0, s_in - 1 - len(prepend_len(PRS))
                                                                   - len(prepend_len(DSI)))
                                                                          (8.1, A.2)
    calculate_generator(PRS, CI, sid)            u = decodeUCoordinate(SHA-512(gen_str)[0:32], 255);
                                                 g = map_to_curve_elligator2(u).u   (8.2, one map)
    sample_scalar()                              32 random bytes                 (8.2)
    scalar_mult(y, g) = scalar_mult_vfy(y, g)    X25519(y, g), G.I = 32 zero bytes (8.2)
    transcript_ir(Ya, ADa, Yb, ADb)              lv_cat(Ya, ADa) || lv_cat(Yb, ADb) (A.3.4)
    ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb))  (7.2)

with ``G_X25519.DSI = "CPace255"`` and H = SHA-512 (``s_in_bytes`` 128). Key confirmation
follows the option of §10.4: ``mac_key = SHA-512("CPaceMac" || sid || ISK)``, each party's tag
``HMAC-SHA512(mac_key, lv_cat(Y, AD))`` over the message it sent.

Constant time: the generator depends on the pairing code. SHA-512 (OpenSSL) has no
data-dependent branches; the Elligator 2 map runs through the engine hook
``elligator2_map`` (:mod:`.elligator` in Python, or a native engine); X25519 runs in OpenSSL,
which is constant time; comparisons with G.I use :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Final

from .elligator import elligator2_map
from .x25519 import POINT_BYTES, x25519

__all__ = [
    "DSI",
    "G_I",
    "MAC_BYTES",
    "S_IN_BYTES",
    "calculate_generator",
    "derive_isk",
    "generator_string",
    "is_neutral",
    "lv_cat",
    "mac_key",
    "mac_tag",
    "prepend_len",
    "read_lv",
    "scalar_mult",
    "scalar_mult_vfy",
    "transcript_ir",
]

#: ``G_X25519.DSI``.
DSI: Final = b"CPace255"
#: ``G_X25519.I``: the encoding of the neutral element, and scalar_mult_vfy's failure value.
G_I: Final = bytes(POINT_BYTES)
#: SHA-512's input block size, ``H.s_in_bytes``.
S_IN_BYTES: Final = 128
#: Length of a key-confirmation tag (HMAC-SHA512).
MAC_BYTES: Final = 64


def prepend_len(data: bytes) -> bytes:
    """``data`` prefixed with the LEB128 encoding of its length (draft A.1.1)."""
    length = len(data)
    out = bytearray()
    while True:
        if length < 0x80:
            out.append(length)
            break
        out.append((length & 0x7F) | 0x80)
        length >>= 7
    return bytes(out) + data


def lv_cat(*parts: bytes) -> bytes:
    """Each part with its length prepended, concatenated (draft A.1.3, ``lv_cat``)."""
    return b"".join(prepend_len(p) for p in parts)


def read_lv(data: bytes, at: int) -> tuple[bytes, int] | None:
    """Parse one ``prepend_len`` field at ``at``: (field, next offset), or None if malformed."""
    length = 0
    shift = 0
    while True:
        if at >= len(data) or shift > 28:
            return None
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if at + length > len(data):
        return None
    return data[at : at + length], at + length


def generator_string(dsi: bytes, prs: bytes, ci: bytes, sid: bytes, s_in_bytes: int) -> bytes:
    """``generator_string(DSI, PRS, CI, sid, s_in_bytes)`` (draft A.2): DSI and PRS fill the
    first hash block, so its compression does not depend on CI or sid."""
    len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(prs)) - len(prepend_len(dsi)))
    return lv_cat(dsi, prs, bytes(len_zpad), ci, sid)


def calculate_generator(
    prs: bytes,
    ci: bytes,
    sid: bytes,
    *,
    map_to_curve: Callable[[bytes], bytes] = elligator2_map,
) -> bytes:
    """``G_X25519.calculate_generator(H, PRS, CI, sid)`` with H = SHA-512 (draft §8.2).

    ``map_to_curve`` is the engine's Elligator 2 hook (``decodeUCoordinate`` of its 32-byte
    input, then one map); the default is the constant-time Python formulation.
    """
    gen_str_hash = hashlib.sha512(generator_string(DSI, prs, ci, sid, S_IN_BYTES)).digest()
    return map_to_curve(gen_str_hash[:POINT_BYTES])


def scalar_mult(y: bytes, g: bytes) -> bytes:
    """``G_X25519.scalar_mult(y, g)`` = X25519(y, g) (RFC 7748 §5); G.I for a low-order g."""
    return scalar_mult_vfy(y, g)


def scalar_mult_vfy(y: bytes, point: bytes) -> bytes:
    """``G_X25519.scalar_mult_vfy(y, X)``: X25519(y, X), which is G.I for every low-order X.

    Like the draft, this decodes any 32 bytes (bit 255 cleared, values reduced mod p); the
    channel refuses non-canonical encodings before it gets here (protocol_spec.md §13).
    """
    out = x25519(y, point)
    return G_I if out is None else out


def is_neutral(point: bytes) -> bool:
    """Whether ``point`` is G.I, compared in constant time (K is a secret)."""
    return hmac.compare_digest(point, G_I)


def transcript_ir(ya: bytes, ada: bytes, yb: bytes, adb: bytes) -> bytes:
    """``transcript_ir(Ya, ADa, Yb, ADb)`` (draft A.3.4): the initiator-responder transcript."""
    return lv_cat(ya, ada) + lv_cat(yb, adb)


def derive_isk(sid: bytes, k: bytes, transcript: bytes) -> bytes:
    """``ISK = H.hash(lv_cat(G.DSI || "_ISK", sid, K) || transcript)`` (draft §7.2)."""
    return hashlib.sha512(lv_cat(DSI + b"_ISK", sid, k) + transcript).digest()


def mac_key(sid: bytes, isk: bytes) -> bytes:
    """``mac_key = H.hash("CPaceMac" || sid || ISK)`` (draft §10.4)."""
    return hashlib.sha512(b"CPaceMac" + sid + isk).digest()


def mac_tag(key: bytes, y: bytes, ad: bytes) -> bytes:
    """A party's confirmation tag over the message it sent: HMAC-SHA512(mac_key, lv_cat(Y, AD))."""
    return hmac.new(key, lv_cat(y, ad), hashlib.sha512).digest()
