"""The cryptographic suite as one value: every algorithm and every label blindmatch uses.

Why one object: a peer must implement all of it identically, and swapping a curve, a hash or
a label must be one change that every user of the suite sees. The modules of this package
(:mod:`.aead`, :mod:`.engine`) and the channel (``transport``) take the labels of every
hash-to-curve, digest, KDF, AEAD and CPace use from :data:`SUITE` (the protocol's own
transcript hashes, such as the agreement id, stay with the protocol). ``SUITE.name`` is the
string both hellos carry (protocol_spec.md §2).
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
    #: The record channel of psi-run (protocol_spec.md §13): its version, and the label that
    #: starts every channel CI, CPace AD and traffic-key info. CPace itself is the draft's
    #: suite unchanged (``G_X25519.DSI = "CPace255"``): blindmatch's labels ride in CI and AD.
    channel_version: int
    channel_label: bytes
    cpace_suite: str

    def channel_id(self, transport: str) -> bytes:
        """The transport part of CPace's CI, e.g. ``blindmatch-channel/2 tcp``."""
        return self.channel_label + b" " + transport.encode("ascii")

    def cpace_ad(self, side: str) -> bytes:
        """CPace associated data of ``side`` ("initiator" or "responder")."""
        return self.channel_label + b" " + side.encode("ascii")

    def channel_key_label(self, sender: str) -> bytes:
        """The HKDF info of the traffic key for records sent by ``sender``."""
        receiver = "responder" if sender == "initiator" else "initiator"
        return self.channel_label + f" {sender} to {receiver}".encode("ascii")


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
    channel_version=2,
    channel_label=b"blindmatch-channel/2",
    cpace_suite="CPACE-X25519-SHA512 (draft-irtf-cfrg-cpace-21)",
)
