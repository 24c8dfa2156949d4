"""X.509 parsing for TLS pins and the channel binding (protocol specification §13).

Why here: only the crypto package imports ``cryptography``. No file access: the transport
reads the files and hands over their bytes. ``cryptography.x509`` is imported on first use:
it costs a party tens of milliseconds of start-up, and only TLS runs need it.
"""

from __future__ import annotations

from ..errors import CryptoError

__all__ = ["first_pem_certificate", "subject_public_key_info"]


def first_pem_certificate(pem: bytes) -> bytes:
    """DER of the first certificate in PEM text (the leaf, as ``load_cert_chain`` uses it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        return x509.load_pem_x509_certificates(pem)[0].public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise CryptoError(f"no PEM certificate could be read ({exc})") from None


def subject_public_key_info(der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a DER certificate (what an ``spki-sha256`` pin hashes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except ValueError as exc:
        raise CryptoError(f"not a DER certificate ({exc})") from None
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
