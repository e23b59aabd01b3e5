from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from berthd.daemon.events import EventsService
from berthd.daemon.system import SystemService
from tests.api.conftest import make_client

Client = TestClient  # type: ignore[type-arg]


async def test_ping_get_and_head(client: Client) -> None:
    r = await client.get("/_ping")
    assert r.status == 200
    assert await r.text() == "OK"
    for name, value in {
        "Api-Version": "1.45",
        "Ostype": "linux",
        "Docker-Experimental": "false",
        "Builder-Version": "1",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
        "Swarm": "inactive",
    }.items():
        assert r.headers[name] == value
    assert r.headers["Server"] == "Docker/0.1.0 (linux)"
    h = await client.head("/_ping")
    assert h.status == 200
    assert h.headers["Content-Length"] == "0"
    assert h.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert (await client.get("/v1.30/_ping")).status == 200


@pytest.mark.parametrize("path", ["/version", "/v1.45/version", "/v1.24/version", "/v1.41/version"])
async def test_version_prefixes(client: Client, path: str) -> None:
    r = await client.get(path)
    assert r.status == 200
    body = await r.json()
    assert body["ApiVersion"] == "1.45"
    assert body["MinAPIVersion"] == "1.24"
    assert body["Components"][0]["Name"] == "Engine"
    assert body["Components"][1]["Name"] == "runc"


async def test_version_out_of_range(client: Client) -> None:
    r = await client.get("/v1.46/version")
    assert r.status == 400
    assert (await r.json()) == {
        "message": "client version 1.46 is too new. Maximum supported API version is 1.45"
    }
    r = await client.get("/v1.23/info")
    assert r.status == 400
    assert (
        "client version 1.23 is too old. Minimum supported API version is 1.24"
        in (await r.json())["message"]
    )


async def test_unknown_route_and_wrong_method_are_404(client: Client) -> None:
    for method, path in [
        ("GET", "/nope"),
        ("GET", "/v1.45/containers/json"),
        ("POST", "/info"),
        ("DELETE", "/_ping"),
    ]:
        r = await client.request(method, path)
        assert r.status == 404, (method, path)
        assert await r.json() == {"message": "page not found"}
        assert r.headers["Content-Type"] == "application/json"


async def test_info_fields(client: Client) -> None:
    info = await (await client.get("/info")).json()
    assert info["ID"] == "ABCD:EFGH"
    assert info["Name"] == "testhost"
    assert info["Labels"] == ["zone=test"]
    assert info["DockerRootDir"] == "/data"
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["Swarm"]["ControlAvailable"] is False
    assert info["Runtimes"] == {"runc": {"path": "/usr/sbin/runc"}}
    assert info["DefaultRuntime"] == "runc"
    assert info["Driver"] == "overlay2"
    assert info["NCPU"] == 2 and info["MemTotal"] == 1 << 30
    assert "WARNING: No swap limit support" in info["Warnings"]
    for key in (
        "Containers",
        "ContainersRunning",
        "Images",
        "KernelVersion",
        "OperatingSystem",
        "CgroupDriver",
        "CgroupVersion",
        "LiveRestoreEnabled",
        "SecurityOptions",
        "ServerVersion",
        "NEventsListener",
    ):
        assert key in info


async def test_system_df_and_bad_type(client: Client) -> None:
    body = await (await client.get("/system/df")).json()
    assert body == {
        "LayersSize": 0,
        "Images": [],
        "Containers": [],
        "Volumes": [],
        "BuildCache": [],
    }
    body = await (await client.get("/system/df?type=volume")).json()
    assert body == {"Volumes": []}
    r = await client.get("/system/df?type=bogus")
    assert r.status == 400


async def _read_events(client: Client, query: str, n: int) -> list[dict[str, Any]]:
    r = await client.get("/events" + query)
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    out = []
    while len(out) < n:
        line = await asyncio.wait_for(r.content.readline(), 5)
        if not line:
            break
        out.append(orjson.loads(line))
    r.close()
    return out


async def test_events_stream_live_and_filtered(client: Client, events: EventsService) -> None:
    task = asyncio.ensure_future(_read_events(client, '?filters={"type":["daemon"]}', 1))
    while events.listener_count == 0:
        await asyncio.sleep(0.01)
    events.log("container", "start", "c1")
    events.log("daemon", "reload", "ABCD:EFGH", {"name": "testhost"})
    got = await task
    assert got[0]["Type"] == "daemon" and got[0]["Action"] == "reload"


async def test_events_since_until_replays_and_ends(client: Client, events: EventsService) -> None:
    events.log("daemon", "reload", "X")
    r = await client.get("/events?since=0&until=9999999999.5")
    # until is far in the future, so the stream stays open: read one line
    line = await asyncio.wait_for(r.content.readline(), 5)
    assert orjson.loads(line)["Action"] == "reload"
    r.close()
    r = await client.get("/events?since=0&until=1")
    assert await asyncio.wait_for(r.read(), 5) == b""  # past-only, nothing that old


async def test_events_bad_params(client: Client) -> None:
    r = await client.get('/events?filters={"bogus":["x"]}')
    assert r.status == 400
    assert (await r.json())["message"] == "invalid filter 'bogus'"
    r = await client.get("/events?since=yesterday")
    assert r.status == 400
    r = await client.get("/events?filters=notjson")
    assert r.status == 400
    assert (await r.json())["message"] == "invalid filter"


async def test_cors_headers(system: SystemService) -> None:
    c = make_client(system, cors="*")
    await c.start_server()
    try:
        r = await c.get("/version")
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-Registry-Auth" in r.headers["Access-Control-Allow-Headers"]
        r = await c.options("/containers/json")
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Methods"] == "HEAD, GET, POST, DELETE, PUT, OPTIONS"
    finally:
        await c.close()


async def test_no_cors_by_default(client: Client) -> None:
    r = await client.get("/version")
    assert "Access-Control-Allow-Origin" not in r.headers
