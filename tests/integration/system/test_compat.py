"""Compatibility and hardening (issue 13), against one real berthd on unix + tcp:
swarm endpoints of a node in no swarm, name checks, request bodies, many
connections. The CLI's and SDK's answers are dockerd's (recorded from dockerd
20.10 with CLI 28)."""

from __future__ import annotations

import errno
import json
import os
import select
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator

import docker
import pytest

from berthd.daemon.cluster import inactive_info
from tests.integration.daemon_process import BerthdProcess, free_port

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
    proc = BerthdProcess(args=["-H", f"tcp://127.0.0.1:{port}"]).start()
    try:
        yield Daemon(proc, port)
    finally:
        proc.cleanup()


def cli(d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = "/tmp/berthd-it-docker-config"
    return subprocess.run(
        [DOCKER, "-H", d.proc.base_url, *args], capture_output=True, text=True, timeout=60, env=env
    )


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


def test_cli_swarm_init_fails_clearly(daemon: Daemon) -> None:
    r = cli(daemon, "swarm", "init")
    assert r.returncode == 1
    assert r.stderr == (
        "Error response from daemon: This node cannot initialize a swarm: swarm mode is not "
        "supported by berthd yet\n"
    )
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
