from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import pytest

from berthd import errdefs
from berthd.image.reference import parse_normalized_named as p
from berthd.image.tarexport_save import ImageSaver
from berthd.image.v1compat import go_container_config

from .archives import TarBuilder, blobs_save, sha
from .fakes import make_config, make_layer_tar
from .test_tarexport_load import Env

ZERO_CONFIG = (
    '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,'
    '"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,'
    '"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,'
    '"Labels":null}'
)
L1 = make_layer_tar({"bin/sh": b"sh"})
L2 = make_layer_tar({"etc/x": b"x"})


def saver(env: Env, tmp: str) -> ImageSaver:
    return ImageSaver(env.images, env.refs, env.layers, tmp_dir=tmp)


def populated(tmp_path: str) -> tuple[Env, bytes, bytes]:
    env = Env(os.path.join(tmp_path, "src"))
    os.makedirs(os.path.join(tmp_path, "src"), exist_ok=True)
    c1 = make_config([L1, L2], cmd="a && b")
    c2 = make_config([L1], cmd="other")
    env.load(blobs_save([(c1, [L1, L2], ["busybox:latest", "busybox:1", "x/y:z"]), (c2, [L1], [])]))
    return env, c1, c2


def members(archive: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            out[m.name] = f.read() if f is not None else b""
    return out


def test_layout_matches_dockerd(tmp_path: str) -> None:
    env, c1, _ = populated(str(tmp_path))
    before = {k: v.refs for k, v in env.layers.layers.items()}
    buf = io.BytesIO()
    saver(env, str(tmp_path)).save(["busybox:latest", "x/y:z"], buf)
    files = members(buf.getvalue())
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        names = tar.getnames()
    assert names[:2] == ["blobs", "blobs/sha256"]
    assert names[-4:] == ["index.json", "manifest.json", "oci-layout", "repositories"]
    assert names[2:-4] == sorted(names[2:-4])
    assert files["oci-layout"] == b'{"imageLayoutVersion": "1.0.0"}'
    assert files["manifest.json"] == (
        b'[{"Config":"blobs/sha256/' + sha(c1).encode() + b'","RepoTags":["busybox:latest",'
        b'"x/y:z"],"Layers":["blobs/sha256/'
        + sha(L1).encode()
        + b'","blobs/sha256/'
        + sha(L2).encode()
        + b'"]}]\n'
    )
    assert files["repositories"] == (
        b'{"busybox":{"latest":"'
        + sha(L2).encode()
        + b'"},"x/y":{"z":"'
        + sha(L2).encode()
        + b'"}}\n'
    )
    assert files[f"blobs/sha256/{sha(c1)}"] == c1
    assert files[f"blobs/sha256/{sha(L1)}"] == L1
    index = json.loads(files["index.json"])
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    entries = index["manifests"]
    assert [e["annotations"] for e in entries] == [
        {
            "io.containerd.image.name": "docker.io/library/busybox:latest",
            "org.opencontainers.image.ref.name": "latest",
        },
        {
            "io.containerd.image.name": "docker.io/x/y:z",
            "org.opencontainers.image.ref.name": "z",
        },
    ]
    assert list(entries[0]) == ["mediaType", "digest", "size", "annotations", "platform"]
    manifest_blob = files["blobs/sha256/" + entries[0]["digest"][7:]]
    assert hashlib.sha256(manifest_blob).hexdigest() == entries[0]["digest"][7:]
    manifest = json.loads(manifest_blob)
    assert manifest["config"]["digest"] == "sha256:" + sha(c1)
    assert manifest["config"]["platform"] == {"architecture": "amd64", "os": "linux"}
    assert [layer["digest"] for layer in manifest["layers"]] == [
        "sha256:" + sha(L1),
        "sha256:" + sha(L2),
    ]
    # the legacy v1 JSON of the lower layer, byte for byte as dockerd writes it
    v1_input = (
        '{"container_config":' + ZERO_CONFIG + ',"created":"1970-01-01T00:00:00Z",'
        '"layer_id":"sha256:' + sha(L1) + '"}'
    )
    v1_id = hashlib.sha256(v1_input.encode()).hexdigest()
    assert (
        files[f"blobs/sha256/{v1_id}"]
        == (
            '{"id":"'
            + v1_id
            + '","created":"1970-01-01T00:00:00Z","container_config":'
            + ZERO_CONFIG
            + ',"os":"linux"}'
        ).encode()
    )
    # layer references are all given back
    assert {k: v.refs for k, v in env.layers.layers.items()} == before


def test_round_trip_same_ids(tmp_path: str) -> None:
    env, c1, c2 = populated(str(tmp_path))
    buf = io.BytesIO()
    saver(env, str(tmp_path)).save(["busybox", sha(c2)[:10]], buf)
    dst = Env(os.path.join(tmp_path, "dst"))
    out = dst.load(buf.getvalue())
    assert sorted(dst.images.ids()) == sorted(["sha256:" + sha(c1), "sha256:" + sha(c2)])
    assert dst.refs.get(p("busybox:1")) == "sha256:" + sha(c1)
    assert dst.refs.get(p("busybox:latest")) == "sha256:" + sha(c1)
    assert "Loaded image: busybox:1\n" in out
    # the OCI half alone loads to the same images too
    only_oci = TarBuilder()
    for name, data in members(buf.getvalue()).items():
        if name not in ("manifest.json", "blobs", "blobs/sha256"):
            only_oci.file(name, data)
    dst2 = Env(os.path.join(tmp_path, "dst2"))
    dst2.load(only_oci.build())
    assert sorted(dst2.images.ids()) == sorted(dst.images.ids())
    assert dst2.refs.get(p("busybox:1")) == "sha256:" + sha(c1)


def test_untagged_image_has_null_repotags(tmp_path: str) -> None:
    env, _, c2 = populated(str(tmp_path))
    buf = io.BytesIO()
    saver(env, str(tmp_path)).save(["sha256:" + sha(c2)], buf)
    files = members(buf.getvalue())
    assert json.loads(files["manifest.json"])[0]["RepoTags"] is None
    assert "repositories" not in files
    assert "annotations" not in json.loads(files["index.json"])["manifests"][0]


def test_parent_recorded_when_both_saved(tmp_path: str) -> None:
    env, c1, c2 = populated(str(tmp_path))
    env.images.set_parent("sha256:" + sha(c1), "sha256:" + sha(c2))
    buf = io.BytesIO()
    saver(env, str(tmp_path)).save(["busybox:1", sha(c2)], buf)
    manifest = json.loads(members(buf.getvalue())["manifest.json"])
    assert manifest[0]["Parent"] == "sha256:" + sha(c2)
    buf = io.BytesIO()
    saver(env, str(tmp_path)).save(["busybox:1"], buf)
    assert "Parent" not in json.loads(members(buf.getvalue())["manifest.json"])[0]


def test_name_errors(tmp_path: str) -> None:
    env, _, _ = populated(str(tmp_path))
    s = saver(env, str(tmp_path))
    before = {k: v.refs for k, v in env.layers.layers.items()}
    with pytest.raises(errdefs.NotFound, match="reference does not exist"):
        s.save(["busybox:nope"], io.BytesIO())
    with pytest.raises(errdefs.NotFound, match="No such image: nothere"):
        s.save(["nothere"], io.BytesIO())
    with pytest.raises(errdefs.InvalidParameter):
        s.save(["Bad Name"], io.BytesIO())
    empty = env.images.create(make_config([], cmd="empty"))
    with pytest.raises(errdefs.System, match="empty export - not implemented"):
        s.save([empty], io.BytesIO())
    assert {k: v.refs for k, v in env.layers.layers.items()} == before


def test_corrupt_layer_store_is_detected(tmp_path: str) -> None:
    env, _, _ = populated(str(tmp_path))
    layer = env.layers.layers["sha256:" + sha(L1)]
    layer.data = make_layer_tar({"tampered": b"1"})
    before = layer.refs
    with pytest.raises(errdefs.DataLoss):
        saver(env, str(tmp_path)).save(["busybox:1"], io.BytesIO())
    assert layer.refs == before  # nothing leaked


def test_go_container_config_order() -> None:
    got = go_container_config({"Labels": {"b": "2", "a": "1"}, "Cmd": ["sh"], "StopSignal": ""})
    assert list(got)[:3] == ["Hostname", "Domainname", "User"]
    assert "StopSignal" not in got and "ExposedPorts" not in got
    assert list(got["Labels"]) == ["a", "b"]
