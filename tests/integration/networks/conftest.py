"""Fixtures for network integration tests: one real berthd per module.

The daemon gets a bridge device and subnets of its own (BerthdProcess's
defaults: ``bt-<hex>``, 172.31.x.0/24, no host ip_forward, a loopback DNS
upstream), so nothing here touches the host's networks or sends traffic off
the machine. At the end of the module every container and network is removed,
the daemon is stopped by PID, and ``host_leftovers`` must find nothing of
this daemon in ``ip link``, the netns directory, ``iptables -S`` or ``ip6tables -S``
(and IPv6 addresses and routes).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import docker
import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.host_state import current_port_chains, port_chains, remove_all_objects
from tests.integration.seed_image import seed_busybox

pytestmark = pytest.mark.integration


@dataclass
class NetEnv:
    daemon: BerthdProcess
    client: docker.DockerClient
    subnets: list[str] = field(default_factory=list)  # every subnet the module used
    bridges: list[str] = field(default_factory=list)
    # netavark's port-forwarding chains that existed before the module (iptables, ip6tables)
    port_chains: set[str] = field(default_factory=current_port_chains)
    port_chains6: set[str] = field(
        default_factory=lambda: port_chains(_run("ip6tables", "-w", "-t", "nat", "-S"))
    )

    def network(self, name: str, n: int, **kw: object) -> docker.models.networks.Network:
        """Create a user network on test subnet ``n`` and remember its bridge."""
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=self.subnet(n))])
        net = self.client.networks.create(name, ipam=ipam, **kw)
        self.bridges.append("br-" + net.id[:12])
        return net

    def subnet6(self) -> str:
        """A random ULA /64 of this module's own (fdXX:XXXX:XXXX:XXXX::/64)."""
        s = str(ipaddress.IPv6Network((b"\xfd" + os.urandom(7) + bytes(8), 64)))
        self.subnets.append(s.split("::")[0] + ":")  # matches every address of it
        return s

    def subnet(self, n: int) -> str:
        """A test subnet; ``n`` keeps modules apart (172.31.160-239.0/24)."""
        s = f"172.31.{160 + n}.0/24"
        self.subnets.append(s)
        return s


def cli(env: NetEnv, *args: str) -> subprocess.CompletedProcess[str]:
    """The real docker CLI against the module's daemon."""
    return subprocess.run(
        ["docker", *args],
        env={**os.environ, "DOCKER_HOST": env.daemon.base_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def host_state() -> dict[str, str]:
    return {
        "links": _run("ip", "-o", "link"),
        "netns": _run("ip", "netns"),
        "filter": _run("iptables", "-w", "-S"),
        "nat": _run("iptables", "-w", "-t", "nat", "-S"),
        "filter6": _run("ip6tables", "-w", "-S"),
        "nat6": _run("ip6tables", "-w", "-t", "nat", "-S"),
        "addr6": _run("ip", "-6", "-o", "addr"),
        "route6": _run("ip", "-6", "route"),
    }


def host_leftovers(env: NetEnv) -> list[str]:
    """Lines of the host's network state that still mention this daemon's things."""
    marks = [*env.subnets, *env.bridges]
    state = host_state()
    out = [
        line
        for text in state.values()
        for line in text.splitlines()
        if any(m in line for m in marks)
    ]
    out += [f"chain {c}" for c in sorted(port_chains(state["nat"]) - env.port_chains)]
    out += [f"ip6 chain {c}" for c in sorted(port_chains(state["nat6"]) - env.port_chains6)]
    netns_dir = os.path.join(env.daemon.exec_root, "network", "netns")
    if os.path.isdir(netns_dir):
        out += [f"netns file {n}" for n in os.listdir(netns_dir)]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                if "aardvark-dns" in cmd and env.daemon.exec_root in cmd:
                    out.append(f"aardvark-dns still running: {pid}")
    return out


def start_env(args: list[str] | None = None) -> NetEnv:
    if os.geteuid() != 0:
        pytest.skip("network integration tests need root")
    d = BerthdProcess(args=args or [])
    seed_busybox(d.data_root)
    d.start()
    client = docker.DockerClient(base_url=d.base_url, timeout=60)
    bip = d.extra_args[d.extra_args.index("--bip") + 1]
    env = NetEnv(d, client, bridges=[d.bridge])
    env.subnets.append(bip.rsplit(".", 1)[0] + ".0/24")
    return env


def stop_env(env: NetEnv) -> None:
    env.bridges += remove_all_objects(env.client)
    env.client.close()
    env.daemon.cleanup()


@pytest.fixture(scope="module")
def net_env() -> Iterator[NetEnv]:
    env = start_env()
    try:
        yield env
    finally:
        stop_env(env)
    left = host_leftovers(env)
    assert not left, "left behind:\n" + "\n".join(left)
