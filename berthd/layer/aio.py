"""Async face of the layer store: every call runs in a worker thread.

Unpacking a big layer takes seconds and would freeze the daemon's event loop;
``asyncio.to_thread`` keeps the loop serving requests meanwhile. Streams are
pulled chunk by chunk in the worker too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from berthd.lib.archive import Change, ReadStream

from .initlayer import setup_init_layer
from .store import Layer, LayerStore, Metadata, RWLayer

__all__ = ["AsyncLayerStore", "ThreadReader", "aiter_chunks"]

_DONE = object()


def _next(it: Iterator[bytes]) -> bytes | object:
    return next(it, _DONE)


async def aiter_chunks(make: Callable[[], Iterator[bytes]]) -> AsyncIterator[bytes]:
    """Iterate a blocking chunk generator from async code, one thread hop a chunk."""
    it = await asyncio.to_thread(make)
    try:
        while True:
            chunk = await asyncio.to_thread(_next, it)
            if chunk is _DONE:
                return
            assert isinstance(chunk, bytes)
            yield chunk
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


class ThreadReader:
    """A blocking ``read(n)`` for the worker thread over an async ``read(n)``
    on the event loop (e.g. an aiohttp response body during a pull), so a
    layer streams from the network into ``tar`` without touching disk first."""

    def __init__(
        self, aread: Callable[[int], Awaitable[bytes]], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._aread = aread
        self._loop = loop

    async def _call(self, n: int) -> bytes:
        return await self._aread(n)

    def read(self, n: int = -1, /) -> bytes:
        size = n if n > 0 else 1 << 20
        return asyncio.run_coroutine_threadsafe(self._call(size), self._loop).result()


class AsyncLayerStore:
    """The same operations as :class:`LayerStore`, awaitable."""

    def __init__(self, store: LayerStore) -> None:
        self.store = store

    async def register(
        self, source: ReadStream, parent: str | None = None, expected_diff_id: str | None = None
    ) -> Layer:
        return await asyncio.to_thread(self.store.register, source, parent, expected_diff_id)

    async def register_from(
        self,
        aread: Callable[[int], Awaitable[bytes]],
        parent: str | None = None,
        expected_diff_id: str | None = None,
    ) -> Layer:
        """``register`` fed by an async reader (``aread(n)`` -> bytes, b"" at EOF)."""
        reader = ThreadReader(aread, asyncio.get_running_loop())
        return await self.register(reader, parent, expected_diff_id)

    async def get(self, chain_id: str) -> Layer:
        return await asyncio.to_thread(self.store.get, chain_id)

    async def release(self, chain_id: str) -> list[Metadata]:
        return await asyncio.to_thread(self.store.release, chain_id)

    def tar_stream(self, chain_id: str) -> AsyncIterator[bytes]:
        return aiter_chunks(lambda: self.store.tar_stream(chain_id))

    async def create_rw_layer(
        self,
        name: str,
        parent: str | None,
        init_func: Callable[[str], None] | None = setup_init_layer,
    ) -> RWLayer:
        return await asyncio.to_thread(self.store.create_rw_layer, name, parent, init_func)

    async def release_rw_layer(self, name: str) -> list[Metadata]:
        return await asyncio.to_thread(self.store.release_rw_layer, name)

    async def mount(self, name: str) -> str:
        return await asyncio.to_thread(self.store.mount, name)

    async def unmount(self, name: str) -> None:
        await asyncio.to_thread(self.store.unmount, name)

    async def changes(self, name: str) -> list[Change]:
        return await asyncio.to_thread(self.store.changes, name)

    async def rw_size(self, name: str) -> int:
        return await asyncio.to_thread(self.store.rw_size, name)

    async def commit(self, name: str) -> Layer:
        return await asyncio.to_thread(self.store.commit, name)

    def diff_tar(self, name: str) -> AsyncIterator[bytes]:
        return aiter_chunks(lambda: self.store.diff_tar(name))

    def export_rootfs(self, name: str) -> AsyncIterator[bytes]:
        return aiter_chunks(lambda: self.store.export_rootfs(name))

    async def cleanup(self) -> None:
        await asyncio.to_thread(self.store.cleanup)
