from __future__ import annotations

import json
import os
import threading

import pytest

from berthd import errdefs
from berthd.image.reference import parse_normalized_named as p
from berthd.image.reference_store import ReferenceStore

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
D = "sha256:" + "d" * 64


def test_format_on_disk(tmp_path: str) -> None:
    path = os.path.join(tmp_path, "repositories.json")
    rs = ReferenceStore(path)
    with open(path, "rb") as f:
        assert f.read() == b'{"Repositories":{}}'
    rs.add_tag(p("busybox"), A, force=False)
    rs.add_digest(p(f"busybox@{D}"), A, force=False)
    rs.add_tag(p("localhost:5000/x:1"), B, force=False)
    with open(path, "rb") as f:
        raw = f.read()
    assert raw == (
        b'{"Repositories":{"busybox":{"busybox:latest":"'
        + A.encode()
        + b'","busybox@'
        + D.encode()
        + b'":"'
        + A.encode()
        + b'"},"localhost:5000/x":{"localhost:5000/x:1":"'
        + B.encode()
        + b'"}}}'
    )
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    # reload from disk
    rs2 = ReferenceStore(path)
    assert rs2.get(p("busybox:latest")) == A
    assert [str(r) for r in rs2.references(A)] == [
        "docker.io/library/busybox:latest",
        f"docker.io/library/busybox@{D}",
    ]


def test_tag_conflict_and_force(tmp_path: str) -> None:
    rs = ReferenceStore(os.path.join(tmp_path, "r.json"))
    rs.add_tag(p("busybox"), A, force=False)
    with pytest.raises(errdefs.Conflict) as info:
        rs.add_tag(p("busybox:latest"), B, force=False)
    assert str(info.value) == (
        f"Conflict: Tag busybox:latest is already set to image {A}, "
        "if you want to replace it, please use the force option"
    )
    rs.add_tag(p("busybox"), B, force=True)
    assert rs.get(p("busybox")) == B
    assert rs.references(A) == []
    assert [r.familiar_string() for r in rs.references(B)] == ["busybox:latest"]


def test_digest_rules(tmp_path: str) -> None:
    rs = ReferenceStore(os.path.join(tmp_path, "r.json"))
    with pytest.raises(errdefs.InvalidParameter, match="refusing to create a tag with a digest"):
        rs.add_tag(p(f"busybox@{D}"), A, force=True)
    rs.add_digest(p(f"busybox:1@{D}"), A, force=False)  # tag dropped, digest kept
    assert rs.get(p(f"busybox@{D}")) == A
    assert rs.get(p(f"busybox:9@{D}")) == A
    with pytest.raises(errdefs.Conflict, match=f"Cannot overwrite digest {D}"):
        rs.add_digest(p(f"busybox@{D}"), B, force=True)
    with pytest.raises(errdefs.InvalidParameter, match="ambiguous tag using digest algorithm"):
        rs.add_tag(p("sha256:foo"), A, force=False)


def test_delete_and_lookups(tmp_path: str) -> None:
    path = os.path.join(tmp_path, "r.json")
    rs = ReferenceStore(path)
    rs.add_tag(p("foo/bar:1"), A, force=False)
    rs.add_tag(p("foo/bar:2"), B, force=False)
    pairs = rs.references_by_name(p("foo/bar"))
    assert [(r.familiar_string(), i) for r, i in pairs] == [("foo/bar:1", A), ("foo/bar:2", B)]
    assert rs.image_ids() == {A, B}
    assert rs.delete(p("foo/bar:1"))
    with pytest.raises(errdefs.NotFound, match="reference does not exist"):
        rs.delete(p("foo/bar:1"))
    with pytest.raises(errdefs.NotFound):
        rs.get(p("foo/bar:1"))
    rs.delete(p("foo/bar:2"))
    with open(path) as f:
        assert json.load(f) == {"Repositories": {}}


def test_threads(tmp_path: str) -> None:
    rs = ReferenceStore(os.path.join(tmp_path, "r.json"))

    def work(n: int) -> None:
        for i in range(20):
            rs.add_tag(p(f"t{n}:{i}"), A, force=False)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ReferenceStore(rs.json_path).references(A)) == 80


def test_corrupt_file(tmp_path: str) -> None:
    path = os.path.join(tmp_path, "r.json")
    with open(path, "w") as f:
        f.write("{")
    with pytest.raises(errdefs.DataLoss):
        ReferenceStore(path)
