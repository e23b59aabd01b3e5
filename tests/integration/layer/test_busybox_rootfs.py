"""A real busybox rootfs through the layer store: run programs in the merged
view (chroot), then diff, commit and save, on both drivers."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berthd.layer import LayerStore, new_driver
from berthd.layer.mounts import mountpoints
from berthd.lib.archive import Change, ChangeKind

CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists("/usr/bin/busybox"), reason="needs busybox-static"),
]


def _rootfs_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tf.addfile(info)
        tf.add("/usr/bin/busybox", "bin/busybox")
        for applet in ("sh", "ls", "cat", "rm", "echo", "id"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(info)
        for name, data in (("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n"), ("etc/motd", b"hi\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(params=["overlay2", "vfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LayerStore]:
    root = tmp_path / "data"
    s = LayerStore(str(root), new_driver(str(root), request.param))
    yield s
    s.cleanup()
    assert not [m for m in mountpoints() if m.startswith(str(root))]


def _sh(root: str, script: str) -> str:
    out = subprocess.run(
        [CHROOT, root, "/bin/sh", "-c", script],
        capture_output=True,
        check=True,
        env={"PATH": "/bin"},
    )
    return out.stdout.decode()


def test_busybox_container_lifecycle(store: LayerStore) -> None:
    tar = _rootfs_tar()
    image = store.register(io.BytesIO(gzip.compress(tar)), expected_diff_id=None)
    assert image.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    store.create_rw_layer("ctr", image.chain_id)
    root = store.mount("ctr")
    try:
        assert _sh(root, "cat /etc/motd") == "hi\n"
        _sh(root, "echo data > /tmp/out; rm /etc/motd; id -u > /etc/uid")
        assert set(os.listdir(root)) >= {"bin", "etc", "tmp", "proc", "sys", "dev", ".dockerenv"}
        changes = sorted(store.changes("ctr"))
    finally:
        store.unmount("ctr")
    assert changes == [
        Change("/etc", ChangeKind.MODIFY),
        Change("/etc/motd", ChangeKind.DELETE),
        Change("/etc/uid", ChangeKind.ADD),
        Change("/tmp", ChangeKind.MODIFY),
        Change("/tmp/out", ChangeKind.ADD),
    ]
    committed = store.commit("ctr")
    saved = b"".join(store.tar_stream(committed.chain_id))
    assert "sha256:" + hashlib.sha256(saved).hexdigest() == committed.diff_id
    with tarfile.open(fileobj=io.BytesIO(saved)) as tf:
        assert {"etc/.wh.motd", "etc/uid", "tmp/out"} <= set(tf.getnames())

    store.create_rw_layer("ctr2", committed.chain_id)
    root2 = store.mount("ctr2")
    try:
        assert _sh(root2, "cat /tmp/out") == "data\n"
        assert _sh(root2, "ls /etc/motd 2>/dev/null || echo gone") == "gone\n"
    finally:
        store.unmount("ctr2")
    exported = b"".join(store.export_rootfs("ctr2"))
    with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
        names = set(tf.getnames())
    assert {"bin/busybox", "tmp/out", "etc/uid", "etc/hosts"} <= names and "etc/motd" not in names
    for name in ("ctr2", "ctr"):
        store.release_rw_layer(name)
    store.release(committed.chain_id)
    assert store.release(image.chain_id)
    assert store.driver.ids() == []
