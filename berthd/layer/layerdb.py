"""The layer database: dockerd's ``image/<driver>/layerdb`` files.

::

    layerdb/sha256/<chain-id hex>/diff              "sha256:<diff id>"
                                  size              bytes of file content (decimal)
                                  cache-id          the driver's directory name
                                  parent            "sha256:<parent chain id>" (absent at the base)
                                  tar-split.berthd.gz   our tar-split record (see lib/archive/tarsplit)
    layerdb/mounts/<container id>/mount-id          driver id of the container's rw layer
                                  init-id           driver id of its "-init" layer
                                  parent            chain id of the image's top layer
    layerdb/tmp/write-set-*                         entries being written (garbage at startup)

Entries are built in ``tmp/`` and renamed into place whole (see fsutil), so
an entry is either complete or absent.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable

from berthd import errdefs

from .digest import digest_hex, validate
from .fsutil import fsync_dir, rmtree, write_file

__all__ = ["SPLIT_FILE", "LayerDB", "LayerRecord", "MountRecord"]

log = logging.getLogger(__name__)
SPLIT_FILE = "tar-split.berthd.gz"


@dataclasses.dataclass(frozen=True)
class LayerRecord:
    chain_id: str
    diff_id: str
    parent: str | None
    cache_id: str
    size: int


@dataclasses.dataclass(frozen=True)
class MountRecord:
    name: str
    mount_id: str
    init_id: str | None
    parent: str | None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


class LayerDB:
    """Reads and writes layerdb entries; knows nothing of reference counts."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._layers = os.path.join(root, "sha256")
        self._mounts = os.path.join(root, "mounts")
        self._tmp = os.path.join(root, "tmp")
        for d in (self._layers, self._mounts, self._tmp):
            os.makedirs(d, mode=0o700, exist_ok=True)

    def remove_temporaries(self) -> None:
        for name in os.listdir(self._tmp):
            rmtree(os.path.join(self._tmp, name))

    def new_write_set(self) -> str:
        """A fresh temp directory to build an entry in."""
        return tempfile.mkdtemp(prefix="write-set-", dir=self._tmp)

    def layer_dir(self, chain_id: str) -> str:
        return os.path.join(self._layers, digest_hex(chain_id))

    def split_path(self, chain_id: str) -> str:
        return os.path.join(self.layer_dir(chain_id), SPLIT_FILE)

    def has_layer(self, chain_id: str) -> bool:
        return os.path.isdir(self.layer_dir(chain_id))

    def commit_layer(self, write_set: str, rec: LayerRecord) -> None:
        """Fill ``write_set`` with ``rec`` and move it into place atomically."""
        write_file(os.path.join(write_set, "diff"), rec.diff_id.encode())
        write_file(os.path.join(write_set, "size"), str(rec.size).encode())
        write_file(os.path.join(write_set, "cache-id"), rec.cache_id.encode())
        if rec.parent is not None:
            write_file(os.path.join(write_set, "parent"), rec.parent.encode())
        fsync_dir(write_set)
        os.rename(write_set, self.layer_dir(rec.chain_id))
        fsync_dir(self._layers)

    def load_layers(self) -> list[LayerRecord]:
        out: list[LayerRecord] = []
        for name in sorted(os.listdir(self._layers)):
            d = os.path.join(self._layers, name)
            try:
                chain = validate("sha256:" + name)
                diff = _read(os.path.join(d, "diff"))
                size = _read(os.path.join(d, "size"))
                cache = _read(os.path.join(d, "cache-id"))
                parent = _read(os.path.join(d, "parent"))
                if diff is None or cache is None:
                    raise errdefs.DataLoss("missing diff or cache-id")
                out.append(
                    LayerRecord(
                        chain_id=chain,
                        diff_id=validate(diff),
                        parent=validate(parent) if parent else None,
                        cache_id=cache,
                        size=int(size or 0),
                    )
                )
            except (errdefs.BerthdError, ValueError, OSError) as exc:
                log.error("failed to load layer %s: %s", name, exc)
        return out

    def remove_layer(self, chain_id: str) -> None:
        """Take the entry out of sight first (rename), then delete it."""
        d = self.layer_dir(chain_id)
        trash = tempfile.mkdtemp(prefix="remove-", dir=self._tmp)
        os.rename(d, os.path.join(trash, "entry"))
        fsync_dir(self._layers)
        rmtree(trash)

    def write_mount(self, rec: MountRecord, flush: Callable[[str], None] | None = None) -> None:
        """With ``flush``: the files are not fsync'd one by one; ``flush(write_set)``
        makes them durable (with whatever else the caller flushes at once) before
        the rename publishes them."""
        ws = self.new_write_set()
        try:
            write_file(os.path.join(ws, "mount-id"), rec.mount_id.encode(), sync=flush is None)
            if rec.init_id is not None:
                write_file(os.path.join(ws, "init-id"), rec.init_id.encode(), sync=flush is None)
            if rec.parent is not None:
                write_file(os.path.join(ws, "parent"), rec.parent.encode(), sync=flush is None)
            if flush is None:
                fsync_dir(ws)
            else:
                flush(ws)
            os.rename(ws, os.path.join(self._mounts, rec.name))
            fsync_dir(self._mounts)
        except BaseException:
            rmtree(ws)
            raise

    def load_mounts(self) -> list[MountRecord]:
        out: list[MountRecord] = []
        for name in sorted(os.listdir(self._mounts)):
            d = os.path.join(self._mounts, name)
            mount_id = _read(os.path.join(d, "mount-id"))
            if mount_id is None:
                log.error("failed to load mount %s: no mount-id", name)
                continue
            parent = _read(os.path.join(d, "parent"))
            out.append(
                MountRecord(
                    name=name,
                    mount_id=mount_id,
                    init_id=_read(os.path.join(d, "init-id")),
                    parent=parent or None,
                )
            )
        return out

    def remove_mount(self, name: str) -> None:
        d = os.path.join(self._mounts, name)
        trash = tempfile.mkdtemp(prefix="remove-", dir=self._tmp)
        os.rename(d, os.path.join(trash, "entry"))
        fsync_dir(self._mounts)
        rmtree(trash)
