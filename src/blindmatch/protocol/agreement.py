"""The combined agreement both parties accept before any record-derived byte is sent.

Each party proposes :class:`~blindmatch.protocol.model.Terms` in its ``hello``. The agreement
is a pure function of the two hellos: the key types both offer, and every label the suite
derives, all bound to ``agreement_id``, a hash of both hellos' exact bytes (so of both random
nonces and both policies) and, in TLS mode, of the connection's channel binding. Every
hash-to-curve DST, digest and KDF input contains ``agreement_id``, which makes blinded values
from one session useless in any other, and a relay between two different TLS connections
visible at the accept (protocol_spec.md §5.1, §13).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..crypto import SUITE as CRYPTO_SUITE
from ..crypto import digest_points
from ..errors import AgreementError
from .conflicts import ConflictRule, agree_conflict_rule, conflict_rule_waived
from .model import Disclosure, Terms

__all__ = [
    "PROTOCOL_VERSION",
    "SUITE",
    "Agreement",
    "Role",
    "combine",
]

PROTOCOL_VERSION: Final = 2
#: Everything a peer must implement identically, in one string both parties must send.
SUITE: Final = CRYPTO_SUITE.name

DIGEST_BYTES: Final = CRYPTO_SUITE.digest_bytes
#: One byte per lane kind in digest prefixes (protocol_spec.md §10).
LANE_CODES: Final = {"records": b"\x01", "counts": b"\x02"}


class Role(str, enum.Enum):
    """Which end of the session we are. Only orders the transcript; the protocol is symmetric.

    ``sender`` is the party that listens for the connection, ``receiver`` the one that connects.
    """

    SENDER = "sender"
    RECEIVER = "receiver"

    @property
    def other(self) -> Role:
        return Role.RECEIVER if self is Role.SENDER else Role.SENDER


@dataclass(frozen=True, slots=True)
class Agreement:
    """What both parties agreed to, derived identically on both sides."""

    agreement_id: bytes
    key_types: tuple[str, ...]
    normalization: str
    sender: Terms
    receiver: Terms
    #: the conflicting-strong-keys rule in force (protocol_spec.md §5.8), or None
    conflicts: ConflictRule | None = None
    #: the rule was proposed by default but is off: both sides share records-level populations
    #: and not both set it explicitly (protocol_spec.md §5.8); the terms shown say so
    conflicts_waived: bool = False

    def terms_of(self, role: Role) -> Terms:
        return self.sender if role is Role.SENDER else self.receiver

    @property
    def tables_differ(self) -> bool:
        """Both sides stated their normalization tables, and they differ: a few keys (a domain
        under a newer public suffix, a new free-mail provider) may then not match."""
        a, b = self.sender.normalization_tables, self.receiver.normalization_tables
        return a is not None and b is not None and a != b

    # -- derived labels (protocol_spec.md, "Labels") --------------------------------------
    @property
    def h2c_dst(self) -> bytes:
        """RFC 9380 domain separation tag: version, suite and the agreement hash."""
        return CRYPTO_SUITE.h2c_dst_prefix + self.agreement_id

    def digest_prefix(self, sender_lane: str, receiver_lane: str) -> bytes:
        """What precedes a double-blinded point in its digest, for one lane pair (the sender's
        lane, the receiver's lane). Each pair has its own: a value reflected from one lane
        into another digests differently, so reflection cannot link a party's lanes."""
        return (
            CRYPTO_SUITE.digest_prefix
            + self.agreement_id
            + LANE_CODES[sender_lane]
            + LANE_CODES[receiver_lane]
        )

    def digest(self, point: bytes, sender_lane: str, receiver_lane: str) -> bytes:
        """Compact fixed-width digest of a double-blinded value; what matching compares."""
        return digest_points([point], self.digest_prefix(sender_lane, receiver_lane))


def agreement_id(hello_sender: bytes, hello_receiver: bytes, binding: bytes = b"") -> bytes:
    """SHA-256 over both hellos' exact bytes, each length-prefixed, sender first, then the
    channel binding, length-prefixed, if there is one (an empty binding adds nothing, so
    sessions without one keep their ids)."""
    h = hashlib.sha256(b"blindmatch/1 agreement")
    parts = (hello_sender, hello_receiver, binding) if binding else (hello_sender, hello_receiver)
    for blob in parts:
        h.update(len(blob).to_bytes(8, "big"))
        h.update(blob)
    return h.digest()


def combine(
    *, sender: Terms, receiver: Terms, hellos: Mapping[Role, bytes], binding: bytes = b""
) -> Agreement:
    """Combine both proposals, or raise :class:`AgreementError` saying what is incompatible.

    ``hellos``: both hellos' exact bodies; ``binding``: what identifies the connection carrying
    the session (TLS mode: :func:`blindmatch.transport.tls_binding`), equal on both sides
    unless the two connections differ."""
    if sender.normalization != receiver.normalization:
        raise AgreementError(
            f"normalization profiles differ: sender uses {sender.normalization!r}, receiver "
            f"uses {receiver.normalization!r}; both must normalize keys the same way"
        )
    offered = set(receiver.key_types)
    key_types = tuple(k for k in sender.key_types if k in offered)
    if not key_types:
        raise AgreementError(
            f"no key type in common: sender offers {list(sender.key_types)}, receiver offers "
            f"{list(receiver.key_types)}"
        )
    for terms, role in ((sender, Role.SENDER), (receiver, Role.RECEIVER)):
        if not any(p.disclosure is not Disclosure.HIDDEN for p in terms.populations):
            raise AgreementError(f"the {role.value} shares no population")
    conflicts = agree_conflict_rule(sender, receiver, key_types)
    return Agreement(
        agreement_id=agreement_id(hellos[Role.SENDER], hellos[Role.RECEIVER], binding),
        key_types=key_types,
        normalization=sender.normalization,
        sender=sender,
        receiver=receiver,
        conflicts=conflicts,
        conflicts_waived=conflict_rule_waived(sender, receiver, key_types, conflicts),
    )
