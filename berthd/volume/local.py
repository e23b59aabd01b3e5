"""The ``local`` volume driver: ``<data-root>/volumes/<name>/_data``.

A plain local volume is a directory. One created with mount options
(``type``/``device``/``o``) keeps them in ``<name>/opts.json`` and mounts them
on ``_data`` while at least one user has it mounted (a count per volume, as
dockerd's ``activeMount``). Everything here blocks; call it from a thread.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from berthd.errdefs import NotFound, System
from berthd.lib.atomicfile import write_atomic
from berthd.lib.fdtree import rmtree
from berthd.volume.model import DEFAULT_DRIVER, LOCAL_SCOPE, DriverVolume
from berthd.volume.mountopts import MountOptions, validate_opts
from berthd.volume.mountopts import is_mounted as _is_mounted
from berthd.volume.mountopts import mount as _mount
from berthd.volume.mountopts import unmount as _unmount
from berthd.volume.names import validate_local_name

__all__ = ["DATA_DIR_NAME", "LocalDriver", "format_created"]

log = logging.getLogger("berthd.volume")

DATA_DIR_NAME = "_data"
OPTS_FILE = "opts.json"


def format_created(ts: float) -> str:
    """Go's ``time.Format(time.RFC3339)`` of a local time: seconds, ``Z`` for UTC."""
    text = datetime.fromtimestamp(int(ts)).astimezone().isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@dataclass
class _Local:
    name: str
    root_path: str  # <root>/<name>: metadata (opts.json)
    path: str  # <root>/<name>/_data: the data, or the mount point
    opts: MountOptions | None = None
    count: int = 0  # active mounts (only counted when the volume needs a mount)
    mounted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def needs_mount(self) -> bool:
        return self.opts is not None and self.opts.needs_mount


class LocalDriver:
    """dockerd's ``volume/local.Root``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._lock = threading.Lock()
        self._volumes: dict[str, _Local] = {}
        os.makedirs(self.root, mode=0o701, exist_ok=True)
        for entry in sorted(os.listdir(self.root)):
            full = os.path.join(self.root, entry)
            if not os.path.isdir(full) or os.path.islink(full):
                continue
            v = self._new(entry)
            v.opts = self._load_opts(v)
            if v.needs_mount and _is_mounted(v.path):
                # Left mounted by a previous daemon (live-restore): remember it,
                # count nothing; restored containers call live_restore().
                v.mounted = True
            self._volumes[entry] = v

    @property
    def name(self) -> str:
        return DEFAULT_DRIVER

    def scope(self) -> str:
        return LOCAL_SCOPE

    def _new(self, name: str) -> _Local:
        root_path = os.path.join(self.root, name)
        return _Local(name, root_path, os.path.join(root_path, DATA_DIR_NAME))

    def _load_opts(self, v: _Local) -> MountOptions | None:
        try:
            with open(os.path.join(v.root_path, OPTS_FILE), "rb") as f:
                data = orjson.loads(f.read())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as e:
            log.warning("error while loading volume options for volume: %s: %s", v.name, e)
            return None
        return MountOptions.from_json(data) if isinstance(data, dict) else None

    def _view(self, v: _Local) -> DriverVolume:
        try:
            created = format_created(os.stat(v.root_path).st_ctime)
        except OSError:
            created = ""
        return DriverVolume(name=v.name, mountpoint=v.path, created_at=created)

    def _lookup(self, name: str) -> _Local:
        with self._lock:
            v = self._volumes.get(name)
        if v is None:
            raise NotFound("volume not found")
        return v

    # -- the Driver contract ---------------------------------------------------------
    def create(self, name: str, opts: Mapping[str, str] | None) -> DriverVolume:
        validate_local_name(name)
        validate_opts(opts)
        with self._lock:
            existing = self._volumes.get(name)
            if existing is not None:
                return self._view(existing)
            v = self._new(name)
            try:
                os.makedirs(v.root_path, mode=0o701, exist_ok=True)
                os.chmod(v.root_path, 0o701)
                os.makedirs(v.path, mode=0o755, exist_ok=True)
                v.opts = MountOptions.from_opts(opts)
                if v.opts is not None:
                    data = orjson.dumps(v.opts.to_json())
                    write_atomic(os.path.join(v.root_path, OPTS_FILE), data, mode=0o600)
            except OSError as e:
                shutil.rmtree(v.root_path, ignore_errors=True)
                raise System(f"error while creating volume root path '{v.root_path}': {e}") from e
            self._volumes[name] = v
            return self._view(v)

    def remove(self, name: str) -> None:
        v = self._lookup(name)
        with v.lock:
            if v.count > 0:
                raise System("volume has active mounts")
            self._do_unmount(v)
            if _is_mounted(v.path):
                # never delete through a mount: a bind of a host directory lives there
                raise System(f"error removing volume path '{v.path}': still mounted")
            real = os.path.realpath(v.path) if os.path.lexists(v.path) else v.root_path
            if real == self.root or not real.startswith(self.root + os.sep):
                raise System(
                    "unable to remove a directory outside of the local volume root "
                    f"{self.root}: {real}"
                )
            for path in (real, v.root_path):
                try:
                    rmtree(path)  # iterative: a container may have made the tree any depth
                except OSError as e:
                    raise System(f"error removing volume path '{path}': {e}") from e
            with self._lock:
                self._volumes.pop(name, None)

    def get(self, name: str) -> DriverVolume | None:
        with self._lock:
            v = self._volumes.get(name)
        return None if v is None else self._view(v)

    def list(self) -> list[DriverVolume]:
        with self._lock:
            vols = list(self._volumes.values())
        return [self._view(v) for v in vols]

    def path(self, name: str) -> str:
        return self._lookup(name).path

    def options(self, name: str) -> MountOptions | None:
        return self._lookup(name).opts

    def mount(self, name: str, ref: str) -> str:
        v = self._lookup(name)
        with v.lock:
            if v.needs_mount:
                if not v.mounted:
                    assert v.opts is not None
                    _mount(v.opts, v.path)
                    v.mounted = True
                v.count += 1
            return v.path

    def unmount(self, name: str, ref: str) -> None:
        v = self._lookup(name)
        with v.lock:
            # Always drop the count, even if unmounting fails: otherwise the
            # volume could never be removed until the daemon restarts (moby).
            if v.needs_mount and v.count > 0:
                v.count -= 1
            if v.count > 0:
                return
            self._do_unmount(v)

    def live_restore(self, name: str, ref: str) -> None:
        v = self._lookup(name)
        with v.lock:
            if v.needs_mount:
                v.count += 1
                v.mounted = True

    def active_mounts(self, name: str) -> int:
        return self._lookup(name).count

    def _do_unmount(self, v: _Local) -> None:
        if not v.needs_mount:
            return
        if v.mounted or _is_mounted(v.path):
            _unmount(v.path)
        v.mounted = False
