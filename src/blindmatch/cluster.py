"""The curve work and the digest join on a Dask cluster: :class:`DaskEngine`.

Why a cluster: at tens of millions of accounts the work (hash-to-curve and X25519 per element)
outgrows one machine's cores, and the partner's digest index outgrows one process's memory.
:class:`DaskEngine` is the :class:`~blindmatch.parallel.PoolEngine` (same parts, same order,
so the same bytes) running its tasks on a ``distributed`` cluster, where each task is a whole
part of a message (thousands of elements) done by the native engine
(:class:`~blindmatch.crypto.native.NativeEngine`, C, GIL released) in one call; the Python
engine only where the worker lacks the C extension. Plus a
:class:`~blindmatch.protocol.digests.DigestIndex` partitioned over the workers: each digest
lives in the part its first byte picks, held by a Dask actor on one worker, and the
positions-in-order store (for the shuffled counts returns) in chunks spread the same way. Every
index operation is one actor call per part, whatever its size. The session's process keeps
only the chunk boundaries; the join of our returned values with the partner's runs part by part
on the workers.

Without a scheduler address it starts a ``LocalCluster`` of worker processes on loopback (no
dashboard) and shuts it down on :meth:`DaskEngine.close`. Scalars reach workers inside tasks,
as with any Executor; task keys are random (``pure=False``), never a hash of the arguments.
"""

from __future__ import annotations

import bisect
import importlib
from array import array
from collections.abc import Sequence
from typing import Any

from .crypto import Scalar
from .crypto.engine import InlineEngine
from .crypto.native import NativeEngine, engine_preference
from .errors import UsageError
from .parallel import PoolEngine, PoolTasks, default_workers
from .protocol.agreement import DIGEST_BYTES
from .protocol.digests import repeat_error

__all__ = ["DaskEngine", "DaskIndex"]


def _native_engine() -> NativeEngine | None:
    """The native engine with one C thread per task (a worker runs as many tasks at once as
    it has threads), or None where BLINDMATCH_ENGINE=python or the extension is not built:
    then the Python engine's tasks run, with the same bytes."""
    if engine_preference() == "native":
        return NativeEngine(threads=1)
    return None


def _hash_blind_task(
    messages: Sequence[bytes], dst: bytes, secrets: Sequence[bytes]
) -> list[bytes]:
    engine = _native_engine()
    if engine is None:
        return PoolTasks().hash_blind(messages, dst, secrets)
    return engine.hash_blind(messages, dst, [Scalar.from_bytes(s) for s in secrets])


def _blind_task(points: bytes, first: int, secrets: Sequence[bytes], message: str) -> list[bytes]:
    engine = _native_engine()
    if engine is None:
        return PoolTasks().blind(points, first, secrets, message)
    scalars = [Scalar.from_bytes(s) for s in secrets]
    return engine.blind(points, scalars, message=message, first=first)


def _blind_digest_task(
    points: bytes,
    first: int,
    secrets: Sequence[bytes],
    message: str,
    digest_prefix: bytes,
    raw: Sequence[bool],
) -> list[bytes]:
    engine = _native_engine()
    if engine is None:
        return PoolTasks().blind_digests(points, first, secrets, message, digest_prefix, raw)
    return engine.blind_digests(
        points,
        [Scalar.from_bytes(s) for s in secrets],
        message=message,
        digest_prefix=digest_prefix,
        raw=raw,
        first=first,
    )


#: The tasks a DaskEngine's workers run: the native engine on whole parts.
_NATIVE_TASKS = PoolTasks(
    hash_blind=_hash_blind_task, blind=_blind_task, blind_digests=_blind_digest_task
)


