"""The docker CLI and docker SDK calls that compose and testcontainers lean on:
events with filters, inspect --format on networks and volumes, wait, port,
logs --since/--until, cp both ways, stats, system df, ls filters, rmi/prune of
images in use, restart of containers with a restart policy, pid/ipc namespaces
of another container; and the SDK's run/logs-stream/port/exec/archive/attach.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.helpers.ports import free_port
from tests.integration.clients.conftest import (
    BB,
    ClientEnv,
    fetch,
    start_env,
    stop_env,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(client_env: ClientEnv) -> ClientEnv:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    return client_env


@pytest.fixture
def cleanup(client_env: ClientEnv) -> Iterator[list[str]]:
    """Names of containers (and ``image:`` / ``network:`` / ``volume:`` refs) to remove."""
    names: list[str] = []
    yield names
    cl = client_env.client
    for n in reversed(names):
        kind, _, ref = n.partition(":")
        try:
            if kind == "image":
                cl.images.remove(ref, force=True)
            elif kind == "network":
                cl.networks.get(ref).remove()
            elif kind == "volume":
                cl.volumes.get(ref).remove(force=True)
            else:
                cl.containers.get(n).remove(force=True, v=True)
        except docker.errors.APIError:
            pass


class Events:
    """``docker events`` with the given filters, collected in the background."""

    def __init__(self, env: ClientEnv, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}", *args],
            env=env.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[dict] = []  # type: ignore[type-arg]
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        time.sleep(0.5)  # subscribed before the caller acts

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def stop(self, settle: float = 1.0) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
        time.sleep(settle)
        self.proc.terminate()
        self.proc.wait(10)
        self.t.join(5)
        return [(e["Type"], e["Action"], e["Actor"]["Attributes"]) for e in self.lines]


# -- events -------------------------------------------------------------------------------


def test_events_filters(cli: ClientEnv, cleanup: list[str]) -> None:
    starts = Events(
        cli, "--filter", "type=container", "--filter", "event=start", "--filter", "event=die"
    )
    labelled = Events(cli, "--filter", "label=evt=1")
    vols = Events(cli, "--filter", "type=volume")
    cleanup.append("volume:evvol")
    r = cli.docker(
        "run",
        "--name",
        "evc",
        "-l",
        "evt=1",
        "--rm",
        "-v",
        "evvol:/x",
        BB,
        "sh",
        "-c",
        "exit 2",
        check=False,
    )
    assert r.returncode == 2
    got = starts.stop()
    assert [(t, a) for t, a, _ in got] == [("container", "start"), ("container", "die")]
    assert got[1][2]["exitCode"] == "2" and got[1][2]["name"] == "evc"
    actions = [a for _, a, _ in labelled.stop(0)]
    assert actions == ["create", "attach", "start", "die", "destroy"], actions
    assert [a for _, a, _ in vols.stop(0)][:3] == ["create", "mount", "unmount"]


def test_network_events_on_start_and_stop(cli: ClientEnv, cleanup: list[str]) -> None:
    """dockerd reports ``network connect`` when a container starts on a network and
    ``network disconnect`` when it stops (event watchers such as proxies rely on it)."""
    cleanup += ["network:evnet", "netev"]
    cli.docker("network", "create", "--subnet", "172.31.246.0/24", "evnet")
    ev = Events(cli, "--filter", "type=network")
    cli.docker("run", "--rm", "--name", "netev", "--network", "evnet", BB, "true")
    got = ev.stop()
    assert [a for _, a, _ in got] == ["connect", "disconnect"], got
    assert got[0][2]["name"] == "evnet"


# -- inspect --format, ls filters ----------------------------------------------------------


def test_inspect_format_network_volume(cli: ClientEnv, cleanup: list[str]) -> None:
    cleanup += ["network:fmtnet", "volume:fmtvol", "fmtc"]
    cli.docker("network", "create", "--subnet", "172.31.245.0/24", "--label", "a=b", "fmtnet")
    cli.docker("volume", "create", "--label", "v=1", "fmtvol")
    cli.docker(
        "run", "-d", "--name", "fmtc", "--network", "fmtnet", "-v", "fmtvol:/v", BB, "sleep", "60"
    )
    out = cli.docker(
        "network",
        "inspect",
        "fmtnet",
        "--format",
        "{{.Name}}|{{.Driver}}|{{.Scope}}|{{range .IPAM.Config}}{{.Subnet}}{{end}}|"
        "{{json .Labels}}|{{.Internal}}|{{len .Containers}}",
    ).stdout.strip()
    assert out == 'fmtnet|bridge|local|172.31.245.0/24|{"a":"b"}|false|1'
    out = cli.docker(
        "network",
        "inspect",
        "fmtnet",
        "--format",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
    ).stdout.strip()
    assert out.startswith("fmtc 172.31.245.") and out.endswith("/24")
    out = cli.docker(
        "volume",
        "inspect",
        "fmtvol",
        "--format",
        "{{.Name}}|{{.Driver}}|{{json .Labels}}|{{.Scope}}",
    ).stdout.strip()
    assert out == 'fmtvol|local|{"v":"1"}|local'
    mp = cli.docker("volume", "inspect", "fmtvol", "--format", "{{.Mountpoint}}").stdout.strip()
    assert mp == os.path.join(cli.daemon.data_root, "volumes", "fmtvol", "_data")
    assert (
        cli.docker("inspect", "--type", "volume", "--format", "{{.Name}}", "fmtvol").stdout.strip()
        == "fmtvol"
    )
    assert cli.docker("inspect", "--format", "{{.Name}}", "fmtnet").stdout.strip() == "fmtnet"
    assert cli.docker(
        "network", "ls", "--filter", "label=a=b", "--format", "{{.Name}}"
    ).stdout.split() == ["fmtnet"]
    assert cli.docker("volume", "ls", "--filter", "label=v=1", "-q").stdout.split() == ["fmtvol"]


def test_container_ls_filters(cli: ClientEnv, cleanup: list[str]) -> None:
    cleanup += ["lsa", "lsb", "lsc"]
    cli.docker("run", "-d", "--name", "lsa", "-l", "app=x", "-l", "tier=web", BB, "sleep", "60")
    cli.docker("run", "-d", "--name", "lsb", "-l", "app=y", BB, "sleep", "60")
    cli.docker("run", "--name", "lsc", "-l", "app=x", BB, "sh", "-c", "exit 5", check=False)

    def names(*args: str) -> list[str]:
        return sorted(cli.docker("container", "ls", *args, "--format", "{{.Names}}").stdout.split())

    assert names("--filter", "label=app=x") == ["lsa"]
    assert names("-a", "--filter", "label=app=x") == ["lsa", "lsc"]
    assert names("-a", "--filter", "label=app=x", "--filter", "label=tier") == ["lsa"]
    assert names("-a", "--filter", "label=app=nope") == []
    assert names("-a", "--filter", "exited=5") == ["lsc"]
    assert names("-a", "--filter", "label=app", "--filter", "status=running") == ["lsa", "lsb"]
    out = cli.docker(
        "container", "ls", "--filter", "name=lsa", "--format", '{{.Label "tier"}}'
    ).stdout
    assert out.strip() == "web"


# -- wait, port, logs ----------------------------------------------------------------------


def test_wait(cli: ClientEnv, cleanup: list[str]) -> None:
    cleanup += ["w1", "w2"]
    cli.docker("run", "-d", "--name", "w1", BB, "sh", "-c", "sleep 2; exit 5")
    cli.docker("run", "-d", "--name", "w2", BB, "sh", "-c", "sleep 1; exit 0")
    t0 = time.monotonic()
    assert cli.docker("wait", "w1", "w2").stdout.split() == ["5", "0"]
    assert 1.0 < time.monotonic() - t0 < 10
    r = cli.docker("wait", "nosuch", check=False)
    assert r.returncode == 1 and "No such container: nosuch" in r.stderr


def test_port(cli: ClientEnv, cleanup: list[str]) -> None:
    cleanup.append("pt")
    p1, p2 = free_port(), free_port()
    cli.docker(
        "run", "-d", "--name", "pt",
        "-p", f"127.0.0.1:{p1}:80", "-p", f"127.0.0.1:{p2}:81/udp", "-p", "127.0.0.1::82", "--expose", "83",
        BB, "sh", "-c", "echo port > /i; exec httpd -f -p 80 -h /",
    )  # fmt: skip
    lines = cli.docker("port", "pt").stdout.splitlines()
    assert lines[:2] == [f"80/tcp -> 127.0.0.1:{p1}", f"81/udp -> 127.0.0.1:{p2}"]
    assert lines[2].startswith("82/tcp -> 127.0.0.1:") and len(lines) == 3
    assert cli.docker("port", "pt", "80").stdout.strip() == f"127.0.0.1:{p1}"
    assert cli.docker("port", "pt", "81/udp").stdout.strip() == f"127.0.0.1:{p2}"
    r = cli.docker("port", "pt", "83", check=False)
    assert r.returncode == 1 and "No public port '83' published for pt" in r.stderr
    assert fetch(f"http://127.0.0.1:{p1}/i") == b"port\n"
    ports = cli.client.api.port("pt", 80)
    assert ports == [{"HostIp": "127.0.0.1", "HostPort": str(p1)}]


def test_logs_since_until(cli: ClientEnv, cleanup: list[str]) -> None:
    cleanup.append("lg")
    cli.docker(
        "run",
        "-d",
        "--name",
        "lg",
        BB,
        "sh",
        "-c",
        "echo one; sleep 3; echo two; sleep 3; echo three; sleep 100",
    )
    wait_for(lambda: "three" in cli.docker("logs", "lg").stdout, what="three", timeout=20)
    time.sleep(1.5)  # one at ~-7.5s, two at ~-4.5s, three at ~-1.5s

    def logs(*args: str) -> list[str]:
        return cli.docker("logs", *args, "lg").stdout.split()

    assert logs("--since", "3s") == ["three"]
    assert logs("--since", "6s") == ["two", "three"]
    assert logs("--until", "3s") == ["one", "two"]
    assert logs("--until", "6s") == ["one"]
    assert logs("--since", str(int(time.time()) - 3)) == ["three"]
    ts = cli.docker("logs", "-t", "--tail", "1", "lg").stdout.split()
    assert ts[1] == "three" and ts[0].endswith("Z")


# -- cp -----------------------------------------------------------------------------------


def test_cp_both_ways(cli: ClientEnv, cleanup: list[str], tmp_path: Path) -> None:
    cleanup.append("cpc")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a\n")
    (src / "sub" / "b.txt").write_text("b\n")
    (src / "link").symlink_to("a.txt")
    cli.docker("run", "-d", "--name", "cpc", BB, "sleep", "100")
    cli.docker("cp", str(src), "cpc:/tmp/")
    cli.docker("cp", f"{src}/.", "cpc:/tmp/dot/")
    cli.docker("cp", str(src / "a.txt"), "cpc:/tmp/renamed.txt")
    out = cli.docker(
        "exec",
        "cpc",
        "sh",
        "-c",
        "cat /tmp/src/sub/b.txt /tmp/dot/a.txt /tmp/renamed.txt; readlink /tmp/src/link",
    ).stdout
    assert out.split() == ["b", "a", "a", "a.txt"]

    dst = tmp_path / "out"
    dst.mkdir()
    cli.docker("cp", "cpc:/tmp/src", str(dst))
    cli.docker("cp", "cpc:/etc/hostname", str(dst / "hn"))
    cli.docker("cp", "cpc:/tmp/src/.", str(dst / "dot"))
    found = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
    assert found == [
        "dot", "dot/a.txt", "dot/link", "dot/sub", "dot/sub/b.txt", "hn",
        "src", "src/a.txt", "src/link", "src/sub", "src/sub/b.txt",
    ]  # fmt: skip
    assert os.readlink(dst / "src" / "link") == "a.txt"
    assert (dst / "hn").read_text().strip() == cli.client.containers.get("cpc").id[:12]
    r2 = subprocess.run(
        ["docker", "cp", "cpc:/tmp/src", "-"], env=cli.env, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(r2.stdout)) as tf:
        names = sorted(tf.getnames())
    assert names == ["src", "src/a.txt", "src/link", "src/sub", "src/sub/b.txt"]
    r = cli.docker("cp", "cpc:/nonexist", str(dst), check=False)
    assert r.returncode == 1 and "Could not find the file /nonexist in container cpc" in r.stderr
    # a stopped container too
    cli.docker("stop", "-t", "0", "cpc")
    cli.docker("cp", str(src / "a.txt"), "cpc:/tmp/stopped.txt")
    r2 = subprocess.run(
        ["docker", "cp", "cpc:/tmp/stopped.txt", "-"], env=cli.env, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(r2.stdout)) as tf:
        assert tf.extractfile("stopped.txt").read() == b"a\n"  # type: ignore[union-attr]


# -- stats, system df ----------------------------------------------------------------------


def test_stats_no_stream(cli: ClientEnv, cleanup: list[str]) -> None:
    cleanup.append("st")
    cli.docker("run", "-d", "--name", "st", "-m", "100m", BB, "sh", "-c", "while :; do :; done")
    time.sleep(1.5)
    out = cli.docker(
        "stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", "st"
    ).stdout.strip()
    name, cpu, mem, pids = out.split("|")
    assert name == "st" and float(cpu.rstrip("%")) > 10, out
    assert mem.endswith("/ 100MiB") and pids == "1", out
    table = cli.docker("stats", "--no-stream").stdout
    assert "CONTAINER ID" in table and " st " in table


def test_stats_report_network_counters(cli: ClientEnv, cleanup: list[str]) -> None:
    """dockerd's stats carry ``networks`` (per interface rx/tx counters): the CLI's
    NET I/O column and the SDK's ``stats()["networks"]`` come from it."""
    cleanup.append("stn")
    port = free_port()
    cli.docker(
        "run",
        "-d",
        "--name",
        "stn",
        "-p",
        f"127.0.0.1:{port}:80",
        BB,
        "sh",
        "-c",
        "echo x > /i; exec httpd -f -p 80 -h /",
    )
    for _ in range(5):
        fetch(f"http://127.0.0.1:{port}/i")
    s = cli.client.containers.get("stn").stats(stream=False)
    assert "networks" in s, sorted(s)
    assert s["networks"]["eth0"]["rx_bytes"] > 0 and s["networks"]["eth0"]["tx_bytes"] > 0
    netio = cli.docker("stats", "--no-stream", "--format", "{{.NetIO}}", "stn").stdout.strip()
    assert netio != "0B / 0B", netio


