"""Networks end to end with real containers: the default bridge, user networks
with DNS, published ports from the host on 127.0.0.1, internal networks,
live connect/disconnect, container/host/none modes and the network API.
"""

from __future__ import annotations

import socket
import time
import urllib.request

import docker
import pytest

from tests.helpers.ports import free_port
from tests.integration.networks.conftest import NetEnv

pytestmark = pytest.mark.integration

BB = "busybox:latest"


def run_out(env: NetEnv, cmd: str, **kw: object) -> str:
    out = env.client.containers.run(BB, ["sh", "-c", cmd], remove=True, **kw)
    return out.decode() if isinstance(out, bytes) else str(out)


def fetch(port: int, path: str = "/index.html", tries: int = 50) -> bytes:
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                return bytes(r.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on 127.0.0.1:{port}")


HTTPD = "echo hello-$HOSTNAME > /index.html; exec httpd -f -p 80 -h /"


def test_predefined_networks(net_env: NetEnv) -> None:
    names = {n.name: n.attrs for n in net_env.client.networks.list()}
    assert {"bridge", "host", "none"} <= set(names)
    bridge = net_env.client.networks.get("bridge").attrs
    assert bridge["Driver"] == "bridge"
    assert bridge["Options"]["com.docker.network.bridge.name"] == net_env.daemon.bridge
    assert names["none"]["Driver"] == "null"
    with pytest.raises(docker.errors.APIError) as e:
        net_env.client.networks.get("bridge").remove()
    assert "pre-defined network and cannot be removed" in str(e.value)


def test_default_bridge(net_env: NetEnv) -> None:
    c = net_env.client.containers.run(BB, ["sleep", "60"], detach=True)
    try:
        c.reload()
        ns = c.attrs["NetworkSettings"]
        ip = ns["IPAddress"]
        assert ip and ns["Networks"]["bridge"]["IPAddress"] == ip
        assert ns["Gateway"] == ns["Networks"]["bridge"]["Gateway"] != ""
        assert ns["IPPrefixLen"] == 24
        assert ns["Networks"]["bridge"]["MacAddress"].startswith("02:42:")
        assert ns["SandboxKey"].startswith(net_env.daemon.exec_root)
        code, out = c.exec_run(
            ["sh", "-c", "ip -4 -o addr show eth0; cat /etc/hosts /etc/resolv.conf"]
        )
        text = out.decode()
        assert code == 0 and f"{ip}/24" in text
        assert f"{ip}\t{c.id[:12]}" in text
        assert "nameserver 127.0.0.1" in text  # the test daemon's --dns
        # the gateway (the host side) answers; other containers' names do not resolve
        code, _ = c.exec_run(["ping", "-c1", "-W2", ns["Gateway"]])
        assert code == 0
        net = net_env.client.networks.get("bridge").attrs
        assert net["Containers"][c.id]["IPv4Address"] == f"{ip}/24"
    finally:
        c.remove(force=True)
    c2 = net_env.client.containers.create(BB, ["true"])
    assert c2.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ""
    c2.remove()


def test_user_network_dns(net_env: NetEnv) -> None:
    net = net_env.network("it-dns", 1)
    other = net_env.network("it-other", 2)
    web = net_env.client.containers.run(
        BB, ["sleep", "60"], name="it-web", detach=True, network="it-dns"
    )
    try:
        net_env.client.api.disconnect_container_from_network(web.id, net.id)
        net_env.client.api.connect_container_to_network(web.id, net.id, aliases=["www"])
        web.reload()
        ip = web.attrs["NetworkSettings"]["Networks"]["it-dns"]["IPAddress"]
        assert ip.startswith("172.31.161.")
        dns_names = web.attrs["NetworkSettings"]["Networks"]["it-dns"]["DNSNames"]
        assert "it-web" in dns_names and "www" in dns_names
        for name in ("it-web", "www", web.id[:12]):
            out = run_out(
                net_env,
                f"nslookup {name} >/dev/null && getent hosts {name} || nslookup {name}",
                network="it-dns",
            )
            assert ip in out, (name, out)
        out = run_out(
            net_env, "cat /etc/resolv.conf; ping -c1 -W2 it-web && echo PING-OK", network="it-dns"
        )
        # dockerd's embedded resolver address (redirected inside the netns to aardvark)
        assert "nameserver 127.0.0.11\noptions ndots:0\n" in out and "PING-OK" in out
        out = run_out(net_env, "nslookup it-web 127.0.0.11", network="it-dns")
        assert ip in out
        out = run_out(net_env, "nslookup it-web 172.31.161.1", network="it-dns")
        assert ip in out  # aardvark on the gateway answers too
        # not on the other network: its resolver does not know the name
        out = run_out(net_env, "nslookup it-web 2>&1; echo rc=$?", network="it-other")
        assert ip not in out
        # nor on the default bridge
        out = run_out(net_env, "nslookup it-web 2>&1; echo rc=$?")
        assert ip not in out
    finally:
        web.remove(force=True)
    other.remove()
    net.remove()


def test_published_ports(net_env: NetEnv) -> None:
    port = free_port()
    c = net_env.client.containers.run(
        BB, ["sh", "-c", HTTPD], detach=True, ports={"80/tcp": ("127.0.0.1", port)}
    )
    r = net_env.client.containers.run(
        BB, ["sh", "-c", HTTPD], detach=True, publish_all_ports=True, ports={"80/tcp": None}
    )
    try:
        assert fetch(port) == f"hello-{c.id[:12]}\n".encode()
        c.reload()
        assert c.attrs["NetworkSettings"]["Ports"]["80/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(port)}
        ]
        assert net_env.client.api.port(c.id, 80) == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        r.reload()
        rport = int(r.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
        assert rport > 1024 and fetch(rport) == f"hello-{r.id[:12]}\n".encode()
        # taken by another container: dockerd's allocator message
        with pytest.raises(docker.errors.APIError) as e:
            net_env.client.containers.run(
                BB, ["true"], ports={"80/tcp": ("127.0.0.1", port)}, remove=True
            )
        assert "port is already allocated" in str(e.value)
        # taken by a host process: the userland proxy's message
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            busy = s.getsockname()[1]
            with pytest.raises(docker.errors.APIError) as e:
                net_env.client.containers.run(
                    BB, ["true"], ports={"80/tcp": ("127.0.0.1", busy)}, remove=True
                )
            assert "address already in use" in str(e.value)
    finally:
        c.remove(force=True)
        r.remove(force=True)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=1)


def test_internal_network_has_no_route_out(net_env: NetEnv) -> None:
    net_env.network("it-internal", 3, internal=True)
    outside = net_env.client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
    out = run_out(
        net_env,
        f"ip route; ping -c1 -W1 {outside} >/dev/null 2>&1; echo out=$?",
        network="it-internal",
    )
    assert "default" not in out, out
    assert "out=0" not in out, out
    # the same ping from a normal network goes through (the test is not vacuous)
    assert "out=0" in run_out(net_env, f"ping -c1 -W1 {outside} >/dev/null 2>&1; echo out=$?")
    net_env.client.networks.get("it-internal").remove()


def test_connect_disconnect_live(net_env: NetEnv) -> None:
    net = net_env.network("it-live", 4)
    c = net_env.client.containers.run(BB, ["sleep", "60"], detach=True, name="it-live-c")
    try:
        net.connect(c, aliases=["live-alias"], ipv4_address="172.31.164.50")
        c.reload()
        eps = c.attrs["NetworkSettings"]["Networks"]
        assert set(eps) == {"bridge", "it-live"}
        assert eps["it-live"]["IPAddress"] == "172.31.164.50"
        _code, out = c.exec_run(["ip", "-4", "-o", "addr"])
        assert "172.31.164.50/24" in out.decode()
        out = run_out(net_env, "nslookup live-alias", network="it-live")
        assert "172.31.164.50" in out
        with pytest.raises(docker.errors.APIError) as e:
            net.remove()
        assert "has active endpoints" in str(e.value)
        net.disconnect(c)
        c.reload()
        assert set(c.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
        _code, out = c.exec_run(["ip", "-4", "-o", "addr"])
        assert "172.31.164.50" not in out.decode()
    finally:
        c.remove(force=True)
    net.remove()


def test_container_host_none_modes(net_env: NetEnv) -> None:
    a = net_env.client.containers.run(BB, ["sleep", "60"], detach=True)
    try:
        a.reload()
        ip = a.attrs["NetworkSettings"]["IPAddress"]
        out = run_out(net_env, "ip -4 -o addr", network_mode=f"container:{a.id}")
        assert ip in out
        out = run_out(net_env, "ip -o link", network_mode="none")
        assert "eth0" not in out
        out = run_out(net_env, "ip -o link", network_mode="host")
        assert net_env.daemon.bridge in out
    finally:
        a.remove(force=True)


def test_network_api(net_env: NetEnv) -> None:
    n = net_env.network("it-api", 5, labels={"team": "x"})
    assert n.attrs["IPAM"]["Config"][0]["Subnet"] == "172.31.165.0/24"
    assert [x.name for x in net_env.client.networks.list(filters={"label": "team=x"})] == ["it-api"]
    assert {x.name for x in net_env.client.networks.list(filters={"type": "custom"})} >= {"it-api"}
    with pytest.raises(docker.errors.APIError) as e:
        net_env.client.networks.create("it-api")
    assert e.value.status_code == 409
    with pytest.raises(docker.errors.NotFound):
        net_env.client.networks.get("no-such-net")
    pruned = net_env.client.networks.prune(filters={"label": "team=x"})
    assert pruned["NetworksDeleted"] == ["it-api"]