class _IndexPart:
    """One partition of a digest index, living on a worker as a Dask actor."""

    def __init__(self) -> None:
        self.at: dict[bytes, int] = {}
        self.chunks: dict[int, bytes] = {}

    def add(self, digests: bytes, positions: bytes) -> int:
        """Insert in position order; the position of the first digest already present, or -1.
        (``positions``: native int64s.)"""
        at = self.at
        first = -1
        for k, pos in enumerate(array("q", positions)):
            key = digests[k * DIGEST_BYTES : (k + 1) * DIGEST_BYTES]
            if key in at:
                if first < 0:
                    first = pos
                continue
            at[key] = pos
        return first

    def lookup(self, digests: bytes) -> bytes:
        """The position of each digest, -1 if absent, as native int64s."""
        get = self.at.get
        return array(
            "q",
            [get(digests[k : k + DIGEST_BYTES], -1) for k in range(0, len(digests), DIGEST_BYTES)],
        ).tobytes()

    def store(self, chunk: int, digests: bytes) -> None:
        self.chunks[chunk] = digests

    def fetch(self, chunks: bytes, offsets: bytes) -> bytes:
        """The digests at (chunk, offset) pairs (two arrays of native int64s), in order."""
        held = self.chunks
        size = DIGEST_BYTES
        return b"".join(
            [
                held[c][o * size : (o + 1) * size]
                for c, o in zip(array("q", chunks), array("q", offsets), strict=True)
            ]
        )

    def size(self) -> int:
        return len(self.at)


