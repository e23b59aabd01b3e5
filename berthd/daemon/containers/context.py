"""What the container service's collaborators share: the stores and services they
stand on (moby's ``Daemon`` fields that daemon/{create,start,delete,monitor}.go read).

``ContainerContext`` holds only dependencies and the state every verb sees (the
container store, the waiters for exits and removals, the attaches waiting for a
start); each collaborator keeps its own state (the runner its monitors and
restarts, the exec store its records). Built once by ``ContainerService`` and
passed to each collaborator explicitly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from berthd import errdefs
from berthd.config import DaemonConfig
from berthd.container import Container, ContainerStore
from berthd.daemon.containers.attach import PendingAttaches
from berthd.daemon.containers.deps import ImageLookup
from berthd.daemon.containers.files import ContainerPaths
from berthd.daemon.containers.hooks import LifecycleHook, NetworkAttacher, NoNetwork
from berthd.daemon.containers.volumes import VolumeBackend
from berthd.daemon.containers.waiters import Waiters
from berthd.daemon.events import EventsService
from berthd.layer import LayerStore
from berthd.lib.atomicfile import write_atomic
from berthd.oci import parse_signal
from berthd.runtime.supervisor import Supervisor

__all__ = ["DEFAULT_STOP_TIMEOUT", "EXIT_UNKNOWN", "ContainerContext", "log"]

log = logging.getLogger("berthd.containers")

DEFAULT_STOP_TIMEOUT = 10
# dockerd's exit code for a container that failed to start for an unknown reason
EXIT_UNKNOWN = 128


@dataclass(eq=False)
class ContainerContext:
    config: Callable[[], DaemonConfig]
    store: ContainerStore
    layers: LayerStore
    images: ImageLookup
    supervisor: Supervisor
    events: EventsService
    driver_name: str
    default_runtime: Callable[[], str]
    volumes: VolumeBackend
    # set once the network service exists (it needs the container store first)
    network: NetworkAttacher = field(default_factory=NoNetwork)
    hooks: list[LifecycleHook] = field(default_factory=list)
    waiters: Waiters = field(default_factory=Waiters)
    pending_attaches: PendingAttaches = field(default_factory=PendingAttaches)

    @property
    def paths(self) -> ContainerPaths:
        cfg = self.config()
        return ContainerPaths(cfg.data_root, cfg.exec_root)

    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def log_event(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None:
        attrs: dict[str, str] = dict(c.config.get("Labels") or {})
        attrs["image"] = str(c.config.get("Image") or "")
        attrs["name"] = c.name.lstrip("/")
        if extra:
            attrs.update(extra)
        self.events.log("container", action, c.id, attrs)

    def checkpoint_and_remove_on_disk(self, c: Container) -> None:
        """Blocking: checkpoint ``c`` (marked for removal), then remove it from disk."""
        self.store.checkpoint(c)
        self.remove_on_disk(c.id)

    def remove_on_disk(self, cid: str) -> None:
        """Blocking: the rw layer, the container's directory and its bundle."""
        with contextlib.suppress(errdefs.NotFound):
            self.layers.release_rw_layer(cid)
        self.store.remove_dir(cid)
        shutil.rmtree(self.paths.bundle_dir(cid), ignore_errors=True)


def stop_signal_and_timeout(c: Container, sig: str, t: int | None) -> tuple[int, int]:
    """The signal and grace period of a stop: the request's, else the container's."""
    signum = parse_signal(sig or str(c.config.get("StopSignal") or "SIGTERM"))
    if t is None:
        stop_timeout = c.config.get("StopTimeout")
        t = int(stop_timeout) if stop_timeout is not None else DEFAULT_STOP_TIMEOUT
    return signum, t


def write_bundle(bundle: str, spec: dict[str, Any]) -> None:
    os.makedirs(bundle, mode=0o700, exist_ok=True)
    write_atomic(os.path.join(bundle, "config.json"), orjson.dumps(spec), mode=0o600, sync=False)


def utcnow() -> datetime:
    return datetime.now(UTC)
