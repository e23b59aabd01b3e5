"""save → load across data roots, the docker SDK, a load killed midway, dockerd parity."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.dockerd_process import dockerd_available, running_dockerd
from tests.integration.images.conftest import Docker, make_cli
from tests.integration.images_build import build_busybox_archive, build_random_archive

pytestmark = pytest.mark.integration


def test_save_load_across_data_roots(
    docker_cli: str, berthd: BerthdProcess, tmp_path: Path
) -> None:
    cli = make_cli(docker_cli, berthd)
    a = build_busybox_archive(tmp_path / "a.tar", tag="bb:1", extra_layers=2)
    b = build_busybox_archive(tmp_path / "b.tar", tag="other/img:2", extra_layers=1, oci=True)
    cli("load", "-i", str(tmp_path / "a.tar"))
    cli("load", "-i", str(tmp_path / "b.tar"))
    cli("tag", "bb:1", "bb:extra")
    cli("save", "-o", str(tmp_path / "all.tar"), "bb", "other/img:2")
    piped = cli("save", "bb:1").stdout  # to stdout: the CLI refuses a terminal, not a pipe
    assert len(piped) > 0
    second = BerthdProcess().start()
    try:
        cli2 = make_cli(docker_cli, second)
        out = cli2("load", "-i", str(tmp_path / "all.tar")).stdout
        assert sorted(out.splitlines()) == sorted(
            ["Loaded image: bb:1", "Loaded image: bb:extra", "Loaded image: other/img:2"]
        )
        ids = cli2("images", "-q", "--no-trunc").stdout.split()
        assert sorted(set(ids)) == sorted([a, b])
        for ref in ("bb:1", "other/img:2"):
            assert (
                cli2("image", "inspect", "-f", "{{.RootFS.Layers}}", ref).stdout
                == cli("image", "inspect", "-f", "{{.RootFS.Layers}}", ref).stdout
            )
        # and back: save from the second daemon, load into the first after rmi
        cli2("save", "-o", str(tmp_path / "back.tar"), "bb:1")
        cli("rmi", "bb:1", "bb:extra")
        assert cli("load", "-i", str(tmp_path / "back.tar")).stdout == "Loaded image: bb:1\n"
        assert cli("image", "inspect", "-f", "{{.Id}}", "bb:1").stdout.strip() == a
    finally:
        second.cleanup()


def test_sdk(berthd: BerthdProcess, tmp_path: Path) -> None:
    client = docker.DockerClient(base_url=berthd.base_url, timeout=120)
    try:
        iid = build_busybox_archive(tmp_path / "bb.tar", extra_layers=1)
        with open(tmp_path / "bb.tar", "rb") as f:
            images = client.images.load(f.read())
        assert [i.id for i in images] == [iid]
        img = client.images.get("busybox")
        assert img.tags == ["busybox:latest"]
        assert img.tag("repo/name", "t1") is True
        assert sorted(client.images.get(iid).tags) == ["busybox:latest", "repo/name:t1"]
        assert [i.id for i in client.images.list(name="repo/name")] == [iid]
        hist = img.history()
        assert hist[0]["Id"] == iid and hist[0]["Tags"] == ["busybox:latest", "repo/name:t1"]
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("nosuch")
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.remove("nosuch")
        data = b"".join(img.save(named=True))
        assert data[257:262] == b"ustar"
        client.images.remove("repo/name:t1")
        client.images.remove("busybox")
        assert client.images.list(all=True) == []
        assert client.images.prune()["SpaceReclaimed"] == 0
        info = client.info()
        assert info["Images"] == 0
        client.images.load((tmp_path / "bb.tar").read_bytes())
        assert client.info()["Images"] == 1
        df = client.df()
        assert df["LayersSize"] > 1_000_000
        assert [i["Id"] for i in df["Images"]] == [iid]
    finally:
        client.close()


def test_killed_load_leaves_nothing(docker_cli: str, tmp_path: Path) -> None:
    big = tmp_path / "big.tar"
    build_random_archive(big, "big:1", layers=3, total_mb=90)
    d = BerthdProcess().start()
    try:
        cli = make_cli(docker_cli, d)
        image_root = Path(d.data_root) / "image" / "overlay2"
        layerdb = image_root / "layerdb" / "sha256"

        env = {"DOCKER_HOST": d.base_url, "PATH": "/usr/bin:/bin"}
        load = subprocess.Popen(
            [docker_cli, "load", "-i", str(big)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if layerdb.is_dir() and any(layerdb.iterdir()):
                    break  # one layer registered, the image not yet made
                time.sleep(0.01)
            else:
                pytest.fail("the load never registered a layer")
            assert d.proc is not None
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
        finally:
            load.wait(30)
        d.log.close()
        d.start()
        assert list(layerdb.iterdir()) == []
        assert list((image_root / "imagedb" / "content" / "sha256").iterdir()) == []
        assert list((image_root / "layerdb" / "tmp").iterdir()) == []
        overlay = Path(d.data_root) / "overlay2"
        assert sorted(p.name for p in overlay.iterdir()) in (["l"], [".staging", "l"])
        assert list((overlay / "l").iterdir()) == []
        assert cli("images", "-qa").stdout == ""
        # and the same archive loads fine afterwards
        assert cli("load", "-i", str(big)).stdout == "Loaded image: big:1\n"
    finally:
        d.cleanup()


@pytest.mark.skipif(
    not dockerd_available(), reason="dockerd (Debian docker.io) is not installed (or not root)"
)
def test_dockerd_loads_berthd_save(docker_cli: str, berthd: BerthdProcess, tmp_path: Path) -> None:
    """berthd save → dockerd load, and dockerd save → berthd load: same IDs and tags.

    The dockerd is a throwaway one (``dockerd_process.py``): its own paths, no network,
    stopped by PID; cleaning it up must find nothing to remove by force."""
    cli = make_cli(docker_cli, berthd)
    a = build_busybox_archive(tmp_path / "a.tar", tag="bb:1", extra_layers=2)
    cli("load", "-i", str(tmp_path / "a.tar"))
    cli("tag", "bb:1", "bb:extra")
    cli("tag", "bb:1", "example.com/ns/bb:v2")
    refs = ["bb:1", "bb:extra", "example.com/ns/bb:v2"]
    cli("save", "-o", str(tmp_path / "from-berthd.tar"), *refs)

    def facts(run: Docker, ref: str) -> tuple[str, list[str], list[str]]:
        doc = json.loads(run("image", "inspect", ref).stdout)[0]
        return doc["Id"], sorted(doc["RepoTags"]), doc["RootFS"]["Layers"]

    with running_dockerd() as dockerd:
        dcli = make_cli(docker_cli, dockerd)
        out = dcli("load", "-i", str(tmp_path / "from-berthd.tar")).stdout
        assert sorted(out.splitlines()) == [f"Loaded image: {r}" for r in refs]
        assert set(dcli("images", "-q", "--no-trunc").stdout.split()) == {a}
        assert facts(dcli, "bb:1") == facts(cli, "bb:1")
        assert facts(dcli, "bb:1")[1] == sorted(refs)

        # an image dockerd made itself (its own config JSON and layer tar), back to berthd
        dcli("run", "--pull", "never", "--network", "none", "--name", "mk", "bb:1",
             "sh", "-c", "echo made > /made.txt")  # fmt: skip
        made = dcli("commit", "-c", "ENV MADE=1", "mk", "made:1").stdout.strip()
        dcli("rm", "mk")
        dcli("save", "-o", str(tmp_path / "from-dockerd.tar"), "made:1", *refs)
        dockerd_facts = {r: facts(dcli, r) for r in ("made:1", *refs)}
    assert dockerd.leaks == []

    cli("rmi", *refs)
    assert cli("images", "-qa").stdout == ""
    out = cli("load", "-i", str(tmp_path / "from-dockerd.tar")).stdout
    assert sorted(out.splitlines()) == [f"Loaded image: {r}" for r in sorted(["made:1", *refs])]
    assert cli("image", "inspect", "-f", "{{.Id}}", "made:1").stdout.strip() == made
    assert {r: facts(cli, r) for r in dockerd_facts} == dockerd_facts
    assert cli("run", "--rm", "--network", "none", "made:1", "cat", "/made.txt").stdout == "made\n"
