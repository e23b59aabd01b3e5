"""IPv6 networks end to end, with the real docker CLI and SDK (ULA subnets of the
module's own; published ports on loopback only).

dockerd: ``--ipv6 --subnet fdXX::/64`` gives a network with an IPv4 pool from the
defaults and the IPv6 one (gateway: its first address); containers get
``GlobalIPv6Address``/``GlobalIPv6PrefixLen``/``IPv6Gateway``; ``--ip6`` on run and
connect picks the address, ``--link-local-ip`` is kept in IPAMConfig; the embedded
DNS answers AAAA; ``-p [::1]:P:80`` and the ``[::]`` half of a default ``-p P:80``
serve on IPv6 loopback. ``--ipv6`` without an IPv6 subnet: no default IPv6 pool (404).
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.request

import docker
import pytest

from tests.helpers.ports import free_port
from tests.integration.clients.conftest import fetch
from tests.integration.networks.conftest import NetEnv, cli

pytestmark = pytest.mark.integration

BB = "busybox:latest"
HTTPD = "echo hello-$HOSTNAME > /index.html; exec httpd -f -p 80 -h /"


def test_ipv6_network_addresses_dns_and_inspect(net_env: NetEnv) -> None:
    sub6 = net_env.subnet6()
    net6 = ipaddress.IPv6Network(sub6)
    gw6 = str(net6[1])
    # an IPv6 subnet alone: the IPv4 pool comes from the defaults
    out = cli(net_env, "network", "create", "--ipv6", "--subnet", sub6, "v6-a")
    assert out.returncode == 0, out.stderr
    net = net_env.client.networks.get("v6-a")
    net_env.bridges.append("br-" + net.id[:12])
    attrs = net.attrs
    assert attrs["EnableIPv6"] is True
    cfgs = attrs["IPAM"]["Config"]
    assert len(cfgs) == 2 and ipaddress.ip_network(cfgs[0]["Subnet"]).version == 4
    net_env.subnets.append(cfgs[0]["Subnet"])
    # dockerd shows no gateway it picked itself in a subnet the client gave
    assert cfgs[1] == {"Subnet": sub6}

    static6 = str(net6[0x50])
    out = cli(
        net_env, "run", "-d", "--name", "v6-web", "--network", "v6-a", "--ip6", static6,
        "--link-local-ip", "169.254.7.7", BB, "sleep", "60",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    web = net_env.client.containers.get("v6-web")
    try:
        es = web.attrs["NetworkSettings"]["Networks"]["v6-a"]
        assert es["GlobalIPv6Address"] == static6
        assert es["GlobalIPv6PrefixLen"] == 64
        assert es["IPv6Gateway"] == gw6
        assert es["IPAMConfig"]["IPv6Address"] == static6
        assert es["IPAMConfig"]["LinkLocalIPs"] == ["169.254.7.7"]
        _, text = web.exec_run(["ip", "-6", "-o", "addr", "show", "eth0"])
        assert f"{static6}/64" in text.decode()
        members = net_env.client.networks.get("v6-a").attrs["Containers"]
        assert members[web.id]["IPv6Address"] == f"{static6}/64"

        # the embedded DNS answers AAAA; traffic over IPv6 works
        probe = (
            "nslookup -type=AAAA v6-web; ping -6 -c1 -W2 v6-web >/dev/null && echo PING6-OK; "
            "ip -6 -o addr show eth0"
        )
        out = cli(net_env, "run", "--rm", "--network", "v6-a", BB, "sh", "-c", probe)
        assert out.returncode == 0, out.stderr
        assert static6 in out.stdout and "PING6-OK" in out.stdout
        # dynamic addresses follow the gateway, after the static one is skipped
        assert f"{net6[2]}/64" in out.stdout

        # a second container connected later with --ip6 (network connect)
        other = net_env.client.containers.run(BB, ["sleep", "60"], detach=True, name="v6-late")
        try:
            out = cli(net_env, "network", "connect", "--ip6", str(net6[0x60]), "v6-a", "v6-late")
            assert out.returncode == 0, out.stderr
            other.reload()
            es = other.attrs["NetworkSettings"]["Networks"]["v6-a"]
            assert es["GlobalIPv6Address"] == str(net6[0x60])
            _code, text = web.exec_run(["nslookup", "-type=AAAA", "v6-late"])
            assert str(net6[0x60]) in text.decode(), text
            # taken, and outside the subnet: dockerd's errors
            out = cli(net_env, "run", "--rm", "--network", "v6-a", "--ip6", static6, BB, "true")
            assert "Address already in use" in out.stderr
            out = cli(net_env, "run", "--rm", "--network", "v6-a", "--ip6", "fd00:1::5", BB, "true")
            assert "no configured subnet or ip-range contain the IP address fd00:1::5" in out.stderr
        finally:
            other.remove(force=True)
    finally:
        web.remove(force=True)
    net.remove()


def test_ipv6_with_ipv4_subnet_range_and_no_pool(net_env: NetEnv) -> None:
    sub6 = net_env.subnet6()
    net6 = ipaddress.IPv6Network(sub6)
    range6 = str(next(net6.subnets(new_prefix=80)))
    ipam = docker.types.IPAMConfig(
        pool_configs=[
            docker.types.IPAMPool(subnet=net_env.subnet(40)),
            docker.types.IPAMPool(subnet=sub6, iprange=range6),
        ]
    )
    net = net_env.client.networks.create("v6-b", ipam=ipam, enable_ipv6=True)
    net_env.bridges.append("br-" + net.id[:12])
    try:
        cfgs = net.attrs["IPAM"]["Config"]
        assert cfgs[0]["Subnet"] == "172.31.200.0/24" and cfgs[1]["IPRange"] == range6
        out = net_env.client.containers.run(
            BB, ["ip", "-o", "addr", "show", "eth0"], remove=True, network="v6-b"
        ).decode()
        assert "172.31.200." in out
        assert any(
            ipaddress.ip_address(w.split("/")[0]) in ipaddress.ip_network(range6)
            for w in out.split()
            if w.startswith("fd") and "/" in w
        ), out
    finally:
        net.remove()
    # --ipv6 without an IPv6 subnet: dockerd has no default IPv6 pool
    with pytest.raises(docker.errors.NotFound) as e:
        net_env.client.networks.create("v6-none", enable_ipv6=True)
    assert "non-overlapping IPv6 address pool among the defaults" in str(e.value)


def test_ipv6_published_ports_on_loopback(net_env: NetEnv) -> None:
    sub6 = net_env.subnet6()
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=sub6)])
    net = net_env.client.networks.create("v6-p", ipam=ipam, enable_ipv6=True)
    net_env.bridges.append("br-" + net.id[:12])
    net_env.subnets.append(net.attrs["IPAM"]["Config"][0]["Subnet"])
    p_default, p_lo6 = free_port(), free_port()
    c = net_env.client.containers.run(
        BB, ["sh", "-c", HTTPD], detach=True, network="v6-p",
        ports={"80/tcp": [p_default, ("::1", p_lo6)]},
    )  # fmt: skip
    # a container without IPv6 still answers on [::] (proxied to its IPv4 address)
    p4 = free_port()
    d = net_env.client.containers.run(BB, ["sh", "-c", HTTPD], detach=True, ports={"80/tcp": p4})
    try:
        want = f"hello-{c.id[:12]}\n".encode()
        assert fetch(f"http://[::1]:{p_lo6}/index.html") == want
        assert fetch(f"http://[::1]:{p_default}/index.html") == want
        assert fetch(f"http://127.0.0.1:{p_default}/index.html") == want
        c.reload()
        assert sorted(
            (b["HostIp"], b["HostPort"]) for b in c.attrs["NetworkSettings"]["Ports"]["80/tcp"]
        ) == sorted([("0.0.0.0", str(p_default)), ("::", str(p_default)), ("::1", str(p_lo6))])
        assert fetch(f"http://[::1]:{p4}/index.html") == f"hello-{d.id[:12]}\n".encode()
        ps = cli(net_env, "port", d.id, "80")
        assert f"[::]:{p4}" in ps.stdout, ps.stdout
    finally:
        c.remove(force=True)
        d.remove(force=True)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://[::1]:{p_lo6}/index.html", timeout=1)
    # a host process holds the port: the userland proxy's message, in Go's form
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(docker.errors.APIError) as e:
            net_env.client.containers.run(
                BB, ["true"], network="v6-p", ports={"80/tcp": ("::1", busy)}, remove=True
            )
        assert f"listen tcp6 [::1]:{busy}: bind: address already in use" in str(e.value)
    net.remove()
