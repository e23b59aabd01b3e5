"""The overlay2 graph driver, with dockerd's on-disk shape.

::

    <data-root>/overlay2/
      l/<26 chars> -> ../<id>/diff      short names keep mount options < 4 KiB
      <id>/diff/                         the layer's own files (whiteouts as 0/0 devices)
      <id>/link                          this layer's short name
      <id>/lower                         "l/A:l/B:..." lower layers, nearest first
      <id>/work/                         overlay's work dir (layers with a parent)
      <id>/merged/                       the mount point while mounted
      .staging/                          half-made layers (garbage at startup)

A layer without a parent is never mounted: its diff dir is the whole view.
dockerd limits a stack to 128 layers (the one-page option limit with 26-char
links); so do we.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

from berthd import errdefs
from berthd.lib.archive import (
    ApplyResult,
    Change,
    ReadStream,
    apply_tar,
    convert_to_overlay,
    overlay_changes,
    tar_tree,
    tree_size,
)

from .digest import short_link_id
from .fsutil import fsync_dir, rmtree, syncfs
from .mounts import MountCounter, mount_overlay, unmount

__all__ = ["MAX_DEPTH", "Overlay2Driver"]

MAX_DEPTH = 128
_ID = re.compile(r"^[0-9a-f]{64}(-init)?$")


def _fixed_options() -> str:
    """Options that keep the upper dir in the plain format our diff code reads.

    A kernel with redirect_dir or metacopy on would record renamed directories
    and metadata-only copy-ups as xattrs that ``docker diff`` and commit cannot
    see (moby then falls back to its slow naive diff). Turning them off per
    mount keeps the fast upper-dir walk correct on every host.
    """
    opts = ["index=off"]
    params = "/sys/module/overlay/parameters"
    for feature in ("redirect_dir", "metacopy"):
        if os.path.exists(os.path.join(params, feature)):
            opts.append(f"{feature}=off")
    return ",".join(opts)


_FIXED_OPTIONS = _fixed_options()


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


class Overlay2Driver:
    """Layers as overlayfs lower/upper directories."""

    name = "overlay2"

    def __init__(self, root: str) -> None:
        self.root = root
        self._links = os.path.join(root, "l")
        self._staging = os.path.join(root, ".staging")
        os.makedirs(self._links, mode=0o700, exist_ok=True)
        os.makedirs(self._staging, mode=0o700, exist_ok=True)
        os.chmod(root, 0o710)
        self._mounts = MountCounter()

    def _dir(self, cache_id: str) -> str:
        if not _ID.match(cache_id):
            raise errdefs.InvalidParameter(f"invalid layer id {cache_id!r}")
        return os.path.join(self.root, cache_id)

    def _lower_for(self, parent: str | None) -> str | None:
        if parent is None:
            return None
        pdir = self._dir(parent)
        if not os.path.isdir(pdir):
            raise errdefs.NotFound(f"parent layer {parent} does not exist")
        lower = "l/" + _read(os.path.join(pdir, "link"))
        with contextlib.suppress(FileNotFoundError):
            lower += ":" + _read(os.path.join(pdir, "lower"))
        if lower.count(":") + 1 > MAX_DEPTH:
            raise errdefs.InvalidParameter("max depth exceeded")
        return lower

    def _new(self, cache_id: str, parent: str | None) -> tuple[str, str]:
        """Stage ``<id>/diff`` (+ lower, work); return (staging dir, link name)."""
        final = self._dir(cache_id)
        if os.path.lexists(final):
            raise errdefs.Conflict(f"layer {cache_id} already exists")
        lower = self._lower_for(parent)
        stage = os.path.join(self._staging, cache_id)
        rmtree(stage)
        os.mkdir(stage, 0o710)
        os.mkdir(os.path.join(stage, "diff"), 0o755)
        link = short_link_id()
        with open(os.path.join(stage, "link"), "w", encoding="ascii") as f:
            f.write(link)
        if lower is not None:
            with open(os.path.join(stage, "lower"), "w", encoding="ascii") as f:
                f.write(lower)
            os.mkdir(os.path.join(stage, "work"), 0o700)
        return stage, link

    def _publish(self, cache_id: str, stage: str, link: str, sync: bool = True) -> None:
        if sync:
            syncfs(stage)
        os.rename(stage, self._dir(cache_id))
        os.symlink(f"../{cache_id}/diff", os.path.join(self._links, link))
        if sync:
            fsync_dir(self._links)
            fsync_dir(self.root)

    def create_from_tar(
        self, cache_id: str, parent: str | None, source: ReadStream, split_path: str | None
    ) -> ApplyResult:
        stage, link = self._new(cache_id, parent)
        try:
            result = apply_tar(source, os.path.join(stage, "diff"), split_path)
            convert_to_overlay(os.path.join(stage, "diff"))
            self._publish(cache_id, stage, link)
        except BaseException:
            rmtree(stage)
            raise
        return result

    def create_rw(self, cache_id: str, parent: str | None) -> None:
        stage, link = self._new(cache_id, parent)
        try:
            self._publish(cache_id, stage, link, sync=False)  # the store fsyncs once
        except BaseException:
            rmtree(stage)
            raise

    def durable_paths(self, cache_id: str) -> list[str]:
        d = self._dir(cache_id)
        names = [
            n for n in ("link", "lower", "diff", "work") if os.path.lexists(os.path.join(d, n))
        ]
        return [*(os.path.join(d, n) for n in names), d, self.root, self._links]

    def exists(self, cache_id: str) -> bool:
        return os.path.isdir(self._dir(cache_id))

    def ids(self) -> list[str]:
        return sorted(n for n in os.listdir(self.root) if _ID.match(n))

    def diff_dir(self, cache_id: str) -> str:
        return os.path.join(self._dir(cache_id), "diff")

    def _lowers(self, cache_id: str) -> list[str]:
        try:
            lower = _read(os.path.join(self._dir(cache_id), "lower"))
        except FileNotFoundError:
            return []
        return [os.path.realpath(os.path.join(self.root, p)) for p in lower.split(":")]

    def get(self, cache_id: str) -> str:
        d = self._dir(cache_id)
        if not os.path.isdir(d):
            raise errdefs.NotFound(f"layer {cache_id} does not exist")
        try:
            lower = _read(os.path.join(d, "lower"))
        except FileNotFoundError:
            return os.path.join(d, "diff")  # a base layer is its own view
        merged = os.path.join(d, "merged")
        if self._mounts.increment(merged) > 1:
            return merged
        try:
            os.makedirs(merged, mode=0o700, exist_ok=True)
            opts = f"{_FIXED_OPTIONS},lowerdir={lower},upperdir={cache_id}/diff,workdir={cache_id}/work"
            mount_overlay(self.root, opts, f"{cache_id}/merged")
        except BaseException:
            self._mounts.decrement(merged)
            raise
        return merged

    def put(self, cache_id: str) -> None:
        d = self._dir(cache_id)
        if not os.path.exists(os.path.join(d, "lower")):
            return
        merged = os.path.join(d, "merged")
        if self._mounts.decrement(merged) > 0:
            return
        unmount(merged)
        with contextlib.suppress(OSError):
            os.rmdir(merged)

    def mount_count(self, cache_id: str) -> int:
        return self._mounts.count(os.path.join(self._dir(cache_id), "merged"))

    def remove(self, cache_id: str) -> None:
        d = self._dir(cache_id)
        if not os.path.isdir(d):
            return
        merged = os.path.join(d, "merged")
        while self._mounts.decrement(merged) > 0:
            pass
        unmount(merged)
        with contextlib.suppress(FileNotFoundError):
            if link := _read(os.path.join(d, "link")):  # empty: cut by a power loss
                os.unlink(os.path.join(self._links, link))
        trash = os.path.join(self._staging, cache_id + "-removing")
        rmtree(trash)
        os.rename(d, trash)
        rmtree(trash)

    def remove_temporaries(self) -> None:
        for name in os.listdir(self._staging):
            rmtree(os.path.join(self._staging, name))
        for name in os.listdir(self._links):
            path = os.path.join(self._links, name)
            if not os.path.exists(path):
                os.unlink(path)

    def changes(self, cache_id: str, parent: str | None) -> list[Change]:
        return overlay_changes(self._lowers(cache_id), self.diff_dir(cache_id))

    def diff_size(self, cache_id: str, parent: str | None) -> int:
        return tree_size(self.diff_dir(cache_id))

    def diff(self, cache_id: str, parent: str | None) -> Iterator[bytes]:
        return tar_tree(self.diff_dir(cache_id), overlay_whiteouts=True)

    def cleanup(self) -> None:
        for merged in self._mounts.paths():
            while self._mounts.decrement(merged) > 0:
                pass
            unmount(merged)
            with contextlib.suppress(OSError):
                os.rmdir(merged)
