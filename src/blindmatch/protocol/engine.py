"""The seam between the protocol and the elliptic-curve work.

Almost all of a session's cost is hash-to-curve and X25519 over arrays of elements. The session
hands that work to a :class:`CryptoEngine` as whole batches (concatenated 32-byte points in,
one output blob per scalar out), never one call per record. :class:`InlineEngine` does it in the
calling thread; :class:`blindmatch.parallel.PoolEngine` spreads it over a
``concurrent.futures.Executor``. Both produce identical bytes, so results never depend on the
number of workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ..crypto import Scalar, blind_many, hash_to_curve_many

__all__ = ["CryptoEngine", "InlineEngine", "hash_blind_batch", "blind_batch"]

POINT = 32


def split_points(blob: bytes) -> list[bytes]:
    return [blob[i : i + POINT] for i in range(0, len(blob), POINT)]


def hash_blind_batch(
    messages: Sequence[bytes], dst: bytes, scalars: Sequence[Scalar]
) -> list[bytes]:
    """hash_to_curve every message, then X25519 each point with every scalar."""
    points = hash_to_curve_many(messages, dst)
    return [b"".join(blind_many(s, points, message="own hashed keys")) for s in scalars]


def blind_batch(
    points: bytes, scalars: Sequence[Scalar], *, message: str, first: int = 0
) -> list[bytes]:
    """X25519 every 32-byte point in ``points`` with every scalar.

    A CryptoError names the element's index within the whole message (``first`` is the index
    of this batch's first point), so parallel parts report the same index as one batch would.
    """
    items = split_points(points)
    return [b"".join(blind_many(s, items, message=message, first=first)) for s in scalars]


class CryptoEngine(Protocol):
    """Batch elliptic-curve work. Implementations must return exactly the same bytes."""

    def hash_blind(
        self, messages: Sequence[bytes], dst: bytes, scalars: Sequence[Scalar]
    ) -> list[bytes]: ...

    def hash_blind_iter(
        self, batches: Iterable[Sequence[bytes]], dst: bytes, scalars: Sequence[Scalar]
    ) -> Iterator[list[bytes]]:
        """``hash_blind`` over a stream of batches, results in order; an engine may work
        ahead of the consumer."""
        ...

    def blind(self, points: bytes, scalars: Sequence[Scalar], *, message: str) -> list[bytes]: ...


class InlineEngine:
    """Does the work in the calling thread: the right choice for small sets and for tests."""

    def hash_blind(
        self, messages: Sequence[bytes], dst: bytes, scalars: Sequence[Scalar]
    ) -> list[bytes]:
        return hash_blind_batch(messages, dst, scalars)

    def hash_blind_iter(
        self, batches: Iterable[Sequence[bytes]], dst: bytes, scalars: Sequence[Scalar]
    ) -> Iterator[list[bytes]]:
        for batch in batches:
            yield hash_blind_batch(batch, dst, scalars)

    def blind(self, points: bytes, scalars: Sequence[Scalar], *, message: str) -> list[bytes]:
        return blind_batch(points, scalars, message=message)

    def __repr__(self) -> str:
        return "InlineEngine()"
