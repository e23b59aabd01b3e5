"""Compatibility and hardening (issue 13), against one real berthd on unix + tcp:
swarm endpoints of a node in no swarm, name checks, request bodies, many
connections. The CLI's and SDK's answers are dockerd's (recorded from dockerd
20.10 with CLI 28)."""

from __future__ import annotations

import errno
import http.client
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import docker
import pytest

from berthd.daemon.cluster import inactive_info
from tests.api.test_body_fuzz import damaged, mutated_create_body
from tests.helpers.cli import cli as run_cli
from tests.helpers.ports import free_port
from tests.integration.daemon_process import BerthdProcess
from tests.integration.seed_image import seed_busybox

pytestmark = pytest.mark.integration

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)


class Daemon:
    def __init__(self, proc: BerthdProcess, tcp_port: int) -> None:
        self.proc = proc
        self.unix = proc.sock
        self.tcp_port = tcp_port


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    port = free_port()
    proc = BerthdProcess(args=["-H", f"tcp://127.0.0.1:{port}"])
    seed_busybox(proc.data_root)
    proc.start()
    try:
        yield Daemon(proc, port)
    finally:
        proc.cleanup()


def api(
    d: Daemon, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    """One request on the unix socket; (status, decoded JSON body or None)."""
    conn = http.client.HTTPConnection("berthd", timeout=60)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(d.unix)
    conn.sock = sock
    try:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        conn.request(
            method, "/v1.45" + path, body=data, headers={"Content-Type": "application/json"}
        )
        r = conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw.strip() else None
    finally:
        conn.close()


def message(status_body: tuple[int, Any]) -> tuple[int, str]:
    status, body = status_body
    return status, body["message"] if isinstance(body, dict) else ""


def cli(d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(DOCKER, d.proc.base_url, *args, check=False)


# -- swarm -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("swarm", "leave", "--force"), "This node is not part of a swarm"),
        (("swarm", "leave"), "This node is not part of a swarm"),
        (("node", "ls"), NOT_MANAGER),
        (("service", "ls"), NOT_MANAGER),
        (("secret", "ls"), NOT_MANAGER),
        (("config", "ls"), NOT_MANAGER),
        (("swarm", "unlock-key"), "could not fetch unlock key: Error response from daemon: "),
    ],
)
def test_cli_swarm_commands_outside_a_swarm(
    daemon: Daemon, args: tuple[str, ...], message: str
) -> None:
    r = cli(daemon, *args)
    assert r.returncode == 1, r
    assert r.stdout == ""
    if message.startswith("could not"):
        assert r.stderr == message + NOT_MANAGER + "\n"
    else:
        assert r.stderr == f"Error response from daemon: {message}\n"


def test_cli_swarm_join_fails_clearly(daemon: Daemon) -> None:
    # joins themselves are tests/cluster's; a malformed token is refused before any call,
    # with SwarmKit's words
    r = cli(daemon, "swarm", "join", "--token", "SWMTKN-1-x", "127.0.0.1:2377")
    assert r.returncode == 1
    assert r.stderr == "Error response from daemon: invalid join token\n"
    # and nothing changed
    info = json.loads(cli(daemon, "info", "--format", "{{json .Swarm}}").stdout)
    assert info == inactive_info()  # field for field in tests/api/test_swarm.py
    assert "Swarm: inactive" in cli(daemon, "info").stdout


def test_sdk_swarm_leave(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.proc.base_url, version="1.45")
    try:
        # force: the SDK takes dockerd's 503 as "nothing to leave"
        assert client.swarm.leave(force=True) is True
        with pytest.raises(docker.errors.APIError) as err:
            client.swarm.leave()
        assert err.value.status_code == 503
        assert err.value.explanation == "This node is not part of a swarm"
        with pytest.raises(docker.errors.APIError) as err:
            client.services.list()
        assert err.value.status_code == 503
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
    finally:
        client.close()


# -- many connections --------------------------------------------------------------------


def _somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn", encoding="ascii") as f:
        return int(f.read())


