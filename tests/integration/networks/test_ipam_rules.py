"""dockerd's IPAM rules for ``network create`` (moby v26: api/types/network/ipam.go,
libnetwork/ipam, the bridge driver's conflict check), status and wording.

- bad IPAM config: 400 "invalid network config:" with every problem listed;
- a subnet without an ip-range overlapping another network's: 403 "Pool overlaps
  with other one on this address space"; with an ip-range the IPAM lets it through
  and the bridge driver refuses it: 403 "cannot create network … conflicts with
  network …: networks have overlapping IPv4";
- a subnet inside the default pools is fine (auto-allocation then skips it);
- an IPv6 config without EnableIPv6 is kept, not allocated (no clash, no check);
- with an ip-range and no gateway, the gateway is the range's first address;
- ``--ip``/``--ip6`` need a subnet the client configured.
"""

from __future__ import annotations

import docker
import pytest

from tests.integration.networks.conftest import NetEnv, cli

pytestmark = pytest.mark.integration

BB = "busybox:latest"


def _create(env: NetEnv, name: str, *pools: dict[str, str], **kw: object) -> str:
    ipam = {"Driver": "default", "Config": list(pools)}
    nid = str(env.client.api.create_network(name, ipam=ipam, **kw)["Id"])
    env.bridges.append("br-" + nid[:12])
    return nid


def _error(env: NetEnv, *pools: dict[str, str], **kw: object) -> docker.errors.APIError:
    with pytest.raises(docker.errors.APIError) as e:
        _create(env, "ir-bad", *pools, **kw)
    return e.value


def test_ipam_validation_messages(net_env: NetEnv) -> None:
    sub = net_env.subnet(50)  # 172.31.210.0/24
    cases = [
        (
            {"Subnet": sub, "Gateway": "10.9.9.1"},
            f"invalid network config:\ninvalid gateway 10.9.9.1: parent subnet {sub} "
            "doesn't contain this address",
        ),
        (
            {"Subnet": sub, "IPRange": "172.31.211.0/25"},
            f"invalid network config:\ninvalid ip-range 172.31.211.0/25: parent subnet {sub} "
            "doesn't contain ip-range",
        ),
        (
            {"Subnet": "300.1.1.0/24"},
            "invalid network config:\ninvalid subnet 300.1.1.0/24: invalid CIDR block notation",
        ),
        (
            {"Subnet": "172.31.210.5/24"},
            f"invalid network config:\ninvalid subnet 172.31.210.5/24: it should be {sub}",
        ),
        (
            {"Subnet": sub, "IPRange": "fd00::/64"},
            "invalid network config:\ninvalid ip-range fd00::/64: parent subnet is an IPv4 block",
        ),
        (
            {"Subnet": sub, "Gateway": "fd00::1", "IPRange": "172.31.210.0/16"},
            "invalid network config:\n"
            f"* invalid ip-range 172.31.210.0/16: CIDR block is bigger than its parent subnet {sub}\n"
            "* invalid ip-range 172.31.210.0/16: it should be 172.31.0.0/16\n"
            "* invalid gateway fd00::1: parent subnet is an IPv4 block",
        ),
        (
            {"Subnet": sub, "AuxiliaryAddresses": {"host1": "172.31.99.9"}},
            f"invalid network config:\ninvalid auxiliary address host1: parent subnet {sub} "
            "doesn't contain this address",
        ),
    ]
    for pool, message in cases:
        err = _error(net_env, pool)
        assert err.status_code == 400, (pool, err)
        assert err.explanation == message, (pool, err.explanation)
    assert not [n for n in net_env.client.networks.list() if n.name == "ir-bad"]


