"""The cryptographic suite as one value: every algorithm and every label blindmatch uses.

Why one object: a peer must implement all of it identically, and swapping a curve, a hash or
a label must be one change that every user of the suite sees. The modules of this package
(:mod:`.h2c`, :mod:`.x25519`, :mod:`.aead`, :mod:`.cpace`, :mod:`.engine`) take their labels
from :data:`SUITE`; nothing outside :mod:`blindmatch.crypto` spells a label or names a
primitive. ``SUITE.name`` is the string both hellos carry (protocol_spec.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .h2c import SUITE_ID

__all__ = ["SUITE", "Suite"]


@dataclass(frozen=True, slots=True)
class Suite:
    """What a conforming peer implements: algorithms, sizes and labels (protocol_spec.md §2)."""

    #: The suite string of the hellos; both parties must send the same one.
    name: str
    #: RFC 9380 hash-to-curve suite (§8.5) used for keys.
    h2c_suite: bytes
    #: Size of an encoded point (u-coordinate, RFC 7748 §5) and of a scalar.
    point_bytes: int
    #: Bytes of SHA-256 kept of a double-blinded point: what matching compares.
    digest_bytes: int
    #: Prefixes of the per-agreement labels (each is followed by the agreement_id).
    h2c_dst_prefix: bytes
    digest_prefix: bytes
    #: HKDF info and AEAD associated data of a content-key wrap (protocol_spec.md §5.3).
    wrap_label: bytes
    #: AEAD associated data prefix of a sealed payload (followed by the agreement_id).
    payload_label: bytes
    #: ChaCha20-Poly1305 key, nonce and tag sizes (RFC 8439).
    aead_key_bytes: int
    aead_nonce_bytes: int
    aead_tag_bytes: int
    #: HKDF-SHA256 infos of the channel's traffic keys, one per direction (protocol_spec.md §13).
    channel_key_labels: tuple[tuple[str, bytes], ...]
    #: CPace (protocol_spec.md §13): domain separation identifier and confirmation-key prefix.
    cpace_dsi: bytes
    cpace_confirm_prefix: bytes

    def channel_key_label(self, sender: str) -> bytes:
        """The HKDF info of the traffic key for records sent by ``sender``."""
        return dict(self.channel_key_labels)[sender]


#: blindmatch's suite, protocol version 2 (per-lane-pair digests, protocol_spec.md §10).
SUITE: Final = Suite(
    name=(
        "blindmatch/2:curve25519_XMD:SHA-512_ELL2_RO_:X25519:SHA-256/16:HKDF-SHA256:"
        "ChaCha20Poly1305"
    ),
    h2c_suite=SUITE_ID,
    point_bytes=32,
    digest_bytes=16,
    h2c_dst_prefix=b"blindmatch/1 h2c ",
    digest_prefix=b"blindmatch/2 digest ",
    wrap_label=b"blindmatch/1 wrap",
    payload_label=b"blindmatch/1 payload",
    aead_key_bytes=32,
    aead_nonce_bytes=12,
    aead_tag_bytes=16,
    channel_key_labels=(
        ("initiator", b"blindmatch/1 channel initiator to responder"),
        ("responder", b"blindmatch/1 channel responder to initiator"),
    ),
    cpace_dsi=b"blindmatch/1 cpace",
    cpace_confirm_prefix=b"blindmatch/1 cpace confirm ",
)