def _listen_backlogs(d: Daemon) -> tuple[int, int]:
    """The listen backlogs (``ss``'s Send-Q of a listening socket) of the unix and tcp
    listeners."""
    unix = subprocess.run(
        ["ss", "-lxH", "src", d.unix], capture_output=True, text=True, check=True
    ).stdout.split()
    tcp = subprocess.run(
        ["ss", "-ltnH", "sport", f"= :{d.tcp_port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(unix[3]), int(tcp[2])


def _ping(family: int, address: str | tuple[str, int], timeout: float = 60.0) -> bytes:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\n\r\n")
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    return out


def test_listen_backlog_is_the_system_maximum(daemon: Daemon) -> None:
    assert _listen_backlogs(daemon) == (_somaxconn(), _somaxconn())


def test_listeners_take_more_than_128_pending_connections(daemon: Daemon) -> None:
    """While the daemon accepts nothing (stopped), 300 clients connect to each listener:
    the kernel queues them all (the 129th no longer gets EAGAIN); once it runs again it
    answers a fresh client."""
    if _somaxconn() < 400:
        pytest.skip("net.core.somaxconn is below 400 on this host")
    assert daemon.proc.proc is not None
    pid = daemon.proc.proc.pid
    socks: list[socket.socket] = []
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            socks.append(s)
            s.setblocking(False)
            s.connect(daemon.unix)  # BlockingIOError (EAGAIN) once the backlog is full
        pending = []
        for _ in range(300):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.setblocking(False)
            assert s.connect_ex(("127.0.0.1", daemon.tcp_port)) in (0, errno.EINPROGRESS)
            pending.append(s)
        # the kernel completes every handshake itself, daemon stopped or not
        while pending:
            _, ready, _ = select.select([], pending, [], 30)
            assert ready, f"{len(pending)} tcp connections never completed"
            for s in ready:
                assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                pending.remove(s)
    finally:
        os.kill(pid, signal.SIGCONT)
        for s in socks:
            s.close()
    assert _ping(socket.AF_UNIX, daemon.unix).startswith(b"HTTP/1.1 200 OK")


def test_ping_answers_while_1000_clients_stall(daemon: Daemon) -> None:
    """1,000 connections that each sent one byte of a request line and then nothing:
    a new client on either listener still gets its /_ping answered."""
    stalled: list[socket.socket] = []
    try:
        for i in range(1000):
            tcp = i % 2 == 1
            s = socket.socket(socket.AF_INET if tcp else socket.AF_UNIX, socket.SOCK_STREAM)
            stalled.append(s)
            s.settimeout(30)
            s.connect(("127.0.0.1", daemon.tcp_port) if tcp else daemon.unix)
            s.sendall(b"G")
        for s in stalled[:100]:  # some trickle on
            s.sendall(b"E")
        assert _ping(socket.AF_UNIX, daemon.unix).startswith(b"HTTP/1.1 200 OK")
        assert _ping(socket.AF_INET, ("127.0.0.1", daemon.tcp_port)).startswith(b"HTTP/1.1 200 OK")
        # the stalled ones are still connected, waiting for the rest of their headers
        stalled[0].setblocking(False)
        with pytest.raises(BlockingIOError):
            stalled[0].recv(1)
    finally:
        for s in stalled:
            s.close()
    r = cli(daemon, "version", "--format", "{{.Server.APIVersion}}")
    assert r.stdout.strip() == "1.45"


# -- names -----------------------------------------------------------------------------

BAD_CONTAINER = "Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
BAD_VOLUME = (
    "create {0}: {1} includes invalid characters for a local volume name, only "
    '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
    "use absolute path"
)
SHORT_VOLUME = (
    "create {}: volume name is too short, names should be at least two alphanumeric characters"
)
BUSYBOX = {"Image": "busybox", "Cmd": ["true"]}


@pytest.mark.parametrize("name", ["a", "-ab", ".ab", "a/b", "ab\n", "é1", "ab$", "a b", "/"])
def test_bad_container_names(daemon: Daemon, name: str) -> None:
    r = api(daemon, "POST", "/containers/create?name=" + quote(name), BUSYBOX)
    assert message(r) == (400, BAD_CONTAINER.format(name))


def test_long_container_names_and_rename(daemon: Daemon) -> None:
    long = "x" * 65536  # dockerd has no length limit: it creates, renames and removes it
    status, body = api(daemon, "POST", "/containers/create?name=" + long, BUSYBOX)
    assert status == 201, body
    try:
        assert message(api(daemon, "POST", f"/containers/{long}/rename?name=a")) == (
            400,
            "Error when allocating new name: " + BAD_CONTAINER.format("/a"),
        )
        assert message(api(daemon, "POST", f"/containers/{long}/rename?name=")) == (
            400,
            "Neither old nor new names may be empty",
        )
        assert api(daemon, "POST", f"/containers/{long}/rename?name=short-1")[0] == 204
        assert api(daemon, "GET", "/containers/short-1/json")[1]["Name"] == "/short-1"
    finally:
        api(daemon, "DELETE", "/containers/short-1?force=1")
        api(daemon, "DELETE", f"/containers/{long}?force=1")


def _volume_dirs(d: Daemon) -> set[str]:
    return set(os.listdir(os.path.join(d.proc.data_root, "volumes")))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", SHORT_VOLUME.format("a")),
        ("é", BAD_VOLUME.format("é", '"é"')),  # two bytes: long enough, but not allowed
        ('a"b', BAD_VOLUME.format('a"b', '"a\\"b"')),
        ("a\tb", BAD_VOLUME.format("a\tb", '"a\\tb"')),
        ("a/b", BAD_VOLUME.format("a/b", '"a/b"')),
        ("../ab", BAD_VOLUME.format("../ab", '"../ab"')),
        (
            "x" * 65536,
            "create " + "x" * 65536 + ": volume name is too long (65536 bytes), "
            "names should be at most 255 bytes",
        ),
    ],
)
def test_bad_volume_names(daemon: Daemon, name: str, expected: str) -> None:
    before = _volume_dirs(daemon)
    assert message(api(daemon, "POST", "/volumes/create", {"Name": name})) == (400, expected)
    if "/" not in name and ":" not in name and not name.startswith("."):
        # through `docker run -v name:/x` too, and no container is left
        body = {**BUSYBOX, "HostConfig": {"Binds": [name + ":/x"]}}
        assert message(api(daemon, "POST", "/containers/create?name=vol-bind", body)) == (
            400,
            expected,
        )
        assert api(daemon, "GET", "/containers/vol-bind/json")[0] == 404
    assert _volume_dirs(daemon) == before  # nothing touched the disk


def test_volume_name_at_the_length_limit(daemon: Daemon) -> None:
    name = "v" * 255
    assert api(daemon, "POST", "/volumes/create", {"Name": name})[0] == 201
    assert api(daemon, "DELETE", "/volumes/" + name)[0] == 204


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_empty_network_names(daemon: Daemon, name: str) -> None:
    assert message(api(daemon, "POST", "/networks/create", {"Name": name})) == (
        400,
        f"invalid name: {name}",
    )


@pytest.mark.parametrize("name", ["x/b", "é-net", "a:b c", "n" * 65536])
def test_network_names_dockerd_takes(daemon: Daemon, name: str) -> None:
    """moby v26 only refuses an empty name; a "/" in one still routes."""
    status, body = api(daemon, "POST", "/networks/create", {"Name": name})
    assert status == 201, body
    try:
        path = "/networks/" + quote(name, safe="/")
        status, net = api(daemon, "GET", path)
        assert (status, net["Id"], net["Name"]) == (200, body["Id"], name)
    finally:
        assert api(daemon, "DELETE", path)[0] == 204
    assert api(daemon, "GET", "/networks/" + body["Id"])[0] == 404


def test_cli_network_with_a_slash(daemon: Daemon) -> None:
    assert cli(daemon, "network", "create", "team/web").returncode == 0
    r = cli(daemon, "network", "inspect", "--format", "{{.Name}}", "team/web")
    assert r.stdout == "team/web\n", r
    assert cli(daemon, "network", "rm", "team/web").stdout == "team/web\n"


# -- request bodies ------------------------------------------------------------------------

KMEM = os.path.exists("/sys/fs/cgroup/memory/memory.kmem.limit_in_bytes")
RT = os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")


