"""The container router in process: each route's parsing, status codes and error wording,
against a fake backend that records what it was asked (the real one satisfies the same
``ContainersBackend`` protocol)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from berthd import errdefs
from berthd.api import Backends
from berthd.api.routers.container import ContainersBackend
from berthd.daemon.system import SystemService
from berthd.lib.filters import FilterArgs
from berthd.logger.request import LogsOptions

from .conftest import serve_backends


@dataclass
class _Plan:
    """What the fake accepts for an attach (the router's ``AttachTarget``)."""

    fake: FakeContainers
    tty: bool

    async def attach(self, conn: Any) -> None:
        self.fake._call("attach", self)


@dataclass
class _Exec:
    """What the fake accepts for an exec start (the router's ``ExecTarget``)."""

    fake: FakeContainers
    raw_stream: bool

    async def start(self, conn: Any) -> None:
        self.fake._call("exec_start", self, conn)


class FakeContainers:
    """Records calls; ``fail`` makes the next call raise that error."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: Exception | None = None
        self.tty = False
        self.wait_result: tuple[int, str] = (0, "")

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail is not None:
            err, self.fail = self.fail, None
            raise err

    async def create(self, name: str, body: Any) -> dict[str, Any]:
        self._call("create", name, body)
        return {"Id": "c" * 64, "Warnings": []}

    async def start(self, ref: str) -> None:
        self._call("start", ref)

    async def stop(self, ref: str, t: int | None = None, sig: str = "") -> None:
        self._call("stop", ref, t, sig)

    async def restart(self, ref: str, t: int | None = None, sig: str = "") -> None:
        self._call("restart", ref, t, sig)

    async def kill(self, ref: str, sig: str) -> None:
        self._call("kill", ref, sig)

    def wait_future(self, ref: str, condition: str) -> asyncio.Future[tuple[int, str]]:
        self._call("wait", ref, condition)
        fut: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        fut.set_result(self.wait_result)
        return fut

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        self._call("remove", ref, force, volumes)

    async def remove_link(self, name: str) -> None:
        self._call("remove_link", name)

    async def rename(self, ref: str, new_name: str) -> None:
        self._call("rename", ref, new_name)

    async def pause(self, ref: str) -> None:
        self._call("pause", ref)

    async def unpause(self, ref: str) -> None:
        self._call("unpause", ref)

    def resize(self, ref: str, height: int, width: int) -> None:
        self._call("resize", ref, height, width)

    def logs(self, ref: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]:
        self._call("logs", ref, opts)

        async def body() -> AsyncIterator[bytes]:
            yield b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"

        return self.tty, body()

    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        self._call("top", ref, ps_args)
        return {"Titles": ["PID"], "Processes": [["1"]]}

    async def stats(self, ref: str, stream: bool) -> AsyncIterator[dict[str, Any]]:
        self._call("stats", ref, stream)

        async def docs() -> AsyncIterator[dict[str, Any]]:
            yield {"id": ref}

        return docs()

    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        self._call("update", ref, body)
        return {"Warnings": []}

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        self._call("changes", ref)
        return [{"Kind": 1, "Path": "/x"}]

    def export(self, ref: str) -> AsyncIterator[bytes]:
        self._call("export", ref)

        async def tar() -> AsyncIterator[bytes]:
            yield b"tar-bytes"

        return tar()

    async def inspect(self, ref: str, api_version: str, size: bool) -> dict[str, Any]:
        self._call("inspect", ref, api_version, size)
        return {"Id": ref}

    async def list_containers(
        self, all_: bool, limit: int, size: bool, filters: FilterArgs
    ) -> list[dict[str, Any]]:
        self._call("list", all_, limit, size, filters)
        return []

    def plan_attach(
        self,
        ref: str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stream: bool,
        logs: bool,
        detach_keys: str,
    ) -> _Plan:
        self._call("plan_attach", ref, stdin, stdout, stderr, stream, logs, detach_keys)
        return _Plan(self, self.tty)

    def exec_create(self, ref: str, body: Any) -> dict[str, str]:
        self._call("exec_create", ref, body)
        return {"Id": "e" * 64}

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        self._call("exec_inspect", exec_id)
        return {"ID": exec_id}

    def exec_prepare(self, exec_id: str, body: Any) -> _Exec:
        self._call("exec_prepare", exec_id, body)
        return _Exec(self, self.tty)

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self._call("exec_resize", exec_id, height, width)


Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def fake() -> FakeContainers:
    return FakeContainers()


@pytest_asyncio.fixture
async def api(system: SystemService, fake: FakeContainers) -> AsyncIterator[Client]:
    backend: ContainersBackend = fake
    async with serve_backends(Backends(system=system, containers=backend)) as c:
        yield c


def last(fake: FakeContainers) -> tuple[str, tuple[Any, ...]]:
    return fake.calls[-1]


async def test_list_parses_query(api: Client, fake: FakeContainers) -> None:
    r = await api.get(
        '/v1.45/containers/json?all=1&limit=3&size=true&filters={"status":["exited"]}'
    )
    assert r.status == 200 and await r.json() == []
    name, (all_, limit, size, filters) = last(fake)
    assert (name, all_, limit, size) == ("list", True, 3, True)
    assert filters.get("status") == ["exited"]
    r = await api.get("/containers/json")
    assert last(fake)[1][:3] == (False, -1, False)


async def test_list_bad_limit_and_filters(api: Client) -> None:
    r = await api.get("/containers/json?limit=x")
    assert r.status == 400
    assert (await r.json())["message"] == 'strconv.Atoi: parsing "x": invalid syntax'
    r = await api.get("/containers/json?filters={bad")
    assert r.status == 400
    assert "message" in await r.json()


async def test_inspect_passes_version_and_size(api: Client, fake: FakeContainers) -> None:
    r = await api.get("/v1.40/containers/abc/json?size=1")
    assert r.status == 200 and (await r.json())["Id"] == "abc"
    assert last(fake) == ("inspect", ("abc", "1.40", True))


async def test_create_201_with_name(api: Client, fake: FakeContainers) -> None:
    r = await api.post("/containers/create?name=web", json={"Image": "busybox", "Cmd": ["true"]})
    assert r.status == 201
    assert (await r.json())["Id"] == "c" * 64
    name, (cname, body) = last(fake)
    assert (name, cname, body["Image"]) == ("create", "web", "busybox")


async def test_create_body_errors(api: Client, fake: FakeContainers) -> None:
    r = await api.post("/containers/create", json={"Image": 5})
    assert r.status == 400
    msg = (await r.json())["message"]
    assert msg.startswith("invalid JSON: json: cannot unmarshal number into Go struct field")
    r = await api.post(
        "/containers/create", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status == 400
    assert not [c for c in fake.calls if c[0] == "create"]


async def test_backend_error_kinds_map_to_status(api: Client, fake: FakeContainers) -> None:
    for err, status in (
        (errdefs.NotFound("No such container: x"), 404),
        (errdefs.Conflict("is already in progress"), 409),
        (errdefs.InvalidParameter("bad"), 400),
    ):
        fake.fail = err
        r = await api.post("/containers/x/start")
        assert r.status == status
        assert (await r.json()) == {"message": str(err)}


async def test_start_stop_restart_kill(api: Client, fake: FakeContainers) -> None:
    assert (await api.post("/containers/a/start")).status == 204
    assert last(fake) == ("start", ("a",))
    assert (await api.post("/v1.45/containers/a/stop?t=3&signal=SIGINT")).status == 204
    assert last(fake) == ("stop", ("a", 3, "SIGINT"))
    # the signal parameter exists from API 1.42 on
    assert (await api.post("/v1.41/containers/a/stop?signal=SIGINT")).status == 204
    assert last(fake) == ("stop", ("a", None, ""))
    r = await api.post("/containers/a/stop?t=soon")
    assert r.status == 400
    assert (await r.json())["message"] == 'strconv.Atoi: parsing "soon": invalid syntax'
    assert (await api.post("/containers/a/restart?t=0")).status == 204
    assert last(fake) == ("restart", ("a", 0, ""))
    assert (await api.post("/containers/a/kill?signal=HUP")).status == 204
    assert last(fake) == ("kill", ("a", "HUP"))


async def test_wait_body(api: Client, fake: FakeContainers) -> None:
    r = await api.post("/containers/a/wait?condition=next-exit")
    assert r.status == 200 and await r.json() == {"StatusCode": 0}
    assert last(fake) == ("wait", ("a", "next-exit"))
    fake.wait_result = (137, "killed")
    r = await api.post("/containers/a/wait")
    assert await r.json() == {"StatusCode": 137, "Error": {"Message": "killed"}}


async def test_rename_pause_resize(api: Client, fake: FakeContainers) -> None:
    assert (await api.post("/containers/a/rename?name=b")).status == 204
    assert last(fake) == ("rename", ("a", "b"))
    assert (await api.post("/containers/a/pause")).status == 204
    assert (await api.post("/containers/a/unpause")).status == 204
    assert last(fake) == ("unpause", ("a",))
    assert (await api.post("/containers/a/resize?h=40&w=120")).status == 200
    assert last(fake) == ("resize", ("a", 40, 120))
    assert (await api.post("/containers/a/resize?h=x")).status == 400


async def test_delete_force_volumes_and_link(api: Client, fake: FakeContainers) -> None:
    assert (await api.delete("/containers/a?force=1&v=1")).status == 204
    assert last(fake) == ("remove", ("a", True, True))
    assert (await api.delete("/containers/a")).status == 204
    assert last(fake) == ("remove", ("a", False, False))
    assert (await api.delete("/containers/parent/alias?link=1")).status == 204
    assert last(fake) == ("remove_link", ("parent/alias",))


@pytest.mark.parametrize(
    ("version", "tty", "ctype"),
    [
        ("1.45", False, "application/vnd.docker.multiplexed-stream"),
        ("1.41", False, "application/vnd.docker.raw-stream"),
        ("1.45", True, "application/vnd.docker.raw-stream"),
    ],
)
async def test_logs_options_and_stream_type(
    api: Client, fake: FakeContainers, version: str, tty: bool, ctype: str
) -> None:
    fake.tty = tty
    r = await api.get(
        f"/v{version}/containers/a/logs?stdout=1&follow=1&timestamps=1&tail=5&since=10&until=20"
    )
    assert r.status == 200
    assert r.headers["Content-Type"] == ctype
    assert await r.read() == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    name, (ref, opts) = last(fake)
    assert (name, ref) == ("logs", "a")
    assert (opts.stdout, opts.stderr, opts.follow, opts.timestamps) == (True, False, True, True)
    assert (opts.tail, opts.since_ns, opts.until_ns) == (5, 10 * 10**9, 20 * 10**9)


@pytest.mark.parametrize(
    ("raw", "want"), [("all", None), ("", None), ("-1", None), ("x", None), ("0", 0)]
)
async def test_logs_tail_values(
    api: Client, fake: FakeContainers, raw: str, want: int | None
) -> None:
    r = await api.get(f"/containers/a/logs?stdout=1&tail={raw}")
    assert r.status == 200
    assert last(fake)[1][1].tail == want


async def test_logs_bad_since(api: Client) -> None:
    r = await api.get("/containers/a/logs?stdout=1&since=yesterday")
    assert r.status == 400


async def test_top_stats_changes_export_update(api: Client, fake: FakeContainers) -> None:
    r = await api.get("/containers/a/top?ps_args=aux")
    assert r.status == 200 and (await r.json())["Titles"] == ["PID"]
    assert last(fake) == ("top", ("a", "aux"))
    r = await api.get("/containers/a/stats?stream=false")
    assert r.status == 200 and await r.json(content_type=None) == {"id": "a"}
    assert last(fake) == ("stats", ("a", False))
    await api.get("/containers/a/stats?one-shot=1")
    assert last(fake) == ("stats", ("a", False))
    r = await api.get("/containers/a/changes")
    assert await r.json() == [{"Kind": 1, "Path": "/x"}]
    r = await api.get("/containers/a/export")
    assert r.headers["Content-Type"] == "application/x-tar" and await r.read() == b"tar-bytes"
    r = await api.post("/containers/a/update", json={"Memory": 1 << 20})
    assert r.status == 200 and await r.json() == {"Warnings": []}
    r = await api.post("/containers/a/update", json={"Memory": "lots"})
    assert r.status == 400


async def test_exec_create_inspect_resize(api: Client, fake: FakeContainers) -> None:
    r = await api.post("/containers/a/exec", json={"Cmd": ["true"], "AttachStdout": True})
    assert r.status == 201 and (await r.json())["Id"] == "e" * 64
    # Cmd is Go's StrSlice: a string is a one-word command, a number is refused
    r = await api.post("/containers/a/exec", json={"Cmd": "true"})
    assert r.status == 201
    r = await api.post("/containers/a/exec", json={"Cmd": 5, "Tty": "yes"})
    assert r.status == 400
    r = await api.get("/exec/abc/json")
    assert r.status == 200 and (await r.json())["ID"] == "abc"
    assert (await api.post("/exec/abc/resize?h=10&w=20")).status == 200
    assert last(fake) == ("exec_resize", ("abc", 10, 20))


async def test_exec_start_detached(api: Client, fake: FakeContainers) -> None:
    r = await api.post("/exec/abc/start", json={"Detach": True})
    assert r.status == 200
    assert last(fake)[0] == "exec_start" and last(fake)[1][1] is None


async def test_refusals_before_a_hijack_are_json(api: Client, fake: FakeContainers) -> None:
    fake.fail = errdefs.NotFound("No such exec instance: abc")
    r = await api.post("/exec/abc/start", json={})
    assert r.status == 404
    assert await r.json() == {"message": "No such exec instance: abc"}
    fake.fail = errdefs.Conflict("container a is not running")
    r = await api.post("/containers/a/attach?stream=1&stdout=1")
    assert r.status == 409
    assert await r.json() == {"message": "container a is not running"}
