"""A network's NAT and forwarding rules are removed with its last container, and only
then (berthd removes them itself in one ``iptables-restore`` before netavark's
teardown, network/batch_teardown.py): a container that leaves while another stays
must not cut the one that stays off (masquerade, forwarding, its published port)."""

from __future__ import annotations

import time

import pytest

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
        assert gone(subnet) == []
        # the network's NAT chain is gone too (nothing jumps to a NETAVARK- chain of it)
        nat = _run("iptables", "-w", "-t", "nat", "-S")
        chains = [r.split()[-1] for r in before if r.startswith("-A POSTROUTING")]
        assert chains and all(f"-N {c}" not in nat for c in chains), nat
        # a container joining the emptied network gets its rules back
        c = net_env.client.containers.run(BB, ["sleep", "60"], detach=True, network="td-net")
        try:
            again = subnet_rules(subnet)
            assert any("POSTROUTING" in r for r in again) and any(
                "NETAVARK_FORWARD" in r for r in again
            ), again
        finally:
            c.remove(force=True)
        assert gone(subnet) == []
    finally:
        for x in (a, b):
            try:
                x.remove(force=True)
            except Exception:
                pass
        net.remove()
