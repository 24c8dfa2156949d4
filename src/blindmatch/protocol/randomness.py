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
import sys
from array import array
from collections.abc import Callable, MutableSequence
from operator import mod
from typing import Final, TypeVar

__all__ = [
    "BufferedSystemRng",
    "Rng",
    "random_below",
    "seeded_rng",
    "shuffle",
    "stream_rng",
    "system_rng",
]

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


class _ShakeStream:
    """SHAKE-256 read sequentially; ``peek``/``skip`` let :func:`shuffle` read its draws in
    bulk while consuming exactly the bytes that one ``rng(8)`` per draw would."""

    __slots__ = ("_xof", "_buffer", "_offset")

    def __init__(self, prefix: bytes) -> None:
        self._xof = hashlib.shake_256(prefix)
        self._buffer = b""
        self._offset = 0

    def _ensure(self, need: int) -> None:
        if need > len(self._buffer):
            # SHAKE is an XOF: a longer output extends a shorter one, so re-deriving a larger
            # prefix keeps earlier draws unchanged.
            self._buffer = self._xof.digest(max(need, 2 * len(self._buffer), 4096))

    def __call__(self, n: int) -> bytes:
        need = self._offset + n
        self._ensure(need)
        out = self._buffer[self._offset : need]
        self._offset = need
        return out

    def peek(self, n: int) -> bytes:
        need = self._offset + n
        self._ensure(need)
        return self._buffer[self._offset : need]

    def skip(self, n: int) -> None:
        self._offset += n


def _shake_stream(prefix: bytes) -> Rng:
    return _ShakeStream(prefix)


class BufferedSystemRng:
    """The OS CSPRNG, read in blocks: one ``os.urandom`` call serves many small draws.

    One instance per user (a :class:`~blindmatch.protocol.Session` makes its own), so no two
    threads ever share a buffer; a forked child discards what its parent had buffered.
    """

    __slots__ = ("_buffer", "_offset", "_pid")

    _BLOCK = 4096

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0
        self._pid = os.getpid()

    def _ensure(self, n: int) -> None:
        pid = os.getpid()
        if pid != self._pid:
            self._buffer, self._offset, self._pid = b"", 0, pid
        if self._offset + n > len(self._buffer):
            rest = self._buffer[self._offset :]
            self._buffer = rest + os.urandom(max(n - len(rest), self._BLOCK))
            self._offset = 0

    def __call__(self, n: int) -> bytes:
        self._ensure(n)
        start = self._offset
        self._offset = start + n
        return self._buffer[start : start + n]

    def peek(self, n: int) -> bytes:
        self._ensure(n)
        return self._buffer[self._offset : self._offset + n]

    def skip(self, n: int) -> None:
        self._offset += n
        if self._offset >= len(self._buffer):
            self._buffer, self._offset = b"", 0


def random_below(rng: Rng, bound: int) -> int:
    """A uniform integer in [0, bound), from 8-byte little-endian draws with rejection."""
    if bound <= 0:
        raise ValueError("bound must be positive")
    limit = (1 << 64) - ((1 << 64) % bound)
    while True:
        value = int.from_bytes(rng(8), "little")
        if value < limit:
            return value % bound


#: Below this every 8-byte draw is accepted by random_below for any bound up to 2^32.
_ALWAYS_ACCEPTED: Final = (1 << 64) - (1 << 32)


def shuffle(rng: Rng, items: MutableSequence[T]) -> None:
    """Fisher-Yates in place: for i from len-1 down to 1, swap items[i] with items[j], j <= i.

    ``j = random_below(rng, i + 1)`` at every step. Streams that can show their next bytes
    (``peek``/``skip``: the seeded and keyed SHAKE streams, the buffered OS CSPRNG) are read
    in one block; the draws, and so the permutation, are exactly those of one ``rng(8)`` per
    step, and the rare case that needs a rejection takes the step-by-step path.
    """
    n = len(items)
    if n < 2:
        return
    peek = getattr(rng, "peek", None)
    skip = getattr(rng, "skip", None)
    if peek is not None and skip is not None and n <= 1 << 32:
        words = array("Q", peek(8 * (n - 1)))
        if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
            words.byteswap()
        # Rejection needs value >= 2^64 - (2^64 mod bound) >= 2^64 - 2^32: if no word is that
        # large, every draw is accepted and j = value mod (i + 1).
        if max(words) < _ALWAYS_ACCEPTED:
            for i, j in zip(range(n - 1, 0, -1), map(mod, words, range(n, 1, -1)), strict=True):
                items[i], items[j] = items[j], items[i]
            skip(8 * (n - 1))
            return
    for i in range(n - 1, 0, -1):
        j = random_below(rng, i + 1)
        items[i], items[j] = items[j], items[i]
