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
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from .crypto import Scalar
from .crypto.elligator import elligator2_map
from .crypto.engine import (
    POINT,
    CryptoEngine,
    InlineEngine,
    blind_batch,
    blind_digest_batch,
    hash_blind_batch,
)
from .errors import UsageError

__all__ = ["PoolEngine", "PoolTasks", "default_workers"]

#: How often a worker of our own pool checks that the process that made it is alive.
_OWNER_POLL_S = 1.0


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _warm_up() -> None:
    """A no-op task: makes the pool start its workers."""


def _worker_init(owner: int) -> None:
    """In each worker of our own pool: Ctrl-C is the owner's to handle (a worker that took
    it would print a traceback while the pool shuts down), and a worker exits soon after its
    owner dies, however it died (kill -9 included): it holds blinding scalars in its tasks
    and must not outlive the run, re-parented to init."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(_OWNER_POLL_S)
            try:
                os.kill(owner, 0)
            except (
                ProcessLookupError,
                PermissionError,
            ):  # gone (or its pid reused by another user)
                os._exit(1)

    threading.Thread(target=watch, name="blindmatch-owner-watch", daemon=True).start()


def _hash_blind_task(
    messages: Sequence[bytes], dst: bytes, secrets: Sequence[bytes]
) -> list[bytes]:
    return hash_blind_batch(messages, dst, [Scalar.from_bytes(s) for s in secrets])


def _blind_task(points: bytes, first: int, secrets: Sequence[bytes], message: str) -> list[bytes]:
    scalars = [Scalar.from_bytes(s) for s in secrets]
    return blind_batch(points, scalars, message=message, first=first)


def _blind_digest_task(
    points: bytes,
    first: int,
    secrets: Sequence[bytes],
    message: str,
    digest_prefix: bytes,
    raw: Sequence[bool],
) -> list[bytes]:
    return blind_digest_batch(
        points,
        [Scalar.from_bytes(s) for s in secrets],
        message=message,
        digest_prefix=digest_prefix,
        raw=raw,
        first=first,
    )


@dataclass(frozen=True, slots=True)
class PoolTasks:
    """The functions the parts of a batch run as on the workers (module-level, so they pickle
    by name), with the signatures of the three below; all must return the same bytes."""

    hash_blind: Callable[..., list[bytes]] = _hash_blind_task
    blind: Callable[..., list[bytes]] = _blind_task
    blind_digests: Callable[..., list[bytes]] = _blind_digest_task


class PoolEngine:
    """Batch curve work on an Executor; identical output to :class:`InlineEngine`.

    :param executor: run tasks here; if omitted, a process pool of ``workers`` processes is
        created (and shut down by :meth:`close`).
    :param workers: the size of the default pool (default: all cores); batches are cut into
        a multiple of this many parts.
    :param min_part: batches smaller than ``2 * min_part`` elements run in-process, and no part
        is smaller than ``min_part`` elements.
    :param part: elements per part of a large batch (about a quarter of a second of work);
        smaller parts balance the workers better at the end of a run, larger ones cost less
        in task overhead.

    How the pool is kept busy: :meth:`hash_blind_iter` keeps ``2 * workers`` parts of our own
    hashing in flight ahead of the consumer, and while :meth:`blind` waits for the partner's
    points it queues more of that hashing behind them, so that the workers still have work
    when the blinded points come back and the caller is busy with them.
    """

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        workers: int | None = None,
        min_part: int = 512,
        part: int = 2048,
    ) -> None:
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise UsageError("workers must be at least 1")
        if min_part < 1 or part < 1:
            raise UsageError("min_part and part must be at least 1")
        self.min_part = min_part
        self.part = max(part, min_part)
        #: what the parts run as, and the engine small batches run on in this process (a
        #: subclass may put native code on both)
        self._tasks = PoolTasks()
        self._local: CryptoEngine = InlineEngine()
        self._own = executor is None
        self._executor: Executor | None = executor
        #: one per unfinished hash_blind_iter: queues up to ``extra`` more parts of its hashing
        self._top_ups: list[Callable[[int], None]] = []
        if self._own and self.workers > 1:
            context: multiprocessing.context.BaseContext
            if os.name == "posix":
                forkserver = multiprocessing.get_context("forkserver")
                # The fork server imports the curve code once; each worker forks with it
                # loaded instead of importing it again (about 0.3 s of CPU per worker).
                # No effect if this process's fork server is already running.
                forkserver.set_forkserver_preload(["__main__", __name__])
                context = forkserver
            else:  # pragma: no cover - Windows
                context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )
            # Start the workers now, while the session is still agreeing on terms.
            for _ in range(self.workers):
                self._executor.submit(_warm_up)

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
        """Bounds of the parts of an n-element batch: a multiple of ``workers`` parts of at
        most about ``part`` elements (none below ``min_part``)."""
        per_round = self.workers * self.part
        count = self.workers * max(1, -(-n // per_round))
        count = max(1, min(count, n // self.min_part))
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
        consumer (more while :meth:`blind` waits), so the pool never idles while the caller
        encodes and sends a chunk."""
        secrets = [s.to_bytes() for s in scalars]
        pending: deque[list[Future[list[bytes]] | list[bytes]]] = deque()
        window = 2 * self.workers
        source = iter(batches)
        exhausted = False

        def top_up(extra: int = 0) -> None:
            """Queue batches until two (three if ``extra``) are pending and at least
            ``window + extra`` parts."""
            nonlocal exhausted
            batches = 3 if extra else 2
            while not exhausted:
                if len(pending) >= batches and sum(len(p) for p in pending) >= window + extra:
                    break
                batch = next(source, None)
                if batch is None:
                    exhausted = True
                    break
                executor = self._executor
                if executor is None or len(batch) < 2 * self.min_part:
                    pending.append([self._local.hash_blind(batch, dst, scalars)])
                    continue
                bounds = self._parts(len(batch))
                task = self._tasks.hash_blind
                pending.append(
                    [
                        executor.submit(task, batch[start:stop], dst, secrets)
                        for start, stop in bounds
                    ]
                )

        self._top_ups.append(top_up)
        try:
            while True:
                top_up()
                if not pending:
                    return
                yield _join([p.result() if isinstance(p, Future) else p for p in pending.popleft()])
        finally:
            # Done, or abandoned (the session failed): stop feeding the pool for it.
            self._top_ups.remove(top_up)
            for parts in pending:
                for p in parts:
                    if isinstance(p, Future):
                        p.cancel()

    def _run_parts(
        self, task: Callable[..., list[bytes]], points: bytes, *args: object
    ) -> list[bytes]:
        """``task(part_of_points, first, *args)`` over the parts of ``points`` (``first``: the
        index of the part's first point), joined; queues more of our own hashing behind the
        parts before waiting for them."""
        assert self._executor is not None  # internal: callers checked it
        n = len(points) // POINT
        futures = [
            self._executor.submit(task, points[start * POINT : stop * POINT], start, *args)
            for start, stop in self._parts(n)
        ]
        for top_up in self._top_ups:
            top_up(self.workers)
        return _join([f.result() for f in futures])

    def blind(self, points: bytes, scalars: Sequence[Scalar], *, message: str) -> list[bytes]:
        n = len(points) // POINT
        if self._executor is None or n < 2 * self.min_part:
            return self._local.blind(points, scalars, message=message)
        return self._run_parts(self._tasks.blind, points, [s.to_bytes() for s in scalars], message)

    def blind_digests(
        self,
        points: bytes,
        scalars: Sequence[Scalar],
        *,
        message: str,
        digest_prefix: bytes,
        raw: Sequence[bool],
    ) -> list[bytes]:
        """:meth:`blind`, with the outputs not marked ``raw`` digested in the workers (see
        :func:`~blindmatch.crypto.engine.blind_digest_batch`)."""
        n = len(points) // POINT
        if self._executor is None or n < 2 * self.min_part:
            return self._local.blind_digests(
                points, scalars, message=message, digest_prefix=digest_prefix, raw=raw
            )
        return self._run_parts(
            self._tasks.blind_digests,
            points,
            [s.to_bytes() for s in scalars],
            message,
            digest_prefix,
            list(raw),
        )

    def elligator2_map(self, u: bytes) -> bytes:
        """In this process: one map is far cheaper than a round trip to a worker."""
        return elligator2_map(u)


def _join(parts: Sequence[list[bytes]]) -> list[bytes]:
    """Concatenate per-part output blobs, scalar by scalar."""
    return [b"".join(blobs) for blobs in zip(*parts, strict=True)]
