"""The container store: containers in memory, each checkpointed to its directory.

``<root>/<id>/config.v2.json`` holds the whole record (HostConfig included,
so one atomic rename commits a change); ``hostconfig.json`` is written too,
for tools that expect dockerd's layout, but is never read back.

A directory without ``config.v2.json`` is a create that did not finish; the
loader reports it so the daemon can clean it up.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from berthd.container.index import TruncIndex
from berthd.container.model import Container
from berthd.container.names import NameRegistrar
from berthd.errdefs import InvalidParameter, NotFound
from berthd.lib.atomicfile import write_atomic

__all__ = ["CONFIG_FILE", "ContainerStore", "LoadResult"]

log = logging.getLogger("berthd.container")

CONFIG_FILE = "config.v2.json"
HOSTCONFIG_FILE = "hostconfig.json"
_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class LoadResult:
    containers: list[Container] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # IDs of half-created dirs
    corrupt: list[str] = field(default_factory=list)


class ContainerStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._by_id: dict[str, Container] = {}
        self.index = TruncIndex()
        self.names = NameRegistrar()
        # hash of the hostconfig.json last written per container: it is rewritten only
        # when HostConfig changed (most checkpoints change the state alone)
        self._hostconfig_written: dict[str, int] = {}
        # one checkpoint at a time per container, the record taken under the lock: two
        # checkpoints in flight (a start's and the exit that follows it at once) would
        # otherwise race, and the older state could be renamed over the newer one
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- disk -----------------------------------------------------------------------
    def dir_of(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)

    def _lock(self, container_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(container_id, threading.Lock())

    def checkpoint(self, c: Container) -> None:
        """Persist ``c`` atomically (blocking: use asyncio.to_thread on hot paths). The
        record is the container's state when the write starts, so the last checkpoint
        to run writes the newest state."""
        d = self.dir_of(c.id)
        with self._lock(c.id):
            os.makedirs(d, mode=0o710, exist_ok=True)
            record = c.to_disk()
            host_config = orjson.dumps(c.host_config)
            if self._hostconfig_written.get(c.id) != hash(host_config):
                write_atomic(os.path.join(d, HOSTCONFIG_FILE), host_config, mode=0o644, sync=False)
                self._hostconfig_written[c.id] = hash(host_config)
            write_atomic(os.path.join(d, CONFIG_FILE), orjson.dumps(record), mode=0o600)

    def load_all(self) -> LoadResult:
        """Read every container directory (blocking)."""
        result = LoadResult()
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return result
        for entry in entries:
            if not _ID.match(entry):
                continue
            path = os.path.join(self.root, entry, CONFIG_FILE)
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                result.unfinished.append(entry)
                continue
            try:
                c = Container.from_disk(orjson.loads(raw))
            except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as e:
                log.error("failed to load container %s: %s", entry, e)
                result.corrupt.append(entry)
                continue
            if c.id != entry:
                log.error("container directory %s holds container %s; skipped", entry, c.id)
                result.corrupt.append(entry)
                continue
            result.containers.append(c)
        return result

    def remove_dir(self, container_id: str) -> None:
        self._hostconfig_written.pop(container_id, None)
        with self._locks_guard:
            self._locks.pop(container_id, None)
        shutil.rmtree(self.dir_of(container_id), ignore_errors=True)

    # -- memory -----------------------------------------------------------------------
    def add(self, c: Container) -> None:
        self._by_id[c.id] = c
        self.index.add(c.id)

    def delete(self, c: Container) -> None:
        self._by_id.pop(c.id, None)
        self.index.delete(c.id)
        self.names.release(c.name)

    def __iter__(self) -> Iterator[Container]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, ref: str) -> Container:
        """By full ID, then exact name, then unique ID prefix (dockerd's order)."""
        if not ref:
            raise InvalidParameter("invalid container name or ID: value is empty")
        c = self._by_id.get(ref)
        if c is not None:
            return c
        cid = self.names.lookup(ref)
        if cid is not None and cid in self._by_id:
            return self._by_id[cid]
        cid = self.index.get(ref)
        if cid is not None and cid in self._by_id:
            return self._by_id[cid]
        raise NotFound(f"No such container: {ref}")

    def try_get(self, ref: str) -> Container | None:
        try:
            return self.get(ref)
        except NotFound:
            return None
