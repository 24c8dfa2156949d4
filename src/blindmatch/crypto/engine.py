"""The engine interface: the one seam between the protocol and the elliptic-curve work.

Almost all of a session's cost is hash-to-curve and X25519 over arrays of elements. The session
hands that work to a :class:`CryptoEngine` as whole batches (concatenated 32-byte points in,
one output blob per scalar out), never one call per record. :class:`InlineEngine` does it in the
calling thread; :class:`blindmatch.parallel.PoolEngine` spreads it over a
``concurrent.futures.Executor``. Both produce identical bytes, so results never depend on the
number of workers. A native engine (C) or a cluster engine implements the same
:class:`CryptoEngine` and must return the same bytes; the test suite checks engines against
:class:`InlineEngine`, the reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from .h2c import cofactor_multipliers, hash_to_curve_many, hash_to_curve_premultiplied
from .suite import SUITE
from .x25519 import Scalar, blind_many

__all__ = [
    "CryptoEngine",
    "InlineEngine",
    "blind_batch",
    "blind_digest_batch",
    "digest_points",
    "hash_blind_batch",
    "split_points",
]

POINT = SUITE.point_bytes
DIGEST = SUITE.digest_bytes


def split_points(blob: bytes) -> list[bytes]:
    """Concatenated 32-byte points, one by one."""
    return [blob[i : i + POINT] for i in range(0, len(blob), POINT)]


def hash_blind_batch(
    messages: Sequence[bytes], dst: bytes, scalars: Sequence[Scalar]
) -> list[bytes]:
    """hash_to_curve every message, then X25519 each point with every scalar.

    The bytes are exactly ``X25519(s, hash_to_curve(m, dst))``; the cofactor doublings
    that a clamped scalar can absorb are left to X25519 (:func:`cofactor_multipliers`).
    """
    if not scalars:
        return []
    doublings, multipliers = cofactor_multipliers([s.to_bytes() for s in scalars])
    if doublings == 3:
        points = hash_to_curve_many(messages, dst)
    else:
        points = hash_to_curve_premultiplied(messages, dst, doublings)
        scalars = [Scalar(m) for m in multipliers]
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


def digest_points(points: Iterable[bytes], prefix: bytes) -> bytes:
    """Concatenated ``SHA-256(prefix || point)[:16]`` of every point (the protocol's Digest,
    with ``prefix = "blindmatch/1 digest " || agreement_id``)."""
    sha256 = hashlib.sha256
    return b"".join([sha256(prefix + point).digest()[:DIGEST] for point in points])


def blind_digest_batch(
    points: bytes,
    scalars: Sequence[Scalar],
    *,
    message: str,
    digest_prefix: bytes,
    raw: Sequence[bool],
    first: int = 0,
) -> list[bytes]:
    """:func:`blind_batch`, except that output ``i`` is the concatenation of the 16-byte
    digests of the blinded points (see :func:`digest_points`) unless ``raw[i]``.

    Digesting where the points are blinded returns half the bytes to the caller and spreads
    the hashing over the workers.
    """
    items = split_points(points)
    out: list[bytes] = []
    for scalar, keep in zip(scalars, raw, strict=True):
        blinded = blind_many(scalar, items, message=message, first=first)
        out.append(b"".join(blinded) if keep else digest_points(blinded, digest_prefix))
    return out


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

    def blind_digests(
        self,
        points: bytes,
        scalars: Sequence[Scalar],
        *,
        message: str,
        digest_prefix: bytes,
        raw: Sequence[bool],
    ) -> list[bytes]:
        """:func:`blind_digest_batch`: digests unless ``raw[i]``."""
        ...


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

    def blind_digests(
        self,
        points: bytes,
        scalars: Sequence[Scalar],
        *,
        message: str,
        digest_prefix: bytes,
        raw: Sequence[bool],
    ) -> list[bytes]:
        return blind_digest_batch(
            points, scalars, message=message, digest_prefix=digest_prefix, raw=raw
        )

    def __repr__(self) -> str:
        return "InlineEngine()"
