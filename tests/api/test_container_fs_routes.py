"""The container file-system router in process (cp archives, commit, prune): parsing,
status codes, the stat header and error wording, over a fake ``ContainerFSBackend``."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from berthd import errdefs
from berthd.api import Backends
from berthd.api.routers.container_fs import STAT_HEADER, ContainerFSBackend
from berthd.daemon.system import SystemService
from berthd.lib.filters import FilterArgs

from .conftest import serve_backends

STAT = {"name": "f", "size": 3, "mode": 420, "mtime": "2024-01-01T00:00:00Z", "linkTarget": ""}


class FakeFS:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: Exception | None = None
        self.received = b""

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail is not None:
            err, self.fail = self.fail, None
            raise err

    async def stat_path(self, name: str, path: str) -> dict[str, Any]:
        self._call("stat", name, path)
        return STAT

    async def archive_path(
        self, name: str, path: str
    ) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        self._call("archive", name, path)

        async def tar() -> AsyncIterator[bytes]:
            yield b"x" * 1000

        return STAT, tar()

    async def extract_to_dir(
        self,
        name: str,
        path: str,
        body: AsyncIterator[bytes],
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None:
        self._call("extract", name, path, no_overwrite_dir_non_dir, copy_uid_gid)
        self.received = b"".join([c async for c in body])

    async def commit(
        self,
        container: str,
        repo: str,
        tag: str,
        comment: str,
        author: str,
        pause: bool,
        changes: list[str],
        config: Any,
    ) -> str:
        self._call("commit", container, repo, tag, comment, author, pause, changes, config)
        return "sha256:" + "a" * 64

    async def prune(self, filters: FilterArgs) -> dict[str, Any]:
        self._call("prune", filters)
        return {"ContainersDeleted": None, "SpaceReclaimed": 0}


Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def fake() -> FakeFS:
    return FakeFS()


@pytest_asyncio.fixture
async def api(system: SystemService, fake: FakeFS) -> AsyncIterator[Client]:
    backend: ContainerFSBackend = fake
    async with serve_backends(Backends(system=system, container_fs=backend)) as c:
        yield c


def _stat(header: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(base64.b64decode(header))
    return doc


@pytest.mark.parametrize("method", ["HEAD", "GET", "PUT"])
async def test_archive_needs_a_path(api: Client, fake: FakeFS, method: str) -> None:
    r = await api.request(method, "/containers/a/archive")
    assert r.status == 400
    if method != "HEAD":
        assert (await r.json())["message"] == "bad parameter: pathcannot be empty"
    assert fake.calls == []


async def test_head_archive_stat_header(api: Client, fake: FakeFS) -> None:
    r = await api.head("/containers/a/archive?path=/etc/f")
    assert r.status == 200
    assert _stat(r.headers[STAT_HEADER]) == STAT
    assert fake.calls == [("stat", ("a", "/etc/f"))]


async def test_head_archive_not_found(api: Client, fake: FakeFS) -> None:
    fake.fail = errdefs.NotFound("Could not find the file /nope in container a")
    r = await api.head("/containers/a/archive?path=/nope")
    assert r.status == 404


async def test_get_archive_plain_and_gzip(api: Client, fake: FakeFS) -> None:
    r = await api.get("/containers/a/archive?path=/f", headers={"Accept-Encoding": "identity"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/x-tar"
    assert _stat(r.headers[STAT_HEADER])["name"] == "f"
    assert await r.read() == b"x" * 1000
    r = await api.get(
        "/containers/a/archive?path=/f", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert r.headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(await r.read()) == b"x" * 1000


async def test_put_archive_streams_body_and_flags(api: Client, fake: FakeFS) -> None:
    r = await api.put(
        "/containers/a/archive?path=/dst&noOverwriteDirNonDir=1&copyUIDGID=true", data=b"tar" * 100
    )
    assert r.status == 200
    assert fake.calls == [("extract", ("a", "/dst", True, True))]
    assert fake.received == b"tar" * 100


async def test_put_archive_refusal(api: Client, fake: FakeFS) -> None:
    fake.fail = errdefs.Forbidden("container rootfs is marked read-only")
    r = await api.put("/containers/a/archive?path=/dst", data=b"")
    assert r.status == 403
    assert await r.json() == {"message": "container rootfs is marked read-only"}


async def test_commit_query_and_config(api: Client, fake: FakeFS) -> None:
    r = await api.post(
        "/commit?container=a&repo=app&tag=v1&comment=c&author=me&changes=ENV+A%3D1&changes=CMD+x",
        json={"Labels": {"k": "v"}},
    )
    assert r.status == 201
    assert await r.json() == {"Id": "sha256:" + "a" * 64}
    name, args = fake.calls[-1]
    assert name == "commit"
    assert args == ("a", "app", "v1", "c", "me", True, ["ENV A=1", "CMD x"], {"Labels": {"k": "v"}})


@pytest.mark.parametrize(("raw", "want"), [("", True), ("0", False), ("false", False), ("1", True)])
async def test_commit_pause_default(api: Client, fake: FakeFS, raw: str, want: bool) -> None:
    q = f"&pause={raw}" if raw else ""
    r = await api.post(f"/commit?container=a{q}")
    assert r.status == 201
    assert fake.calls[-1][1][5] is want
    assert fake.calls[-1][1][7] is None  # no body, no config


async def test_commit_errors(api: Client, fake: FakeFS) -> None:
    fake.fail = errdefs.NotFound("No such container: zz")
    r = await api.post("/commit?container=zz")
    assert r.status == 404
    assert await r.json() == {"message": "No such container: zz"}
    r = await api.post(
        "/commit?container=a", data=b"{bad", headers={"Content-Type": "application/json"}
    )
    assert r.status == 400


async def test_prune_filters(api: Client, fake: FakeFS) -> None:
    r = await api.post('/containers/prune?filters={"until":["24h"]}')
    assert r.status == 200
    assert await r.json() == {"ContainersDeleted": None, "SpaceReclaimed": 0}
    assert fake.calls[-1][1][0].get("until") == ["24h"]
    r = await api.post("/containers/prune?filters=notjson")
    assert r.status == 400
