"""Push from real stores (vfs) to the in-memory registry, and pull back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.distribution.progress import Progress
from berthd.distribution.push import Pusher, PushRequest
from berthd.distribution.upload import LayerUploadManager
from berthd.image.reference import parse_normalized_named

from .fake_registry import layer_tar
from .test_pull import Env, layers3


def local_image(env: Env, layers: list[bytes], tag: str) -> str:
    parent = None
    diff_ids = []
    for data in layers:
        layer = env.layers.register(io.BytesIO(data), parent)
        parent = layer.chain_id
        diff_ids.append(layer.diff_id)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    image_id = env.stores.images.create(config)
    if parent is not None:
        env.layers.release(parent)
    env.stores.references.add_tag(parse_normalized_named(tag), image_id, force=True)
    return image_id


async def push(env: Env, ref: str) -> list[Progress]:
    msgs: list[Progress] = []
    uploads = LayerUploadManager(lambda: 5, retry_tick=0.001)
    req = PushRequest(parse_normalized_named(ref), hmac_key=b"k")
    await Pusher(env.client, uploads, env.stores, req, msgs.append).push()
    return msgs


def texts(msgs: list[Progress]) -> list[str]:
    return [m.message or m.action for m in msgs if not m.counts and m.aux is None]


async def test_push_then_pull_gives_the_same_image(tmp_path: Path) -> None:
    env = Env(tmp_path / "a")
    image_id = local_image(env, layers3(), "reg.test/t/app:v1")
    msgs = await push(env, "reg.test/t/app:v1")
    st = texts(msgs)
    assert st[0] == "The push refers to repository [reg.test/t/app]"
    assert st.count("Preparing") == 3 and st.count("Pushed") == 3
    assert st[-1].startswith("v1: digest: sha256:")
    aux = [m.aux for m in msgs if m.aux is not None]
    assert aux and aux[0]["Tag"] == "v1"
    dgst = aux[0]["Digest"]
    raw = env.reg.manifests["t/app"]["v1"][0]
    assert raw.startswith(
        b'{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.docker.distribution.manifest.v2+json"'
    )
    # the digest reference is recorded locally
    assert env.stores.references.get(parse_normalized_named(f"reg.test/t/app@{dgst}")) == image_id

    other = Env(tmp_path / "b", env.reg)
    await other.pull("reg.test/t/app:v1")
    assert other.stores.references.get(parse_normalized_named("reg.test/t/app:v1")) == image_id

    again = texts(await push(env, "reg.test/t/app:v1"))
    assert again.count("Layer already exists") == 3


async def test_push_mounts_from_another_repository(tmp_path: Path) -> None:
    env = Env(tmp_path)
    image_id, _ = env.reg.add_image("src/app", layers3())
    await env.pull("reg.test/src/app:latest")
    env.stores.references.add_tag(
        parse_normalized_named("reg.test/t/copy:v1"), image_id, force=True
    )
    st = texts(await push(env, "reg.test/t/copy:v1"))
    assert st.count("Mounted from src/app") == 3


async def test_push_errors(tmp_path: Path) -> None:
    env = Env(tmp_path)
    with pytest.raises(
        errdefs.NotFound, match=r"An image does not exist locally with the tag: reg\.test/t/none"
    ):
        await push(env, "reg.test/t/none:v1")
    local_image(env, [layer_tar({"a": b"a"})], "reg.test/t/app:v1")
    with pytest.raises(errdefs.NotFound, match=r"tag does not exist: reg\.test/t/app:v2"):
        await push(env, "reg.test/t/app:v2")


async def test_push_all_tags(tmp_path: Path) -> None:
    env = Env(tmp_path)
    local_image(env, [layer_tar({"a": b"a"})], "reg.test/t/app:v1")
    local_image(env, [layer_tar({"b": b"b"})], "reg.test/t/app:v2")
    st = texts(await push(env, "reg.test/t/app"))
    assert [s.split(":")[0] for s in st if ": digest: " in s] == ["v1", "v2"]
