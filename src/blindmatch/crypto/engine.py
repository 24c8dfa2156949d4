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

from .elligator import elligator2_map
from .h2c import hash_to_curve_many
from .suite import SUITE
from .x25519 import Scalar, blind_many

__all__ = [
    "CryptoEngine",
    "InlineEngine",
    "blind_batch",
    "blind_digest_batch",
    "default_engine",
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
    """hash_to_curve every message, then X25519 each point with every scalar: exactly
    ``X25519(s, hash_to_curve(m, dst))``.

    The cofactor is cleared in full for every scalar. (Folding some of its doublings into the
    scalars, as an earlier version did, worked for about half of all scalars per doubling
    saved, so the work done told about two bits of the secret scalars: issue 15.)
    """
    if not scalars:
        return []
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

    def elligator2_map(self, u: bytes) -> bytes:
        """One Elligator 2 map, in constant time: the u-coordinate (32 bytes) for the 32-byte
        ``u`` read as RFC 7748's decodeUCoordinate (CPace's generator, draft-irtf-cfrg-cpace-21
        §8.2). Its input derives from the pairing code, so a native engine must not branch on
        it; :func:`blindmatch.crypto.elligator.elligator2_map` is the Python formulation."""
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

    def elligator2_map(self, u: bytes) -> bytes:
        return elligator2_map(u)

    def __repr__(self) -> str:
        return "InlineEngine()"


def default_engine() -> CryptoEngine:
    """The engine a session uses when given none: the C one (``NativeEngine``, threads, GIL
    released) where it is built, unless ``BLINDMATCH_ENGINE=python``; else InlineEngine."""
    from . import native

    if native.engine_preference() == "native":
        return native.NativeEngine()
    return InlineEngine()
