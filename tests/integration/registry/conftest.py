from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.registry_server import FakeIndex, RegistryServer, registry_available


def _server(mode: str, **kw: object) -> Iterator[RegistryServer]:
    if not registry_available():
        pytest.skip("docker-registry or openssl is not installed")
    with RegistryServer(mode, **kw) as reg:  # type: ignore[arg-type]
        yield reg


@pytest.fixture
def plain_registry() -> Iterator[RegistryServer]:
    yield from _server("plain")


@pytest.fixture
def htpasswd_registry() -> Iterator[RegistryServer]:
    yield from _server("htpasswd")


@pytest.fixture
def token_registry() -> Iterator[RegistryServer]:
    yield from _server("token")


@pytest.fixture(params=["plain", "htpasswd", "token"])
def any_registry(request: pytest.FixtureRequest) -> Iterator[RegistryServer]:
    yield from _server(request.param)


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    with FakeIndex() as index:
        yield index
