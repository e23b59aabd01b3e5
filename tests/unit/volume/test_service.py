from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from berthd.daemon.volumes import VolumesService
from berthd.daemon.volumes.filters import list_matcher, parse_go_bool, prune_matcher
from berthd.errdefs import Conflict, InvalidParameter
from berthd.lib.filters import FilterArgs
from berthd.volume import ANONYMOUS_LABEL, PluginDirs, Volume


class Events:
    def __init__(self) -> None:
        self.logged: list[tuple[str, str, str, dict[str, str]]] = []

    def log(
        self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None
    ) -> Any:
        self.logged.append((type_, action, actor_id, dict(attributes or {})))


@pytest_asyncio.fixture
async def events() -> Events:
    return Events()


@pytest_asyncio.fixture
async def svc(
    tmp_path: Path, plugin_dirs: PluginDirs, events: Events
) -> AsyncIterator[VolumesService]:
    s = await VolumesService.open(str(tmp_path / "data"), events, plugin_dirs, plugin_timeout=1)
    yield s
    await s.shutdown()


def fill(root: str, files: dict[str, int]) -> None:
    for rel, size in files.items():
        path = Path(root, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)


def link(target: Path, path: Path) -> None:
    path.hardlink_to(target)


def names(listing: dict[str, Any]) -> list[str]:
    return [v["Name"] for v in listing["Volumes"]]


