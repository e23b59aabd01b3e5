"""A scenario against a swarm store on a real one-member etcd 3.4 (plain http, private
paths, stopped and removed afterwards)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from berthd.cluster import EtcdProcess, EtcdSettings
from berthd.daemon.cluster.store import ObjectStore
from tests.integration.daemon_process import free_port

Scenario = Callable[[ObjectStore], Awaitable[None]]


def run(scenario: Scenario, name: str = "n1") -> None:
    root = Path(tempfile.mkdtemp(prefix="berthd-store-it-"))

    async def main() -> None:
        etcd = EtcdProcess(EtcdSettings(root / "swarm", name, free_port(), free_port()))
        await etcd.start()
        try:
            await scenario(ObjectStore(etcd.client))
        finally:
            await etcd.stop()

    try:
        asyncio.run(main())
    finally:
        shutil.rmtree(root, ignore_errors=True)
