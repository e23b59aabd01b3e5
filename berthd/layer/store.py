"""The layer store: read-only layers keyed by chain ID, and containers' rw layers.

This is moby's ``layer.Store``. Read-only layers are reference-counted in
memory, as dockerd's: ``register`` and ``get`` each take a reference,
``release`` drops one. Child layers and containers' rw layers are counted
apart (``dependents``), so an extra ``release`` can never pull a layer from
under its children: a layer goes when it has neither references nor
dependents, and its parent may follow. After a restart the dependents are
rebuilt from disk; the image store takes its references again with ``get``.

All methods block (tar, fsync, rmtree): async code uses
:class:`berthd.layer.aio.AsyncLayerStore`. One lock guards the maps; the
slow work (unpacking, deleting trees) runs outside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator

from berthd import errdefs
from berthd.lib.archive import Change, ReadStream, reassemble, tar_tree

from .digest import chain_id as make_chain_id
from .digest import random_id
from .driver import Driver
from .fsutil import fsync_all, rmtree
from .initlayer import setup_init_layer
from .iterstream import IterStream
from .layerdb import SPLIT_FILE, LayerDB, LayerRecord, MountRecord

__all__ = ["Layer", "LayerStore", "Metadata", "RWLayer"]

log = logging.getLogger(__name__)

ERR_LAYER_NOT_FOUND = "layer does not exist"
ERR_MOUNT_NOT_FOUND = "mount does not exist"
ERR_MOUNT_CONFLICT = "mount already exists with name"
ERR_ACTIVE_MOUNT = "mount still active"


@dataclasses.dataclass(frozen=True)
class Layer:
    """A read-only layer. ``size`` is this layer's own content size."""

    chain_id: str
    diff_id: str
    parent: str | None
    cache_id: str
    size: int


@dataclasses.dataclass(frozen=True)
class Metadata:
    """What ``release`` deleted (``docker rmi`` prints these)."""

    chain_id: str
    diff_id: str
    size: int


@dataclasses.dataclass(frozen=True)
class RWLayer:
    """A container's writable layer (``layerdb/mounts/<name>``)."""

    name: str
    mount_id: str
    init_id: str | None
    parent: str | None


@dataclasses.dataclass
class _Entry:
    layer: Layer
    refs: int = 0  # taken by register/get, dropped by release
    dependents: int = 0  # child layers + rw layers (+ registers in progress)


def _layer(rec: LayerRecord) -> Layer:
    return Layer(rec.chain_id, rec.diff_id, rec.parent, rec.cache_id, rec.size)


InitFunc = Callable[[str], None]


