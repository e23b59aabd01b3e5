"""The vfs graph driver: every layer is a full copy of its parent plus its diff.

For file systems where overlay cannot work (overlay on overlay, some
network file systems) and for tests. Slow and space-hungry by design, as
dockerd's: ``<data-root>/vfs/dir/<id>/`` holds the complete tree of layer
``<id>``, so ``get`` needs no mount at all. Copies are
:func:`berthd.lib.fdtree.copy_tree` (``cp -a --reflink=auto`` by directory fds:
keeps owners, modes, xattrs, devices and hardlinks, shares blocks where the file
system can, and copies trees of any depth, which ``cp`` cannot past PATH_MAX).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from berthd import errdefs
from berthd.lib.archive import (
    ApplyResult,
    Change,
    ReadStream,
    apply_tar,
    changes_dirs,
    changes_dirs_size,
    export_changes,
    merge_with_deletions,
)
from berthd.lib.fdtree import copy_tree

from .fsutil import fsync_dir, rmtree, syncfs

__all__ = ["VfsDriver"]

_ID = re.compile(r"^[0-9a-f]{64}(-init)?$")


class VfsDriver:
    """Layers as plain directory copies."""

    name = "vfs"

    def __init__(self, root: str) -> None:
        self.root = root
        self._dirs = os.path.join(root, "dir")
        self._staging = os.path.join(root, ".staging")
        os.makedirs(self._dirs, mode=0o710, exist_ok=True)
        os.makedirs(self._staging, mode=0o700, exist_ok=True)
        self._mounts: dict[str, int] = {}

    def _dir(self, cache_id: str) -> str:
        if not _ID.match(cache_id):
            raise errdefs.InvalidParameter(f"invalid layer id {cache_id!r}")
        return os.path.join(self._dirs, cache_id)

    def _stage(self, cache_id: str, parent: str | None) -> str:
        if os.path.lexists(self._dir(cache_id)):
            raise errdefs.Conflict(f"layer {cache_id} already exists")
        stage = os.path.join(self._staging, cache_id)
        rmtree(stage)
        if parent is None:
            os.mkdir(stage, 0o755)
            return stage
        pdir = self._dir(parent)
        if not os.path.isdir(pdir):
            raise errdefs.NotFound(f"parent layer {parent} does not exist")
        try:
            copy_tree(pdir, stage)
        except OSError as exc:
            rmtree(stage)
            raise errdefs.System(f"vfs: copy of {parent} failed: {exc}") from exc
        return stage

    def _publish(self, cache_id: str, stage: str) -> None:
        syncfs(stage)
        os.rename(stage, self._dir(cache_id))
        fsync_dir(self._dirs)

    def create_from_tar(
        self, cache_id: str, parent: str | None, source: ReadStream, split_path: str | None
    ) -> ApplyResult:
        stage = self._stage(cache_id, parent)
        unpack = stage + "-unpack"
        try:
            os.mkdir(unpack, 0o755)
            result = apply_tar(source, unpack, split_path)
            merge_with_deletions(unpack, stage)
            self._publish(cache_id, stage)
        except BaseException:
            rmtree(stage)
            raise
        finally:
            rmtree(unpack)
        return result

    def create_rw(self, cache_id: str, parent: str | None) -> None:
        stage = self._stage(cache_id, parent)
        try:
            self._publish(cache_id, stage)
        except BaseException:
            rmtree(stage)
            raise

    def exists(self, cache_id: str) -> bool:
        return os.path.isdir(self._dir(cache_id))

    def ids(self) -> list[str]:
        return sorted(n for n in os.listdir(self._dirs) if _ID.match(n))

    def diff_dir(self, cache_id: str) -> str:
        return self._dir(cache_id)

    def get(self, cache_id: str) -> str:
        d = self._dir(cache_id)
        if not os.path.isdir(d):
            raise errdefs.NotFound(f"layer {cache_id} does not exist")
        self._mounts[cache_id] = self._mounts.get(cache_id, 0) + 1
        return d

    def put(self, cache_id: str) -> None:
        count = self._mounts.get(cache_id, 0) - 1
        if count > 0:
            self._mounts[cache_id] = count
        else:
            self._mounts.pop(cache_id, None)

    def mount_count(self, cache_id: str) -> int:
        return self._mounts.get(cache_id, 0)

    def remove(self, cache_id: str) -> None:
        d = self._dir(cache_id)
        self._mounts.pop(cache_id, None)
        if not os.path.isdir(d):
            return
        trash = os.path.join(self._staging, cache_id + "-removing")
        rmtree(trash)
        os.rename(d, trash)
        rmtree(trash)

    def remove_temporaries(self) -> None:
        for name in os.listdir(self._staging):
            rmtree(os.path.join(self._staging, name))

    def changes(self, cache_id: str, parent: str | None) -> list[Change]:
        return changes_dirs(self._dir(cache_id), self._dir(parent) if parent else None)

    def diff_size(self, cache_id: str, parent: str | None) -> int:
        return changes_dirs_size(self._dir(cache_id), self._dir(parent) if parent else None)

    def diff(self, cache_id: str, parent: str | None) -> Iterator[bytes]:
        return export_changes(self._dir(cache_id), self.changes(cache_id, parent))

    def cleanup(self) -> None:
        self._mounts.clear()
