"""docker pull / push between real berthd daemons and a real docker-registry on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.distribution.conftest import cli_for, load, sdk
from tests.integration.distribution.proxy import RegistryProxy
from tests.integration.dockerd_process import dockerd_available, running_dockerd
from tests.integration.images_build import build_busybox_archive, build_random_archive
from tests.integration.registry_server import PASSWORD, USER, RegistryServer

pytestmark = pytest.mark.integration


def _inspect(d: BerthdProcess, ref: str) -> dict[str, object]:
    client = sdk(d)
    try:
        attrs: dict[str, object] = client.images.get(ref).attrs
        return attrs
    finally:
        client.close()


def _no_leftovers(d: BerthdProcess) -> None:
    root = Path(d.data_root)
    assert list((root / "tmp").glob("GetImageBlob*")) == []
    layerdb = root / "image" / "overlay2" / "layerdb" / "sha256"
    assert not layerdb.exists() or list(layerdb.iterdir()) == []


def test_push_pull_roundtrip_with_the_cli(
    berthd_a: BerthdProcess, berthd_b: BerthdProcess, registry: RegistryServer, tmp_path: Path
) -> None:
    ref = f"{registry.host}/t/app:v1"
    iid = build_busybox_archive(tmp_path / "bb.tar", tag=ref, extra_layers=2)
    load(berthd_a, tmp_path / "bb.tar")
    a, b = cli_for(berthd_a), cli_for(berthd_b)

    out = a("push", ref).stdout
    assert out.startswith(f"The push refers to repository [{registry.host}/t/app]\n")
    assert out.count(": Pushed") == 3 and out.count(": Preparing") == 3
    assert "v1: digest: sha256:" in out
    digest = out.split("digest: ")[1].split()[0]
    out = a("push", ref).stdout
    assert out.count(": Layer already exists") == 3
    out = a("push", f"{registry.host}/t/copy:v1", check=False)
    assert out.returncode != 0  # no such local tag
    a("tag", ref, f"{registry.host}/t/copy:v1")
    out = a("push", f"{registry.host}/t/copy:v1").stdout
    assert out.count(": Mounted from t/app") == 3

    out = b("pull", ref).stdout
    assert out.startswith("v1: Pulling from t/app\n")
    assert out.count(": Pull complete") == 3
    assert f"Digest: {digest}\n" in out
    assert f"Status: Downloaded newer image for {ref}\n" in out
    info = _inspect(berthd_b, ref)
    assert info["Id"] == iid
    assert info["RepoDigests"] == [f"{registry.host}/t/app@{digest}"]
    assert _inspect(berthd_a, ref)["RepoDigests"] == [
        f"{registry.host}/t/app@{digest}",
        f"{registry.host}/t/copy@{digest}",
    ]
    out = b("pull", ref).stdout
    assert f"Status: Image is up to date for {ref}\n" in out

    # by digest, into a fresh name: only name@digest is added
    b("rmi", ref)
    out = b("pull", f"{registry.host}/t/app@{digest}").stdout
    assert f"Status: Downloaded newer image for {registry.host}/t/app@{digest}" in out
    info = _inspect(berthd_b, f"{registry.host}/t/app@{digest}")
    assert info["Id"] == iid and info["RepoTags"] == []

    # errors before any output are plain HTTP errors
    res = b("pull", f"{registry.host}/t/app:nope", check=False)
    assert res.returncode == 1
    assert f"manifest for {registry.host}/t/app:nope not found: manifest unknown" in res.stderr

    # `docker run` of an image that is not there pulls it
    b("rmi", f"{registry.host}/t/app@{digest}")
    res = b("run", "--rm", "--network", "none", f"{registry.host}/t/copy:v1", "echo", "hi")
    assert res.stdout == "hi\n"
    assert f"Unable to find image '{registry.host}/t/copy:v1' locally" in res.stderr


def test_all_tags_and_events(
    berthd_a: BerthdProcess, berthd_b: BerthdProcess, registry: RegistryServer, tmp_path: Path
) -> None:
    repo = f"{registry.host}/t/multi"
    build_busybox_archive(tmp_path / "a.tar", tag=f"{repo}:a", extra_layers=1)
    build_busybox_archive(tmp_path / "b.tar", tag=f"{repo}:b", extra_layers=2)
    load(berthd_a, tmp_path / "a.tar")
    load(berthd_a, tmp_path / "b.tar")
    out = cli_for(berthd_a)("push", "--all-tags", repo).stdout
    assert "a: digest: " in out and "b: digest: " in out
    since = str(int(time.time()) - 1)
    out = cli_for(berthd_b)("pull", "--all-tags", repo).stdout
    assert f"Status: Downloaded newer image for {repo}\n" in out
    tags = sorted(t for i in sdk(berthd_b).images.list() for t in i.tags)
    assert tags == [f"{repo}:a", f"{repo}:b"]
    client = sdk(berthd_b)
    events = client.events(since=since, until=str(int(time.time()) + 1), decode=True)
    pulls = [e for e in events if e.get("Action") == "pull"]
    client.close()
    assert [e["Actor"]["ID"] for e in pulls] == [repo]
    assert pulls[0]["Actor"]["Attributes"]["name"] == repo


def _put_blob(registry: RegistryServer, path: str, data: bytes) -> str:
    dgst = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"{registry.url}/v2/{path}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(req) as resp:
        location = resp.headers["Location"]
    sep = "&" if "?" in location else "?"
    req = urllib.request.Request(f"{location}{sep}digest={dgst}", data=data, method="PUT")
    req.add_header("Content-Type", "application/octet-stream")
    urllib.request.urlopen(req).close()
    return dgst


def _put_manifest(registry: RegistryServer, path: str, ref: str, doc: dict[str, object]) -> str:
    body = json.dumps(doc).encode()
    req = urllib.request.Request(
        f"{registry.url}/v2/{path}/manifests/{ref}", data=body, method="PUT"
    )
    req.add_header("Content-Type", str(doc["mediaType"]))
    urllib.request.urlopen(req).close()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _get(registry: RegistryServer, path: str, accept: str) -> bytes:
    req = urllib.request.Request(f"{registry.url}{path}")
    req.add_header("Accept", accept)
    with urllib.request.urlopen(req) as resp:
        data: bytes = resp.read()
        return data


def test_manifest_list_platforms_and_distribution_inspect(
    berthd_a: BerthdProcess, berthd_b: BerthdProcess, registry: RegistryServer, tmp_path: Path
) -> None:
    ref = f"{registry.host}/t/ml:amd"
    amd_id = build_busybox_archive(tmp_path / "bb.tar", tag=ref)
    load(berthd_a, tmp_path / "bb.tar")
    cli_for(berthd_a)("push", ref)
    mt2 = "application/vnd.docker.distribution.manifest.v2+json"
    amd_raw = _get(registry, "/v2/t/ml/manifests/amd", mt2)
    amd = json.loads(amd_raw)
    config = json.loads(_get(registry, f"/v2/t/ml/blobs/{amd['config']['digest']}", "*/*"))
    config["architecture"] = "arm64"
    config["variant"] = "v8"
    arm_cfg = json.dumps(config).encode()
    arm_id = _put_blob(registry, "t/ml", arm_cfg)
    arm = dict(
        amd,
        config={"mediaType": amd["config"]["mediaType"], "size": len(arm_cfg), "digest": arm_id},
    )
    arm_digest = _put_manifest(registry, "t/ml", "arm", arm)
    amd_digest = "sha256:" + hashlib.sha256(amd_raw).hexdigest()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {
                "mediaType": mt2,
                "size": len(amd_raw),
                "digest": amd_digest,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": mt2,
                "size": len(json.dumps(arm)),
                "digest": arm_digest,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            },
        ],
    }
    index_digest = _put_manifest(registry, "t/ml", "multi", index)
    multi = f"{registry.host}/t/ml:multi"
    client = sdk(berthd_b)
    try:
        img = client.images.pull(multi, platform="linux/arm64")
        assert img.id == arm_id
        assert img.attrs["RepoDigests"] == [f"{registry.host}/t/ml@{index_digest}"]
        client.images.remove(multi)
        assert client.images.pull(multi).id == amd_id
        with pytest.raises(docker.errors.APIError, match="no matching manifest for linux/s390x"):
            client.images.pull(multi, platform="linux/s390x")
            raise docker.errors.APIError(
                [
                    m
                    for m in client.api.pull(
                        multi, platform="linux/s390x", stream=True, decode=True
                    )
                ][-1]["error"]
            )
        dist = client.api.inspect_distribution(multi)
        assert dist["Descriptor"] == {
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "digest": index_digest,
            "size": len(json.dumps(index)),
        }
        assert dist["Platforms"] == [
            {"architecture": "amd64", "os": "linux"},
            {"architecture": "arm64", "os": "linux", "variant": "v8"},
        ]
        msgs = list(client.api.pull(ref, platform="linux/arm64", stream=True, decode=True))
        assert msgs[-1] == {
            "status": f"WARNING: image with reference {ref} was found but does not match the"
            " specified platform: wanted linux/arm64, actual: linux/amd64"
        }
        dist = client.api.inspect_distribution(ref)
        assert dist["Descriptor"]["digest"] == amd_digest
        assert dist["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
    finally:
        client.close()


def _blob_file(registry: RegistryServer, dgst: str) -> Path:
    hexd = dgst.split(":")[1]
    return registry.dir / "data/docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def test_corrupted_blob_fails_and_leaves_nothing(
    berthd_a: BerthdProcess, berthd_b: BerthdProcess, registry: RegistryServer, tmp_path: Path
) -> None:
    ref = f"{registry.host}/t/bad:v1"
    build_busybox_archive(tmp_path / "bb.tar", tag=ref, extra_layers=1)
    load(berthd_a, tmp_path / "bb.tar")
    cli_for(berthd_a)("push", ref)
    manifest = json.loads(
        _get(
            registry,
            "/v2/t/bad/manifests/v1",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
    )
    bad = manifest["layers"][0]["digest"]
    blob = _blob_file(registry, bad)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    res = cli_for(berthd_b)("pull", ref, check=False)
    assert res.returncode == 1
    assert f"filesystem layer verification failed for digest {bad}" in res.stderr
    time.sleep(0.5)
    assert sdk(berthd_b).images.list(all=True) == []
    _no_leftovers(berthd_b)


def test_concurrent_pulls_fetch_each_blob_once_and_resume_after_a_cut(
    berthd_a: BerthdProcess,
    berthd_b: BerthdProcess,
    registry: RegistryServer,
    proxy: RegistryProxy,
    tmp_path: Path,
) -> None:
    ref = f"{registry.host}/t/big:v1"
    iid = build_random_archive(tmp_path / "big.tar", tag=ref, layers=2, total_mb=8)
    load(berthd_a, tmp_path / "big.tar")
    cli_for(berthd_a)("push", ref)
    via = f"{proxy.host}/t/big:v1"
    manifest = json.loads(
        _get(
            registry,
            "/v2/t/big/manifests/v1",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
    )
    layers = [layer["digest"] for layer in manifest["layers"]]
    proxy.cut_once.add(layers[1])
    proxy.delay = 0.5
    import threading

    results: list[object] = []

    def pull() -> None:
        client = sdk(berthd_b)
        try:
            results.append(list(client.api.pull(via, stream=True, decode=True)))
        finally:
            client.close()

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert _inspect(berthd_b, via)["Id"] == iid
    for digest in layers:
        gets = proxy.blob_gets[digest]
        if digest == layers[1]:
            assert len(gets) == 2 and gets[0] == "" and gets[1].startswith("bytes=")
        else:
            assert gets == [""]
    msgs = [m.get("status", "") for r in results for m in r]  # type: ignore[union-attr]
    assert "Retrying in 5 seconds" in msgs


def test_killed_pull_leaves_nothing_after_restart(
    berthd_a: BerthdProcess,
    berthd_b: BerthdProcess,
    registry: RegistryServer,
    proxy: RegistryProxy,
    tmp_path: Path,
) -> None:
    ref = f"{registry.host}/t/slow:v1"
    iid = build_random_archive(tmp_path / "s.tar", tag=ref, layers=2, total_mb=4)
    load(berthd_a, tmp_path / "s.tar")
    cli_for(berthd_a)("push", ref)
    via = f"{proxy.host}/t/slow:v1"
    proxy.rate = 200_000
    client = sdk(berthd_b)
    stream = client.api.pull(via, stream=True, decode=True)
    for msg in stream:
        if msg.get("status") == "Pull complete" or msg.get("status") == "Downloading":
            break
    # one layer may be registered, the other is half downloaded
    deadline = time.monotonic() + 30
    while not list((Path(berthd_b.data_root) / "tmp").glob("GetImageBlob*")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert berthd_b.proc is not None
    os.kill(berthd_b.proc.pid, signal.SIGKILL)
    berthd_b.proc.wait(10)
    client.close()
    berthd_b.stop()
    berthd_b.start()
    assert sdk(berthd_b).images.list(all=True) == []
    _no_leftovers(berthd_b)
    proxy.rate = 0
    assert sdk(berthd_b).images.pull(via).id == iid


def _auth_header(cfg: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode()


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_push_and_pull_with_credentials(
    mode: str,
    berthd_a: BerthdProcess,
    berthd_b: BerthdProcess,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    registry: RegistryServer = request.getfixturevalue(f"{mode}_registry")
    repo = f"{registry.host}/t/auth"
    iid = build_busybox_archive(tmp_path / "bb.tar", tag=f"{repo}:v1")
    load(berthd_a, tmp_path / "bb.tar")
    client = sdk(berthd_a)
    try:
        out = list(client.api.push(repo, "v1", stream=True, decode=True))
        if mode == "htpasswd":  # as dockerd: the bare sentence (retryOnError unwraps it)
            assert out[-1]["error"] == "no basic auth credentials", out
        assert "error" in out[-1]
        creds = {"username": USER, "password": PASSWORD}
        out = list(client.api.push(repo, "v1", stream=True, decode=True, auth_config=creds))
        assert out[-1].get("aux", {}).get("Tag") == "v1", out
    finally:
        client.close()
    client = sdk(berthd_b)
    try:
        if mode == "htpasswd":
            with pytest.raises(docker.errors.APIError) as e:
                client.api.pull(repo, "v1")
            url = f"http://{repo.replace('/', '/v2/', 1)}/manifests/v1"
            assert e.value.explanation == f'Head "{url}": no basic auth credentials'
            assert e.value.status_code == 500
        img = client.images.pull(repo, "v1", auth_config=creds)
        assert img.id == iid
    finally:
        client.close()


def test_push_errors(berthd_a: BerthdProcess, registry: RegistryServer) -> None:
    client = sdk(berthd_a)
    try:
        resp = client.api._post(
            client.api._url("/images/{0}/push", f"{registry.host}/t/x"), data=b""
        )
        assert resp.status_code == 400
        assert (
            resp.json()["message"]
            == "bad parameters and missing X-Registry-Auth: invalid X-Registry-Auth header: EOF"
        )
        out = list(client.api.push(f"{registry.host}/t/x", "v1", stream=True, decode=True))
        assert out[0] == {"status": f"The push refers to repository [{registry.host}/t/x]"}
        assert (
            out[-1]["error"] == f"An image does not exist locally with the tag: {registry.host}/t/x"
        )
    finally:
        client.close()


@pytest.mark.skipif(not dockerd_available(), reason="dockerd (Debian docker.io) is not installed")
def test_round_trip_with_dockerd(
    berthd_a: BerthdProcess, registry: RegistryServer, tmp_path: Path
) -> None:
    ours = f"{registry.host}/t/from-berthd:v1"
    theirs = f"{registry.host}/t/from-dockerd:v1"
    ours_id = build_busybox_archive(tmp_path / "a.tar", tag=ours, extra_layers=1)
    theirs_id = build_busybox_archive(tmp_path / "b.tar", tag=theirs, extra_layers=2)
    load(berthd_a, tmp_path / "a.tar")
    out = cli_for(berthd_a)("push", ours).stdout
    ours_digest = out.split("digest: ")[1].split()[0]
    with running_dockerd() as dockerd:
        client = docker.DockerClient(base_url=dockerd.base_url, timeout=120)
        try:
            img = client.images.pull(ours)
            assert img.id == ours_id
            assert img.attrs["RepoDigests"] == [f"{registry.host}/t/from-berthd@{ours_digest}"]
            client.images.load((tmp_path / "b.tar").read_bytes())
            pushed = list(client.api.push(theirs, stream=True, decode=True))
            theirs_digest = next(m["aux"]["Digest"] for m in pushed if "aux" in m)
        finally:
            client.close()
        assert dockerd.leaks == []
    ours_client = sdk(berthd_a)
    try:
        img = ours_client.images.pull(theirs)
        assert img.id == theirs_id
        assert img.attrs["RepoDigests"] == [f"{registry.host}/t/from-dockerd@{theirs_digest}"]
    finally:
        ours_client.close()


def test_client_disconnect_cancels_the_pull(
    berthd_a: BerthdProcess,
    berthd_b: BerthdProcess,
    registry: RegistryServer,
    proxy: RegistryProxy,
    tmp_path: Path,
) -> None:
    ref = f"{registry.host}/t/gone:v1"
    build_random_archive(tmp_path / "g.tar", tag=ref, layers=1, total_mb=4)
    load(berthd_a, tmp_path / "g.tar")
    cli_for(berthd_a)("push", ref)
    # the blob's body is held back: the pull writes nothing while it waits, and must
    # still notice that its client left (long before the body would come)
    proxy.delay = 90
    client = sdk(berthd_b)
    resp = client.api._post(
        client.api._url("/images/create"),
        params={"fromImage": f"{proxy.host}/t/gone", "tag": "v1"},
        stream=True,
    )
    tmp = Path(berthd_b.data_root) / "tmp"
    deadline = time.monotonic() + 30
    while not list(tmp.glob("GetImageBlob*")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    resp.close()
    client.close()
    deadline = time.monotonic() + 30
    while list(tmp.glob("GetImageBlob*")):
        assert time.monotonic() < deadline, "the pull went on after its client left"
        time.sleep(0.2)
    assert sdk(berthd_b).images.list(all=True) == []
    _no_leftovers(berthd_b)


def test_docker_io_pull_through_a_mirror(
    berthd_a: BerthdProcess, registry: RegistryServer, tmp_path: Path
) -> None:
    # the registry plays a docker.io mirror: the image is pushed there as library/busybox
    iid = build_busybox_archive(tmp_path / "bb.tar", tag=f"{registry.host}/library/busybox:1.0")
    load(berthd_a, tmp_path / "bb.tar")
    cli_for(berthd_a)("push", f"{registry.host}/library/busybox:1.0")
    mirrored = BerthdProcess(args=["--registry-mirror", registry.url]).start()
    try:
        out = cli_for(mirrored)("pull", "busybox:1.0").stdout
        assert out.startswith("1.0: Pulling from library/busybox\n")
        assert "Status: Downloaded newer image for busybox:1.0\n" in out
        info = _inspect(mirrored, "busybox:1.0")
        assert info["Id"] == iid and info["RepoTags"] == ["busybox:1.0"]
        assert str(info["RepoDigests"][0]).startswith("busybox@sha256:")  # type: ignore[index]
        # not on the mirror: the mirror's verdict falls through to docker.io itself, which
        # the test daemons cannot reach
        res = cli_for(mirrored)("pull", "busybox:nope", check=False)
        assert res.returncode == 1 and "registry-1.docker.io" in res.stderr
    finally:
        mirrored.cleanup()
