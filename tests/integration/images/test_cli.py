"""docker CLI against a real berthd: load, images, inspect, history, tag, rmi, prune, import."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import docker
import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.images.conftest import Docker
from tests.integration.images_build import build_busybox_archive

pytestmark = pytest.mark.integration


def _load(cli: Docker, path: Path) -> str:
    out = cli("load", "-i", str(path))
    return out.stdout


def test_load_file_stdin_and_oci(cli: Docker, tmp_path: Path, berthd: BerthdProcess) -> None:
    iid = build_busybox_archive(tmp_path / "bb.tar")
    assert _load(cli, tmp_path / "bb.tar") == "Loaded image: busybox:latest\n"
    oid = build_busybox_archive(tmp_path / "o.tar", tag="oci/img:v2", extra_layers=1, oci=True)
    out = cli("load", stdin=(tmp_path / "o.tar").read_bytes())
    assert out.stdout == "Loaded image: oci/img:v2\n"
    ids = cli("images", "-q", "--no-trunc").stdout.split()
    assert sorted(ids) == sorted([iid, oid])
    # the base layer is shared: stored once
    layerdb = Path(berthd.data_root) / "image" / "overlay2" / "layerdb" / "sha256"
    assert len(list(layerdb.iterdir())) == 2
    untagged = build_busybox_archive(tmp_path / "u.tar", tag=None, extra_layers=2)
    assert _load(cli, tmp_path / "u.tar") == f"Loaded image ID: {untagged}\n"


def test_images_listing_and_filters(cli: Docker, tmp_path: Path) -> None:
    old = build_busybox_archive(tmp_path / "a.tar", tag="old:1", created="2020-01-01T00:00:00Z")
    mid = build_busybox_archive(
        tmp_path / "b.tar",
        tag="mid:1",
        extra_layers=1,
        labels={"tier": "web"},
        created="2021-01-01T00:00:00Z",
    )
    new = build_busybox_archive(
        tmp_path / "c.tar", tag=None, extra_layers=2, created="2022-01-01T00:00:00Z"
    )
    for name in ("a", "b", "c"):
        _load(cli, tmp_path / f"{name}.tar")

    def ids(*args: str) -> list[str]:
        return cli("images", "-q", "--no-trunc", *args).stdout.split()

    assert ids() == [new, mid, old]  # newest first
    assert ids("-a") == [new, mid, old]
    assert ids("--filter", "dangling=true") == [new]
    assert ids("--filter", "dangling=false") == [mid, old]
    assert ids("--filter", "label=tier=web") == [mid]
    assert ids("--filter", "reference=m*") == [mid]
    assert ids("mid") == [mid]
    assert ids("--filter", "before=mid:1") == [old]
    assert ids("--filter", "since=mid:1") == [new]
    short = cli("images", "-q").stdout.split()
    assert short == [i[7:19] for i in (new, mid, old)]
    table = cli("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}")
    assert "old 1 <none>" in table.stdout
    assert "<none> <none> <none>" in table.stdout
    bad = cli("images", "--filter", "dangling=maybe", check=False)
    assert bad.returncode != 0 and "invalid filter 'dangling=[maybe]'" in bad.stderr


def test_inspect_history_tag(cli: Docker, tmp_path: Path, berthd: BerthdProcess) -> None:
    iid = build_busybox_archive(tmp_path / "bb.tar", extra_layers=1)
    _load(cli, tmp_path / "bb.tar")
    cli("tag", "busybox", "localhost:5000/team/bb:v1")
    doc = json.loads(cli("image", "inspect", "localhost:5000/team/bb:v1").stdout)[0]
    assert doc["Id"] == iid
    assert doc["RepoTags"] == ["busybox:latest", "localhost:5000/team/bb:v1"]
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 2
    assert doc["Config"]["Cmd"] == ["sh"] and doc["Os"] == "linux"
    assert doc["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    gd = doc["GraphDriver"]
    assert gd["Name"] == "overlay2"
    assert set(gd["Data"]) == {"LowerDir", "MergedDir", "UpperDir", "WorkDir"}
    assert gd["Data"]["UpperDir"].startswith(berthd.data_root + "/overlay2/")
    # Container/ContainerConfig stay at API 1.45 (docker-compose 1.x reads them)
    assert "ContainerConfig" in doc and "VirtualSize" not in doc
    hist = cli("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}", "busybox")
    assert hist.stdout.splitlines() == [f"{iid}|layer 1", "<missing>|layer 0"]
    missing = cli("image", "inspect", "nosuch", check=False)
    assert "No such image: nosuch:latest" in missing.stderr
    bad = cli("tag", "busybox", "Bad:Tag", check=False)
    assert bad.returncode != 0


def test_rmi_rules(cli: Docker, tmp_path: Path) -> None:
    iid = build_busybox_archive(tmp_path / "bb.tar", extra_layers=1)
    _load(cli, tmp_path / "bb.tar")
    cli("tag", "busybox", "second:1")
    conflict = cli("rmi", iid[7:19], check=False)
    assert conflict.returncode != 0
    assert (
        f"unable to delete {iid[7:19]} (must be forced) - "
        "image is referenced in multiple repositories" in conflict.stderr
    )
    assert cli("rmi", "second:1").stdout == "Untagged: second:1\n"
    out = cli("rmi", "busybox").stdout.splitlines()
    assert out[0] == "Untagged: busybox:latest"
    assert out[1] == f"Deleted: {iid}"
    assert len(out) == 4  # and both layers
    assert cli("images", "-qa").stdout == ""
    missing = cli("rmi", "busybox", check=False)
    assert "No such image: busybox:latest" in missing.stderr
    # force removes every tag at once; --no-prune keeps untagged parents
    _load(cli, tmp_path / "bb.tar")
    cli("tag", "busybox", "third:1")
    forced = cli("rmi", "-f", iid[7:19]).stdout.splitlines()
    assert sorted(forced[:2]) == ["Untagged: busybox:latest", "Untagged: third:1"]
    assert forced[2] == f"Deleted: {iid}"


def test_prune(cli: Docker, tmp_path: Path) -> None:
    build_busybox_archive(tmp_path / "t.tar", tag="keep:1")
    dangling = build_busybox_archive(tmp_path / "d.tar", tag=None, extra_layers=1)
    _load(cli, tmp_path / "t.tar")
    _load(cli, tmp_path / "d.tar")
    out = cli("image", "prune", "-f").stdout
    assert f"deleted: {dangling}" in out
    assert "Total reclaimed space: 8B" in out  # the one layer only it used
    assert cli("images", "-q").stdout.split() != []
    out = cli("image", "prune", "-af").stdout
    assert "untagged: keep:1" in out
    assert "Total reclaimed space: 1.98" in out
    assert cli("images", "-qa").stdout == ""


def test_import_with_changes(cli: Docker, tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "hello").write_text("hi\n")
    archive = tmp_path / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root / "hello", "hello")
    out = cli(
        "import",
        "--change",
        'CMD ["/hello"]',
        "--change",
        "ENV A=1 B=two",
        "--change",
        "EXPOSE 8080/udp",
        "--change",
        "LABEL team=core",
        "--change",
        "WORKDIR /srv",
        "--change",
        "USER nobody",
        "--change",
        "ENTRYPOINT /bin/true",
        "--change",
        "VOLUME /data",
        "--change",
        "STOPSIGNAL SIGINT",
        "--message",
        "imported by a test",
        str(archive),
        "imp:1",
    ).stdout.strip()
    assert out.startswith("sha256:")
    doc = json.loads(cli("image", "inspect", "imp:1").stdout)[0]
    assert doc["Id"] == out
    cfg = doc["Config"]
    assert cfg["Cmd"] == ["/hello"]
    assert cfg["Env"] == ["A=1", "B=two"]
    assert cfg["ExposedPorts"] == {"8080/udp": {}}
    assert cfg["Labels"] == {"team": "core"}
    assert cfg["WorkingDir"] == "/srv" and cfg["User"] == "nobody"
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/true"]
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGINT"
    assert doc["Comment"] == "imported by a test"
    assert len(doc["RootFS"]["Layers"]) == 1
    hist = cli("history", "--format", "{{.Comment}}", "imp:1").stdout
    assert hist == "imported by a test\n"
    stdin_id = cli("import", "-", stdin=archive.read_bytes()).stdout.strip()
    assert stdin_id.startswith("sha256:") and stdin_id != out
    bad = cli("import", "--change", "RUN true", str(archive), check=False)
    assert "RUN is not a valid change command" in bad.stderr


def test_pull_from_an_unreachable_registry(cli: Docker) -> None:
    # docker.io goes through the test daemons' proxy that is not there: nothing leaves
    out = cli("pull", "alpine:3.19", check=False)
    assert out.returncode != 0
    assert out.stderr.startswith(
        'Error response from daemon: Get "https://registry-1.docker.io/v2/"'
    )
    out = cli("pull", "127.0.0.1:9/t/alpine:3.19", check=False)
    assert out.returncode != 0
    assert "connection refused" in out.stderr


def test_events(cli: Docker, sdk: docker.DockerClient, tmp_path: Path) -> None:
    iid = build_busybox_archive(tmp_path / "bb.tar")
    _load(cli, tmp_path / "bb.tar")
    cli("tag", "busybox", "ev:1")
    cli("save", "-o", str(tmp_path / "s.tar"), "ev:1")
    cli("rmi", "ev:1")
    cli("rmi", "busybox")
    stream = sdk.events(since=0, until=int(time.time()) + 1, filters={"type": "image"}, decode=True)
    out = [f"{e['Action']} {e['Actor']['ID']} {e['Actor']['Attributes']['name']}" for e in stream]
    assert out == [
        f"load {iid} {iid}",
        f"tag {iid} ev:1",
        f"save {iid} {iid}",
        f"untag {iid} {iid}",
        f"untag {iid} {iid}",
        f"delete {iid} {iid}",
    ]