class LayerStore:
    """Layers of one graph driver under ``<data-root>/image/<driver>/layerdb``."""

    def __init__(self, data_root: str, driver: Driver) -> None:
        self.driver = driver
        self.db = LayerDB(os.path.join(data_root, "image", driver.name, "layerdb"))
        self._lock = threading.RLock()
        self._layers: dict[str, _Entry] = {}
        self._rw: dict[str, RWLayer] = {}
        self._creating: set[str] = set()
        self._load()

    # ---- startup -------------------------------------------------------------

    def _load(self) -> None:
        """Read layerdb, rebuild counts, and garbage-collect what a crash left."""
        self.db.remove_temporaries()
        self.driver.remove_temporaries()
        records = {r.chain_id: r for r in self.db.load_layers()}
        usable: dict[str, bool] = {}

        def ok(chain: str) -> bool:
            """A layer loads if its data and its whole parent chain are there."""
            if chain not in usable:
                usable[chain] = False  # guards against a parent cycle on disk
                rec = records.get(chain)
                if rec is None:
                    log.error("layer %s is missing", chain)
                elif not self.driver.exists(rec.cache_id):
                    log.error("layer %s: driver data %s is missing", chain, rec.cache_id)
                else:
                    usable[chain] = rec.parent is None or ok(rec.parent)
            return usable[chain]

        for rec in records.values():
            if ok(rec.chain_id):
                self._layers[rec.chain_id] = _Entry(_layer(rec))
        for entry in self._layers.values():
            parent = entry.layer.parent
            if parent is not None and parent in self._layers:
                self._layers[parent].dependents += 1
        for m in self.db.load_mounts():
            self._rw[m.name] = RWLayer(m.name, m.mount_id, m.init_id, m.parent)
            if m.parent is not None and m.parent in self._layers:
                self._layers[m.parent].dependents += 1
        keep = {e.layer.cache_id for e in self._layers.values()}
        for rw in self._rw.values():
            keep.add(rw.mount_id)
            if rw.init_id:
                keep.add(rw.init_id)
        for cache_id in self.driver.ids():
            if cache_id not in keep:
                log.warning("removing unreferenced layer data %s", cache_id)
                self.driver.remove(cache_id)

    # ---- read-only layers ----------------------------------------------------

    def _entry(self, chain_id: str) -> _Entry:
        entry = self._layers.get(chain_id)
        if entry is None:
            raise errdefs.NotFound(ERR_LAYER_NOT_FOUND)
        return entry

    def register(
        self, source: ReadStream, parent: str | None = None, expected_diff_id: str | None = None
    ) -> Layer:
        """Unpack a layer tar (plain, gzip or zstd) on top of ``parent``.

        Returns the layer with one reference taken. Registering content that
        is already there stores nothing new and takes another reference.
        """
        with self._lock:
            parent_entry = self._entry(parent) if parent is not None else None
            if parent_entry is not None:
                parent_entry.dependents += 1  # held while we unpack; becomes the child's
        write_set = self.db.new_write_set()
        cache_id = random_id()
        created = False
        try:
            result = self.driver.create_from_tar(
                cache_id,
                parent_entry.layer.cache_id if parent_entry else None,
                source,
                os.path.join(write_set, SPLIT_FILE),
            )
            created = True
            if expected_diff_id is not None and result.diff_id != expected_diff_id:
                raise errdefs.InvalidParameter(
                    f"invalid diffID for layer: expected {expected_diff_id!r},"
                    f" got {result.diff_id!r}"
                )
            chain = make_chain_id(parent, result.diff_id)
            with self._lock:
                existing = self._layers.get(chain)
                if existing is not None:
                    existing.refs += 1
                else:
                    rec = LayerRecord(chain, result.diff_id, parent, cache_id, result.size)
                    self.db.commit_layer(write_set, rec)
                    entry = _Entry(_layer(rec), refs=1)
                    self._layers[chain] = entry
                    return entry.layer
        except BaseException:
            rmtree(write_set)
            if created:
                self.driver.remove(cache_id)
            self._drop_dependent(parent)
            raise
        # A duplicate: drop our copy and the hold on the parent the copy had.
        rmtree(write_set)
        self.driver.remove(cache_id)
        self._drop_dependent(parent)
        return existing.layer

    def get(self, chain_id: str) -> Layer:
        """Take a reference on a layer."""
        with self._lock:
            entry = self._entry(chain_id)
            entry.refs += 1
            return entry.layer

    def lookup(self, chain_id: str) -> Layer:
        """The layer, without taking a reference."""
        with self._lock:
            return self._entry(chain_id).layer

    def layers(self) -> dict[str, Layer]:
        with self._lock:
            return {k: e.layer for k, e in self._layers.items()}

    def references(self, chain_id: str) -> int:
        """References taken by ``register``/``get`` and not released."""
        with self._lock:
            return self._entry(chain_id).refs

    def dependents(self, chain_id: str) -> int:
        """Child layers and rw layers sitting on this layer."""
        with self._lock:
            return self._entry(chain_id).dependents

    def total_size(self, chain_id: str) -> int:
        """Size of the layer and all below it (an image's ``Size``)."""
        with self._lock:
            total = 0
            cur: str | None = chain_id
            while cur is not None:
                layer = self._entry(cur).layer
                total += layer.size
                cur = layer.parent
            return total

    def release(self, chain_id: str) -> list[Metadata]:
        """Drop one reference; delete what is left unused (this layer, then down
        the chain). Returns the deleted layers, top first."""
        with self._lock:
            entry = self._entry(chain_id)
            if entry.refs <= 0:
                raise errdefs.Conflict(f"layer not retained: {chain_id}")
            entry.refs -= 1
            doomed = self._collect(chain_id)
        return self._delete(doomed)

    def _drop_dependent(self, chain_id: str | None) -> list[Metadata]:
        if chain_id is None:
            return []
        with self._lock:
            self._entry(chain_id).dependents -= 1
            doomed = self._collect(chain_id)
        return self._delete(doomed)

    def _collect(self, chain_id: str) -> list[Layer]:
        """Unlink unused layers from ``chain_id`` down (lock held)."""
        doomed: list[Layer] = []
        cur: str | None = chain_id
        while cur is not None:
            entry = self._entry(cur)
            if entry.refs > 0 or entry.dependents > 0:
                break
            del self._layers[cur]
            self.db.remove_layer(cur)
            doomed.append(entry.layer)
            cur = entry.layer.parent
            if cur is not None:
                self._entry(cur).dependents -= 1
        return doomed

    def _delete(self, doomed: list[Layer]) -> list[Metadata]:
        for layer in doomed:
            self.driver.remove(layer.cache_id)
        return [Metadata(x.chain_id, x.diff_id, x.size) for x in doomed]

    def tar_stream(self, chain_id: str, verify: bool = True) -> Iterator[bytes]:
        """The layer's exact original tar bytes (sha256 == diff ID).

        With ``verify``, a mismatch raises DataLoss after the last chunk.
        """
        layer = self.lookup(chain_id)
        digest = hashlib.sha256()
        for chunk in reassemble(self.db.split_path(chain_id), self.driver.diff_dir(layer.cache_id)):
            digest.update(chunk)
            yield chunk
        if verify and "sha256:" + digest.hexdigest() != layer.diff_id:
            raise errdefs.DataLoss(f"layer {chain_id}: regenerated tar does not match its diff ID")

    # ---- read-write layers ---------------------------------------------------

    def create_rw_layer(
        self, name: str, parent: str | None, init_func: InitFunc | None = setup_init_layer
    ) -> RWLayer:
        """A container's writable layer on ``parent``, with an ``-init`` layer
        populated by ``init_func`` (None: no init layer)."""
        with self._lock:
            if name in self._rw or name in self._creating:
                raise errdefs.Conflict(ERR_MOUNT_CONFLICT)
            parent_entry = self._entry(parent) if parent is not None else None
            if parent_entry is not None:
                parent_entry.dependents += 1
            self._creating.add(name)
        mount_id = random_id()
        init_id = mount_id + "-init" if init_func is not None else None
        made: list[str] = []
        try:
            below = parent_entry.layer.cache_id if parent_entry else None
            if init_id is not None and init_func is not None:
                self.driver.create_rw(init_id, below)
                made.append(init_id)
                path = self.driver.get(init_id)
                try:
                    init_func(path)
                finally:
                    self.driver.put(init_id)
                below = init_id
            self.driver.create_rw(mount_id, below)
            made.append(mount_id)
            rw = RWLayer(name, mount_id, init_id, parent)
            # one batch of fsyncs for both layers and the record, before the record
            # is published
            self.db.write_mount(
                MountRecord(name, mount_id, init_id, parent),
                lambda ws: fsync_all(
                    [*(os.path.join(ws, n) for n in os.listdir(ws)), ws]
                    + [p for cache_id in made for p in self.driver.durable_paths(cache_id)]
                ),
            )
        except BaseException:
            for cache_id in reversed(made):
                self.driver.remove(cache_id)
            with self._lock:
                self._creating.discard(name)
            self._drop_dependent(parent)
            raise
        with self._lock:
            self._creating.discard(name)
            self._rw[name] = rw
        return rw

    def get_rw_layer(self, name: str) -> RWLayer:
        with self._lock:
            rw = self._rw.get(name)
            if rw is None:
                raise errdefs.NotFound(ERR_MOUNT_NOT_FOUND)
            return rw

    def rw_layers(self) -> dict[str, RWLayer]:
        with self._lock:
            return dict(self._rw)

    def mount(self, name: str) -> str:
        """Mount the container's rootfs (ref-counted); return the merged path."""
        return self.driver.get(self.get_rw_layer(name).mount_id)

    def unmount(self, name: str) -> None:
        self.driver.put(self.get_rw_layer(name).mount_id)

    def mount_count(self, name: str) -> int:
        return self.driver.mount_count(self.get_rw_layer(name).mount_id)

    def _below(self, rw: RWLayer) -> str | None:
        if rw.init_id is not None:
            return rw.init_id
        return self.lookup(rw.parent).cache_id if rw.parent is not None else None

    def changes(self, name: str) -> list[Change]:
        """``docker diff``: the container's changes against its image."""
        rw = self.get_rw_layer(name)
        return self.driver.changes(rw.mount_id, self._below(rw))

    def rw_size(self, name: str) -> int:
        """Bytes the container wrote (``docker ps -s`` SizeRw)."""
        rw = self.get_rw_layer(name)
        return self.driver.diff_size(rw.mount_id, self._below(rw))

    def diff_tar(self, name: str) -> Iterator[bytes]:
        """The container's changes as a layer tar (deletions as ``.wh.`` entries)."""
        rw = self.get_rw_layer(name)
        return self.driver.diff(rw.mount_id, self._below(rw))

    def commit(self, name: str) -> Layer:
        """Register the container's changes as a new layer on its image."""
        rw = self.get_rw_layer(name)
        return self.register(IterStream(self.diff_tar(name)), rw.parent)

    def export_rootfs(self, name: str) -> Iterator[bytes]:
        """``docker export``: a tar of the container's whole merged filesystem."""
        path = self.mount(name)
        try:
            yield from tar_tree(path)
        finally:
            self.unmount(name)

    def release_rw_layer(self, name: str) -> list[Metadata]:
        """Delete the container's layers; refused while mounted."""
        with self._lock:
            rw = self.get_rw_layer(name)
            if self.driver.mount_count(rw.mount_id) > 0:
                raise errdefs.Conflict(ERR_ACTIVE_MOUNT)
            del self._rw[name]
            self.db.remove_mount(name)
        self.driver.remove(rw.mount_id)
        if rw.init_id is not None:
            self.driver.remove(rw.init_id)
        return self._drop_dependent(rw.parent)

    # ---- shutdown --------------------------------------------------------------

    def cleanup(self) -> None:
        """Unmount all the driver mounted (daemon shutdown without live-restore)."""
        with contextlib.suppress(errdefs.BerthdError):
            self.driver.cleanup()
