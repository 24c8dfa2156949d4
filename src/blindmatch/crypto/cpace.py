"""The math of CPace on X25519: generator, scalar multiplication, ISK, confirmation tags.

The protocol side (who sends what, parsing, the order of checks) is
:class:`blindmatch.transport.pake.CPace`; this module holds only the functions of the
draft's cipher suite and the keys derived from ISK, so that a native engine or another curve
replaces them in one place. Names follow draft-irtf-cfrg-cpace (see protocol_spec.md §13).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from ..errors import LocalProtocolError
from .aead import hkdf_sha256
from .h2c import hash_to_curve
from .suite import SUITE
from .x25519 import x25519

__all__ = [
    "CONFIRM_BYTES",
    "DSI",
    "calculate_generator",
    "confirmation_tag",
    "derive_isk",
    "derive_key",
    "generator_string",
    "prefix_free_cat",
    "prepend_len",
    "read_lv",
    "scalar_mult_vfy",
]

#: Domain separation identifier of this instantiation; also the hash-to-curve DST.
DSI: Final = SUITE.cpace_dsi
#: SHA-512's input block size (the draft's H.s_in_bytes).
_S_IN_BYTES: Final = 128
#: Length of a key-confirmation tag (HMAC-SHA256).
CONFIRM_BYTES: Final = 32
_ZERO_POINT: Final = bytes(SUITE.point_bytes)


def prepend_len(data: bytes) -> bytes:
    """``data`` prefixed with the LEB128 encoding of its length (draft, appendix)."""
    length = len(data)
    out = bytearray()
    while True:
        if length < 0x80:
            out.append(length)
            break
        out.append((length & 0x7F) | 0x80)
        length >>= 7
    return bytes(out) + data


def prefix_free_cat(*parts: bytes) -> bytes:
    """Each part with its length prepended, concatenated (draft: ``prefix_free_cat``)."""
    return b"".join(prepend_len(p) for p in parts)


def read_lv(data: bytes, at: int) -> tuple[bytes, int] | None:
    """One LEB128-length-prefixed field at ``at``: (field, next offset), or None if malformed."""
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


def generator_string(prs: bytes, ci: bytes, sid: bytes) -> bytes:
    """The draft's ``generator_string(DSI, PRS, CI, sid, 128)``: DSI and PRS fill block one."""
    len_zpad = max(0, _S_IN_BYTES - 1 - len(prepend_len(prs)) - len(prepend_len(DSI)))
    return prefix_free_cat(DSI, prs, bytes(len_zpad), ci, sid)


def calculate_generator(prs: bytes, ci: bytes, sid: bytes) -> bytes:
    """g = hash_to_curve(generator_string, DST=DSI) (RFC 9380's RO map)."""
    g = hash_to_curve(generator_string(prs, ci, sid), DSI)
    if g == _ZERO_POINT:  # the identity: probability ~2^-252
        raise LocalProtocolError("the pairing code maps to the identity; generate a new code")
    return g


def scalar_mult_vfy(y: bytes, point: bytes) -> bytes | None:
    """X25519(y, point), or None for the neutral element (a small-order ``point``)."""
    return x25519(y, point)


def derive_isk(sid: bytes, k: bytes, msg_initiator: bytes, msg_responder: bytes) -> bytes:
    """ISK = SHA-512(pfc(DSI || "_ISK", sid, K) || MSG_initiator || MSG_responder)."""
    return hashlib.sha512(
        prefix_free_cat(DSI + b"_ISK", sid, k) + msg_initiator + msg_responder
    ).digest()


def derive_key(isk: bytes, label: bytes, length: int = 32) -> bytes:
    """A key for ``label`` from ISK (HKDF-SHA256, RFC 5869), as the draft recommends."""
    return hkdf_sha256(isk, label, length=length)


def confirmation_tag(isk: bytes, side: str, msg_initiator: bytes, msg_responder: bytes) -> bytes:
    """``side``'s key-confirmation tag: HMAC-SHA256 under a side-specific key from ISK."""
    key = derive_key(isk, SUITE.cpace_confirm_prefix + side.encode("ascii"))
    data = prefix_free_cat(side.encode("ascii"), msg_initiator, msg_responder)
    return hmac.new(key, data, hashlib.sha256).digest()
