from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.distribution.proxy import RegistryProxy
from tests.integration.registry_server import RegistryServer, registry_available

CLI = Callable[..., subprocess.CompletedProcess[str]]


def cli_for(d: BerthdProcess) -> CLI:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": d.base_url, "DOCKER_CONFIG": str(d.root / "cfg")}
        proc = subprocess.run(
            ["docker", *args], capture_output=True, text=True, env=env, timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {proc.stdout}\n{proc.stderr}")
        return proc

    return run


def _daemon() -> BerthdProcess:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    return BerthdProcess().start()


@pytest.fixture
def berthd_a() -> Iterator[BerthdProcess]:
    d = _daemon()
    try:
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def berthd_b() -> Iterator[BerthdProcess]:
    d = _daemon()
    try:
        yield d
    finally:
        d.cleanup()


def _registry(mode: str) -> Iterator[RegistryServer]:
    if not registry_available():
        pytest.skip("docker-registry is not installed")
    with RegistryServer(mode) as reg:
        yield reg


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    yield from _registry("plain")


@pytest.fixture
def htpasswd_registry() -> Iterator[RegistryServer]:
    yield from _registry("htpasswd")


@pytest.fixture
def token_registry() -> Iterator[RegistryServer]:
    yield from _registry("token")


@pytest.fixture
def proxy(registry: RegistryServer) -> Iterator[RegistryProxy]:
    with RegistryProxy(registry.port) as p:
        yield p


def sdk(d: BerthdProcess) -> docker.DockerClient:
    return docker.DockerClient(base_url=d.base_url, timeout=120)


def load(d: BerthdProcess, archive: Path) -> None:
    client = sdk(d)
    try:
        client.images.load(archive.read_bytes())
    finally:
        client.close()


def stream(d: BerthdProcess, method: str, path: str, **kw: Any) -> list[dict[str, Any]]:
    """Raw API call whose answer is a JSON stream; every message, decoded."""
    client = sdk(d)
    try:
        resp = (
            client.api._post(client.api._url(path), stream=True, **kw) if method == "POST" else None
        )
        assert resp is not None
        client.api._raise_for_status(resp)
        return list(client.api._stream_helper(resp, decode=True))
    finally:
        client.close()
