"""The asyncio face of the driver: run a session inside the caller's event loop.

For a partner platform that runs sessions in a web service or a worker: no thread of ours, no
blocking call. A reader task feeds the partner's bytes to the driver while the main task sends,
so both sides can send megabytes at once without deadlock. The session's curve work runs in
the loop's thread one chunk at a time (a chunk is bounded, see
:data:`~blindmatch.protocol.messages.CHUNK_POINTS`), yielding to the loop between chunks; pass
``offload=True`` to run each chunk in the loop's default executor instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Protocol

from ..errors import BlindmatchError, PeerGoneError
from ..protocol import OverlapResult
from .blocking import CLOSE_GRACE
from .core import SessionDriver

__all__ = ["AsyncTransport", "StreamTransport", "run_async"]


class AsyncTransport(Protocol):
    """A reliable, ordered byte stream to the partner, for asyncio."""

    async def send(self, data: bytes) -> None:
        """Deliver all of ``data`` (waiting while the partner is slow to take it)."""
        ...

    async def receive(self) -> bytes:
        """The partner's next bytes; ``b""`` at the end of its stream."""
        ...

    async def close(self) -> None:
        """End our side cleanly."""
        ...


class StreamTransport:
    """An :class:`AsyncTransport` over asyncio streams (``asyncio.open_connection`` etc.)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    def __repr__(self) -> str:
        return f"StreamTransport(peer={self._writer.get_extra_info('peername')!r})"

    async def send(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise PeerGoneError(f"connection to the partner failed: {exc}") from exc

    async def receive(self) -> bytes:
        try:
            return await self._reader.read(256 * 1024)
        except (ConnectionError, OSError):
            return b""

    async def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            if self._writer.can_write_eof():
                self._writer.write_eof()
            await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()


async def run_async(
    driver: SessionDriver, transport: AsyncTransport, *, offload: bool = False
) -> OverlapResult:
    """Run ``driver``'s session over ``transport`` in the running event loop.

    Same errors and the same farewell on failure as :func:`~.blocking.run_blocking`."""
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()
    # The session is not thread-safe: with ``offload`` the reader must not feed it while a
    # chunk is computed in the executor.
    busy = asyncio.Lock()

    async def produce() -> bytes:
        async with busy:
            if offload:
                return await loop.run_in_executor(None, lambda: driver.outgoing(queued_first=True))
            return driver.outgoing(queued_first=True)

    async def read() -> None:
        while True:
            data = await transport.receive()
            async with busy:
                if data:
                    driver.incoming(data)
                else:
                    driver.incoming_eof()
            arrived.set()
            if not data or driver.finished():
                return

    driver.start()
    reader = asyncio.create_task(read())
    try:
        while True:
            out = await produce()
            if out:
                await _bounded(transport.send(out), driver, stuck_sending=True)
            if driver.finished():
                break
            if reader.done():
                reader.result()  # re-raise the reader's error, if any
                if driver.finished():
                    break
            if driver.more_to_send:
                await asyncio.sleep(0)  # let the reader run between our chunks
                continue
            arrived.clear()
            await _bounded(_either(arrived.wait(), reader), driver)
    except BaseException as exc:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        if not isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
            with contextlib.suppress(BlindmatchError, OSError, asyncio.TimeoutError):
                farewell = driver.farewell()
                if farewell:
                    await asyncio.wait_for(transport.send(farewell), CLOSE_GRACE)
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(transport.close(), CLOSE_GRACE)
        raise
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError, BlindmatchError):
        await reader
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        await asyncio.wait_for(transport.close(), CLOSE_GRACE)
    return driver.result


async def _either(waiting: Awaitable[object], reader: asyncio.Task[None]) -> None:
    """Until new bytes arrived or the reader ended (with its error, if any)."""
    waiter = asyncio.ensure_future(waiting)
    done, _ = await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
    if reader in done:
        waiter.cancel()
        reader.result()


async def _bounded(
    work: Awaitable[object], driver: SessionDriver, *, stuck_sending: bool = False
) -> None:
    budget = driver.wait_budget()
    if budget <= 0:
        raise driver.timeout_error(stuck_sending=stuck_sending)
    try:
        await asyncio.wait_for(work, budget)
    except asyncio.TimeoutError:
        raise driver.timeout_error(stuck_sending=stuck_sending) from None
