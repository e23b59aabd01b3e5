"""Compatibility and hardening (issue 13), against one real berthd on unix + tcp:
swarm endpoints of a node in no swarm, name checks, request bodies, many
connections. The CLI's and SDK's answers are dockerd's (recorded from dockerd
20.10 with CLI 28)."""

from __future__ import annotations

import json
import os
import shutil
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
