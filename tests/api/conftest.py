from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from berthd.api import APIOptions, Backends, build_app
from berthd.config import DaemonConfig
from berthd.daemon.components import Component
from berthd.daemon.events import EventsService
from berthd.daemon.hostinfo import HostInfo
from berthd.daemon.system import StorageStatus, SystemService

HOST = HostInfo(
    hostname="testhost",
    kernel_version="6.1.0",
    operating_system="Debian GNU/Linux 12",
    os_version="12",
    architecture="x86_64",
    ncpu=2,
    mem_total=1 << 30,
    cgroup_version="1",
    memory_limit=True,
    swap_limit=False,
    cpu_cfs_period=True,
    cpu_cfs_quota=True,
    cpu_shares=True,
    cpuset=True,
    pids_limit=True,
    oom_kill_disable=True,
    ipv4_forwarding=True,
    bridge_nf_iptables=True,
    bridge_nf_ip6tables=True,
    overlay_supported=True,
)


@pytest.fixture
def events() -> EventsService:
    return EventsService()


@pytest.fixture
def system(events: EventsService) -> SystemService:
    cfg = DaemonConfig(labels=("zone=test",), data_root="/data")
    return SystemService(
        config=lambda: cfg,
        daemon_id="ABCD:EFGH",
        host=HOST,
        events=events,
        components=[Component("runc", "/usr/sbin/runc", "1.1.5", "abc")],
        storage=lambda: StorageStatus("overlay2", [["Backing Filesystem", "extfs"]]),
        default_runtime=lambda: "runc",
    )


def make_client(system: SystemService, cors: str = "") -> TestClient:  # type: ignore[type-arg]
    app = build_app(
        Backends(system=system),
        APIOptions(version="1.45", min_version="1.24", server_version="0.1.0", cors_header=cors),
    )
    return TestClient(TestServer(app))


@pytest_asyncio.fixture
async def client(system: SystemService) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    c = make_client(system)
    await c.start_server()
    yield c
    await c.close()


@contextlib.asynccontextmanager
async def serve_backends(backends: Backends) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """A started test client for an app over ``backends`` (fakes of the routers' protocols)."""
    app = build_app(
        backends, APIOptions(version="1.45", min_version="1.24", server_version="0.1.0")
    )
    c = TestClient(TestServer(app))
    await c.start_server()
    try:
        yield c
    finally:
        await c.close()