async def test_create_inspect_and_the_api_shape(
    svc: VolumesService, tmp_path: Path, events: Events
) -> None:
    v = await svc.create("web", "", {}, {"tier": "db"})
    assert set(v) == {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"}
    assert v["Mountpoint"] == str(tmp_path / "data" / "volumes" / "web" / "_data")
    assert (v["Driver"], v["Scope"], v["Labels"], v["Options"]) == (
        "local",
        "local",
        {"tier": "db"},
        {},
    )
    assert await svc.inspect("web") == v
    await svc.create("web")
    assert events.logged == [("volume", "create", "web", {"driver": "local"})]
    bare = await svc.create("bare")
    assert bare["Labels"] is None and bare["Options"] is None


async def test_anonymous_volumes_get_a_generated_name_and_label(svc: VolumesService) -> None:
    vol = await svc.get_or_create("", labels={"x": "1"}, ref="c1")
    assert len(vol.name) == 64
    assert vol.labels == {"x": "1", ANONYMOUS_LABEL: ""}
    assert vol.anonymous
    assert svc.refs(vol.name) == ["c1"] and svc.is_in_use(vol.name)


async def test_remove_in_use_then_released(svc: VolumesService, events: Events) -> None:
    await svc.get_or_create("data", ref="c1")
    with pytest.raises(Conflict) as e:
        await svc.remove("data", force=True)
    assert str(e.value) == "remove data: volume is in use - [c1]"
    await svc.release("data", "c1")
    await svc.remove("data")
    assert events.logged[-1] == ("volume", "destroy", "data", {"driver": "local"})
    await svc.remove("data", force=True)  # gone: force ignores it, no event
    assert events.logged[-1][1] == "destroy" and len(events.logged) == 2


async def test_list_filters(svc: VolumesService) -> None:
    await svc.create("alpha", labels={"env": "prod", "team": "a"})
    await svc.create("beta", labels={"env": "dev"})
    await svc.get_or_create("gamma", ref="c1")
    listing = await svc.list_volumes(FilterArgs())
    assert names(listing) == ["alpha", "beta", "gamma"] and listing["Warnings"] is None

    async def ls(**f: list[str]) -> list[str]:
        return names(await svc.list_volumes(FilterArgs(f)))

    assert await ls(dangling=["true"]) == ["alpha", "beta"]
    assert await ls(dangling=["0"]) == ["gamma"]
    assert await ls(name=["alp"]) == ["alpha"]
    assert await ls(name=["^.e"]) == ["beta"]
    assert await ls(name=["a$"]) == ["alpha", "beta", "gamma"]
    assert await ls(label=["env"]) == ["alpha", "beta"]
    assert await ls(label=["env=prod"]) == ["alpha"]
    assert await ls(label=["env=prod", "team=a"]) == ["alpha"]
    assert await ls(label=["env=prod", "team=b"]) == []
    assert await ls(driver=["local"]) == ["alpha", "beta", "gamma"]
    assert await ls(driver=["other"]) == []
    with pytest.raises(InvalidParameter, match="invalid filter 'bogus'"):
        await ls(bogus=["x"])
    with pytest.raises(InvalidParameter, match=r"invalid filter 'dangling=\[maybe\]'"):
        await ls(dangling=["maybe"])


async def test_prune_anonymous_by_default_all_on_request(
    svc: VolumesService, events: Events
) -> None:
    anon = await svc.get_or_create("")
    used_anon = await svc.get_or_create("", ref="c1")
    await svc.create("named")
    await svc.create("keepme", labels={"keep": "yes"})
    await svc.create("tmpfs", opts={"type": "tmpfs", "device": "tmpfs"})
    fill(anon.mountpoint, {"blob": 1000})
    report = await svc.prune(FilterArgs())
    assert report == {"VolumesDeleted": [anon.name], "SpaceReclaimed": 1000}
    assert events.logged[-1] == ("volume", "prune", "", {"reclaimed": "1000"})
    assert ("volume", "destroy", anon.name, {"driver": "local"}) in events.logged
    report = await svc.prune(FilterArgs({"all": ["true"], "label!": ["keep"]}))
    assert report == {"VolumesDeleted": ["named"], "SpaceReclaimed": 0}
    report = await svc.prune(FilterArgs({"all": ["1"], "label": ["keep=yes"]}))
    assert report["VolumesDeleted"] == ["keepme"]
    left = names(await svc.list_volumes(FilterArgs()))
    assert left == sorted([used_anon.name, "tmpfs"])  # in use; has options
    assert (await svc.prune(FilterArgs()))["VolumesDeleted"] == []


async def test_prune_filter_errors(svc: VolumesService) -> None:
    with pytest.raises(
        InvalidParameter, match=r"^invalid filter 'all=\[false true\]': only one value is expected$"
    ):
        await svc.prune(FilterArgs({"all": ["true", "false"]}))
    with pytest.raises(
        InvalidParameter,
        match=r'^invalid filter \'all\': strconv.ParseBool: parsing "yes": invalid syntax$',
    ):
        await svc.prune(FilterArgs({"all": ["yes"]}))
    with pytest.raises(InvalidParameter, match="invalid filter 'dangling'"):
        await svc.prune(FilterArgs({"dangling": ["true"]}))
    await svc.prune(FilterArgs())  # the running flag was reset after the errors


async def test_only_one_prune_at_a_time(svc: VolumesService) -> None:
    svc._prune_running = True
    with pytest.raises(Conflict, match="a prune operation is already running"):
        await svc.prune(FilterArgs())


async def test_disk_usage_and_driver_names(svc: VolumesService) -> None:
    v = await svc.get_or_create("sized", ref="c1")
    await svc.create("opts", opts={"type": "tmpfs", "device": "tmpfs"})
    fill(v.mountpoint, {"a": 10, "sub/b": 5})
    link(Path(v.mountpoint, "a"), Path(v.mountpoint, "hard"))
    df = await svc.disk_usage()
    assert [d["Name"] for d in df] == ["sized"]
    assert df[0]["UsageData"] == {"Size": 15, "RefCount": 1}
    assert svc.driver_names() == ["local"]


async def test_mount_unmount_live_restore(svc: VolumesService) -> None:
    v = await svc.get_or_create("mnt", ref="c1")
    assert await svc.mount("mnt", "m1") == v.mountpoint
    await svc.unmount("mnt", "m1")
    await svc.live_restore("mnt", "c2")
    assert svc.refs("mnt") == ["c1", "c2"]
    assert (await svc.get("mnt", ref="c3")).name == "mnt"
    assert svc.refs("mnt") == ["c1", "c2", "c3"]


def vol(
    name: str,
    driver: str = "local",
    labels: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> Volume:
    return Volume(name, driver, "", "", labels=labels, options=options)


def test_matchers_directly() -> None:
    m = list_matcher(FilterArgs({"label": ["a"]}))
    assert not m(vol("x"), False)  # no labels at all
    assert m(vol("x", labels={"a": ""}), True)
    p = prune_matcher(FilterArgs())
    assert p(vol("x", labels={ANONYMOUS_LABEL: ""}))
    assert not p(vol("x", labels={ANONYMOUS_LABEL: ""}, options={"type": "tmpfs"}))
    assert not p(vol("x", driver="plug", labels={ANONYMOUS_LABEL: ""}))
    assert not p(vol("x"))
    assert parse_go_bool("T") and not parse_go_bool("FALSE")
    with pytest.raises(ValueError):
        parse_go_bool("yes")
