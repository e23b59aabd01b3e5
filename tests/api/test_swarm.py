"""The swarm routes of a node in no swarm, in process, against dockerd's answers
(recorded from dockerd 20.10 and checked against moby v26's daemon/cluster)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from berthd.api import APIOptions, Backends, build_app
from berthd.daemon.cluster import InactiveCluster
from berthd.daemon.system import SystemService

Client = TestClient  # type: ignore[type-arg]

NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
NOT_IN_SWARM = "This node is not part of a swarm"


@pytest_asyncio.fixture
async def client(system: SystemService) -> AsyncIterator[Client]:
    app = build_app(
        Backends(system=system, swarm=InactiveCluster()),
        APIOptions(version="1.45", min_version="1.24", server_version="0.1.0"),
    )
    c = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


# every route of the swarm group, every method; a version where one is needed
MANAGER_ONLY = [
    ("GET", "/swarm"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/update?version=1"),
    ("POST", "/swarm/unlock"),
    ("GET", "/nodes"),
    ("GET", "/nodes/abc"),
    ("DELETE", "/nodes/abc"),
    ("DELETE", "/nodes/abc?force=1"),
    ("POST", "/nodes/abc/update?version=3"),
    ("GET", "/services"),
    ("GET", "/services?status=true"),
    ("POST", "/services/create"),
    ("GET", "/services/web"),
    ("DELETE", "/services/web"),
    ("POST", "/services/web/update?version=7"),
    ("GET", "/services/web/logs?stdout=1"),
    ("GET", "/tasks"),
    ("GET", "/tasks/t1"),
    ("GET", "/tasks/t1/logs?stderr=true"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/s1"),
    ("DELETE", "/secrets/s1"),
    ("POST", "/secrets/s1/update?version=2"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/c1"),
    ("DELETE", "/configs/c1"),
    ("POST", "/configs/c1/update?version=2"),
]


@pytest.mark.parametrize(("method", "path"), MANAGER_ONLY)
@pytest.mark.parametrize("prefix", ["", "/v1.45", "/v1.41"])
async def test_manager_routes_answer_503(
    client: Client, method: str, path: str, prefix: str
) -> None:
    body: Any = {} if method == "POST" else None
    r = await client.request(method, prefix + path, json=body)
    assert r.status == 503
    assert await r.json() == {"message": NOT_MANAGER}


@pytest.mark.parametrize(
    "path", ["/swarm/leave", "/swarm/leave?force=1", "/swarm/leave?force=true"]
)
async def test_leave_is_not_part_of_a_swarm(client: Client, path: str) -> None:
    r = await client.post(path)
    assert r.status == 503
    assert await r.json() == {"message": NOT_IN_SWARM}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/swarm/init", {}, 400, 'invalid ListenAddr "": invalid empty address'),
        ("POST", "/swarm/init", None, 400, 'invalid ListenAddr "": invalid empty address'),
        (
            "POST",
            "/swarm/init",
            {"ListenAddr": "bogus"},
            400,
            "listen address must be an IP address or network interface (with optional port number)",
        ),
        (
            "POST",
            "/swarm/init",
            {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "bogus"},
            400,
            "advertise address must be a non-zero IP address or network interface (with "
            "optional port number)",
        ),
        (
            "POST",
            "/swarm/init",
            {"ListenAddr": "0.0.0.0:2377", "Spec": {"Name": "other"}},
            400,
            'swarm spec must be named "default"',
        ),
        (
            "POST",
            "/swarm/init",
            {"ListenAddr": "0.0.0.0:2377", "DataPathPort": 80},
            400,
            "Datapath port number is not in valid range (1024-49151) : 80",
        ),
        (
            "POST",
            "/swarm/init",
            {"ListenAddr": 5},
            400,
            "invalid JSON: json: cannot unmarshal number into Go struct field "
            "InitRequest.ListenAddr of type string",
        ),
        ("POST", "/swarm/join", {}, 400, 'invalid ListenAddr "": invalid empty address'),
        (
            "POST",
            "/swarm/join",
            {"ListenAddr": "0.0.0.0:2377"},
            400,
            "at least 1 RemoteAddr is required to join",
        ),
        (
            "POST",
            "/swarm/join",
            {"ListenAddr": "0.0.0.0:2377", "RemoteAddrs": [""]},
            400,
            'invalid remoteAddr "": invalid empty address',
        ),
        (
            "POST",
            "/swarm/update",
            {},
            400,
            "invalid swarm version '': strconv.ParseUint: parsing \"\": invalid syntax",
        ),
        (
            "POST",
            "/swarm/update?version=-1",
            {},
            400,
            "invalid swarm version '-1': strconv.ParseUint: parsing \"-1\": invalid syntax",
        ),
        (
            "POST",
            "/nodes/x/update",
            {},
            400,
            "invalid node version '': strconv.ParseUint: parsing \"\": invalid syntax",
        ),
        (
            "POST",
            "/services/x/update?version=99999999999999999999",
            {},
            400,
            "invalid service version '99999999999999999999': strconv.ParseUint: parsing "
            '"99999999999999999999": value out of range',
        ),
        ("POST", "/secrets/x/update", {}, 400, "invalid secret version"),
        ("POST", "/configs/x/update?version=x", {}, 400, "invalid config version"),
        (
            "GET",
            "/services/x/logs",
            None,
            400,
            "Bad parameters: you must choose at least one stream",
        ),
        ("GET", "/tasks/x/logs", None, 400, "Bad parameters: you must choose at least one stream"),
        (
            "GET",
            "/services?status=maybe",
            None,
            400,
            'invalid value for status: maybe: strconv.ParseBool: parsing "maybe": invalid syntax',
        ),
        (
            "POST",
            "/swarm/update?version=1&rotateWorkerToken=yes",
            {},
            400,
            "invalid value for rotateWorkerToken: yes",
        ),
        ("GET", "/nodes?filters=xx", None, 400, "invalid filter"),
        (
            "POST",
            "/services/create",
            {"TaskTemplate": {"LogDriver": {"Name": "logentries"}}},
            400,
            "the logentries logging driver has been deprecated and removed",
        ),
        (
            "POST",
            "/secrets/create",
            [],
            400,
            "invalid JSON: json: cannot unmarshal array into Go value of type swarm.SecretSpec",
        ),
        (
            "POST",
            "/services/create",
            {"Name": "x", "TaskTemplate": {"RestartPolicy": 5}},
            400,
            "invalid JSON: json: cannot unmarshal number into Go struct field "
            "TaskSpec.TaskTemplate.RestartPolicy of type swarm.RestartPolicy",
        ),
        (
            "POST",
            "/services/create",
            {"Name": "x", "EndpointSpec": {"Ports": [1]}},
            400,
            "invalid JSON: json: cannot unmarshal number into Go struct field "
            "EndpointSpec.EndpointSpec.Ports of type swarm.PortConfig",
        ),
        (
            "POST",
            "/services/create",
            {"Name": "x", "Mode": {"Replicated": {"Replicas": -1}}},
            400,
            "invalid JSON: json: cannot unmarshal number -1 into Go struct field "
            "ReplicatedService.Mode.Replicated.Replicas of type uint64",
        ),
    ],
)
async def test_bad_requests(
    client: Client, method: str, path: str, body: Any, status: int, message: str
) -> None:
    r = await client.request(method, path, json=body)
    assert r.status == status
    assert (await r.json())["message"].startswith(message)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/swarm/init", {"ListenAddr": "0.0.0.0:2377"}),
        ("/swarm/init", {"ListenAddr": "127.0.0.1", "AdvertiseAddr": "lo"}),
        ("/swarm/join", {"ListenAddr": "0.0.0.0", "RemoteAddrs": ["127.0.0.1:2377"]}),
    ],
)
async def test_init_and_join_are_not_supported(
    client: Client, path: str, body: dict[str, Any]
) -> None:
    r = await client.post(path, json=body)
    assert r.status == 501
    assert "swarm mode is not supported by berthd yet" in (await r.json())["message"]


async def test_wrong_method_is_page_not_found(client: Client) -> None:
    for method, path in (("GET", "/swarm/init"), ("PUT", "/swarm"), ("POST", "/tasks/x")):
        r = await client.request(method, path)
        assert r.status == 404
        assert await r.json() == {"message": "page not found"}


async def test_info_and_ping_show_an_inactive_swarm(client: Client) -> None:
    info = await (await client.get("/info")).json()
    assert info["Swarm"] == {
        "NodeID": "",
        "NodeAddr": "",
        "LocalNodeState": "inactive",
        "ControlAvailable": False,
        "Error": "",
        "RemoteManagers": None,
    }
    assert (await client.get("/_ping")).headers["Swarm"] == "inactive"
