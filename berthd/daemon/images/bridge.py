"""Run blocking image work in a thread while bytes flow to and from the event loop.

``docker load`` reads a request body of any size and ``docker save`` writes a tar of
any size; neither may be held in memory, and neither may run on the event loop (the
API must keep answering). The worker thread gets a blocking file-like reader over the
request body (:class:`BodyReader`) and a blocking sink (:class:`ChunkSink`) whose
chunks the async side yields as they come; a bounded number of chunks in flight is
the back-pressure that stops a slow client from making the daemon buffer an archive.
If the consumer goes away, the sink raises in the worker so it stops and cleans up.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

__all__ = ["BodyReader", "ByteSource", "ChunkSink", "ConsumerGone", "run_streaming"]

T = TypeVar("T")

_MAX_IN_FLIGHT = 8  # chunks queued between the worker and the response
_COALESCE = 1024 * 1024  # tarfile writes ~10 KiB at a time: one loop hop per MiB instead
_WAIT_STEP = 0.5  # seconds between checks that the consumer is still there


class ByteSource(Protocol):
    """An async byte stream (aiohttp's ``request.content`` is one)."""

    def read(self, n: int = -1) -> Awaitable[bytes]: ...


class ConsumerGone(Exception):
    """The client stopped reading: the worker should give up."""


class BodyReader(io.RawIOBase):
    """A blocking reader over an async byte source, for use in a worker thread only."""

    def __init__(self, source: ByteSource, loop: asyncio.AbstractEventLoop) -> None:
        self._source = source
        self._loop = loop
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._eof:
            return 0
        view = memoryview(buf).cast("B")
        coro: Any = self._source.read(len(view))
        data: bytes = asyncio.run_coroutine_threadsafe(coro, self._loop).result()
        if not data:
            self._eof = True
            return 0
        n = len(data)
        view[:n] = data
        return n


class ChunkSink:
    """A blocking ``write`` for a worker thread; chunks surface in :func:`run_streaming`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, coalesce: bool = False) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._slots = threading.Semaphore(_MAX_IN_FLIGHT)
        self._gone = threading.Event()
        self._coalesce = coalesce
        self._pending = bytearray()

    # --- worker side --------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        if not self._coalesce:
            self._push(bytes(data))
            return n
        self._pending += data
        if len(self._pending) >= _COALESCE:
            self.flush()
        return n

    def __call__(self, data: bytes) -> None:
        """The loader's ``Output`` callable."""
        self.write(data)

    def flush(self) -> None:
        if self._pending:
            chunk = bytes(self._pending)
            self._pending.clear()
            self._push(chunk)

    def _push(self, chunk: bytes) -> None:
        while not self._slots.acquire(timeout=_WAIT_STEP):
            if self._gone.is_set():
                raise ConsumerGone("the client went away")
        if self._gone.is_set():
            raise ConsumerGone("the client went away")
        self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)

    # --- loop side ----------------------------------------------------------------
    async def get(self) -> bytes:
        chunk = await self._queue.get()
        self._slots.release()
        return chunk

    def ready(self) -> bool:
        return not self._queue.empty()

    def close(self) -> None:
        self._gone.set()
        self._slots.release()


async def run_streaming(
    work: Callable[[ChunkSink], T], coalesce: bool = False
) -> AsyncIterator[bytes]:
    """Run ``work(sink)`` in a thread; yield what it writes; re-raise what it raises.

    Closing the iterator early (client gone) makes the worker's next write fail, and
    waits for the worker to finish its cleanup.
    """
    loop = asyncio.get_running_loop()
    sink = ChunkSink(loop, coalesce)

    def run() -> T:
        result = work(sink)
        sink.flush()
        return result

    task = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        while True:
            if sink.ready():
                yield await sink.get()
                continue
            getter = asyncio.ensure_future(sink.get())
            done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            while sink.ready():
                yield await sink.get()
            task.result()  # raises the worker's error
            return
    finally:
        sink.close()
        if not task.done():
            await asyncio.shield(asyncio.wait({task}))
        elif not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning
