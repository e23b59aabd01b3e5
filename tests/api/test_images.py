"""Image routes in-process: routing (names with slashes), status codes and dockerd's wording.

Routing is checked against a recording fake; errors and rmi rules against a real
ImageService on a temp data root (vfs driver), fed by the test image builder.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berthd.api import APIOptions, Backends, build_app
from berthd.daemon.events import EventsService
from berthd.daemon.images import ImageService
from berthd.daemon.system import SystemService
from berthd.image.delete import ContainerUse
from berthd.layer import LayerStore, new_driver
from berthd.lib.filters import FilterArgs
from tests.integration.images_build import build_busybox_archive

Client = TestClient[web.Request, web.Application]
OPTS = APIOptions(version="1.45", min_version="1.24", server_version="0.1.0", cors_header="")


class FakeImages:
    """Records which backend method each route reached, with what."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def _chunks(self, *chunks: bytes) -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    def load_images(self, body: Any, quiet: bool) -> AsyncIterator[bytes]:
        self.calls.append(("load", (quiet,)))
        return self._chunks(b'{"stream":"Loaded image: x:latest\\n"}\n')

    async def check_save(self, names: list[str]) -> None:
        self.calls.append(("check_save", (names,)))

    def save_images(self, names: list[str]) -> AsyncIterator[bytes]:
        return self._chunks(b"tar", b"bytes")

    def import_image(self, *args: Any) -> AsyncIterator[bytes]:
        self.calls.append(("import", args[:1] + args[2:]))
        return self._chunks(b'{"status":"sha256:abc"}\n')

    def pull_image(
        self, image: str, tag: str, platform: str, auth: str | None, meta: Any
    ) -> AsyncIterator[bytes]:
        meta = {k: v for k, v in meta.items() if k != "User-Agent"}
        self.calls.append(("pull", (image, tag, platform, auth, meta)))
        return self._chunks()

    def push_image(
        self, name: str, tag: str, auth: str | None, body: bytes, meta: Any
    ) -> AsyncIterator[bytes]:
        meta = {k: v for k, v in meta.items() if k != "User-Agent"}
        self.calls.append(("push", (name, tag, auth, body, meta)))
        return self._chunks()

    async def list_images(self, filters: FilterArgs, all_images: bool, shared: bool) -> Any:
        self.calls.append(("list", (filters.get("reference"), all_images, shared)))
        return [{"Id": "sha256:1", "RepoTags": [], "RepoDigests": [], "Size": 5}]

    async def inspect_image(self, name: str) -> dict[str, Any]:
        self.calls.append(("inspect", (name,)))
        return {"Id": name, "Container": "", "ContainerConfig": {}, "Size": 3}

    async def image_history(self, name: str) -> list[dict[str, Any]]:
        self.calls.append(("history", (name,)))
        return []

    async def tag_image(self, name: str, repo: str, tag: str) -> None:
        self.calls.append(("tag", (name, repo, tag)))

    async def delete_image(self, name: str, force: bool, prune: bool) -> list[dict[str, Any]]:
        self.calls.append(("delete", (name, force, prune)))
        return [{"Untagged": name}]

    async def prune_images(self, filters: FilterArgs) -> dict[str, Any]:
        self.calls.append(("prune", (filters.get("dangling"),)))
        return {"ImagesDeleted": None, "SpaceReclaimed": 0}


async def _client(system: SystemService, images: Any) -> Client:
    c = TestClient(TestServer(build_app(Backends(system=system, images=images), OPTS)))
    await c.start_server()
    return c


@pytest_asyncio.fixture
async def fake_client(system: SystemService) -> AsyncIterator[tuple[Client, FakeImages]]:
    fake = FakeImages()
    c = await _client(system, fake)
    yield c, fake
    await c.close()


@pytest.mark.parametrize("prefix", ["", "/v1.45", "/v1.24"])
async def test_routes_with_slashes(fake_client: tuple[Client, FakeImages], prefix: str) -> None:
    c, fake = fake_client
    name = "localhost:5000/foo/bar:v1"
    assert (await c.get(f"{prefix}/images/{name}/json")).status == 200
    assert (await c.get(f"{prefix}/images/{name}/history")).status == 200
    r = await c.post(f"{prefix}/images/{name}/tag?repo=a/b&tag=t")
    assert r.status == 201
    r = await c.delete(f"{prefix}/images/{name}?force=1&noprune=1")
    assert await r.json() == [{"Untagged": name}]
    r = await c.get(f"{prefix}/images/{name}/get")
    assert r.headers["Content-Type"] == "application/x-tar"
    assert await r.read() == b"tarbytes"
    assert fake.calls == [
        ("inspect", (name,)),
        ("history", (name,)),
        ("tag", (name, "a/b", "t")),
        ("delete", (name, True, False)),
        ("check_save", ([name],)),
    ]


async def test_fixed_routes(fake_client: tuple[Client, FakeImages]) -> None:
    c, fake = fake_client
    r = await c.post("/images/load?quiet=0", data=b"x")
    assert r.headers["Content-Type"] == "application/json"
    assert b"Loaded image" in await r.read()
    r = await c.get("/images/get?names=a&names=b/c")
    assert await r.read() == b"tarbytes"
    r = await c.post(
        "/images/create?fromSrc=-&repo=r&tag=t&message=m&changes=CMD+x&changes=ENV+A%3D1",
        data=b"tar",
    )
    assert (await r.json()) == {"status": "sha256:abc"}
    await c.post(
        "/images/create?fromImage=alpine&tag=3&platform=linux/arm64",
        headers={"X-Registry-Auth": "e30=", "X-Meta-Trace": "1"},
    )
    await c.post("/v1.31/images/create?fromImage=alpine&platform=linux/arm64")
    await c.post("/images/a/b:5000/c/push?tag=v1", data=b"{}")
    await c.post("/images/r/push", headers={"X-Registry-Auth": "x"})
    await c.get('/images/json?all=1&shared-size=1&filters={"reference":["bu*"]}')
    await c.post('/images/prune?filters={"dangling":["false"]}')
    assert fake.calls == [
        ("load", (False,)),
        ("check_save", (["a", "b/c"],)),
        ("import", ("-", "r", "t", "m", ["CMD x", "ENV A=1"])),
        ("pull", ("alpine", "3", "linux/arm64", "e30=", {"X-Meta-Trace": "1"})),
        ("pull", ("alpine", "", "", None, {})),
        ("push", ("a/b:5000/c", "v1", None, b"{}", {})),
        ("push", ("r", "", "x", b"", {})),
        ("list", (["bu*"], True, True)),
        ("prune", (["false"],)),
    ]


async def test_version_shapes(fake_client: tuple[Client, FakeImages]) -> None:
    c, _ = fake_client
    doc = await (await c.get("/v1.45/images/x/json")).json()
    # Container/ContainerConfig stay at 1.45 (docker-compose 1.x reads them)
    assert "ContainerConfig" in doc and "VirtualSize" not in doc
    doc = await (await c.get("/v1.43/images/x/json")).json()
    assert doc["VirtualSize"] == 3 and "ContainerConfig" in doc
    rows = await (await c.get("/v1.45/images/json")).json()
    assert rows[0]["RepoTags"] == [] and "VirtualSize" not in rows[0]
    rows = await (await c.get("/v1.42/images/json")).json()
    assert rows[0]["RepoTags"] == ["<none>:<none>"] and rows[0]["VirtualSize"] == 5


# --- a real ImageService ------------------------------------------------------------
@pytest.fixture
def service(tmp_path: Path, events: EventsService) -> Iterator[ImageService]:
    root = str(tmp_path / "data")
    layers = LayerStore(root, new_driver(root, "vfs"))
    (tmp_path / "data" / "tmp").mkdir(parents=True, exist_ok=True)
    svc = ImageService(root, layers, events)
    yield svc
    layers.cleanup()


@pytest_asyncio.fixture
async def real(
    system: SystemService, service: ImageService, tmp_path: Path
) -> AsyncIterator[Client]:
    c = await _client(system, service)
    archive = tmp_path / "bb.tar"
    build_busybox_archive(archive)
    r = await c.post("/images/load", data=archive.read_bytes())
    assert b"Loaded image: busybox:latest" in await r.read()
    yield c
    await c.close()


async def test_not_found_wording(real: Client) -> None:
    for method, path in (
        ("GET", "/images/foo/json"),
        ("GET", "/images/foo/history"),
        ("DELETE", "/images/foo"),
        ("POST", "/images/foo/tag?repo=bar"),
        ("GET", "/images/localhost:5000/a/foo/json"),
    ):
        r = await real.request(method, path)
        assert r.status == 404
        want = "foo:latest" if "/a/" not in path else "localhost:5000/a/foo:latest"
        assert await r.json() == {"message": f"No such image: {want}"}
    for path in ("/images/foo/get", "/images/get?names=busybox&names=foo"):
        r = await real.get(path)
        assert r.status == 404  # before any tar byte is sent
        assert (await r.json())["message"].startswith("No such image: foo")


async def test_bad_references(real: Client) -> None:
    r = await real.post("/images/busybox/tag?repo=UPPER")
    assert r.status == 400
    assert "must be lowercase" in (await r.json())["message"]
    r = await real.post("/images/busybox/tag?repo=sha256")
    assert r.status == 400
    assert "ambiguous tag" in (await r.json())["message"]
    r = await real.get("/images/bad::ref/json")
    assert r.status == 400
    assert (await r.json())["message"] == "invalid reference format"
    r = await real.post("/images/create?fromSrc=-&repo=a@sha256:" + "0" * 64, data=b"")
    assert r.status == 400
    r = await real.post("/images/create?fromSrc=-&changes=FROM+x", data=b"")
    assert (await r.json())["message"] == "FROM is not a valid change command"
    r = await real.get('/images/json?filters={"dangling":["maybe"]}')
    assert r.status == 400
    assert (await r.json())["message"] == "invalid filter 'dangling=[maybe]'"


async def test_pull_and_push_requests_are_checked_before_any_output(real: Client) -> None:
    r = await real.post("/images/create?fromImage=alpine&tag=3.19&platform=linux/a/b/c")
    assert r.status == 400
    assert (await r.json())["message"] == (
        '"linux/a/b/c": cannot parse platform specifier: invalid argument'
    )
    r = await real.post("/images/create?fromImage=scratch")
    assert r.status == 403
    assert (await r.json())["message"] == "'scratch' is a reserved name"
    r = await real.post("/images/create?fromImage=Alpine")
    assert r.status == 400
    r = await real.post("/images/create?fromImage=alpine&tag=bad%25tag")
    assert (await r.json())["message"] == "invalid tag format"
    r = await real.post("/images/alpine/push?tag=v1", data=b"")
    assert r.status == 400
    assert (await r.json())["message"] == (
        "bad parameters and missing X-Registry-Auth: invalid X-Registry-Auth header: EOF"
    )
    # no registry service in this test app: a clear refusal, nothing sent anywhere
    r = await real.post("/images/create?fromImage=alpine&tag=3.19")
    assert r.status == 501
    assert (await r.json())["message"] == "no registry client configured"


async def test_rmi_rules(real: Client, service: ImageService) -> None:
    assert (await real.post("/images/busybox/tag?repo=other&tag=1")).status == 201
    image_id = (await (await real.get("/images/busybox/json")).json())["Id"]
    r = await real.delete("/images/" + image_id[7:19])
    assert r.status == 409
    assert (await r.json())["message"] == (
        f"conflict: unable to delete {image_id[7:19]} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    r = await real.delete("/images/other:1")
    assert await r.json() == [{"Untagged": "other:1"}]
    service.containers_using = lambda i: [ContainerUse("c" * 64, running=False)]
    r = await real.delete("/images/busybox")
    assert r.status == 409
    assert (await r.json())["message"] == (
        'conflict: unable to remove repository reference "busybox" (must force) - '
        f"container cccccccccccc is using its referenced image {image_id[7:19]}"
    )
    service.containers_using = lambda i: []
    r = await real.delete("/images/busybox")
    body = await r.json()
    assert body[0] == {"Untagged": "busybox:latest"}
    assert body[1] == {"Deleted": image_id}
    assert len(body) == 3  # and its one layer
    assert (await real.get("/images/busybox/json")).status == 404


async def test_load_errors_are_in_band(real: Client) -> None:
    r = await real.post("/images/load", data=b"not a tar at all" * 100)
    assert r.status == 200
    lines = [orjson.loads(x) for x in (await r.read()).splitlines()]
    assert "error" in lines[-1] and "errorDetail" in lines[-1]


async def test_import_from_body(real: Client, tmp_path: Path) -> None:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    r = await real.post(
        "/images/create?fromSrc=-&repo=imp&tag=1&message=msg"
        "&changes=CMD+%5B%22%2Fhello%22%5D&changes=EXPOSE+80",
        data=buf.getvalue(),
    )
    assert r.status == 200
    status = orjson.loads((await r.read()).splitlines()[-1])["status"]
    doc = await (await real.get("/images/imp:1/json")).json()
    assert doc["Id"] == status
    assert doc["Comment"] == "msg"
    assert doc["Config"]["Cmd"] == ["/hello"]
    assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 1
    hist = await (await real.get("/images/imp:1/history")).json()
    assert hist[0]["Comment"] == "msg" and hist[0]["Tags"] == ["imp:1"]


async def test_ping_answers_during_load(real: Client, tmp_path: Path) -> None:
    """The load runs in a thread: the loop answers a ping while the body still flows."""
    archive = tmp_path / "b2.tar"
    build_busybox_archive(archive, tag="b2:latest", extra_layers=3)
    data = archive.read_bytes()
    gate = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield data[: len(data) // 2]
        await gate.wait()
        yield data[len(data) // 2 :]

    load = asyncio.ensure_future(real.post("/images/load", data=body()))
    await asyncio.sleep(0.05)
    r = await real.get("/_ping")
    assert r.status == 200 and not load.done()
    gate.set()
    resp = await load
    assert b"Loaded image: b2:latest" in await resp.read()
