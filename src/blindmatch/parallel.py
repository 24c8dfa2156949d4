"""Spreading the curve work over processes: a :class:`CryptoEngine` on an Executor.

The protocol's cost is per element and embarrassingly parallel: hash-to-curve and X25519 over
arrays. :class:`PoolEngine` cuts each batch into parts, runs them on any
``concurrent.futures.Executor`` (a local process pool by default; a Dask or Ray executor on a
cluster works the same), and joins the parts in order, so the bytes, and therefore the results,
never depend on the number of workers. Small batches stay in the calling process, where a
round trip to a worker would cost more than the work.

Workers receive scalars as raw bytes inside the task (an Executor gives no other channel); they
live only in the worker's memory for the duration of the task and are never logged.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from types import TracebackType

from .crypto import Scalar
from .errors import UsageError
from .protocol.engine import POINT, blind_batch, hash_blind_batch

__all__ = ["PoolEngine", "default_workers"]


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _hash_blind_task(messages: Sequence[bytes], dst: bytes, secrets: Sequence[bytes]) -> list[bytes]:
    return hash_blind_batch(messages, dst, [Scalar.from_bytes(s) for s in secrets])


def _blind_task(points: bytes, secrets: Sequence[bytes], message: str, first: int) -> list[bytes]:
    return blind_batch(points, [Scalar.from_bytes(s) for s in secrets], message=message, first=first)


class PoolEngine:
    """Batch curve work on an Executor; identical output to :class:`InlineEngine`.

    :param executor: run tasks here; if omitted, a process pool of ``workers`` processes is
        created (and shut down by :meth:`close`).
    :param workers: parts per batch, and the size of the default pool (default: all cores).
    :param min_part: batches smaller than ``workers * min_part`` elements run in-process.
    """

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        workers: int | None = None,
        min_part: int = 512,
    ) -> None:
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise UsageError("workers must be at least 1")
        self.min_part = min_part
        self._own = executor is None
        self._executor: Executor | None = executor
        if self._own and self.workers > 1:
            context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

    def __repr__(self) -> str:
        return f"PoolEngine(workers={self.workers})"

    def __enter__(self) -> PoolEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._own and self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _parts(self, n: int) -> list[tuple[int, int]]:
        if self._executor is None or n < 2 * self.min_part:
            return [(0, n)]
        count = max(1, min(self.workers, n // self.min_part))
        step = -(-n // count)
        return [(i, min(i + step, n)) for i in range(0, n, step)]

    # -- CryptoEngine ---------------------------------------------------------------------------

    def hash_blind(
        self, messages: Sequence[bytes], dst: bytes, scalars: Sequence[Scalar]
    ) -> list[bytes]:
        return next(self.hash_blind_iter([messages], dst, scalars))

    def hash_blind_iter(
        self, batches: Iterable[Sequence[bytes]], dst: bytes, scalars: Sequence[Scalar]
    ) -> Iterator[list[bytes]]:
        """Results in batch order, with up to ``2 * workers`` parts in flight ahead of the
        consumer, so the pool never idles while the caller encodes and sends a chunk."""
        secrets = [s.to_bytes() for s in scalars]
        pending: deque[list[Future[list[bytes]] | list[bytes]]] = deque()
        window = 2 * self.workers
        source = iter(batches)
        exhausted = False
        while True:
            while not exhausted and sum(len(p) for p in pending) < window:
                batch = next(source, None)
                if batch is None:
                    exhausted = True
                    break
                parts: list[Future[list[bytes]] | list[bytes]] = []
                for start, stop in self._parts(len(batch)):
                    part = batch[start:stop]
                    if self._executor is None or len(part) == len(batch) and len(batch) < 2 * self.min_part:
                        parts.append(hash_blind_batch(part, dst, scalars))
                    else:
                        parts.append(self._executor.submit(_hash_blind_task, part, dst, secrets))
                pending.append(parts)
            if not pending:
                return
            yield _join([p.result() if isinstance(p, Future) else p for p in pending.popleft()])

    def blind(self, points: bytes, scalars: Sequence[Scalar], *, message: str) -> list[bytes]:
        n = len(points) // POINT
        if self._executor is None or n < 2 * self.min_part:
            return blind_batch(points, scalars, message=message)
        secrets = [s.to_bytes() for s in scalars]
        futures = [
            self._executor.submit(
                _blind_task, points[start * POINT : stop * POINT], secrets, message, start
            )
            for start, stop in self._parts(n)
        ]
        return _join([f.result() for f in futures])


def _join(parts: Sequence[list[bytes]]) -> list[bytes]:
    """Concatenate per-part output blobs, scalar by scalar."""
    return [b"".join(blobs) for blobs in zip(*parts)]
