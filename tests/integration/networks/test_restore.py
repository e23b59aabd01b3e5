"""A berthd restart with live-restore: running containers keep their
addresses, IPAM stays consistent (no address handed out twice), the daemon's own
helpers come back (an IPv6 port proxy, a link resolver), and everything is torn
down once the containers go.
"""

from __future__ import annotations

import docker
import pytest

from tests.helpers.ports import free_port
from tests.integration.clients.conftest import fetch
from tests.integration.networks.conftest import host_leftovers, start_env, stop_env

pytestmark = pytest.mark.integration

BB = "busybox:latest"


def test_restart_keeps_addresses() -> None:
    env = start_env(["--live-restore"])
    try:
        net = env.network("it-restore", 10)
        a = env.client.containers.run(
            BB, ["sleep", "300"], detach=True, name="ra", network="it-restore"
        )
        port = free_port()
        b = env.client.containers.run(
            BB, ["sh", "-c", "echo rb > /i; exec httpd -f -p 80 -h /"], detach=True, name="rb",
            ports={"80/tcp": ("::1", port)},
        )  # fmt: skip
        linker = env.client.containers.run(
            BB, ["sleep", "300"], detach=True, name="rl", network="it-restore", links={"ra": "lk"}
        )
        a.reload()
        b.reload()
        ip_a = a.attrs["NetworkSettings"]["Networks"]["it-restore"]["IPAddress"]
        ip_b = b.attrs["NetworkSettings"]["IPAddress"]
        env.client.close()
        env.daemon.stop()
        env.daemon.start()
        env.client = docker.DockerClient(base_url=env.daemon.base_url, timeout=60)
        a = env.client.containers.get("ra")
        b = env.client.containers.get("rb")
        assert a.status == "running" and b.status == "running"
        assert a.attrs["NetworkSettings"]["Networks"]["it-restore"]["IPAddress"] == ip_a
        assert b.attrs["NetworkSettings"]["IPAddress"] == ip_b
        assert fetch(f"http://[::1]:{port}/i") == b"rb\n"  # the proxy listens again
        _code, out = linker.exec_run(["nslookup", "lk"])
        assert ip_a in out.decode()  # and the link resolver answers again
        _code, out = a.exec_run(["ip", "-4", "-o", "addr", "show", "eth0"])
        assert ip_a in out.decode()
        # new containers get other addresses, and still resolve the old one by name
        c = env.client.containers.run(
            BB,
            ["sh", "-c", "ip -4 -o addr show eth0; nslookup ra"],
            network="it-restore",
            remove=True,
        ).decode()
        assert ip_a in c  # the name answer
        assert c.count(ip_a) >= 1 and f"inet {ip_a}/" not in c
        d = env.client.containers.run(BB, ["sleep", "300"], detach=True)
        d.reload()
        assert d.attrs["NetworkSettings"]["IPAddress"] not in ("", ip_b)
        for x in (a, b, d, linker):
            x.remove(force=True)
        net.remove()
    finally:
        stop_env(env)
    left = host_leftovers(env)
    assert not left, "left behind:\n" + "\n".join(left)
