"""Where the partner's digests live between their arrival and our result: a digest index.

Each of the partner's values, blinded again by us, becomes a 16-byte digest with a position
(account * slots + slot, in the partner's order). The exchange adds them as chunks arrive and
refuses a repeat; counts lanes are returned by position in a shuffled order; matching looks our
returned values up. That is a join of two sets of digests, and it is the one structure of a
session whose size is the partner's whole set, so it sits behind this small interface:
:class:`LocalIndex` keeps it in this process (a dict); an engine that runs on a cluster can
offer its own, partitioned over its workers (:class:`IndexingEngine`), and the session then
holds none of it. Positions, and so every byte on the wire, are the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..errors import RemoteProtocolError
from .agreement import DIGEST_BYTES
from .messages import refuse_repeats, split_items

__all__ = ["DigestIndex", "IndexingEngine", "LocalIndex", "split_digests"]


def split_digests(blob: bytes) -> list[bytes]:
    """Concatenated 16-byte digests, one by one."""
    return split_items(blob, DIGEST_BYTES)


class DigestIndex(Protocol):
    """The partner's digests under one of our lane scalars, by position."""

    def add(self, digests: bytes, *, where: str) -> None:
        """Append a chunk (positions continue from the previous chunk). A digest seen before,
        or twice in the chunk, is a :class:`RemoteProtocolError` naming ``where`` and the
        first such element of the chunk."""
        ...

    def lookup(self, digests: bytes) -> list[int | None]:
        """The position of each digest, None for those not in the index."""
        ...

    def digests_at(self, positions: Sequence[int]) -> bytes:
        """The digests at these positions, concatenated in the order given."""
        ...

    def __len__(self) -> int: ...


@runtime_checkable
class IndexingEngine(Protocol):
    """A :class:`~blindmatch.crypto.engine.CryptoEngine` that also keeps digest indexes
    (e.g. on its workers)."""

    def digest_index(self) -> DigestIndex: ...


def repeat_error(where: str, element: int) -> RemoteProtocolError:
    """The error :func:`~.messages.refuse_repeats` raises, for an index that finds the first
    repeat elsewhere (on its workers)."""
    return RemoteProtocolError(f"{where}: element {element} repeats one sent earlier in this lane")


class LocalIndex:
    """A dict in this process: digest -> position, and the digests in position order."""

    def __init__(self) -> None:
        self._at: dict[bytes, int] = {}
        self._order = bytearray()

    def __len__(self) -> int:
        return len(self._at)

    def __repr__(self) -> str:
        return f"LocalIndex({len(self)} digests)"

    def add(self, digests: bytes, *, where: str) -> None:
        keys = split_digests(digests)
        refuse_repeats(where, "element", keys, self._at.keys(), "this lane")
        base = len(self._at)
        self._at.update(zip(keys, range(base, base + len(keys)), strict=True))
        self._order += digests

    def lookup(self, digests: bytes) -> list[int | None]:
        return list(map(self._at.get, split_digests(digests)))

    def digests_at(self, positions: Sequence[int]) -> bytes:
        order = self._order
        size = DIGEST_BYTES
        return b"".join([order[p * size : (p + 1) * size] for p in positions])
