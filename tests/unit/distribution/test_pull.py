"""Pull against an in-memory registry, into real stores (vfs layer driver)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.distribution.download import LayerDownloadManager
from berthd.distribution.platforms import Platform
from berthd.distribution.progress import Progress, encode
from berthd.distribution.pull import Puller, PullRequest
from berthd.distribution.stores import Stores
from berthd.image.distribution_metadata import DistributionMetadataStore
from berthd.image.fs_store import FSStoreBackend
from berthd.image.reference import parse_normalized_named
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore
from berthd.layer import LayerStore
from berthd.layer.drivers import new_driver

from .fake_registry import FakeEndpoint, FakeRegistry, FakeRegistryClient, layer_tar, sha

PATH = "t/app"
NAME = "reg.test/t/app"


class Env:
    def __init__(self, root: Path, reg: FakeRegistry | None = None) -> None:
        self.root = root
        self.layers = LayerStore(str(root), new_driver(str(root), "vfs"))
        image_root = root / "image" / "vfs"
        self.stores = Stores(
            ImageStore(FSStoreBackend(str(image_root / "imagedb")), self.layers),
            ReferenceStore(str(image_root / "repositories.json")),
            self.layers,
            DistributionMetadataStore(str(image_root / "distribution")),
            str(root / "tmp"),
        )
        self.reg = reg or FakeRegistry()
        self.client = FakeRegistryClient(self.reg)
        self.downloads = LayerDownloadManager(self.layers, lambda: 3, lambda: 5, retry_tick=0.001)
        self.messages: list[Progress] = []

    async def pull(self, ref: str, platform: Platform | None = None) -> Puller:
        puller = Puller(
            self.client,
            self.downloads,
            self.stores,
            PullRequest(parse_normalized_named(ref), platform),
            self.messages.append,
        )
        await puller.pull()
        return puller

    def statuses(self) -> list[str]:
        return [m.message or m.action for m in self.messages if not m.counts]


def layers3() -> list[bytes]:
    return [layer_tar({f"f{i}.txt": f"layer {i}\n".encode() * 100}) for i in range(3)]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


async def test_pull_tag_stores_image_references_and_metadata(env: Env) -> None:
    image_id, mdigest = env.reg.add_image(PATH, layers3())
    await env.pull(NAME + ":latest")
    assert env.stores.images.exists(image_id)
    assert env.stores.references.get(parse_normalized_named(NAME + ":latest")) == image_id
    assert env.stores.references.get(parse_normalized_named(f"{NAME}@{mdigest}")) == image_id
    st = env.statuses()
    assert st[0] == "Pulling from t/app"
    assert st.count("Pulling fs layer") == 3 and st.count("Pull complete") == 3
    assert st[-2:] == [
        "Digest: " + mdigest,
        "Status: Downloaded newer image for reg.test/t/app:latest",
    ]
    # every registered layer is held by the image only
    chain = env.stores.images.get(image_id).config.chain_id()
    assert env.layers.references(chain) == 1
    assert os.listdir(env.root / "tmp") == []
    # v2metadata recorded for every blob
    cfg = env.stores.images.get(image_id).config
    for diff_id in cfg.rootfs.diff_ids:
        assert env.stores.metadata.get_metadata(diff_id)[0].source_repository == NAME


async def test_second_pull_is_up_to_date_and_fetches_nothing(env: Env) -> None:
    env.reg.add_image(PATH, layers3())
    await env.pull(NAME)
    gets = dict(env.reg.blob_gets)
    env.messages.clear()
    await env.pull(NAME)
    assert env.reg.blob_gets == gets
    assert env.statuses()[-1] == "Status: Image is up to date for reg.test/t/app:latest" or (
        env.statuses()[-1] == "Status: Image is up to date for reg.test/t/app"
    )


async def test_shared_base_layers_already_exist(env: Env) -> None:
    base = layers3()
    env.reg.add_image(PATH, base[:2], tags=["base"])
    await env.pull(NAME + ":base")
    env.reg.add_image(PATH, base, tags=["full"])
    env.messages.clear()
    await env.pull(NAME + ":full")
    st = env.statuses()
    assert st.count("Already exists") == 2 and st.count("Pull complete") == 1


async def test_pull_by_digest_adds_only_the_digest(env: Env) -> None:
    image_id, mdigest = env.reg.add_image(PATH, layers3())
    await env.pull(f"{NAME}@{mdigest}")
    assert [str(r) for r in env.stores.references.references(image_id)] == [f"{NAME}@{mdigest}"]
    assert env.messages[0].id == mdigest


async def test_all_tags(env: Env) -> None:
    a, _ = env.reg.add_image(PATH, layers3()[:1], tags=["v1"])
    b, _ = env.reg.add_image(PATH, layers3()[1:2], tags=["v2"])
    await env.pull(NAME)
    refs = env.stores.references
    assert refs.get(parse_normalized_named(NAME + ":v1")) == a
    assert refs.get(parse_normalized_named(NAME + ":v2")) == b
    assert env.statuses()[-1] == "Status: Downloaded newer image for reg.test/t/app"


async def test_corrupted_layer_fails_and_leaves_nothing(env: Env) -> None:
    image_id, _ = env.reg.add_image(PATH, layers3())
    manifest = json.loads(env.reg.manifests[PATH]["latest"][0])
    bad = manifest["layers"][1]["digest"]
    env.reg.corrupt.add(bad)
    with pytest.raises(
        errdefs.BerthdError, match=f"filesystem layer verification failed for digest {bad}"
    ):
        await env.pull(NAME)
    await asyncio.sleep(0.05)
    assert not env.stores.images.exists(image_id)
    assert env.layers.layers() == {}
    assert os.listdir(env.root / "tmp") == []
    assert env.reg.blob_gets[bad] == 1  # never retried


async def test_manifest_digest_mismatch(env: Env) -> None:
    _, mdigest = env.reg.add_image(PATH, layers3())
    raw, ct = env.reg.manifests[PATH][mdigest]
    env.reg.manifests[PATH][mdigest] = (raw + b" ", ct)
    with pytest.raises(
        errdefs.BerthdError, match=f"manifest verification failed for digest {mdigest}"
    ):
        await env.pull(f"{NAME}@{mdigest}")


async def test_resume_after_a_cut(env: Env) -> None:
    big = layer_tar({"big.bin": os.urandom(400_000)})
    image_id, _ = env.reg.add_image(PATH, [big], compress=False)
    blob = sha(big)
    env.reg.cut_once[blob] = 200_000
    await env.pull(NAME)
    assert env.stores.images.exists(image_id)
    assert env.reg.blob_gets[blob] == 2
    assert "Retrying in 5 seconds" in env.statuses()


async def test_resume_without_range_support_restarts(env: Env) -> None:
    big = layer_tar({"big.bin": os.urandom(300_000)})
    image_id, _ = env.reg.add_image(PATH, [big], compress=False)
    env.reg.cut_once[sha(big)] = 100_000
    env.reg.no_range = True
    await env.pull(NAME)
    assert env.stores.images.exists(image_id)


async def test_concurrent_pulls_fetch_each_blob_once(tmp_path: Path) -> None:
    env = Env(tmp_path)
    image_id, _ = env.reg.add_image(PATH, layers3())
    gate = asyncio.Event()
    env.reg.gate = gate
    t1 = asyncio.ensure_future(env.pull(NAME))
    t2 = asyncio.ensure_future(env.pull(NAME))
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(t1, t2)
    assert all(n == 1 for n in env.reg.blob_gets.values())
    assert env.stores.images.exists(image_id)
    chain = env.stores.images.get(image_id).config.chain_id()
    await asyncio.sleep(0.05)
    assert env.layers.references(chain) == 1


async def test_cancelled_pull_leaves_nothing(env: Env) -> None:
    env.reg.add_image(PATH, layers3())
    gate = asyncio.Event()
    env.reg.gate = gate
    task = asyncio.ensure_future(env.pull(NAME))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert env.layers.layers() == {}
    assert len(env.downloads.transfers) == 0
    assert os.listdir(env.root / "tmp") == [] if (env.root / "tmp").exists() else True


async def test_errors_translated(env: Env) -> None:
    env.reg.add_image(PATH, layers3())
    with pytest.raises(
        errdefs.NotFound,
        match=r"^manifest for reg.test/t/app:nope not found: manifest unknown",
    ):
        await env.pull(NAME + ":nope")
    with pytest.raises(
        errdefs.NotFound, match=r"^repository reg.test/other not found: name unknown"
    ):
        await env.pull("reg.test/other:latest")


async def test_endpoint_fallback(env: Env) -> None:
    env.reg.add_image(PATH, layers3())
    env.client.endpoints = [FakeEndpoint("https://reg.test"), FakeEndpoint("http://reg.test")]
    env.client.fail_open.add("https://reg.test")
    await env.pull(NAME)
    assert [o[0] for o in env.client.opened] == ["https://reg.test", "http://reg.test"]


def _index(entries: list[tuple[str, str, str]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "size": 1,
                    "digest": d,
                    "platform": {
                        "architecture": arch,
                        "os": "linux",
                        **({"variant": v} if v else {}),
                    },
                }
                for d, arch, v in entries
            ],
        }
    ).encode()


async def test_manifest_list_platforms(env: Env) -> None:
    _, amd_m = env.reg.add_image(PATH, layers3()[:1], tags=[], arch="amd64")
    arm, arm_m = env.reg.add_image(PATH, layers3()[1:2], tags=[], arch="arm64")
    idx = env.reg.add_manifest(
        PATH,
        _index([(amd_m, "amd64", ""), (arm_m, "arm64", "v8")]),
        "application/vnd.docker.distribution.manifest.list.v2+json",
        ["multi"],
    )
    await env.pull(NAME + ":multi", Platform("linux", "arm64", ""))
    assert env.stores.references.get(parse_normalized_named(NAME + ":multi")) == arm
    assert env.stores.references.get(parse_normalized_named(f"{NAME}@{idx}")) == arm
    with pytest.raises(
        errdefs.System, match="no matching manifest for linux/s390x in the manifest list entries"
    ):
        await env.pull(NAME + ":multi", Platform("linux", "s390x", ""))


async def test_schema1_refused(env: Env) -> None:
    raw = json.dumps(
        {"schemaVersion": 1, "name": PATH, "tag": "old", "fsLayers": [], "history": []}
    ).encode()
    env.reg.add_manifest(
        PATH, raw, "application/vnd.docker.distribution.manifest.v1+prettyjws", ["old"]
    )
    with pytest.raises(errdefs.System, match=r"^\[DEPRECATION NOTICE\] Docker Image Format v1"):
        await env.pull(NAME + ":old")


def test_encode_lines() -> None:
    assert encode(Progress("abc", "Downloading", 1, 2, counts=True)).endswith(b'"id":"abc"}\r\n')
    assert encode(Progress(message="Digest: x")) == b'{"status":"Digest: x"}\r\n'
    assert (
        encode(Progress("a", "Pull complete"))
        == b'{"status":"Pull complete","progressDetail":{},"id":"a"}\r\n'
    )


async def test_download_slots_make_layers_wait(env: Env) -> None:
    env.downloads = LayerDownloadManager(env.layers, lambda: 1, lambda: 5, retry_tick=0.001)
    image_id, _ = env.reg.add_image(PATH, layers3())
    await env.pull(NAME)
    assert env.statuses().count("Waiting") == 2
    assert env.stores.images.exists(image_id)


async def test_oci_manifest_in_an_oci_index_with_zstd_layers(env: Env) -> None:
    image_id, m = env.reg.add_image(PATH, layers3(), tags=[], oci=True, compress="zstd")
    raw = json.loads(env.reg.manifests[PATH][m][0])
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "0" * 64,
                "size": 1,
                "platform": {"architecture": "unknown", "os": "unknown"},
            },
            {
                "mediaType": raw["mediaType"],
                "digest": m,
                "size": 1,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
        ],
    }
    env.reg.add_manifest(
        PATH, json.dumps(index).encode(), "application/vnd.oci.image.index.v1+json", ["oci"]
    )
    await env.pull(NAME + ":oci")
    assert env.stores.references.get(parse_normalized_named(NAME + ":oci")) == image_id


async def test_a_shared_transfer_survives_the_pull_that_started_it(env: Env) -> None:
    image_id, _ = env.reg.add_image(PATH, layers3())
    gate = asyncio.Event()
    env.reg.gate = gate
    first = asyncio.ensure_future(env.pull(NAME))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(env.pull(NAME))
    await asyncio.sleep(0.05)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    await second
    assert all(n == 1 for n in env.reg.blob_gets.values())
    chain = env.stores.images.get(image_id).config.chain_id()
    await asyncio.sleep(0.05)
    assert env.layers.references(chain) == 1
    assert len(env.downloads.transfers) == 0
