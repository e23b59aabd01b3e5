"""The client's HTTP rules against small aiohttp servers on loopback.

Things a real docker-registry cannot show: a cross-host redirect (credentials must not
follow it), a manifest over 4 MiB, redirect loops, the OAuth refresh-token exchange and
pass-through registry tokens.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from berthd import errdefs
from berthd.registry.auth_config import AuthConfig
from berthd.registry.config import ServiceOptions
from berthd.registry.endpoints import Endpoint
from berthd.registry.errors import TransportError
from berthd.registry.repository import MAX_MANIFEST_SIZE
from berthd.registry.service import RegistryService

BASIC = "Basic " + base64.b64encode(b"u:p").decode()


@dataclass
class Seen:
    a: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    storage: list[dict[str, str]] = field(default_factory=list)
    token: list[tuple[str, str, str]] = field(default_factory=list)
    auth: str = "basic"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[TestServer, TestServer, Seen]]:
    seen = Seen()
    storage = web.Application()

    async def blob(request: web.Request) -> web.StreamResponse:
        seen.storage.append(dict(request.headers))
        return web.Response(
            body=b"0123456789"[int(request.headers.get("Range", "bytes=0-")[6:-1]) :],
            status=206 if "Range" in request.headers else 200,
        )

    storage.router.add_get("/storage/blob", blob)
    b = TestServer(storage, host="localhost")
    await b.start_server()

    app = web.Application()

    async def v2(request: web.Request) -> web.StreamResponse:
        seen.a.append((request.path_qs, dict(request.headers)))
        if seen.auth == "basic":
            if request.headers.get("Authorization") != BASIC:
                return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        else:
            realm = f"http://127.0.0.1:{request.url.port}/token"
            if not request.headers.get("Authorization", "").startswith("Bearer "):
                return web.Response(
                    status=401,
                    headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="svc"'},
                )
        path = request.path
        if path.endswith("/blobs/sha256:redirected"):
            return web.Response(
                status=307, headers={"Location": f"http://localhost:{b.port}/storage/blob"}
            )
        if path.endswith("/blobs/sha256:loop"):
            return web.Response(status=302, headers={"Location": path})
        if path.endswith("/manifests/big"):
            resp = web.StreamResponse(
                headers={"Content-Type": "application/vnd.oci.image.index.v1+json"}
            )
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(MAX_MANIFEST_SIZE // 65536 + 1):
                await resp.write(b" " * 65536)
            await resp.write_eof()
            return resp
        if path.endswith("/blobs/sha256:stall"):
            resp = web.StreamResponse(headers={"Content-Length": "100"})
            await resp.prepare(request)
            await resp.write(b"x" * 10)
            await asyncio.sleep(30)
            return resp
        if path.endswith("/manifests/sized"):
            return web.Response(body=b" " * (MAX_MANIFEST_SIZE + 1))
        return web.json_response({})

    async def token(request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else {}
        seen.token.append(
            (request.method, request.query_string, "&".join(f"{k}={v}" for k, v in form.items()))
        )
        return web.json_response({"access_token": "AT", "expires_in": 10})

    app.router.add_route("*", "/v2/{tail:.*}", v2)
    app.router.add_route("*", "/token", token)
    a = TestServer(app, host="127.0.0.1")
    await a.start_server()
    try:
        yield a, b, seen
    finally:
        await a.close()
        await b.close()


def _endpoint(server: TestServer) -> Endpoint:
    return Endpoint(url=f"http://127.0.0.1:{server.port}", tls_verify=False, insecure=True)


async def test_cross_host_redirect_drops_credentials(
    servers: tuple[TestServer, TestServer, Seen],
) -> None:
    a, _, seen = servers
    svc = RegistryService(ServiceOptions())
    try:
        repo = await svc.open_repository(
            _endpoint(a), "t/app", AuthConfig(username="u", password="p"), ("pull",)
        )
        reader = await repo.open_blob("sha256:redirected", offset=3)
        assert await reader.read() == b"3456789"
        assert reader.resumed and reader.total == 10
        await reader.close()
        assert seen.a[-1][1]["Authorization"] == BASIC
        assert seen.a[-1][1]["Range"] == "bytes=3-"
        hop = seen.storage[-1]
        assert "Authorization" not in hop
        assert hop["Range"] == "bytes=3-"

        with pytest.raises(TransportError, match="stopped after 10 redirects"):
            await repo.open_blob("sha256:loop")
    finally:
        await svc.close()


async def test_manifest_limit(servers: tuple[TestServer, TestServer, Seen]) -> None:
    a, _, _ = servers
    svc = RegistryService(ServiceOptions())
    try:
        repo = await svc.open_repository(
            _endpoint(a), "t/app", AuthConfig(username="u", password="p"), ("pull",)
        )
        for ref in ("big", "sized"):
            with pytest.raises(errdefs.System, match="exceeds the limit of 4194304 bytes"):
                await repo.get_manifest(ref)
    finally:
        await svc.close()


async def test_identity_token_uses_oauth_and_caches(
    servers: tuple[TestServer, TestServer, Seen],
) -> None:
    a, _, seen = servers
    seen.auth = "token"
    svc = RegistryService(ServiceOptions())
    try:
        creds = AuthConfig(username="u", identitytoken="refresh-me")
        repo = await svc.open_repository(_endpoint(a), "t/app", creds, ("pull", "push"))
        await repo.get_manifest("x")
        await repo.get_manifest("y")
        assert len(seen.token) == 1  # expires_in 10 → 60: cached
        method, _, form = seen.token[0]
        assert method == "POST"
        assert "grant_type=refresh_token" in form and "refresh_token=refresh-me" in form
        assert "client_id=docker" in form and "scope=repository:t/app:pull,push" in form
        assert seen.a[-1][1]["Authorization"] == "Bearer AT"

        seen.token.clear()
        anon = await svc.open_repository(_endpoint(a), "t/app", AuthConfig(), ("pull",))
        await anon.get_manifest("x")
        method, query, _ = seen.token[0]
        assert method == "GET" and "account" not in query
        assert URL("/?" + query).query.getall("scope") == ["repository:t/app:pull"]

        seen.token.clear()
        passthru = await svc.open_repository(
            _endpoint(a), "t/app", AuthConfig(registrytoken="RT"), ("pull",)
        )
        await passthru.get_manifest("x")
        assert seen.token == [] and seen.a[-1][1]["Authorization"] == "Bearer RT"
    finally:
        await svc.close()


def test_credentials_only_over_tls_or_to_insecure_hosts() -> None:
    svc = RegistryService(ServiceOptions(insecure_registries=("reg.test:5000",)))
    assert svc.may_send_credentials(URL("https://example.test/token"))
    assert not svc.may_send_credentials(URL("http://example.test/token"))
    assert svc.may_send_credentials(URL("http://127.0.0.1:5000/v2/"))
    assert svc.may_send_credentials(URL("http://reg.test:5000/v2/"))
    assert not svc.may_send_credentials(URL("http://reg.test:5001/v2/"))


async def test_idle_body_read_times_out(servers: tuple[TestServer, TestServer, Seen]) -> None:
    a, _, _ = servers
    svc = RegistryService(ServiceOptions(read_timeout=0.3))
    try:
        repo = await svc.open_repository(
            _endpoint(a), "t/app", AuthConfig(username="u", password="p"), ("pull",)
        )
        reader = await repo.open_blob("sha256:stall")
        assert await reader.read() == b"x" * 10
        with pytest.raises(TransportError, match="no data received within the idle timeout"):
            await reader.read()
        await reader.close()
    finally:
        await svc.close()
