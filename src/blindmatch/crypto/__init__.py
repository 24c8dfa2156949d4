"""The cryptographic suite of blindmatch (protocol specification §2).

:mod:`.h2c` hashes keys to curve25519 (RFC 9380, suite ``curve25519_XMD:SHA-512_ELL2_RO_``);
:mod:`.x25519` holds the secret scalars, checks received points and blinds batches of points
with X25519 (RFC 7748).
"""

from .h2c import SUITE_ID as SUITE_ID
from .h2c import expand_message_xmd as expand_message_xmd
from .h2c import hash_to_curve as hash_to_curve
from .h2c import hash_to_curve_many as hash_to_curve_many
from .h2c import hash_to_field as hash_to_field
from .h2c import map_to_curve_elligator2 as map_to_curve_elligator2
from .x25519 import FIELD_PRIME as FIELD_PRIME
from .x25519 import GROUP_ORDER as GROUP_ORDER
from .x25519 import POINT_BYTES as POINT_BYTES
from .x25519 import SCALAR_BYTES as SCALAR_BYTES
from .x25519 import Scalar as Scalar
from .x25519 import blind_many as blind_many
from .x25519 import small_order_points as small_order_points
from .x25519 import validate_point as validate_point
from .x25519 import validate_points as validate_points

__all__ = [
    "FIELD_PRIME",
    "GROUP_ORDER",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "SUITE_ID",
    "Scalar",
    "blind_many",
    "expand_message_xmd",
    "hash_to_curve",
    "hash_to_curve_many",
    "hash_to_field",
    "map_to_curve_elligator2",
    "small_order_points",
    "validate_point",
    "validate_points",
]
