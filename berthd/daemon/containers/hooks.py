"""Seams for services that follow a container's life without owning it.

The network service gives a container its network namespace and addresses;
the health monitor runs probes while it runs. The container service calls
these at fixed points (create, start, exit, remove) and knows nothing else
about them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from berthd.container import Container
from berthd.errdefs import NotFound

log = logging.getLogger("berthd.containers")

__all__ = ["LifecycleHook", "NetworkAttacher", "NetworkSetup", "NoNetwork", "TaskPerContainer"]


@dataclass
class NetworkSetup:
    netns_path: str | None = None  # join this netns; None = the runtime makes a private one
    settings: dict[str, Any] = field(default_factory=dict)  # NetworkSettings updates


class NetworkAttacher(Protocol):
    async def prepare(self, c: Container, networking_config: dict[str, Any]) -> None:
        """At create: check the networks and record the endpoints (may raise)."""

    async def setup(
        self, c: Container, extra_hosts: Sequence[tuple[str, str]] = ()
    ) -> NetworkSetup:
        """At start, before the runtime: make the netns and connect it; ``extra_hosts``
        (address, names) go into /etc/hosts after ``--add-host``'s (links)."""

    async def teardown(self, c: Container) -> None:
        """After the container exited (or its start failed)."""

    async def release(self, c: Container) -> None:
        """At rm: free addresses and endpoints."""


class NoNetwork:
    """Until bridge networks exist: the runtime makes a private netns (loopback only)."""

    async def prepare(self, c: Container, networking_config: dict[str, Any]) -> None:
        mode = str(c.host_config.get("NetworkMode") or "bridge")
        if mode not in ("bridge", "host", "none") and not mode.startswith("container:"):
            raise NotFound(f"network {mode} not found")
        if mode in ("host", "none"):
            c.network_settings["Networks"] = {mode: endpoint_settings()}

    async def setup(
        self, c: Container, extra_hosts: Sequence[tuple[str, str]] = ()
    ) -> NetworkSetup:
        return NetworkSetup()

    async def teardown(self, c: Container) -> None:
        return None

    async def release(self, c: Container) -> None:
        return None


def endpoint_settings() -> dict[str, Any]:
    """An EndpointSettings object with nothing allocated (host and none networks)."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": "",
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None,
        "DNSNames": None,
    }


class LifecycleHook(Protocol):
    """Told when a container starts and when it stops (health checks)."""

    def started(self, c: Container) -> None: ...

    def stopped(self, c: Container) -> None: ...


class TaskPerContainer:
    """Base of hooks that run one task per running container (health probes, log
    rotation): start replaces, stop cancels, ``close`` ends them all and awaits
    them, those cancelled before included (a hook's start and stop are not
    coroutines, so a cancelled task is kept until it has finished)."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[asyncio.Task[None]] = set()

    def _run(self, cid: str, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._cancel(cid)
        self._tasks[cid] = asyncio.create_task(coro, name=name)

    def _cancel(self, cid: str) -> None:
        task = self._tasks.pop(cid, None)
        if task is not None and not task.done():
            task.cancel()
            self._cancelled.add(task)
            task.add_done_callback(self._cancelled.discard)

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *self._cancelled]
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await t
                except Exception:
                    log.exception("%s failed", t.get_name())
