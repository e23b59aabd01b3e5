from __future__ import annotations

import os

import pytest

from berthd import errdefs
from berthd.image.delete import ContainerUse, DeleteItem, ImageDeleter
from berthd.image.fs_store import FSStoreBackend
from berthd.image.lookup import get_image
from berthd.image.reference import parse_normalized_named as p
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore

from .fakes import FakeLayerStore, make_config, make_layer_tar, register_all

DIG = "sha256:" + "d" * 64
CTR = "c" * 64


class World:
    def __init__(self, root: str) -> None:
        self.layers = FakeLayerStore()
        self.images = ImageStore(FSStoreBackend(os.path.join(root, "imagedb")), self.layers)
        self.refs = ReferenceStore(os.path.join(root, "repositories.json"))
        self.users: dict[str, list[ContainerUse]] = {}
        self.events: list[tuple[str, str]] = []
        self.deleter = ImageDeleter(
            self.images,
            self.refs,
            lambda image_id: self.users.get(image_id, []),
            on_event=lambda i, a: self.events.append((i, a)),
        )

    def image(self, *tags: str, cmd: str = "x", layers: list[bytes] | None = None) -> str:
        layers = layers or []
        if layers:
            register_all(self.layers, layers)
        image_id = self.images.create(make_config(layers, cmd=cmd))
        for tag in tags:
            self.refs.add_tag(p(tag), image_id, force=False)
        return image_id

    def rmi(self, ref: str, force: bool = False, prune: bool = True) -> list[dict[str, str]]:
        return [item.to_json() for item in self.deleter.delete(ref, force, prune)]


@pytest.fixture
def w(tmp_path: str) -> World:
    return World(str(tmp_path))


def test_last_tag_deletes_image_and_layers(w: World) -> None:
    tar = make_layer_tar({"a": b"1"})
    image_id = w.image("busybox", layers=[tar])
    for chain in list(w.layers.layers):
        w.layers.release(chain)  # drop the registration reference
    out = w.rmi("busybox")
    assert out[0] == {"Untagged": "busybox:latest"}
    assert out[1] == {"Deleted": image_id}
    assert len(out) == 3 and "Deleted" in out[2]
    assert not w.images.exists(image_id)
    assert w.layers.layers == {}
    assert ("untag" in [a for _, a in w.events]) and (image_id, "delete") in w.events


def test_other_tag_remains(w: World) -> None:
    image_id = w.image("busybox:1", "busybox:2")
    assert w.rmi("busybox:1") == [{"Untagged": "busybox:1"}]
    assert w.images.exists(image_id)


def test_digest_refs_of_same_repo_go_with_last_tag(w: World) -> None:
    image_id = w.image("busybox")
    w.refs.add_digest(p(f"busybox@{DIG}"), image_id, force=False)
    assert w.rmi("busybox") == [
        {"Untagged": "busybox:latest"},
        {"Untagged": f"busybox@{DIG}"},
        {"Deleted": image_id},
    ]


def test_by_id_with_tags_in_two_repos(w: World) -> None:
    image_id = w.image("a:1", "b:1")
    with pytest.raises(errdefs.Conflict) as info:
        w.rmi(image_id[7:19])
    assert str(info.value) == (
        f"conflict: unable to delete {image_id[7:19]} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    assert w.rmi(image_id[7:19], force=True) == [
        {"Untagged": "a:1"},
        {"Untagged": "b:1"},
        {"Deleted": image_id},
    ]


def test_by_id_single_tag_untags_then_deletes(w: World) -> None:
    image_id = w.image("a:1")
    assert w.rmi(image_id) == [{"Untagged": "a:1"}, {"Deleted": image_id}]


def test_stopped_container(w: World) -> None:
    image_id = w.image()
    w.users[image_id] = [ContainerUse(CTR, running=False)]
    with pytest.raises(errdefs.Conflict) as info:
        w.rmi(image_id[7:])
    assert str(info.value) == (
        f"conflict: unable to delete {image_id[7:19]} (must be forced) - "
        f"image is being used by stopped container {CTR[:12]}"
    )
    assert w.rmi(image_id[7:], force=True) == [{"Deleted": image_id}]


def test_running_container_cannot_be_forced(w: World) -> None:
    image_id = w.image()
    w.users[image_id] = [ContainerUse(CTR, running=True)]
    with pytest.raises(errdefs.Conflict) as info:
        w.rmi(image_id, force=True)
    assert str(info.value) == (
        f"conflict: unable to delete {image_id[7:19]} (cannot be forced) - "
        f"image is being used by running container {CTR[:12]}"
    )


def test_name_used_by_container(w: World) -> None:
    image_id = w.image("busybox")
    w.users[image_id] = [ContainerUse(CTR, running=True)]
    with pytest.raises(errdefs.Conflict) as info:
        w.rmi("busybox")
    assert str(info.value) == (
        'conflict: unable to remove repository reference "busybox" (must force) - '
        f"container {CTR[:12]} is using its referenced image {image_id[7:19]}"
    )
    # forced: the tag goes, the in-use image stays (quiet conflict)
    assert w.rmi("busybox", force=True) == [{"Untagged": "busybox:latest"}]
    assert w.images.exists(image_id)


def test_name_used_by_stopped_container_force_deletes(w: World) -> None:
    image_id = w.image("busybox")
    w.users[image_id] = [ContainerUse(CTR, running=False)]
    assert w.rmi("busybox", force=True) == [
        {"Untagged": "busybox:latest"},
        {"Deleted": image_id},
    ]


def test_children_and_prune(w: World) -> None:
    parent = w.image(cmd="parent")
    child = w.image("child", cmd="child")
    w.images.set_parent(child, parent)
    with pytest.raises(errdefs.Conflict, match=r"\(cannot be forced\) - image has dependent"):
        w.rmi(parent, force=True)
    assert w.rmi("child") == [
        {"Untagged": "child:latest"},
        {"Deleted": child},
        {"Deleted": parent},
    ]


def test_no_prune_keeps_parent(w: World) -> None:
    parent = w.image(cmd="parent")
    child = w.image("child", cmd="child")
    w.images.set_parent(child, parent)
    assert w.rmi("child", prune=False) == [{"Untagged": "child:latest"}, {"Deleted": child}]
    assert w.images.exists(parent)


def test_tagged_parent_not_pruned(w: World) -> None:
    parent = w.image("base", cmd="parent")
    child = w.image("child", cmd="child")
    w.images.set_parent(child, parent)
    assert w.rmi("child")[-1] == {"Deleted": child}
    assert w.images.exists(parent)


def test_not_found_and_lookup(w: World) -> None:
    with pytest.raises(errdefs.NotFound, match=r"^No such image: nothere:latest$"):
        w.rmi("nothere")
    with pytest.raises(errdefs.NotFound, match=f"^No such image: sha256:{'e' * 64}$"):
        w.rmi("e" * 64)
    with pytest.raises(errdefs.InvalidParameter):
        w.rmi("Bad")
    image_id = w.image("x:1")
    assert get_image(w.images, w.refs, "x:1").id == image_id
    assert get_image(w.images, w.refs, image_id).id == image_id
    assert get_image(w.images, w.refs, image_id[7:15]).id == image_id


def test_delete_item_json() -> None:
    assert DeleteItem(untagged="a").to_json() == {"Untagged": "a"}
    assert DeleteItem(deleted="sha256:x").to_json() == {"Deleted": "sha256:x"}
