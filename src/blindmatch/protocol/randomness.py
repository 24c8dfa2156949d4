"""Injected randomness.

The session never calls ``os.urandom`` itself: it asks an ``Rng`` (a callable returning n
random bytes). Production uses the operating system's CSPRNG; the specification's full-session
test vector uses :func:`seeded_rng`, a SHAKE-256 stream, so another implementation can
reproduce every message byte for byte. Shuffling is specified exactly (Fisher-Yates with
rejection sampling) for the same reason.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, MutableSequence
from typing import TypeVar

__all__ = ["Rng", "random_below", "seeded_rng", "shuffle", "stream_rng", "system_rng"]

Rng = Callable[[int], bytes]
T = TypeVar("T")


def system_rng(n: int) -> bytes:
    """The operating system's CSPRNG: the default everywhere outside test vectors."""
    return os.urandom(n)


def seeded_rng(seed: bytes) -> Rng:
    """A deterministic stream for test vectors: SHAKE-256(b"blindmatch/1 test rng" || seed).

    Anyone who knows the seed knows every secret of the session: tests only.
    """
    return _shake_stream(b"blindmatch/1 test rng" + seed)


def stream_rng(key: bytes, label: bytes) -> Rng:
    """A keyed stream, SHAKE-256(b"blindmatch/1 stream" || u8 len(label) || label || key).

    Used where a draw happens at a moment that depends on message timing (the shuffle of a
    returned counts lane): keying it from a seed drawn up front keeps every draw independent
    of how the transport schedules messages, so any implementation reproduces the vector.
    """
    return _shake_stream(b"blindmatch/1 stream" + bytes([len(label)]) + label + key)


def _shake_stream(prefix: bytes) -> Rng:
    state = {"offset": 0}
    xof = hashlib.shake_256(prefix)
    buffer = bytearray()

    def draw(n: int) -> bytes:
        need = state["offset"] + n
        if need > len(buffer):
            # SHAKE is an XOF: a longer output extends a shorter one, so re-deriving a larger
            # prefix keeps earlier draws unchanged.
            size = max(need, 2 * len(buffer), 4096)
            buffer[:] = xof.digest(size)
        out = bytes(buffer[state["offset"] : need])
        state["offset"] = need
        return out

    return draw


def random_below(rng: Rng, bound: int) -> int:
    """A uniform integer in [0, bound), from 8-byte little-endian draws with rejection."""
    if bound <= 0:
        raise ValueError("bound must be positive")
    limit = (1 << 64) - ((1 << 64) % bound)
    while True:
        value = int.from_bytes(rng(8), "little")
        if value < limit:
            return value % bound


def shuffle(rng: Rng, items: MutableSequence[T]) -> None:
    """Fisher-Yates in place: for i from len-1 down to 1, swap items[i] with items[j], j <= i."""
    for i in range(len(items) - 1, 0, -1):
        j = random_below(rng, i + 1)
        items[i], items[j] = items[j], items[i]
