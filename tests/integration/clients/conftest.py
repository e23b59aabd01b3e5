"""Fixtures for the real-client tests: one berthd per module, driven by the
clients people point at a dockerd (docker-compose 1.29, testcontainers-python,
the docker CLI and the docker SDK).

The daemon gets a bridge device of its own, its default bridge on
172.31.248.0/24 and a default address pool of 172.31.240.0/21 (networks that
compose and testcontainers create without a subnet come from there), no host
ip_forward and a loopback DNS upstream: nothing leaves the machine. Published
ports are bound on 127.0.0.1 only. At the end of the module every container,
network and volume is removed, the daemon is stopped by PID and nothing of it
may be left in ``ip link`` or ``iptables -S``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import docker
import pytest

from tests.helpers.wait import wait_for
from tests.integration.daemon_process import BerthdProcess
from tests.integration.host_state import current_port_chains, port_chains, remove_all_objects
from tests.integration.seed_image import seed_busybox

pytestmark = pytest.mark.integration

BB = "busybox:latest"
BIP = "172.31.248.1/24"
POOL = "172.31.240.0/21"


@dataclass
class ClientEnv:
    daemon: BerthdProcess
    client: docker.DockerClient
    bridge: str
    bridges: list[str] = field(default_factory=list)
    port_chains: set[str] = field(default_factory=current_port_chains)

    @property
    def env(self) -> dict[str, str]:
        """The environment for a client subprocess: this daemon, nothing else."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        env["DOCKER_HOST"] = self.daemon.base_url
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full = {**self.env, **(env or {})}
        r = subprocess.run(
            list(argv),
            cwd=cwd,
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
                f"\n--- berthd log (tail) ---\n{self.log_tail()}"
            )
        return r

    def docker(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        cli = shutil.which("docker")
        if cli is None:
            pytest.skip("the docker CLI is not installed")
        return self.run([cli, *args], **kw)  # type: ignore[arg-type]

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.daemon.logs().splitlines()[-n:])


def fetch(url: str, tries: int = 100) -> bytes:
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bytes(r.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on {url}")


# the clients are slow to start (compose, the CLI): longer and sparser polls
wait_for = functools.partial(wait_for, timeout=30.0, step=0.2)


def host_leftovers(env: ClientEnv) -> list[str]:
    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    # the bridges seen, the default bridge's subnet and every /24 of the pool
    marks = [*env.bridges, *(f"172.31.{n}." for n in range(240, 249))]
    nat = run("iptables", "-w", "-t", "nat", "-S")
    text = run("ip", "-o", "link") + run("ip", "-o", "-4", "addr") + run("iptables", "-w", "-S")
    left = [line for line in (text + nat).splitlines() if any(m in line for m in marks)]
    return left + [f"chain {c}" for c in sorted(port_chains(nat) - env.port_chains)]


def start_env() -> ClientEnv:
    if os.geteuid() != 0:
        pytest.skip("client integration tests need root")
    bridge = f"bt-cl{os.urandom(2).hex()}"
    d = BerthdProcess(
        args=[
            "--bridge",
            bridge,
            "--bip",
            BIP,
            "--default-address-pool",
            f"base={POOL},size=24",
            "--ip-forward=false",
            "--dns",
            "127.0.0.1",
        ]
    )
    d.bridge = bridge
    seed_busybox(d.data_root)
    d.start()
    client = docker.DockerClient(base_url=d.base_url, timeout=120)
    return ClientEnv(d, client, bridge, bridges=[bridge])


def stop_env(env: ClientEnv) -> None:
    env.bridges += remove_all_objects(env.client, volumes=True)
    env.client.close()
    env.daemon.cleanup()


@pytest.fixture(scope="module")
def client_env() -> Iterator[ClientEnv]:
    env = start_env()
    try:
        yield env
    finally:
        stop_env(env)
    left = host_leftovers(env)
    assert not left, "left behind:\n" + "\n".join(left)
