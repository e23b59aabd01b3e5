"""Daemon.create and Daemon.shutdown, in process: symmetric, and nothing left behind.

Fifty start-ups and shutdowns in one process (tmp data and exec roots, the vfs
driver, no containers) leave no task, file descriptor or thread, both of the daemon
alone and of ``serve`` (listener, API, signal handlers: what ``berthd`` runs); a
start-up that fails midway unwinds what it had started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from berthd.cli.flags import parse_command_line
from berthd.cli.main import serve
from berthd.config import DaemonConfig
from berthd.daemon import assemble
from berthd.daemon.assemble import Daemon
from tests.integration.daemon_process import remove_cgroups

CYCLES = 50


@pytest.fixture
def config() -> Iterator[DaemonConfig]:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    root = Path(tempfile.mkdtemp(prefix="berthd-lifecycle-"))
    tag = os.urandom(3).hex()
    cfg = DaemonConfig(
        data_root=str(root / "data"),
        exec_root=str(root / "exec"),
        storage_driver="vfs",
        cgroup_parent=f"/berthd-test-{tag}",
        bridge=f"bt-{tag}",
        bip=f"172.31.{int(tag[:2], 16) % 128}.1/24",
        default_address_pools=("base=172.31.128.0/17,size=24",),
        ip_forward=False,
        dns=("127.0.0.1",),
    )
    try:
        yield cfg
    finally:
        remove_cgroups(cfg.cgroup_parent)
        shutil.rmtree(root, ignore_errors=True)


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


async def _cycle(config: DaemonConfig) -> list[asyncio.Task[object]]:
    daemon = await Daemon.create(config)
    await daemon.shutdown()
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


def test_fifty_startups_and_shutdowns_leave_nothing(config: DaemonConfig) -> None:
    assert asyncio.run(_cycle(config)) == []  # the first one loads modules, caches
    fds, threads = _fds(), _threads()
    for _ in range(CYCLES - 1):
        assert asyncio.run(_cycle(config)) == []
    assert _fds() - fds == set()
    assert _threads() - threads == set()


def test_failed_startup_unwinds(config: DaemonConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_cycle(config))
    fds, threads = _fds(), _threads()
    unwound: list[str] = []
    real_shutdown = assemble.VolumesService.shutdown

    async def shutdown(self: assemble.VolumesService) -> None:
        unwound.append("volumes")
        await real_shutdown(self)

    async def broken(*args: object, **kwargs: object) -> object:
        raise OSError("no networks today")

    monkeypatch.setattr(assemble.VolumesService, "shutdown", shutdown)
    monkeypatch.setattr(assemble.NetworksService, "open", broken)

    async def start() -> list[asyncio.Task[object]]:
        with pytest.raises(OSError, match="no networks today"):
            await Daemon.create(config)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(start()) == []
    assert unwound == ["volumes"]
    assert _fds() - fds == set()
    assert _threads() - threads == set()


@pytest.mark.parametrize("failing", ["volumes", "images"])
def test_a_failed_parallel_open_closes_the_others(
    config: DaemonConfig, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The layer and image stores and the volumes open in parallel: when one fails, the
    others (finished, or still in their thread) are closed, and nothing is left."""
    asyncio.run(_cycle(config))
    fds, threads = _fds(), _threads()
    unwound: list[str] = []
    real_release = assemble.Daemon._release_layers
    real_shutdown = assemble.VolumesService.shutdown

    async def release(self: assemble.Daemon) -> None:
        unwound.append("layers")
        await real_release(self)

    async def shutdown(self: assemble.VolumesService) -> None:
        unwound.append("volumes")
        await real_shutdown(self)

    async def broken_volumes(*args: object, **kwargs: object) -> object:
        raise OSError("no volumes today")

    def broken_images(*args: object, **kwargs: object) -> object:
        raise OSError("no images today")

    monkeypatch.setattr(assemble.Daemon, "_release_layers", release)
    monkeypatch.setattr(assemble.VolumesService, "shutdown", shutdown)
    if failing == "volumes":
        monkeypatch.setattr(assemble.VolumesService, "open", broken_volumes)
    else:
        monkeypatch.setattr(assemble, "ImageService", broken_images)

    async def start() -> list[asyncio.Task[object]]:
        with pytest.raises(OSError, match=f"no {failing} today"):
            await Daemon.create(config)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(start()) == []
    assert unwound == (["layers"] if failing == "volumes" else ["volumes"])
    assert _fds() - fds == set()
    assert _threads() - threads == set()


async def _get(sock: str, path: str) -> bytes:
    reader, writer = await asyncio.open_unix_connection(sock)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


async def _serve_cycle(config: DaemonConfig) -> list[asyncio.Task[object]]:
    """``serve`` as ``berthd`` runs it (pid file, listener, API, signal handlers): up,
    two requests, SIGTERM, down; the tasks still alive after it returned."""
    sock = config.hosts[0].removeprefix("unix://")
    before = signal.getsignal(signal.SIGTERM)
    server = asyncio.create_task(serve(config, parse_command_line([])))
    while signal.getsignal(signal.SIGTERM) == before:  # handlers in: it is up
        assert not server.done(), server.exception()
        await asyncio.sleep(0.01)
    assert (await _get(sock, "/_ping")).endswith(b"\r\n\r\nOK")
    assert b" 200 OK\r\n" in await _get(sock, "/v1.43/images/json")
    os.kill(os.getpid(), signal.SIGTERM)
    assert await server == 0
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


def test_fifty_serves_leave_nothing(config: DaemonConfig) -> None:
    """The whole daemon, API listener included, fifty times in one process."""
    root = Path(config.data_root).parent
    config = dataclasses.replace(
        config, hosts=(f"unix://{root}/api.sock",), pidfile=str(root / "berthd.pid")
    )
    assert asyncio.run(_serve_cycle(config)) == []
    fds, threads = _fds(), _threads()
    for _ in range(CYCLES - 1):
        assert asyncio.run(_serve_cycle(config)) == []
        assert not (root / "api.sock").exists() and not (root / "berthd.pid").exists()
    assert _fds() - fds == set()
    assert _threads() - threads == set()
