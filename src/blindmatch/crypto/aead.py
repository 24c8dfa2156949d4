"""Symmetric crypto: HKDF-SHA256, ChaCha20-Poly1305, and every keyed use of them.

Why here: the protocol seals revealed fields and the channel seals records; both are the same
two primitives under different labels, and the labels belong to the suite (:data:`.SUITE`).
Callers get bytes in and bytes (or ``None`` for "does not authenticate") out and raise their
own errors, which name where the failure happened.

* Content keys (protocol_spec.md §5.3): a random 32-byte key per account is wrapped once per
  slot under ``HKDF-SHA256(ikm = OPRF point, salt = agreement_id, info = wrap label)``; the
  payload is sealed under the content key with the payload label and agreement_id as AAD.
  Both use the all-zero nonce: every key seals exactly one message.
* Channel records (protocol_spec.md §13): one traffic key per direction from the CPace ISK,
  nonce = 4 zero bytes || the record's sequence number (u64, big-endian).
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .suite import SUITE

__all__ = [
    "AEAD_TAG_BYTES",
    "Aead",
    "channel_traffic_key",
    "hkdf_sha256",
    "open_sealed_payload",
    "record_nonce",
    "seal_payload",
    "unwrap_content_key",
    "wrap_content_key",
]

AEAD_TAG_BYTES: Final = SUITE.aead_tag_bytes
_ZERO_NONCE: Final = bytes(SUITE.aead_nonce_bytes)


def hkdf_sha256(ikm: bytes, info: bytes, *, salt: bytes = b"", length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869); an empty salt means the RFC's default (HashLen zero bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


class Aead:
    """ChaCha20-Poly1305 (RFC 8439) under one key. ``open`` returns None on a bad tag."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        self._cipher = ChaCha20Poly1305(key)

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._cipher.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes | None:
        try:
            return self._cipher.decrypt(nonce, sealed, aad)
        except InvalidTag:
            return None

    def __repr__(self) -> str:
        return "Aead(<key>)"


# -- content keys and payloads (protocol_spec.md §5.3) -----------------------------------------


def _wrap_aead(oprf_point: bytes, agreement_id: bytes) -> Aead:
    return Aead(hkdf_sha256(oprf_point, SUITE.wrap_label, salt=agreement_id))


def wrap_content_key(content_key: bytes, oprf_point: bytes, agreement_id: bytes) -> bytes:
    """Seal a 32-byte content key under HKDF(H(k)^phi): 48 bytes."""
    return _wrap_aead(oprf_point, agreement_id).seal(_ZERO_NONCE, content_key, SUITE.wrap_label)


def unwrap_content_key(wrap: bytes, oprf_point: bytes, agreement_id: bytes) -> bytes | None:
    """The content key, or None if this OPRF value does not open this wrap."""
    return _wrap_aead(oprf_point, agreement_id).open(_ZERO_NONCE, wrap, SUITE.wrap_label)


def seal_payload(plaintext: bytes, content_key: bytes, agreement_id: bytes) -> bytes:
    """Seal an account's padded revealed fields under its content key."""
    return Aead(content_key).seal(_ZERO_NONCE, plaintext, SUITE.payload_label + agreement_id)


def open_sealed_payload(sealed: bytes, content_key: bytes, agreement_id: bytes) -> bytes | None:
    """The padded plaintext of a sealed payload, or None if it does not authenticate."""
    return Aead(content_key).open(_ZERO_NONCE, sealed, SUITE.payload_label + agreement_id)


# -- channel records (protocol_spec.md §13) ------------------------------------------------------


def channel_traffic_key(isk: bytes, sender: str) -> Aead:
    """The AEAD of records sent by ``sender`` ("initiator" or "responder"), from CPace's ISK."""
    return Aead(hkdf_sha256(isk, SUITE.channel_key_label(sender), length=SUITE.aead_key_bytes))


def record_nonce(seq: int) -> bytes:
    """The nonce of record ``seq`` of one direction: 4 zero bytes || seq as u64 big-endian."""
    return b"\x00\x00\x00\x00" + seq.to_bytes(8, "big")
