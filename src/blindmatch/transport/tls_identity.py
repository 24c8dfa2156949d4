"""Who is at the other end of a TLS connection: pins, fingerprints, and the channel binding.

Why: mutual TLS alone accepts any certificate the CA signed. A CA shared with other parties
(or one that mis-issues) lets a third party with its own valid certificate sit between the two
partners. Two defences, both checked before any session byte moves:

* **pins** (:class:`Pin`): the partner's certificate, or its public key, must be one the user
  named (``cert-sha256:`` / ``spki-sha256:`` followed by 64 hex digits or 43/44 base64
  characters). A different certificate fails right after the handshake.
* **channel binding** (:func:`tls_binding`): both sides hash the two certificates actually
  used on *their* connection into the session's ``agreement_id``; a relay that terminates TLS
  on both sides presents its own certificate(s), so the two sides' ids differ and both fail at
  the accept. Python's ``ssl`` has no RFC 5705 exporter, so this is not RFC 9266
  ``tls-exporter``; protocol_spec.md §13 says exactly what the difference is.

Fingerprints are public: errors name the one seen so that a user can pin it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from ..crypto.certificates import first_pem_certificate, subject_public_key_info
from ..errors import AuthenticationError, CryptoError, InputError, UsageError

__all__ = [
    "TLS_BINDING_LABEL",
    "Pin",
    "TlsContext",
    "certificate_pins",
    "check_pins",
    "first_certificate",
    "parse_pins",
    "tls_binding",
]

#: Starts every TLS channel binding, so another kind (an RFC 9266 exporter) could never collide.
TLS_BINDING_LABEL: Final = b"blindmatch/2 tls-certificates"

_PIN_SYNTAX: Final = (
    "cert-sha256:<fingerprint> or spki-sha256:<fingerprint>, the SHA-256 of the partner's "
    "DER certificate or of its DER SubjectPublicKeyInfo, as 64 hex digits (colons allowed) or "
    "43/44 base64 characters"
)
_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class Pin:
    """One acceptable partner: the SHA-256 of its certificate (``cert``) or of its public key
    (``spki``, which survives a renewal that keeps the key)."""

    kind: Literal["cert", "spki"]
    digest: bytes

    def __str__(self) -> str:
        return f"{self.kind}-sha256:{base64.b64encode(self.digest).decode('ascii')}"

    @classmethod
    def parse(cls, text: str) -> Pin:
        """``cert-sha256:...`` or ``spki-sha256:...``; raises :class:`UsageError` otherwise."""
        prefix, sep, value = text.strip().partition(":")
        kind = prefix.lower()
        if not sep or kind not in ("cert-sha256", "spki-sha256"):
            raise UsageError(f"TLS pin {text[:120]!r}: expected {_PIN_SYNTAX}")
        value = value.strip()
        digest: bytes | None = None
        plain = value.replace(":", "")
        if _HEX.fullmatch(plain):
            digest = bytes.fromhex(plain)
        elif len(value) in (43, 44):
            padded = (value + "=" * (-len(value) % 4)).encode("ascii", "replace")
            for altchars in (None, b"-_"):  # standard or URL-safe alphabet
                try:
                    decoded = base64.b64decode(padded, altchars=altchars, validate=True)
                except (binascii.Error, ValueError):
                    continue
                if len(decoded) == 32 and _canonical_b64(decoded, value):
                    digest = decoded
                    break
        if digest is None or len(digest) != 32:
            raise UsageError(
                f"TLS pin {text[:120]!r}: the fingerprint is not a SHA-256 value; expected "
                f"{_PIN_SYNTAX}"
            )
        return cls(kind="cert" if kind == "cert-sha256" else "spki", digest=digest)


def _canonical_b64(digest: bytes, text: str) -> bool:
    """The text is exactly how base64 (standard or URL-safe, padding optional) writes it:
    no second spelling of one pin."""
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        written = enc(digest).decode("ascii")
        if text in (written, written.rstrip("=")):
            return True
    return False


def parse_pins(pins: Iterable[str | Pin]) -> tuple[Pin, ...]:
    """Pins from text or :class:`Pin` objects (a single string is refused: it would iterate
    character by character)."""
    if isinstance(pins, (str, bytes)):
        raise UsageError("TLS pins: give a list of pins, not a single string")
    return tuple(p if isinstance(p, Pin) else Pin.parse(p) for p in pins)


def certificate_pins(der: bytes) -> tuple[Pin, Pin]:
    """The two pins a DER certificate matches: its own and its public key's."""
    return (
        Pin(kind="cert", digest=hashlib.sha256(der).digest()),
        Pin(kind="spki", digest=hashlib.sha256(subject_public_key_info(der)).digest()),
    )


def check_pins(peer_der: bytes, pins: tuple[Pin, ...]) -> None:
    """Raise :class:`AuthenticationError` unless the partner's certificate matches a pin
    (no pins: nothing to check)."""
    if not pins:
        return
    seen = certificate_pins(peer_der)
    if any(p in seen for p in pins):
        return
    raise AuthenticationError(
        f"TLS: the partner's certificate matches none of the {len(pins)} pinned "
        f"fingerprint(s); it has {seen[0]} and {seen[1]} (a CA-signed certificate that is not "
        f"the partner you pinned, or the partner changed its certificate)"
    )


def first_certificate(path: str | os.PathLike[str]) -> bytes:
    """DER of the first certificate in a PEM file: ours, the leaf ``load_cert_chain`` uses."""
    try:
        with open(path, "rb") as fh:
            return first_pem_certificate(fh.read())
    except (OSError, CryptoError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot read the TLS certificate ({why})", file=os.fspath(path)) from None


def tls_binding(server_der: bytes, client_der: bytes) -> bytes:
    """``TLS_BINDING_LABEL || SHA-256(server certificate) || SHA-256(client certificate)``,
    DER leaf certificates as used on the connection (protocol_spec.md §13)."""
    return (
        TLS_BINDING_LABEL
        + hashlib.sha256(server_der).digest()
        + hashlib.sha256(client_der).digest()
    )


class TlsContext(ssl.SSLContext):
    """An ``SSLContext`` that also knows our own certificate (the binding needs it, and
    ``ssl`` cannot tell it) and the partner pins. Made by
    :func:`blindmatch.transport.make_tls_contexts`."""

    certificate: bytes = b""
    pins: tuple[Pin, ...] = ()

    def binding_for(self, tls: ssl.SSLSocket, *, server_side: bool) -> bytes:
        """After the handshake: check the partner against the pins, return the binding."""
        peer = tls.getpeercert(binary_form=True)
        if not peer:  # CERT_REQUIRED makes this unreachable; never bind to nothing
            raise AuthenticationError("TLS: the partner sent no certificate")
        check_pins(peer, self.pins)
        if server_side:
            return tls_binding(self.certificate, peer)
        return tls_binding(peer, self.certificate)
