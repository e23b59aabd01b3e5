"""Registry routes in-process: /auth bodies, /images/search parameters and route order."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berthd.api import APIOptions, Backends, build_app
from berthd.daemon.system import SystemService
from berthd.registry.auth_config import AuthConfig
from berthd.registry.config import ServiceOptions
from berthd.registry.search import SearchResult
from berthd.registry.service import RegistryService
from tests.api.test_images import FakeImages

Client = TestClient[web.Request, web.Application]
OPTS = APIOptions(version="1.45", min_version="1.24", server_version="0.1.0", cors_header="")


class FakeRegistry:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def auth(self, cfg: AuthConfig, user_agent: str) -> tuple[str, str]:
        self.calls.append(("auth", (cfg, user_agent)))
        return "Login Succeeded", "tok"

    async def search(
        self,
        term: str,
        limit: int,
        cfg: AuthConfig,
        headers: Mapping[str, str],
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[SearchResult]:
        self.calls.append(("search", (term, limit, cfg, dict(headers), filters)))
        return [
            {
                "star_count": 1,
                "is_official": True,
                "name": "busybox",
                "is_automated": False,
                "description": "d",
            }
        ]


@pytest_asyncio.fixture
async def fake(system: SystemService) -> AsyncIterator[tuple[Client, FakeRegistry]]:
    reg = FakeRegistry()
    app = build_app(Backends(system=system, images=FakeImages(), registry=reg), OPTS)  # type: ignore[arg-type]
    c: Client = TestClient(TestServer(app))
    await c.start_server()
    yield c, reg
    await c.close()


@pytest_asyncio.fixture
async def real(system: SystemService) -> AsyncIterator[Client]:
    svc = RegistryService(ServiceOptions())
    app = build_app(Backends(system=system, images=FakeImages(), registry=svc), OPTS)  # type: ignore[arg-type]
    c: Client = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()
    await svc.close()


async def test_auth_route(fake: tuple[Client, FakeRegistry]) -> None:
    client, reg = fake
    r = await client.post(
        "/v1.45/auth",
        data=orjson.dumps({"username": "u", "password": "p", "serveraddress": "h:5000"}),
        headers={"User-Agent": "Docker-Client/28.2.2 (linux)"},
    )
    assert r.status == 200
    assert await r.json() == {"IdentityToken": "tok", "Status": "Login Succeeded"}
    cfg, ua = reg.calls[-1][1]
    assert cfg == AuthConfig(username="u", password="p", serveraddress="h:5000")
    assert ua.startswith("berthd/") and ua.endswith(
        "UpstreamClient(Docker-Client/28.2.2 \\(linux\\))"
    )

    empty = await client.post("/auth", data=b"")
    assert empty.status == 400
    bad = await client.post("/auth", data=b'{"username": 1}')
    assert bad.status == 400
    assert (
        "cannot unmarshal number into Go struct field AuthConfig.username of type string"
        in (await bad.json())["message"]
    )


async def test_search_route_before_image_routes(fake: tuple[Client, FakeRegistry]) -> None:
    client, reg = fake
    auth = base64.urlsafe_b64encode(b'{"username":"u","password":"p"}').decode().rstrip("=")
    r = await client.get(
        "/v1.45/images/search",
        params={"term": "busybox", "limit": "5", "filters": '{"is-official":{"true":true}}'},
        headers={"X-Registry-Auth": auth, "X-Meta-Trace": "1"},
    )
    assert r.status == 200
    assert (await r.json())[0]["name"] == "busybox"
    term, limit, cfg, headers, filters = reg.calls[-1][1]
    assert (term, limit, cfg.username, filters) == ("busybox", 5, "u", {"is-official": ["true"]})
    assert headers["X-Meta-Trace"] == "1" and headers["User-Agent"].startswith("berthd/")
    assert not any(name == "search" for name, _ in FakeImages().calls)

    for limit, message in (
        ("-1", "invalid limit specified"),
        ("x", 'invalid limit specified: strconv.Atoi: parsing "x": invalid syntax'),
    ):
        r = await client.get("/images/search", params={"term": "busybox", "limit": limit})
        assert r.status == 400 and (await r.json())["message"] == message


async def test_search_errors_before_the_network(real: Client) -> None:
    cases = [
        ({"term": "busybox", "limit": "101"}, "limit 101 is outside the range of [1, 100]"),
        ({"term": "http://x/busybox"}, "invalid repository name: repository name (http://x/busybox) should not have a scheme"),
        ({"term": "busybox", "filters": '{"color":["red"]}'}, "invalid filter 'color'"),
        ({"term": "busybox", "filters": '{"stars":["x"]}'}, "invalid filter 'stars=x': strconv.Atoi: parsing \"x\": invalid syntax"),
        ({"term": "busybox", "filters": '{"is-official":["maybe"]}'}, "invalid filter 'is-official=[maybe]'"),
    ]  # fmt: skip
    for params, message in cases:
        r = await real.get("/images/search", params=params)
        assert r.status == 400, params
        assert (await r.json())["message"] == message
    automated = await real.get(
        "/images/search", params={"term": "busybox", "filters": '{"is-automated":["true"]}'}
    )
    assert automated.status == 200 and await automated.json() == []
