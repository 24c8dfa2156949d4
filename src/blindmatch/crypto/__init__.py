"""The cryptographic suite of blindmatch (protocol specification §2, §5.3, §13), in one place.

:data:`SUITE` (a :class:`.suite.Suite`) names every algorithm and label.

* :mod:`.h2c` hashes keys to curve25519 (RFC 9380, ``curve25519_XMD:SHA-512_ELL2_RO_``);
* :mod:`.x25519` holds the secret scalars, checks received points and blinds batches (RFC 7748);
* :mod:`.engine` is the batch interface (:class:`.engine.CryptoEngine`) that the session calls
  and a native or cluster engine implements; :class:`.engine.InlineEngine` is the reference;
* :mod:`.aead` holds HKDF and ChaCha20-Poly1305 with every label (content keys, payloads,
  channel records);
* :mod:`.cpace` holds CPace's math (draft-irtf-cfrg-cpace-21) and :mod:`.elligator` its
  constant-time Elligator 2 map;
* :mod:`.certificates` reads the X.509 certificates TLS pins and the channel binding hash.

Only this package imports ``cryptography`` or ``gmpy2``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# Eager: the function shares its submodule's name, and importing the submodule later would
# otherwise put the module where the function belongs. x25519 is light and always needed.
from .x25519 import x25519 as x25519

if TYPE_CHECKING:
    from .aead import AEAD_TAG_BYTES as AEAD_TAG_BYTES
    from .aead import channel_traffic_key as channel_traffic_key
    from .aead import hkdf_sha256 as hkdf_sha256
    from .aead import open_sealed_payload as open_sealed_payload
    from .aead import record_nonce as record_nonce
    from .aead import seal_payload as seal_payload
    from .aead import unwrap_content_key as unwrap_content_key
    from .aead import wrap_content_key as wrap_content_key
    from .engine import digest_points as digest_points
    from .h2c import SUITE_ID as SUITE_ID
    from .h2c import expand_message_xmd as expand_message_xmd
    from .h2c import hash_to_curve as hash_to_curve
    from .h2c import hash_to_curve_many as hash_to_curve_many
    from .h2c import hash_to_field as hash_to_field
    from .h2c import map_to_curve_elligator2 as map_to_curve_elligator2
    from .suite import SUITE as SUITE
    from .x25519 import FIELD_PRIME as FIELD_PRIME
    from .x25519 import GROUP_ORDER as GROUP_ORDER
    from .x25519 import POINT_BYTES as POINT_BYTES
    from .x25519 import SCALAR_BYTES as SCALAR_BYTES
    from .x25519 import Scalar as Scalar
    from .x25519 import blind_many as blind_many
    from .x25519 import small_order_points as small_order_points
    from .x25519 import validate_point as validate_point
    from .x25519 import validate_points as validate_points

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AEAD_TAG_BYTES": ".aead",
        "channel_traffic_key": ".aead",
        "hkdf_sha256": ".aead",
        "open_sealed_payload": ".aead",
        "record_nonce": ".aead",
        "seal_payload": ".aead",
        "unwrap_content_key": ".aead",
        "wrap_content_key": ".aead",
        "digest_points": ".engine",
        "SUITE_ID": ".h2c",
        "expand_message_xmd": ".h2c",
        "hash_to_curve": ".h2c",
        "hash_to_curve_many": ".h2c",
        "hash_to_field": ".h2c",
        "map_to_curve_elligator2": ".h2c",
        "SUITE": ".suite",
        "FIELD_PRIME": ".x25519",
        "GROUP_ORDER": ".x25519",
        "POINT_BYTES": ".x25519",
        "SCALAR_BYTES": ".x25519",
        "Scalar": ".x25519",
        "blind_many": ".x25519",
        "small_order_points": ".x25519",
        "validate_point": ".x25519",
        "validate_points": ".x25519",
    },
)

__all__ = [
    "AEAD_TAG_BYTES",
    "FIELD_PRIME",
    "GROUP_ORDER",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "SUITE",
    "SUITE_ID",
    "Scalar",
    "blind_many",
    "channel_traffic_key",
    "digest_points",
    "expand_message_xmd",
    "hash_to_curve",
    "hash_to_curve_many",
    "hash_to_field",
    "hkdf_sha256",
    "map_to_curve_elligator2",
    "open_sealed_payload",
    "record_nonce",
    "seal_payload",
    "small_order_points",
    "unwrap_content_key",
    "validate_point",
    "validate_points",
    "wrap_content_key",
    "x25519",
]