def test_system_df(cli: ClientEnv, cleanup: list[str]) -> None:
    """``docker system df``: busybox is used by a container, so the image counts as
    active and is not reclaimable (dockerd counts each image's containers)."""
    cleanup += ["dfc", "volume:dfvol"]
    cli.docker(
        "run",
        "-d",
        "--name",
        "dfc",
        "-v",
        "dfvol:/v",
        BB,
        "sh",
        "-c",
        "echo data > /v/f; sleep 100",
    )
    assert "Local Volumes" in cli.docker("system", "df").stdout
    df = cli.client.df()
    assert {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"} <= set(df)
    assert "dfc" in [c["Names"][0].lstrip("/") for c in df["Containers"]]
    assert "dfvol" in [v["Name"] for v in df["Volumes"]]
    busybox = next(i for i in df["Images"] if BB in i["RepoTags"])
    assert busybox["Containers"] >= 1, busybox
    rows = {
        line.split()[0]: line.split()
        for line in cli.docker(
            "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"
        ).stdout.splitlines()
    }
    assert int(rows["Images"][2]) >= 1, rows


# -- images in use ------------------------------------------------------------------------


def commit_image(cli: ClientEnv, cleanup: list[str], tag: str) -> str:
    cleanup.append(f"image:{tag}")
    src = f"src-{tag.replace(':', '-')}"
    cleanup.append(src)
    cli.docker("create", "--name", src, BB, "true")
    return cli.docker("commit", "-c", f"LABEL made={tag}", src, tag).stdout.strip()


def test_rmi_refuses_image_in_use(cli: ClientEnv, cleanup: list[str]) -> None:
    """As dockerd: ``conflict: unable to remove repository reference "inuse:1" (must
    force) - container … is using its referenced image …``."""
    image_id = commit_image(cli, cleanup, "inuse:1")
    cleanup.append("inuse-c")
    cli.docker("run", "-d", "--name", "inuse-c", "inuse:1", "sleep", "100")
    r = cli.docker("rmi", "inuse:1", check=False)
    assert r.returncode == 1, r.stdout
    assert "conflict: unable to remove repository reference" in r.stderr, r.stderr
    assert cli.client.images.get(image_id)


def test_image_prune_all_keeps_images_in_use() -> None:
    """``image prune -a`` removes only images no container uses (dockerd never
    deletes an image a container was created from). A daemon of its own: if the
    prune goes wrong it takes busybox with it."""
    env = start_env()
    try:
        if shutil.which("docker") is None:
            pytest.skip("the docker CLI is not installed")
        names: list[str] = []
        image_id = commit_image(env, names, "inuse:2")
        env.docker("run", "-d", "--name", "inuse-d", "inuse:2", "sleep", "100")
        env.docker("run", "-d", "--name", "bb-d", BB, "sleep", "100")
        env.docker("create", "--name", "unused-src", BB, "true")
        unused = env.docker("commit", "unused-src", "unused:1").stdout.strip()
        out = env.docker("image", "prune", "-a", "-f").stdout
        assert "untagged: unused:1" in out and f"deleted: {unused}" in out, out
        assert "inuse:2" not in out and BB not in out, out
        assert env.client.images.get(image_id)
        assert env.client.images.get(BB)
    finally:
        stop_env(env)


# -- restart with a restart policy ---------------------------------------------------------


@pytest.mark.parametrize("policy", ["always", "unless-stopped", "on-failure"])
def test_restart_with_restart_policy(cli: ClientEnv, cleanup: list[str], policy: str) -> None:
    """``docker restart`` returns with the container running again (new PID and
    StartedAt); it is the user's restart, so RestartCount stays 0."""
    name = f"rp-{policy}"
    cleanup.append(name)
    cli.docker("run", "-d", "--name", name, "--restart", policy, BB, "sleep", "300")
    before = cli.client.api.inspect_container(name)["State"]
    cli.docker("restart", "-t", "1", name)
    c = cli.client.api.inspect_container(name)
    st = c["State"]
    assert (st["Status"], st["Restarting"]) == ("running", False), st
    assert st["Pid"] not in (0, before["Pid"]) and st["StartedAt"] != before["StartedAt"]
    assert c["RestartCount"] == 0


# -- namespaces of another container ---------------------------------------------------------


def test_pid_and_ipc_of_another_container(cli: ClientEnv, cleanup: list[str]) -> None:
    cleanup += ["nstarget"]
    cli.docker("run", "-d", "--name", "nstarget", "--ipc", "shareable", BB, "sleep", "301")
    r = cli.docker(
        "run", "--rm", "--pid", "container:nstarget", BB, "ps", "-o", "args", check=False
    )
    assert r.returncode == 0, r.stderr
    assert "sleep 301" in r.stdout
    r = cli.docker("run", "--rm", "--ipc", "container:nstarget", BB, "true", check=False)
    assert r.returncode == 0, r.stderr


# -- the SDK flows testcontainers uses -------------------------------------------------------


def test_sdk_run_logs_port_exec_archive(client_env: ClientEnv, cleanup: list[str]) -> None:
    cl = client_env.client
    c = cl.containers.run(
        BB,
        ["sh", "-c", "for i in 1 2 3; do echo line$i; echo err$i >&2; sleep 0.3; done; sleep 60"],
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", None)},
        labels={"sdk": "1"},
        environment={"A": "b"},
    )
    cleanup.append(c.id)
    c.reload()
    assert c.status == "running"
    host_port = c.ports["8080/tcp"][0]["HostPort"]
    assert c.ports["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": host_port}]
    assert cl.api.port(c.id, 8080) == [{"HostIp": "127.0.0.1", "HostPort": host_port}]

    chunks = []
    for chunk in c.logs(stream=True, follow=True):
        chunks.append(chunk)
        if b"err3" in b"".join(chunks):
            break
    assert b"".join(chunks).split() == [b"line1", b"err1", b"line2", b"err2", b"line3", b"err3"]
    assert c.logs(stdout=True, stderr=False).split() == [b"line1", b"line2", b"line3"]

    assert c.exec_run("sh -c 'echo o; echo e >&2; exit 2'", demux=True) == (2, (b"o\n", b"e\n"))
    assert list(c.exec_run("sh -c 'echo 1; sleep 0.3; echo 2'", stream=True).output) == [
        b"1\n",
        b"2\n",
    ]
    r = c.exec_run(
        "sh -c 'echo $X $A; pwd; id -u'", environment={"X": "y"}, workdir="/tmp", user="1000"
    )
    assert r == (0, b"y b\n/tmp\n1000\n")

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"hello-archive"
        ti = tarfile.TarInfo("dir/f.txt")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    assert c.put_archive("/tmp", buf.getvalue())
    stream, stat = c.get_archive("/tmp/dir")
    assert stat["name"] == "dir"
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        assert tar.extractfile("dir/f.txt").read() == b"hello-archive"  # type: ignore[union-attr]

    assert [x.id for x in cl.containers.list(filters={"label": "sdk=1"})] == [c.id]
    c.kill()
    assert c.wait(timeout=20)["StatusCode"] == 137


def test_sdk_run_foreground(client_env: ClientEnv) -> None:
    cl = client_env.client
    out = cl.containers.run(BB, "sh -c 'echo out; echo err >&2'", remove=True, stderr=True)
    assert out == b"out\nerr\n"
    with pytest.raises(docker.errors.ContainerError) as e:
        cl.containers.run(BB, "sh -c 'echo boom >&2; exit 9'", remove=True)
    assert e.value.exit_status == 9 and b"boom" in e.value.stderr


def test_sdk_attach_socket_stdin(client_env: ClientEnv, cleanup: list[str]) -> None:
    api = client_env.client.api
    cid = api.create_container(BB, "cat", stdin_open=True)["Id"]  # StdinOnce
    cleanup.append(cid)
    s = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stream": 1})
    api.start(cid)
    sock = s._sock
    sock.sendall(b"ping\n")
    sock.settimeout(10)
    data = b""
    while b"ping" not in data:
        data += sock.recv(100)
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x05ping\n"
    sock.shutdown(socket.SHUT_WR)
    assert api.wait(cid, timeout=20)["StatusCode"] == 0
    sock.close()