def _hc(**host_config: Any) -> dict[str, Any]:
    return {**BUSYBOX, "HostConfig": host_config}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_hc(Memory=-1), "Minimum memory limit allowed is 6MB"),
        (_hc(Memory=10_000_000, MemorySwap=5_000_000),
         "Minimum memoryswap limit should be larger than memory limit, see usage"),
        (_hc(MemoryReservation=1), "Minimum memory reservation allowed is 6MB"),
        (_hc(CpuPeriod=-1), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than "
         "1s (i.e. 1000000)"),
        (_hc(NanoCpus=-1), "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} "
         "CPUs available"),
        (_hc(CpusetCpus="3-1"), "Invalid value 3-1 for cpuset cpus: invalid format: 3-1"),
        (_hc(OomScoreAdj=-1001), "Invalid value -1001, range for oom score adj is [-1000, 1000]"),
        (_hc(MemorySwappiness=101), "Invalid value: 101, valid memory swappiness range is 0-100"),
        (_hc(Memory=2**64), "invalid JSON: json: cannot unmarshal number 18446744073709551616 "
         "into Go struct field HostConfig.HostConfig.Memory of type int64"),
        (_hc(BlkioWeight=70000), "invalid JSON: json: cannot unmarshal number 70000 into Go "
         "struct field HostConfig.HostConfig.BlkioWeight of type uint16"),
        (_hc(RestartPolicy={"Name": "always", "MaximumRetryCount": 3}),
         "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        (_hc(RestartPolicy={"Name": "", "MaximumRetryCount": 3}),
         "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        (_hc(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": -1}),
         "invalid restart policy: maximum retry count cannot be negative"),
        (_hc(RestartPolicy={"Name": "always"}, AutoRemove=True),
         "can't create 'AutoRemove' container with restart policy"),
        (_hc(PortBindings={"80/tcp": [{"HostPort": "99999"}]}),
         'invalid port specification: "99999"'),
        (_hc(PortBindings={"bogus": []}), 'invalid port specification: "bogus"'),
        (_hc(ExtraHosts=["bogus"]), 'bad format for add-host: "bogus"'),
        (_hc(Isolation="hyperv"), "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
        (_hc(StorageOpt={"size": "1G"}),
         "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"),
        (_hc(CpuRealtimePeriod=100, CpuRealtimeRuntime=1000),
         "cpu real-time runtime cannot be higher than cpu real-time period" if RT
         else "Your kernel does not support CPU real-time scheduler"),
        ({**BUSYBOX, "Env": [""]}, "invalid environment variable: "),
        ({**BUSYBOX, "Healthcheck": {"Interval": 5}},
         "Interval in Healthcheck cannot be less than 1ms"),
        ({**BUSYBOX, "Healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
        # checked before the image is looked for, as dockerd does
        ({"Image": "no-such-image", "HostConfig": {"Memory": 1}},
         "Minimum memory limit allowed is 6MB"),
    ],
)  # fmt: skip
def test_create_bodies_dockerd_refuses(daemon: Daemon, body: Any, expected: str) -> None:
    ncpu = len(os.sched_getaffinity(0))
    status, answer = api(daemon, "POST", "/containers/create?name=refused", body)
    assert (status, answer) == (400, {"message": expected.format(ncpu=ncpu)})
    assert api(daemon, "GET", "/containers/refused/json")[0] == 404


def test_kernel_memory_below_the_minimum(daemon: Daemon) -> None:
    status, answer = api(daemon, "POST", "/containers/create", _hc(KernelMemory=1))
    if KMEM:
        assert (status, answer) == (400, {"message": "Minimum kernel memory limit allowed is 6MB"})
    else:
        assert status == 201 and "kernel memory" in answer["Warnings"][0]
        api(daemon, "DELETE", f"/containers/{answer['Id']}?force=1")


def test_bodies_go_decodes_are_created(daemon: Daemon) -> None:
    """Unknown keys (however deep), invalid UTF-8 and lone surrogates: dockerd creates the
    container (U+FFFD for what is not UTF-8) and so does berthd, without a 500 when the
    record is written."""
    deep: Any = "x"
    for _ in range(600):
        deep = [deep]
    body = json.dumps({**BUSYBOX, "Bogus": deep, "HostConfig": {"NotAField": {"a": deep}}})
    raw = body.encode()[:-1] + b', "Labels": {"bad": "a\xffb", "lone": "c\\ud800d"}}'
    status, answer = api(daemon, "POST", "/containers/create", raw=raw)
    assert status == 201, answer
    try:
        labels = api(daemon, "GET", f"/containers/{answer['Id']}/json")[1]["Config"]["Labels"]
        assert labels == {"bad": "a\ufffdb", "lone": "c\ufffdd"}
    finally:
        api(daemon, "DELETE", f"/containers/{answer['Id']}?force=1")


def test_update_bodies(daemon: Daemon) -> None:
    body = {**BUSYBOX, "HostConfig": {"RestartPolicy": {"Name": "always"}}}
    status, created = api(daemon, "POST", "/containers/create", body)
    assert status == 201
    cid = created["Id"]
    try:
        # the CLI sends an empty restart policy with every update: it changes nothing
        r = cli(daemon, "update", "--cpu-shares", "512", cid)
        assert r.returncode == 0, r
        hc = api(daemon, "GET", f"/containers/{cid}/json")[1]["HostConfig"]
        assert (hc["RestartPolicy"]["Name"], hc["CpuShares"]) == ("always", 512)
        for update, expected in (
            ({"Memory": 1}, "Minimum memory limit allowed is 6MB"),
            ({"CpusetCpus": "x"}, "Invalid value x for cpuset cpus: invalid format: x"),
            ({"RestartPolicy": {"Name": "no", "MaximumRetryCount": 3}},
             "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
            ({"Memory": 2**63}, "invalid JSON: json: cannot unmarshal number 9223372036854775808 "
             "into Go struct field UpdateConfig.Memory of type int64"),
        ):  # fmt: skip
            assert api(daemon, "POST", f"/containers/{cid}/update", update) == (
                400,
                {"message": expected},
            )
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_mutated_bodies_never_get_a_500(daemon: Daemon) -> None:
    """A bounded run of the in-process fuzz bodies (tests/api/test_body_fuzz.py) against
    the real daemon, which also resolves the image, plans volumes and writes records."""
    rng = random.Random(1313)
    created: list[str] = []
    try:
        for _ in range(150):
            data = damaged(rng, mutated_create_body(rng))
            status, answer = api(daemon, "POST", "/containers/create", raw=data)
            assert status < 500, (status, answer, data[:2000])
            if status == 201:
                created.append(answer["Id"])
            else:
                assert isinstance(answer["message"], str), data[:2000]
        assert created  # some got through every check
    finally:
        for cid in created:
            api(daemon, "DELETE", f"/containers/{cid}?force=1&v=1")
