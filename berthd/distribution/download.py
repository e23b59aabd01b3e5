"""Layer downloads: moby's ``LayerDownloadManager`` and its v2 layer descriptor.

One manager per daemon. ``download`` walks an image's layers bottom up:

* the leading run of layers already in the store (known blob → diff ID from the
  v2metadata, chain present) prints ``Already exists`` and is only referenced;
* every other layer becomes a transfer keyed by the concatenated ``v2:<digest>`` keys of
  all layers up to it, so pulls share a transfer only when their prefixes are equal;
* a transfer waits for a download slot (``Waiting``), fetches the blob to a temp file
  while hashing it (in a thread), frees its slot, waits for its parent's registration,
  then registers the layer (``Extracting`` … ``Pull complete``) in a thread;
* a failed fetch is retried (``Retrying in N seconds``) up to max-download-attempts,
  resuming with a Range request from the verified bytes already on disk.

Every registered layer keeps a reference until the pull releases the result (after the
image config is stored), so a failed or cancelled pull leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from berthd import errdefs
from berthd.distribution.blocking import Cancelled, run_undoable
from berthd.distribution.errors import DoNotRetry
from berthd.distribution.meter import Meter
from berthd.distribution.progress import Output, Progress
from berthd.distribution.remote import Repository
from berthd.distribution.stores import SharedRepository
from berthd.distribution.tempfiles import TEMP_PREFIX
from berthd.distribution.xfer import Limiter, Transfer, TransferManager, Watcher, retrying
from berthd.image.digest import chain_id, truncate_id
from berthd.image.distribution_metadata import DistributionMetadataStore, V2Metadata
from berthd.layer import Layer, LayerStore
from berthd.layer.iterstream import IterStream

__all__ = ["DownloadResult", "LayerDescriptor", "LayerDownloadManager", "RemoteLayer"]

log = logging.getLogger(__name__)

_FLUSH = 1 << 20


class LayerDescriptor(Protocol):
    """One layer of one pull (moby ``DownloadDescriptor``)."""

    @property
    def key(self) -> str: ...
    @property
    def id(self) -> str: ...
    async def known_diff_id(self) -> str | None: ...
    async def fetch(self, out: Output) -> tuple[str, int]:
        """Download to a verified temp file: (path, size). Raise to retry."""

    async def registered(self, diff_id: str) -> None: ...
    async def close(self) -> None: ...


@dataclass
class DownloadResult:
    diff_ids: list[str]
    chain_id: str
    release: Callable[[], Awaitable[None]]


class _CountingReader:
    """The temp file as the layer store reads it: counts, reports, stops on cancel."""

    def __init__(self, f: BinaryIO, meter: Meter, stop: threading.Event) -> None:
        self._f, self._meter, self._stop = f, meter, stop

    def read(self, n: int = -1, /) -> bytes:
        if self._stop.is_set():
            raise Cancelled("layer registration cancelled")
        data = self._f.read(n)
        self._meter.add(len(data))
        return data


class LayerDownloadManager:
    def __init__(
        self,
        layers: LayerStore,
        max_concurrent: Callable[[], int],
        max_attempts: Callable[[], int],
        retry_tick: float = 1.0,
    ) -> None:
        self.layers = layers
        self.limiter = Limiter(max_concurrent)
        self.max_attempts = max_attempts
        self.retry_tick = retry_tick
        self.transfers: TransferManager[Layer] = TransferManager()

    async def download(self, descriptors: Sequence[LayerDescriptor], out: Output) -> DownloadResult:
        """Register every layer (or find it); the caller must ``release`` the result."""
        top_layer: Layer | None = None
        top: Transfer[Layer] | None = None
        watchers: list[tuple[Transfer[Layer], Watcher]] = []
        by_key: dict[str, Transfer[Layer]] = {}
        diff_ids: list[str] = []
        key = ""
        missing = False

        async def release_all() -> None:
            """Leave every transfer; wait for those nobody else watches to clean up."""
            for xfer, w in watchers:
                xfer.release(w)
            gone = [xfer for xfer, _ in watchers if xfer.released]
            watchers.clear()
            await asyncio.gather(*(xfer.settled() for xfer in gone))

        try:
            for d in descriptors:
                key += d.key
                if not missing:
                    missing = True
                    found = await self._present(d, diff_ids)
                    if found is not None:
                        out(Progress(d.id, "Already exists"))
                        if top_layer is not None:
                            await asyncio.to_thread(self.layers.release, top_layer.chain_id)
                        top_layer = found
                        missing = False
                        diff_ids.append(found.diff_id)
                        await d.registered(found.diff_id)
                        continue
                source = by_key.get(d.key)
                if source is not None:
                    assert top is not None
                    run = self._copy_func(d, source, top)
                else:
                    out(Progress(d.id, "Pulling fs layer"))
                    base = chain_id(diff_ids) if top is None and diff_ids else None
                    run = self._download_func(d, base, top)
                top, watcher = self.transfers.transfer(key, run, out)
                watchers.append((top, watcher))
                by_key.setdefault(d.key, top)

            if top is None:
                held = top_layer

                async def release_held() -> None:
                    if held is not None:
                        await asyncio.to_thread(self.layers.release, held.chain_id)

                top_layer = None
                return DownloadResult(diff_ids, chain_id(diff_ids), release_held)

            layer = await top.result()
            all_ids = await asyncio.to_thread(self._diff_ids, layer.chain_id, len(descriptors))
            final_top, final_watch = watchers[-1]
            for xfer, w in watchers[:-1]:
                xfer.release(w)
            del watchers[:-1]

            async def release_top() -> None:
                final_top.release(final_watch)
                watchers.clear()
                if final_top.released:
                    await final_top.settled()

            return DownloadResult(all_ids, layer.chain_id, release_top)
        except BaseException:
            await release_all()
            raise
        finally:
            if top_layer is not None:
                await asyncio.to_thread(self.layers.release, top_layer.chain_id)

    def _diff_ids(self, chain: str, count: int) -> list[str]:
        out: list[str] = []
        cur: str | None = chain
        for _ in range(count):
            if cur is None:
                raise errdefs.System("internal error: too few parent layers")
            layer = self.layers.lookup(cur)
            out.append(layer.diff_id)
            cur = layer.parent
        return out[::-1]

    async def _present(self, d: LayerDescriptor, below: list[str]) -> Layer | None:
        diff_id = await d.known_diff_id()
        if diff_id is None:
            return None

        def get() -> Layer | None:
            try:
                return self.layers.get(chain_id([*below, diff_id]))
            except errdefs.NotFound:
                return None

        return await asyncio.to_thread(get)

    # --- transfers ------------------------------------------------------------------
    async def _release_layer(self, layer: Layer) -> None:
        await asyncio.to_thread(self.layers.release, layer.chain_id)

    def _download_func(
        self, d: LayerDescriptor, base: str | None, parent: Transfer[Layer] | None
    ) -> Callable[[Transfer[Layer]], Awaitable[Layer]]:
        async def run(xfer: Transfer[Layer]) -> Layer:
            xfer.on_release = self._release_layer
            try:
                path, size = await self._fetch_with_retries(d, xfer)
            finally:
                await d.close()
            try:
                parent_chain = base
                if parent is not None:
                    try:
                        parent_chain = (await parent.result()).chain_id
                    except asyncio.CancelledError:
                        raise
                layer = await self._register_file(path, size, d.id, parent_chain, xfer)
            finally:
                await asyncio.to_thread(_unlink, path)
            xfer.progress(Progress(d.id, "Pull complete"))
            await d.registered(layer.diff_id)
            return layer

        return run

    async def _fetch_with_retries(
        self, d: LayerDescriptor, xfer: Transfer[Layer]
    ) -> tuple[str, int]:
        if not self.limiter.try_acquire():
            xfer.progress(Progress(d.id, "Waiting"))
            await self.limiter.acquire()
        try:
            return await retrying(
                lambda: d.fetch(xfer.progress),
                self.max_attempts(),
                d.id,
                xfer.progress,
                self.retry_tick,
                "Download",
            )
        finally:
            self.limiter.release()

    async def _register_file(
        self, path: str, size: int, id_: str, parent: str | None, xfer: Transfer[Layer]
    ) -> Layer:
        loop = asyncio.get_running_loop()

        def emit(p: Progress) -> None:
            loop.call_soon_threadsafe(xfer.progress, p)

        def register(stop: threading.Event) -> Layer:
            meter = Meter(emit, id_, "Extracting", size)
            with open(path, "rb") as f:
                try:
                    layer = self.layers.register(_CountingReader(f, meter, stop), parent)
                except Cancelled:
                    raise
                except errdefs.BerthdError:
                    raise
                except Exception as err:
                    raise errdefs.System(f"failed to register layer: {err}") from err
            meter.finish()
            return layer

        return await run_undoable(register, self._release_layer)

    def _copy_func(
        self, d: LayerDescriptor, source: Transfer[Layer], parent: Transfer[Layer]
    ) -> Callable[[Transfer[Layer]], Awaitable[Layer]]:
        """The same blob twice in one image: register it again from the first copy."""

        async def run(xfer: Transfer[Layer]) -> Layer:
            xfer.on_release = self._release_layer
            parent_chain = (await parent.result()).chain_id
            src = await source.result()

            def register(stop: threading.Event) -> Layer:
                return self.layers.register(
                    IterStream(self.layers.tar_stream(src.chain_id)), parent_chain
                )

            layer = await run_undoable(register, self._release_layer)
            await d.registered(layer.diff_id)
            return layer

        return run


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class RemoteLayer:
    """A layer blob in a registry repository (moby's v2 ``layerDescriptor``)."""

    def __init__(
        self,
        shared: SharedRepository,
        digest: str,
        size: int,
        source_repository: str,
        metadata: DistributionMetadataStore,
        tmp_dir: str,
    ) -> None:
        self.shared = shared
        self.repo: Repository = shared.repo
        self._acquired = False
        self.digest = digest
        self.size = size
        self.source_repository = source_repository
        self.metadata = metadata
        self.tmp_dir = tmp_dir
        self._path: str | None = None
        self._have = 0
        self._hash = hashlib.sha256()

    @property
    def key(self) -> str:
        return "v2:" + self.digest

    @property
    def id(self) -> str:
        return truncate_id(self.digest)

    async def known_diff_id(self) -> str | None:
        def lookup() -> str | None:
            try:
                return self.metadata.get_diff_id(self.digest)
            except errdefs.BerthdError:
                return None

        return await asyncio.to_thread(lookup)

    async def registered(self, diff_id: str) -> None:
        meta = V2Metadata(self.digest, self.source_repository)
        try:
            await asyncio.to_thread(self.metadata.add, diff_id, meta)
        except (OSError, errdefs.BerthdError) as err:
            log.warning("cannot record v2 metadata for %s: %s", diff_id, err)

    async def close(self) -> None:
        if self._acquired:
            self._acquired = False
            await self.shared.release()
        path, self._path = self._path, None
        if path is not None:
            await asyncio.to_thread(_unlink, path)

    def _create(self) -> str:
        os.makedirs(self.tmp_dir, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=self.tmp_dir)
        os.close(fd)
        return path

    def _truncate(self) -> None:
        assert self._path is not None
        os.truncate(self._path, 0)
        self._have = 0
        self._hash = hashlib.sha256()

    def _append(self, data: bytes) -> None:
        assert self._path is not None
        with open(self._path, "ab") as f:
            f.write(data)
        self._hash.update(data)
        self._have += len(data)

    async def fetch(self, out: Output) -> tuple[str, int]:
        if not self._acquired:
            self._acquired = True
            self.shared.acquire()
        if self._path is None:
            try:
                self._path = await asyncio.to_thread(self._create)
            except OSError as err:
                raise DoNotRetry(err) from None
        offset = self._have
        if offset:
            log.debug("attempting to resume download of %s from %d bytes", self.digest, offset)
        reader = await self.repo.open_blob(self.digest, offset)
        pending: list[bytes] = []
        try:
            if offset and not reader.resumed:
                await asyncio.to_thread(self._truncate)
                offset = 0
            size = reader.total or 0
            if size and offset > size:
                await asyncio.to_thread(self._truncate)
                await reader.close()
                reader = await self.repo.open_blob(self.digest, 0)
                offset, size = 0, reader.total or 0
            meter = Meter(out, self.id, "Downloading", size - offset if size else 0)
            buffered = 0
            while True:
                data = await reader.read(_FLUSH)
                if not data:
                    break
                pending.append(data)
                buffered += len(data)
                meter.add(len(data))
                if buffered >= _FLUSH:
                    await asyncio.to_thread(self._append, b"".join(pending))
                    pending, buffered = [], 0
            if pending:
                await asyncio.to_thread(self._append, b"".join(pending))
            meter.finish()
        except Exception:
            if pending:
                try:  # keep what arrived: the retry resumes after it
                    await asyncio.to_thread(self._append, b"".join(pending))
                except OSError:
                    pass
            raise
        finally:
            await reader.close()
        out(Progress(self.id, "Verifying Checksum"))
        if "sha256:" + self._hash.hexdigest() != self.digest:
            failed = errdefs.InvalidParameter(
                f"filesystem layer verification failed for digest {self.digest}"
            )
            log.error("%s", failed)
            await asyncio.to_thread(self._truncate)
            if offset:
                raise _Retryable(str(failed))
            raise DoNotRetry(failed)
        out(Progress(self.id, "Download complete"))
        path, self._path = self._path, None
        assert path is not None
        return path, self._have


class _Retryable(errdefs.System):
    """Verification failed after a resumed download: one clean retry is worth it."""
