"""A network's bridge, NAT and forwarding rules live as long as the network, as
dockerd's do: a container that leaves (the last one included) must not cut the ones
that stay off (masquerade, forwarding, a published port), and ``network rm`` removes
them all (berthd keeps a port of its own on each bridge, network/bridge_keeper.py,
and removes the rules in one ``iptables-restore``, network/batch_teardown.py)."""

from __future__ import annotations

import contextlib
import os
import time

import docker
import pytest

from berthd.network.bridge_keeper import keeper_name
from tests.helpers.ports import free_port
from tests.integration.networks.conftest import NetEnv, _run
from tests.integration.networks.test_networks import HTTPD, fetch

pytestmark = pytest.mark.integration

BB = "busybox:latest"


def gone(subnet: str) -> list[str]:
    """The subnet's rules once the background teardown is done (at most 10 s)."""
    for _ in range(100):
        if not (left := subnet_rules(subnet)):
            return left
        time.sleep(0.1)
    return left


def settled(subnet: str, want: list[str]) -> list[str]:
    """The subnet's rules once they are ``want`` (background teardowns: at most 10 s)."""
    for _ in range(100):
        if (now := subnet_rules(subnet)) == want:
            return now
        time.sleep(0.1)
    return now


def subnet_rules(subnet: str) -> list[str]:
    """The host's iptables lines (filter and nat) that name ``subnet``."""
    return [line for line in _run("iptables-save").splitlines() if subnet in line]


def test_rules_go_with_the_last_container_only(net_env: NetEnv) -> None:
    net = net_env.network("td-net", 70)
    subnet = net_env.subnets[-1]
    port = free_port()
    a = net_env.client.containers.run(BB, ["sleep", "60"], detach=True, network="td-net")
    b = net_env.client.containers.run(
        BB,
        ["sh", "-c", HTTPD],
        detach=True,
        network="td-net",
        ports={"80/tcp": ("127.0.0.1", port)},
    )
    try:
        assert b"hello-" in fetch(port)
        before = subnet_rules(subnet)
        assert any("MASQUERADE" not in r and "POSTROUTING" in r for r in before), before
        assert any("NETAVARK_FORWARD" in r for r in before), before
        a.remove(force=True)
        # the network's own rules stay for b (a published nothing), and b's port answers
        assert subnet_rules(subnet) == before
        assert b"hello-" in fetch(port)
        b.remove(force=True)
        # the last container is gone: the network (bridge, rules) stays, as dockerd's
        bridge = "br-" + net.id[:12]
        own = [r for r in before if "NETAVARK-DN-" not in r]  # b's published port goes
        assert own and settled(subnet, own) == own
        assert os.path.isdir(f"/sys/class/net/{bridge}")
        # a container joining the emptied network works at once
        c = net_env.client.containers.run(BB, ["sleep", "60"], detach=True, network="td-net")
        c.remove(force=True)
        assert settled(subnet, own) == own
        net.remove()
        assert gone(subnet) == []
        # the network's NAT chain and its bridge (and the keeper port) are gone too
        nat = _run("iptables", "-w", "-t", "nat", "-S")
        chains = [r.split()[-1] for r in before if r.startswith("-A POSTROUTING")]
        assert chains and all(f"-N {c}" not in nat for c in chains), nat
        assert not os.path.exists(f"/sys/class/net/{bridge}")
        assert not os.path.exists(f"/sys/class/net/{keeper_name(bridge)}")
    finally:
        for x in (a, b):
            try:
                x.remove(force=True)
            except Exception:
                pass
        with contextlib.suppress(docker.errors.NotFound):
            net.remove()
