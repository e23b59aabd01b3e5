"""The async wrapper keeps the event loop free while a layer unpacks."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

from berthd.layer import AsyncLayerStore, LayerStore
from tests.unit.lib.archive.tarbuild import build, d, f


class SlowStream(io.RawIOBase):
    """A source that takes ~0.5 s to deliver its bytes."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        time.sleep(0.05)
        return self._src.read(min(n, 4096) if n > 0 else 4096)


async def test_register_does_not_block_loop(store: LayerStore) -> None:
    astore = AsyncLayerStore(store)
    tar = build([d("d"), f("d/big", os.urandom(40_000))])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    layer = await astore.register(SlowStream(tar))
    t.cancel()
    assert ticks >= 10
    chunks = [c async for c in astore.tar_stream(layer.chain_id)]
    assert b"".join(chunks) == tar
    rw = await astore.create_rw_layer("c", layer.chain_id)
    path = await astore.mount(rw.name)
    assert await asyncio.to_thread(Path(path, "d/big").exists)
    await asyncio.to_thread(Path(path, "new").write_text, "x")
    assert len(await astore.changes(rw.name)) == 1
    await astore.unmount(rw.name)
    committed = await astore.commit(rw.name)
    assert committed.parent == layer.chain_id
    await astore.release_rw_layer(rw.name)
    await astore.release(committed.chain_id)
    assert await astore.release(layer.chain_id)


async def test_register_from_async_reader(store: LayerStore) -> None:
    astore = AsyncLayerStore(store)
    tar = build([d("d"), f("d/x", os.urandom(300_000))])
    src = io.BytesIO(tar)

    async def aread(n: int) -> bytes:
        await asyncio.sleep(0)  # a network read would await here
        return src.read(min(n, 65536))

    layer = await astore.register_from(aread)
    chunks = [c async for c in astore.tar_stream(layer.chain_id)]
    assert b"".join(chunks) == tar
    await astore.release(layer.chain_id)
