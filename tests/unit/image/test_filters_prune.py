from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.image.delete import ContainerUse
from berthd.image.filters import (
    familiar_match,
    list_images,
    match_kv_list,
    parse_timestamp_ns,
    path_match,
)
from berthd.image.lookup import get_image
from berthd.image.prune import ImagePruner
from berthd.image.reference import parse_normalized_named as p

from .fakes import make_config
from .test_delete import World, w  # noqa: F401 - fixture


def make(world: World, created: str, *tags: str, labels: dict[str, str] | None = None) -> str:
    raw = make_config(
        [],
        cmd=created,
        extra={"created": created, "config": {"Labels": labels or {}}},
    )
    image_id = world.images.create(raw)
    for tag in tags:
        world.refs.add_tag(p(tag), image_id, force=False)
    return image_id


def ls(world: World, filters: dict[str, list[str]], all_images: bool = False) -> list[list[str]]:
    entries = list_images(
        world.images,
        world.refs,
        filters,
        all_images,
        lambda v: get_image(world.images, world.refs, v),
    )
    return [e.repo_tags for e in entries]


def test_path_match_like_go() -> None:
    assert path_match("busy*", "busybox")
    assert not path_match("*", "foo/bar")
    assert path_match("*/*", "foo/bar")
    assert path_match("b?sy[a-z]ox", "busybox")
    assert path_match("[^a]usybox", "busybox")
    assert path_match("a\\*", "a*")
    with pytest.raises(errdefs.InvalidParameter, match="syntax error in pattern"):
        path_match("[", "x")
    assert familiar_match("busybox", p("busybox:1"))  # matches the name
    assert familiar_match("busybox:1", p("busybox:1"))
    assert not familiar_match("busybox:2", p("busybox:1"))


def test_match_kv_list() -> None:
    assert match_kv_list([], {})
    assert not match_kv_list(["a"], {})
    assert match_kv_list(["a", "b=2"], {"a": "x", "b": "2"})
    assert not match_kv_list(["b=3"], {"b": "2"})


def test_timestamps() -> None:
    now = 1_000_000 * 10**9
    assert parse_timestamp_ns("10m", now) == now - 600 * 10**9
    assert parse_timestamp_ns("1h30m", now) == now - 5400 * 10**9
    assert parse_timestamp_ns("1970-01-02", now) == 86400 * 10**9
    assert parse_timestamp_ns("1970-01-01T01", now) == 3600 * 10**9
    assert parse_timestamp_ns("1970-01-01T00:00:10.5Z", now) == 10_500_000_000
    assert parse_timestamp_ns("12345", now) == 12345 * 10**9
    with pytest.raises(errdefs.InvalidParameter, match="failed to parse value as time"):
        parse_timestamp_ns("soon", now)


def test_list_filters(w: World) -> None:  # noqa: F811
    old = make(w, "2020-01-01T00:00:00Z", "old:1", labels={"tier": "db"})
    mid = make(w, "2021-01-01T00:00:00Z", "mid:1", "other/mid:2")
    make(w, "2022-01-01T00:00:00Z", labels={"tier": "web"})  # dangling
    assert ls(w, {}) == [["<none>:<none>"], ["mid:1", "other/mid:2"], ["old:1"]]
    assert ls(w, {"dangling": ["true"]}) == [["<none>:<none>"]]
    assert ls(w, {"dangling": ["false"]}) == [["mid:1", "other/mid:2"], ["old:1"]]
    with pytest.raises(errdefs.InvalidParameter, match=r"^invalid filter 'dangling=\[maybe\]'$"):
        ls(w, {"dangling": ["maybe"]})
    with pytest.raises(errdefs.InvalidParameter, match=r"^invalid filter 'nope'$"):
        ls(w, {"nope": ["x"]})
    assert ls(w, {"label": ["tier=db"]}) == [["old:1"]]
    assert ls(w, {"label": ["tier"]}) == [["<none>:<none>"], ["old:1"]]
    assert ls(w, {"reference": ["mid"]}) == [["mid:1"]]
    assert ls(w, {"reference": ["*/*"]}) == [["other/mid:2"]]
    assert ls(w, {"before": ["mid:1"]}) == [["old:1"]]
    assert ls(w, {"since": [old[7:19]]}) == [["<none>:<none>"], ["mid:1", "other/mid:2"]]
    assert ls(w, {"until": ["2021-06-01"]}) == [["mid:1", "other/mid:2"], ["old:1"]]
    with pytest.raises(errdefs.NotFound):
        ls(w, {"before": ["ghost"]})
    assert mid


def test_intermediate_images_need_all(w: World) -> None:  # noqa: F811
    parent = make(w, "2020-01-01T00:00:00Z")
    child = make(w, "2020-01-02T00:00:00Z", "c:1")
    w.images.set_parent(child, parent)
    assert ls(w, {}) == [["c:1"]]
    assert ls(w, {}, all_images=True) == [["c:1"], ["<none>:<none>"]]


def test_prune_dangling_and_all(w: World) -> None:  # noqa: F811
    tagged = make(w, "2020-01-01T00:00:00Z", "keep:1")
    dangling = make(w, "2020-01-02T00:00:00Z")
    used = make(w, "2020-01-03T00:00:00Z")
    w.users[used] = [ContainerUse("f" * 64, running=False)]
    pruner = ImagePruner(w.images, w.refs, w.deleter)
    report = pruner.prune({}, {dangling: 0})
    assert [i.to_json() for i in report.images_deleted] == [{"Deleted": dangling}]
    assert w.images.exists(used) and w.images.exists(tagged)
    report = pruner.prune({"dangling": ["false"]}, {})
    assert [i.to_json() for i in report.images_deleted] == [
        {"Untagged": "keep:1"},
        {"Deleted": tagged},
    ]
    assert report.to_json()["SpaceReclaimed"] == 0
    assert w.images.exists(used)
    with pytest.raises(errdefs.InvalidParameter):
        pruner.prune({"reference": ["x"]}, {})


def test_prune_label_and_until(w: World) -> None:  # noqa: F811
    a = make(w, "2020-01-01T00:00:00Z", labels={"k": "v"})
    b = make(w, "2023-01-01T00:00:00Z")
    pruner = ImagePruner(w.images, w.refs, w.deleter)
    assert pruner.prune({"label!": ["k"]}, {}).images_deleted[0].deleted == b
    assert w.images.exists(a)
    c = make(
        w,
        "2023-01-01T00:00:00Z",
        labels={"k": "v"},
    )
    report = pruner.prune({"until": ["2021-01-01"]}, {})
    assert [i.deleted for i in report.images_deleted] == [a]
    assert w.images.exists(c)
