"""Volumes through a real berthd, driven by the docker CLI and the docker SDK.

These need the volume service wired into berthd (Backends.volume and the
VolumesService in assemble.py).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import docker
import pytest
from docker.errors import APIError, NotFound

from tests.helpers.cli import cli
from tests.integration.daemon_process import BerthdProcess

pytestmark = pytest.mark.integration


def test_cli_create_inspect_ls_rm(berthd: BerthdProcess, docker_cli: str) -> None:
    h = berthd.base_url
    out = cli(docker_cli, h, "volume", "create", "--label", "tier=db", "--label", "x", "dbdata")
    assert out.stdout.strip() == "dbdata"
    info = json.loads(cli(docker_cli, h, "volume", "inspect", "dbdata").stdout)
    assert len(info) == 1
    v = info[0]
    assert v["Name"] == "dbdata" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Mountpoint"] == os.path.join(berthd.data_root, "volumes", "dbdata", "_data")
    assert v["Labels"] == {"tier": "db", "x": ""}
    assert v["CreatedAt"]
    assert os.path.isdir(v["Mountpoint"])
    db = Path(berthd.data_root, "volumes", "metadata.db")
    assert db.is_file()

    cli(docker_cli, h, "volume", "create", "other")
    ls = cli(docker_cli, h, "volume", "ls", "-q").stdout.split()
    assert sorted(ls) == ["dbdata", "other"]
    ls = cli(docker_cli, h, "volume", "ls", "-q", "--filter", "label=tier=db").stdout.split()
    assert ls == ["dbdata"]
    ls = cli(docker_cli, h, "volume", "ls", "-q", "--filter", "name=oth").stdout.split()
    assert ls == ["other"]
    ls = cli(docker_cli, h, "volume", "ls", "-q", "--filter", "dangling=true").stdout.split()
    assert sorted(ls) == ["dbdata", "other"]
    ls = cli(docker_cli, h, "volume", "ls", "-q", "--filter", "driver=local").stdout.split()
    assert sorted(ls) == ["dbdata", "other"]

    assert cli(docker_cli, h, "volume", "rm", "dbdata").stdout.strip() == "dbdata"
    assert not os.path.exists(v["Mountpoint"])
    r = cli(docker_cli, h, "volume", "rm", "dbdata", check=False)
    assert r.returncode == 1
    assert "get dbdata: no such volume" in r.stderr
    assert cli(docker_cli, h, "volume", "rm", "-f", "dbdata").returncode == 0
    r = cli(docker_cli, h, "volume", "inspect", "nosuch", check=False)
    assert r.returncode == 1 and "no such volume" in r.stderr.lower()


def test_cli_local_driver_options(berthd: BerthdProcess, docker_cli: str) -> None:
    h = berthd.base_url
    args = ["-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m"]
    cli(docker_cli, h, "volume", "create", *args, "scratch")
    v = json.loads(cli(docker_cli, h, "volume", "inspect", "scratch").stdout)[0]
    assert v["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    r = cli(docker_cli, h, "volume", "create", "-o", "foo=bar", "bad1", check=False)
    assert r.returncode == 1
    assert 'create bad1: invalid option: "foo"' in r.stderr
    r = cli(docker_cli, h, "volume", "create", "-o", "type=tmpfs", "bad2", check=False)
    assert 'create bad2: missing required option: "device"' in r.stderr
    r = cli(docker_cli, h, "volume", "create", "x", check=False)
    assert "volume name is too short" in r.stderr
    r = cli(docker_cli, h, "volume", "create", "-d", "nosuch", "pv", check=False)
    assert r.returncode == 1
    assert 'error looking up volume plugin nosuch: plugin "nosuch" not found' in r.stderr
    cli(docker_cli, h, "volume", "rm", "scratch")


def test_cli_prune_anonymous_then_all(berthd: BerthdProcess, docker_cli: str) -> None:
    h = berthd.base_url
    anon = cli(docker_cli, h, "volume", "create").stdout.strip()
    assert len(anon) == 64
    v = json.loads(cli(docker_cli, h, "volume", "inspect", anon).stdout)[0]
    assert "com.docker.volume.anonymous" in v["Labels"]
    Path(v["Mountpoint"], "blob").write_bytes(b"z" * 4096)
    cli(docker_cli, h, "volume", "create", "named")
    out = cli(docker_cli, h, "volume", "prune", "-f").stdout
    assert anon in out and "named" not in out
    assert "Total reclaimed space: 4.096kB" in out
    out = cli(docker_cli, h, "volume", "prune", "-a", "-f").stdout
    assert "named" in out
    assert cli(docker_cli, h, "volume", "ls", "-q").stdout.split() == []


def test_sdk_volumes_and_restart(tmp_path: Path) -> None:
    d = BerthdProcess(root=tmp_path).start()
    try:
        client = docker.DockerClient(base_url=d.base_url, version="1.45")
        vol = client.volumes.create("keep", driver="local", driver_opts={}, labels={"owner": "sdk"})
        assert vol.name == "keep" and vol.attrs["Labels"] == {"owner": "sdk"}
        Path(vol.attrs["Mountpoint"], "f").write_text("survives")
        with pytest.raises(NotFound):
            client.volumes.get("missing")
        assert [v.name for v in client.volumes.list(filters={"label": "owner=sdk"})] == ["keep"]
        info = client.info()
        assert "local" in info["Plugins"]["Volume"]
        df = client.df()
        usage = {v["Name"]: v["UsageData"] for v in df["Volumes"]}
        assert usage["keep"] == {"Size": 8, "RefCount": 0}
        events = client.events(
            since=0,
            until=int(time.time()) + 1,
            decode=True,
            filters={"type": "volume"},
        )
        assert any(e["Action"] == "create" and e["Actor"]["ID"] == "keep" for e in events)
        client.close()
        assert d.stop() == 0

        d.start()
        client = docker.DockerClient(base_url=d.base_url, version="1.45")
        vol = client.volumes.get("keep")
        assert vol.attrs["Labels"] == {"owner": "sdk"}
        assert Path(vol.attrs["Mountpoint"], "f").read_text() == "survives"
        vol.remove()
        with pytest.raises(APIError) as e:
            client.api.remove_volume("keep")
        assert e.value.status_code == 404
        assert client.volumes.prune() == {"VolumesDeleted": [], "SpaceReclaimed": 0}
        client.close()
    finally:
        d.stop()
