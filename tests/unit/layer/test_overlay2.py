"""overlay2 specifics: deep stacks within the option limit, whiteouts, opaque dirs."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.layer import LayerStore, new_driver
from berthd.layer.overlay2 import MAX_DEPTH
from berthd.lib.archive import Change, ChangeKind
from tests.unit.lib.archive.tarbuild import build, d, f


@pytest.fixture
def ostore(data_root: Path) -> LayerStore:
    s = LayerStore(str(data_root), new_driver(str(data_root), "overlay2"))
    yield s  # type: ignore[misc]
    s.cleanup()


def test_127_layer_image_mounts_at_the_128_lower_limit(ostore: LayerStore) -> None:
    parent = None
    start = time.monotonic()
    for i in range(127):
        parent = ostore.register(
            io.BytesIO(build([d("l"), f(f"l/{i:03}", str(i).encode())])), parent
        ).chain_id
    rw = ostore.create_rw_layer("deep", parent)
    root = Path(ostore.mount("deep"))
    try:
        assert len(os.listdir(root / "l")) == 127
        assert (root / "l/000").read_text() == "0"
        assert (root / "l/126").read_text() == "126"
        lower = (Path(ostore.driver.root) / rw.mount_id / "lower").read_text()
        assert lower.count(":") + 1 == 128  # 127 image layers + the init layer
        assert len(lower) < 4096
    finally:
        ostore.unmount("deep")
    assert time.monotonic() - start < 60


def test_max_depth(ostore: LayerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("berthd.layer.overlay2.MAX_DEPTH", 2)
    a = ostore.register(io.BytesIO(build([f("a")]))).chain_id
    b = ostore.register(io.BytesIO(build([f("b")])), a).chain_id
    c = ostore.register(io.BytesIO(build([f("c")])), b).chain_id
    with pytest.raises(errdefs.InvalidParameter, match="max depth exceeded"):
        ostore.register(io.BytesIO(build([f("d")])), c)
    assert MAX_DEPTH == 128


def test_whiteout_and_opaque_hide_lower_content(ostore: LayerStore) -> None:
    base = ostore.register(
        io.BytesIO(build([d("a"), f("a/1"), f("a/2"), d("b"), f("b/gone"), f("top")]))
    ).chain_id
    top = ostore.register(
        io.BytesIO(
            build(
                [
                    d("a"),
                    f("a/.wh..wh..opq", b""),
                    f("a/3"),
                    f(".wh.top", b""),
                    d("b"),
                    f("b/.wh.gone", b""),
                ]
            )
        ),
        base,
    ).chain_id
    ostore.create_rw_layer("c", top)
    root = Path(ostore.mount("c"))
    try:
        assert sorted(os.listdir(root / "a")) == ["3"]
        assert not (root / "top").exists()
        assert os.listdir(root / "b") == []
    finally:
        ostore.unmount("c")


def test_changes_for_recreated_dir_is_opaque_delete(ostore: LayerStore) -> None:
    base = ostore.register(io.BytesIO(build([d("a"), f("a/1"), f("a/2")]))).chain_id
    ostore.create_rw_layer("c", base)
    root = Path(ostore.mount("c"))
    try:
        for n in ("1", "2"):
            os.unlink(root / "a" / n)
        os.rmdir(root / "a")
        os.mkdir(root / "a")
        (root / "a/new").write_text("n")
        changes = ostore.changes("c")
    finally:
        ostore.unmount("c")
    # moby's OverlayChanges: an opaque directory reports as deleted.
    assert Change("/a", ChangeKind.DELETE) in changes
    assert Change("/a/new", ChangeKind.ADD) in changes
