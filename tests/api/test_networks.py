"""The /networks routes in-process against the real NetworksService on a
temporary data root (creating, listing and removing networks touches no
kernel state: bridges appear only when a container starts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berthd.api.middleware import APIOptions, make_header_hook, make_middlewares
from berthd.api.routers.network import NetworkRouter
from berthd.api.routes import register
from berthd.daemon.networks import BridgeSettings, NetworksService
from berthd.errdefs import NotFound

Client = TestClient  # type: ignore[type-arg]

OPTS = APIOptions(version="1.45", min_version="1.24", server_version="0.1.0")


class _Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def log(self, type_: str, action: str, actor_id: str, attributes: Any = None) -> None:
        self.seen.append((type_, action))


class _NoContainers:
    def get(self, ref: str) -> Any:
        raise NotFound(f"No such container: {ref}")


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    svc = await NetworksService.open(
        str(tmp_path / "data"),
        str(tmp_path / "exec"),
        BridgeSettings(bridge="bt-api", bip="172.31.99.1/24"),
        _Events(),
    )
    svc.containers = _NoContainers()
    app = web.Application(middlewares=make_middlewares(OPTS))
    app.on_response_prepare.append(make_header_hook(OPTS))
    register(app, NetworkRouter(svc).routes())
    c = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()
    svc.store.close()


async def _json(resp: Any) -> Any:
    return orjson.loads(await resp.read())


@pytest.mark.asyncio
async def test_predefined_networks_listed(client: Client) -> None:
    resp = await client.get("/v1.45/networks")
    assert resp.status == 200
    nets = {n["Name"]: n for n in await _json(resp)}
    assert set(nets) == {"bridge", "host", "none"}
    assert nets["bridge"]["IPAM"]["Config"] == [
        {"Subnet": "172.31.99.0/24", "Gateway": "172.31.99.1"}
    ]
    assert nets["bridge"]["Options"]["com.docker.network.bridge.name"] == "bt-api"
    assert nets["none"]["Driver"] == "null"


@pytest.mark.asyncio
async def test_create_inspect_filter_remove(client: Client) -> None:
    body = {"Name": "n1", "Labels": {"a": "b"}, "IPAM": {"Config": [{"Subnet": "172.31.98.0/24"}]}}
    resp = await client.post("/networks/create", json=body)
    assert resp.status == 201
    created = await _json(resp)
    assert set(created) == {"Id", "Warning"}
    nid = created["Id"]
    got = await _json(await client.get(f"/networks/{nid[:8]}"))
    # dockerd shows no Gateway it picked itself in a subnet the client gave
    assert got["Name"] == "n1" and got["IPAM"]["Config"][0] == {"Subnet": "172.31.98.0/24"}
    assert got["Containers"] == {}
    flt = orjson.dumps({"label": {"a=b": True}}).decode()
    listed = await _json(await client.get("/networks", params={"filters": flt}))
    assert [n["Name"] for n in listed] == ["n1"]
    flt = orjson.dumps({"type": {"builtin": True}}).decode()
    listed = await _json(await client.get("/networks", params={"filters": flt}))
    assert {n["Name"] for n in listed} == {"bridge", "host", "none"}
    resp = await client.post("/networks/create", json={"Name": "n1"})
    assert resp.status == 409
    resp = await client.post(
        "/networks/create", json={"Name": "n2", "IPAM": {"Config": [{"Subnet": "172.31.98.0/25"}]}}
    )
    assert resp.status == 403
    assert "Pool overlaps" in (await _json(resp))["message"]
    assert (await client.delete("/networks/n1")).status == 204
    resp = await client.get("/networks/n1")
    assert resp.status == 404
    assert (await _json(resp))["message"] == "network n1 not found"


@pytest.mark.asyncio
async def test_errors(client: Client) -> None:
    resp = await client.delete("/networks/bridge")
    assert resp.status == 403
    assert "pre-defined network and cannot be removed" in (await _json(resp))["message"]
    resp = await client.post("/networks/create", json={"Name": "x", "Driver": "overlay"})
    assert resp.status == 404
    resp = await client.post("/networks/create", json={"Name": "host"})
    assert resp.status == 403
    resp = await client.post("/networks/bridge/connect", json={"Container": "nope"})
    assert resp.status == 404
    resp = await client.get("/networks", params={"filters": '{"bogus":{"x":true}}'})
    assert resp.status == 400
    for opt in ("enable_icc", "enable_ip_masquerade"):
        body = {"Name": "x", "Options": {f"com.docker.network.bridge.{opt}": "false"}}
        resp = await client.post("/networks/create", json=body)
        assert resp.status == 400
        assert "is not supported" in (await _json(resp))["message"]


@pytest.mark.asyncio
async def test_prune(client: Client) -> None:
    for name, sub in (("p1", "172.31.97.0/24"), ("p2", "172.31.96.0/24")):
        body = {"Name": name, "IPAM": {"Config": [{"Subnet": sub}]}}
        assert (await client.post("/networks/create", json=body)).status == 201
    resp = await client.post("/networks/prune")
    assert resp.status == 200
    assert sorted((await _json(resp))["NetworksDeleted"]) == ["p1", "p2"]
    listed = await _json(await client.get("/networks"))
    assert {n["Name"] for n in listed} == {"bridge", "host", "none"}


@pytest.mark.parametrize(
    ("sent", "shown"),
    [(None, None), ({}, {}), ({"a": "b"}, {"a": "b"})],
)
async def test_ipam_options_are_echoed(client: Client, sent: object, shown: object) -> None:
    """dockerd keeps IPAM.Options as the client sent them: null when none were sent."""
    ipam: dict[str, object] = {"Driver": "default", "Config": []}
    if sent is not None:
        ipam["Options"] = sent
    r = await client.post("/networks/create", json={"Name": f"o{len(str(sent))}", "IPAM": ipam})
    assert r.status == 201, await r.text()
    r = await client.get(f"/networks/{(await r.json())['Id']}")
    assert (await r.json())["IPAM"]["Options"] == shown
