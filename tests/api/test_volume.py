"""The /volumes routes in-process: routing, parameters, version rules, statuses, wording.

The app is built here from the router alone (build_app does not know volumes
until the lead wires them): the same middlewares and registration as build_app.
Most tests run against the real VolumesService on a temporary data root; the
version-rule tests use a recording fake to see exactly what the router passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berthd.api.middleware import APIOptions, make_header_hook, make_middlewares
from berthd.api.routers.volume import VolumeBackend, VolumeRouter
from berthd.api.routes import register
from berthd.daemon.volumes import VolumesService
from berthd.lib.filters import FilterArgs
from berthd.volume import PluginDirs

Client = TestClient  # type: ignore[type-arg]

OPTS = APIOptions(version="1.45", min_version="1.24", server_version="0.1.0")


def make_client(backend: VolumeBackend) -> Client:
    app = web.Application(middlewares=make_middlewares(OPTS))
    app.on_response_prepare.append(make_header_hook(OPTS))
    register(app, VolumeRouter(backend).routes())
    return TestClient(TestServer(app))


@pytest_asyncio.fixture
async def service(tmp_path: Path) -> AsyncIterator[VolumesService]:
    dirs = PluginDirs(sockets=str(tmp_path / "plugins"), specs=())
    svc = await VolumesService.open(str(tmp_path / "data"), None, dirs, plugin_timeout=1)
    yield svc
    await svc.shutdown()


@pytest_asyncio.fixture
async def client(service: VolumesService) -> AsyncIterator[Client]:
    c = make_client(service)
    await c.start_server()
    yield c
    await c.close()


async def test_create_inspect_list_remove(client: Client, tmp_path: Path) -> None:
    r = await client.post(
        "/v1.45/volumes/create",
        json={"Name": "data", "Driver": "local", "DriverOpts": {}, "Labels": {"a": "b"}},
    )
    assert r.status == 201
    created = await r.json()
    assert created["Name"] == "data"
    assert created["Mountpoint"] == str(tmp_path / "data" / "volumes" / "data" / "_data")
    assert created["Labels"] == {"a": "b"} and created["Options"] == {}
    assert created["Scope"] == "local" and created["CreatedAt"]
    r = await client.get("/volumes/data")
    assert r.status == 200 and await r.json() == created
    r = await client.get("/v1.41/volumes", params={"filters": '{"label":{"a=b":true}}'})
    assert r.status == 200
    assert await r.json() == {"Volumes": [created], "Warnings": None}
    r = await client.delete("/volumes/data")
    assert r.status == 204 and await r.read() == b""
    r = await client.get("/volumes/data")
    assert r.status == 404
    assert await r.json() == {"message": "get data: no such volume"}


async def test_create_without_name_is_anonymous(client: Client) -> None:
    r = await client.post("/volumes/create", json={})
    assert r.status == 201
    body = await r.json()
    assert len(body["Name"]) == 64 and body["Driver"] == "local"
    assert body["Labels"] == {"com.docker.volume.anonymous": ""}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"Name": "x"},
            400,
            "create x: volume name is too short, names should be at least two alphanumeric characters",
        ),
        ({"Name": "ok", "DriverOpts": {"foo": "1"}}, 400, 'create ok: invalid option: "foo"'),
        (
            {"Name": "ok", "DriverOpts": {"type": "tmpfs"}},
            400,
            'create ok: missing required option: "device"',
        ),
        (
            {"Name": "ok", "Driver": "nosuch"},
            404,
            'create ok: error looking up volume plugin nosuch: plugin "nosuch" not found',
        ),
        ({"Name": 5}, 400, None),
        ({"Name": "ok", "Labels": {"a": 1}}, 400, None),
        ([], 400, None),
    ],
)
async def test_create_errors(client: Client, body: Any, status: int, message: str | None) -> None:
    r = await client.post("/volumes/create", json=body)
    assert r.status == status
    got = (await r.json())["message"]
    if message is not None:
        assert got == message
    else:
        assert got.startswith("invalid JSON")


async def test_create_needs_a_body(client: Client) -> None:
    r = await client.post("/volumes/create")
    assert r.status == 400
    assert (await r.json())["message"] == "invalid JSON: got EOF while reading request body"


async def test_remove_in_use_is_409_with_dockerd_wording(
    client: Client, service: VolumesService
) -> None:
    await service.get_or_create("busy", ref="abc123")
    await service.get_or_create("busy", ref="def456")
    for query in ("", "?force=1"):
        r = await client.delete("/volumes/busy" + query)
        assert r.status == 409
        assert await r.json() == {"message": "remove busy: volume is in use - [abc123, def456]"}
    r = await client.delete("/volumes/ghost")
    assert r.status == 404
    assert await r.json() == {"message": "get ghost: no such volume"}
    r = await client.delete("/volumes/ghost?force=true")
    assert r.status == 204


async def test_list_filter_errors(client: Client) -> None:
    r = await client.get("/volumes", params={"filters": '{"bogus":{"x":true}}'})
    assert r.status == 400
    assert await r.json() == {"message": "invalid filter 'bogus'"}
    r = await client.get("/volumes", params={"filters": "not json"})
    assert r.status == 400


async def test_prune_report(client: Client, service: VolumesService) -> None:
    anon = await service.get_or_create("")
    await service.get_or_create("named")
    r = await client.post("/volumes/prune")
    assert r.status == 200
    assert await r.json() == {"VolumesDeleted": [anon.name], "SpaceReclaimed": 0}
    r = await client.post("/volumes/prune", params={"filters": '{"all":{"true":true}}'})
    assert await r.json() == {"VolumesDeleted": ["named"], "SpaceReclaimed": 0}


async def test_update_needs_swarm(client: Client) -> None:
    await client.post("/volumes/create", json={"Name": "sw"})
    r = await client.put("/volumes/sw?version=1", json={})
    assert r.status == 503
    assert await r.json() == {
        "message": "volume update only valid for cluster volumes, but swarm is unavailable"
    }


class Recorder:
    """A fake backend that records what the router passed."""

    def __init__(self) -> None:
        self.pruned: list[dict[str, list[str]]] = []
        self.removed: list[tuple[str, bool]] = []

    async def create(
        self,
        name: str,
        driver: str = "",
        opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return {"Name": name, "Driver": driver, "Options": opts, "Labels": labels}

    async def inspect(self, name: str) -> dict[str, Any]:
        return {"Name": name}

    async def list_volumes(self, filters: FilterArgs) -> dict[str, Any]:
        return {"Volumes": [], "Warnings": None}

    async def remove(self, name: str, force: bool = False) -> None:
        self.removed.append((name, force))

    async def prune(self, filters: FilterArgs) -> dict[str, Any]:
        self.pruned.append({k: filters.get(k) for k in filters.keys()})  # noqa: SIM118
        return {"VolumesDeleted": [], "SpaceReclaimed": 0}


@pytest_asyncio.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, Client]]:
    rec = Recorder()
    c = make_client(rec)
    await c.start_server()
    yield rec, c
    await c.close()


@pytest.mark.parametrize(
    ("path", "filters", "expected"),
    [
        ("/v1.41/volumes/prune", None, {"all": ["true"]}),
        ("/v1.41/volumes/prune", '{"label":{"a":true}}', {"all": ["true"], "label": ["a"]}),
        ("/v1.42/volumes/prune", None, {}),
        ("/volumes/prune", '{"all":{"true":true}}', {"all": ["true"]}),
    ],
)
async def test_prune_all_before_api_1_42(
    recorder: tuple[Recorder, Client],
    path: str,
    filters: str | None,
    expected: dict[str, list[str]],
) -> None:
    rec, client = recorder
    params = {"filters": filters} if filters else {}
    r = await client.post(path, params=params)
    assert r.status == 200
    assert rec.pruned == [expected]


@pytest.mark.parametrize(
    ("query", "force"),
    [("", False), ("?force=1", True), ("?force=false", False), ("?force=True", True)],
)
async def test_remove_force_values(
    recorder: tuple[Recorder, Client], query: str, force: bool
) -> None:
    rec, client = recorder
    r = await client.delete("/v1.45/volumes/v" + query)
    assert r.status == 204
    assert rec.removed == [("v", force)]


async def test_create_passes_null_maps_through(recorder: tuple[Recorder, Client]) -> None:
    _, client = recorder
    r = await client.post("/volumes/create", json={"Name": "n", "Labels": None})
    assert await r.json() == {"Name": "n", "Driver": "", "Options": None, "Labels": None}