def test_overlaps_and_ranges(net_env: NetEnv) -> None:
    sub = net_env.subnet(51)  # 172.31.211.0/24
    first = _create(net_env, "ir-a", {"Subnet": sub})
    try:
        # the same subnet, or one inside it, without a range: the IPAM refuses
        for pool in ({"Subnet": sub}, {"Subnet": "172.31.211.128/25"}):
            err = _error(net_env, pool)
            assert err.status_code == 403
            assert err.explanation == "Pool overlaps with other one on this address space"
        # with a range the IPAM lets it through: the bridge driver refuses it
        err = _error(net_env, {"Subnet": sub, "IPRange": "172.31.211.128/25"})
        assert err.status_code == 403
        text = str(err.explanation)
        assert text.startswith("cannot create network ") and text.endswith(
            f"conflicts with network {first} (br-{first[:12]}): networks have overlapping IPv4"
        ), text
        # an IPv6 config without EnableIPv6: kept and shown, never allocated from
        v6 = {"Subnet": "fd00:beef:1::/64"}
        b = _create(net_env, "ir-b", {"Subnet": net_env.subnet(52)}, v6)
        c = _create(net_env, "ir-c", {"Subnet": net_env.subnet(53)}, v6)
        for nid in (b, c):
            attrs = net_env.client.api.inspect_network(nid)
            assert attrs["EnableIPv6"] is False
            assert attrs["IPAM"]["Config"][1] == v6
            net_env.client.api.remove_network(nid)
    finally:
        net_env.client.api.remove_network(first)

    # a subnet in the daemon's default pools is fine; allocation then goes round it
    pool0 = "172.31.128.0/24"  # the test daemon's first default subnet
    if not any(
        (n.attrs["IPAM"]["Config"] or [{}])[0].get("Subnet") == pool0
        for n in net_env.client.networks.list()
    ):
        net_env.subnets.append(pool0)
        d = _create(net_env, "ir-d", {"Subnet": pool0})
        e = net_env.client.api.create_network("ir-e")["Id"]
        net_env.bridges.append("br-" + e[:12])
        auto = net_env.client.api.inspect_network(e)["IPAM"]["Config"][0]
        assert auto["Subnet"] != pool0 and auto["Gateway"]  # its own choice is shown
        net_env.client.api.remove_network(e)
        net_env.client.api.remove_network(d)


def test_range_gateway_and_aux_addresses(net_env: NetEnv) -> None:
    sub = net_env.subnet(54)  # 172.31.214.0/24
    pool = {
        "Subnet": sub,
        "IPRange": "172.31.214.128/25",
        "AuxiliaryAddresses": {"router": "172.31.214.129"},
    }
    nid = _create(net_env, "ir-r", pool)
    try:
        cfg = net_env.client.api.inspect_network(nid)["IPAM"]["Config"][0]
        assert cfg == pool  # no Gateway: dockerd shows only one the client gave
        out = net_env.client.containers.run(
            BB, ["sh", "-c", "ip route; ip -4 -o addr show eth0"], remove=True, network="ir-r"
        ).decode()
        # libnetwork's gateway: the range's first free address; the aux one is skipped
        assert "default via 172.31.214.128 " in out, out
        assert "inet 172.31.214.130/24" in out, out
    finally:
        net_env.client.api.remove_network(nid)


def test_static_address_needs_a_configured_subnet(net_env: NetEnv) -> None:
    nid = str(net_env.client.api.create_network("ir-auto")["Id"])
    net_env.bridges.append("br-" + nid[:12])
    try:
        subnet = net_env.client.api.inspect_network(nid)["IPAM"]["Config"][0]["Subnet"]
        net_env.subnets.append(subnet)
        ip = subnet.rsplit(".", 1)[0] + ".9"
        out = cli(net_env, "run", "--rm", "--network", "ir-auto", "--ip", ip, BB, "true")
        assert out.returncode != 0
        assert (
            "invalid endpoint settings:\nuser specified IP address is supported only when "
            "connecting to networks with user configured subnets"
        ) in out.stderr, out.stderr
        out = cli(net_env, "run", "--rm", "--network", "ir-auto", "--ip6", "fd00::9", BB, "true")
        assert "user specified IP address is supported only" in out.stderr, out.stderr
    finally:
        net_env.client.api.remove_network(nid)
