"""The session transcript both parties confirm before either releases a result.

Why: without it, a desynchronised or tampered session (a dropped chunk the channel did not
catch, a bug on one side, an attacker inside a broken channel) could give the two parties
results that silently disagree. Each party hashes every frame it sent and every frame it
received, confirms excepted; ``confirm`` carries the combined hash, and a result is computed
only once the partner's equals ours (protocol_spec.md §5.7).
"""

from __future__ import annotations

import hashlib

from .agreement import Role

__all__ = ["Transcript"]

_LABEL = b"blindmatch/2 transcript"


class Transcript:
    """Running SHA-256 hashes of one party's sent and received frames."""

    __slots__ = ("_role", "_sent", "_received")

    def __init__(self, role: Role) -> None:
        self._role = role
        self._sent = hashlib.sha256()
        self._received = hashlib.sha256()

    def __repr__(self) -> str:
        return f"Transcript(role={self._role.value})"

    def sent(self, frames: bytes) -> None:
        self._sent.update(frames)

    def received(self, body: bytes) -> None:
        """A received message body (hashed as its frame: 4-byte length, then the body)."""
        self._received.update(len(body).to_bytes(4, "big") + body)

    def value(self, agreement_id: bytes) -> bytes:
        """SHA-256(label || agreement_id || H(sender's frames) || H(receiver's frames))."""
        ours, theirs = self._sent.digest(), self._received.digest()
        first, second = (ours, theirs) if self._role is Role.SENDER else (theirs, ours)
        return hashlib.sha256(_LABEL + agreement_id + first + second).digest()