class DaskIndex:
    """A :class:`~blindmatch.protocol.digests.DigestIndex` partitioned over Dask actors."""

    def __init__(self, client: Any, futures: Sequence[Any]) -> None:
        if not futures:
            raise UsageError("a Dask digest index needs at least one part")
        #: actors reach their workers through the current client: ours, not a global default
        self._client = client
        #: the actors' futures: the scheduler keeps an actor only while its future is held
        self._futures = list(futures)
        with client.as_current():
            self._parts = [f.result() for f in self._futures]
        self._count = 0
        #: first position of each stored chunk; chunk c is held by part c % len(parts)
        self._chunk_starts: list[int] = []

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"DaskIndex({self._count} digests in {len(self._parts)} parts)"

    def _split(self, digests: bytes) -> list[tuple[bytearray, array[int]]]:
        """Per part: its digests, and where each was in ``digests``."""
        n = len(self._parts)
        out: list[tuple[bytearray, array[int]]] = [(bytearray(), array("q")) for _ in range(n)]
        for k in range(0, len(digests), DIGEST_BYTES):
            blob, where = out[digests[k] % n]
            blob += digests[k : k + DIGEST_BYTES]
            where.append(k // DIGEST_BYTES)
        return out

    def add(self, digests: bytes, *, where: str) -> None:
        with self._client.as_current():
            self._add(digests, where)

    def _add(self, digests: bytes, where: str) -> None:
        base = self._count
        chunk = len(self._chunk_starts)
        holder = self._parts[chunk % len(self._parts)]
        stored = holder.store(chunk, digests)
        pending = []
        for part, (blob, offsets) in zip(self._parts, self._split(digests), strict=True):
            if offsets:
                positions = array("q", [base + o for o in offsets]).tobytes()
                pending.append(part.add(bytes(blob), positions))
        repeats = [p for p in (f.result() for f in pending) if p >= 0]
        stored.result()
        self._chunk_starts.append(base)
        self._count += len(digests) // DIGEST_BYTES
        if repeats:
            raise repeat_error(where, min(repeats) - base)

    def lookup(self, digests: bytes) -> list[int | None]:
        with self._client.as_current():
            return self._lookup(digests)

    def _lookup(self, digests: bytes) -> list[int | None]:
        found: list[int | None] = [None] * (len(digests) // DIGEST_BYTES)
        pending = [
            (part.lookup(bytes(blob)), offsets)
            for part, (blob, offsets) in zip(self._parts, self._split(digests), strict=True)
            if offsets
        ]
        for future, offsets in pending:
            for k, pos in zip(offsets, array("q", future.result()), strict=True):
                if pos >= 0:
                    found[k] = pos
        return found

    def digests_at(self, positions: Sequence[int]) -> bytes:
        with self._client.as_current():
            return self._digests_at(positions)

    def _digests_at(self, positions: Sequence[int]) -> bytes:
        """One fetch per part: the (chunk, offset) pairs it holds, then the answers merged
        back into the order asked."""
        starts = self._chunk_starts
        n = len(self._parts)
        asked: list[tuple[array[int], array[int], array[int]]] = [
            (array("q"), array("q"), array("q")) for _ in range(n)
        ]
        chunk = 0
        for k, pos in enumerate(positions):
            if not 0 <= pos < self._count:
                raise IndexError(f"position {pos} is not in the index")
            if not (starts[chunk] <= pos and (chunk + 1 == len(starts) or pos < starts[chunk + 1])):
                chunk = bisect.bisect_right(starts, pos) - 1
            chunks, offsets, order = asked[chunk % n]
            chunks.append(chunk)
            offsets.append(pos - starts[chunk])
            order.append(k)
        pending = [
            (self._parts[p].fetch(chunks.tobytes(), offsets.tobytes()), order)
            for p, (chunks, offsets, order) in enumerate(asked)
            if order
        ]
        out = bytearray(len(positions) * DIGEST_BYTES)
        for future, order in pending:
            blob = future.result()
            for m, k in enumerate(order):
                out[k * DIGEST_BYTES : (k + 1) * DIGEST_BYTES] = blob[
                    m * DIGEST_BYTES : (m + 1) * DIGEST_BYTES
                ]
        return bytes(out)


class DaskEngine(PoolEngine):
    """:class:`~blindmatch.parallel.PoolEngine` on a Dask cluster, with digest indexes held
    by the workers; identical bytes to the local engines.

    :param scheduler: address of a running scheduler (``tcp://host:8786``); if omitted, a
        ``LocalCluster`` of ``workers`` single-threaded worker processes is started.
    :param client: an existing ``distributed.Client`` instead (the library's choice).
    :param partitions: parts per digest index (default: twice the worker threads).
    :param connect_timeout: seconds to wait for ``scheduler``.
    """

    def __init__(
        self,
        *,
        scheduler: str | None = None,
        client: Any = None,
        workers: int | None = None,
        partitions: int | None = None,
        min_part: int = 1024,
        part: int = 8192,
        connect_timeout: float = 30.0,
    ) -> None:
        try:
            # untyped: reached through Any
            distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise UsageError("--executor dask needs Dask: pip install 'blindmatch[dask]'") from None
        self._cluster: Any = None
        self._own_client = client is None
        if client is None:
            if scheduler is not None:
                try:
                    client = distributed.Client(
                        scheduler, set_as_default=False, timeout=connect_timeout
                    )
                except OSError as exc:
                    raise UsageError(
                        f"could not reach the Dask scheduler at {scheduler}: {exc}"
                    ) from None
            else:
                self._cluster = distributed.LocalCluster(
                    n_workers=workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    # No dashboard; the scheduler's health endpoints still listen, on a free
                    # loopback port (its default, 8787, would clash with a second cluster)
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
                client = distributed.Client(self._cluster, set_as_default=False)
        self.client = client
        threads = client.nthreads()
        if not threads:
            self.close()
            raise UsageError("the Dask cluster has no workers")
        self._addresses = sorted(threads)
        total = sum(threads.values())
        self.partitions = partitions or 2 * total
        if not 1 <= self.partitions <= 256:
            self.close()
            raise UsageError("partitions must be 1 to 256")
        super().__init__(
            client.get_executor(pure=False), workers=total, min_part=min_part, part=part
        )
        self._tasks = _NATIVE_TASKS
        # small batches (a last chunk) stay in this process: its native engine on every core
        self._local = NativeEngine() if engine_preference() == "native" else InlineEngine()

    def __repr__(self) -> str:
        return f"DaskEngine(workers={self.workers}, partitions={self.partitions})"

    def digest_index(self) -> DaskIndex:
        """A new index, its parts spread round-robin over the workers."""
        futures = [
            self.client.submit(
                _IndexPart,
                actor=True,
                pure=False,
                workers=[self._addresses[n % len(self._addresses)]],
            )
            for n in range(self.partitions)
        ]
        return DaskIndex(self.client, futures)

    def close(self) -> None:
        super().close()
        if self._own_client and getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
