from __future__ import annotations

from pathlib import Path

import pytest

from berthd.errdefs import Forbidden, InvalidParameter, NotFound
from berthd.network import Network
from berthd.network.host_routes import _routes
from berthd.network.ipam import DEFAULT_POOLS
from berthd.network.ipam_request import PoolSpec, check_bridge_conflicts, plan_ipam, validate_ipam


def _net(nid: str, subnet: str, ip_range: str = "", gateway: str = "") -> Network:
    gw = gateway or subnet.rsplit(".", 1)[0] + ".1"
    return Network(nid * 64, nid, "bridge", "t", subnet, gw, ip_range, bridge="br-" + nid)


def test_validation_lists_every_problem() -> None:
    with pytest.raises(InvalidParameter) as e:
        validate_ipam([PoolSpec("10.0.0.0/24", "10.1.0.0/24", "10.2.0.1")], False)
    assert str(e.value) == (
        "invalid network config:\n"
        "* invalid ip-range 10.1.0.0/24: parent subnet 10.0.0.0/24 doesn't contain ip-range\n"
        "* invalid gateway 10.2.0.1: parent subnet 10.0.0.0/24 doesn't contain this address"
    )
    validate_ipam([PoolSpec("fd00::5/64", gateway="10.0.0.1")], False)  # v6 unchecked


def test_pools_overlap_rules() -> None:
    existing = [_net("a", "10.0.0.0/16")]
    with pytest.raises(Forbidden, match=r"^Pool overlaps"):
        plan_ipam([PoolSpec("10.0.5.0/24")], False, existing, DEFAULT_POOLS)
    # with a range the IPAM passes; the bridge check refuses
    plan = plan_ipam([PoolSpec("10.0.5.0/24", "10.0.5.0/25")], False, existing, DEFAULT_POOLS)
    assert plan.gateway == "10.0.5.1" and not plan.show_gateway
    new = _net("b", plan.subnet, plan.ip_range, plan.gateway)
    with pytest.raises(Forbidden, match=r"networks have overlapping IPv4$"):
        check_bridge_conflicts(new, existing)
    same = [_net("c", "10.9.0.0/24", "10.9.0.0/25")]
    with pytest.raises(Forbidden, match=r"^Pool overlaps"):
        plan_ipam([PoolSpec("10.9.0.0/24", "10.9.0.0/25")], False, same, DEFAULT_POOLS)


def test_range_gateway_and_ipv6_pools() -> None:
    plan = plan_ipam([PoolSpec("10.3.0.0/16", "10.3.7.0/24")], False, [], DEFAULT_POOLS)
    assert plan.gateway == "10.3.7.0"  # libnetwork: the range's first free address
    plan = plan_ipam([PoolSpec("fd00:1::/64")], True, [], DEFAULT_POOLS)
    assert plan.subnet == "172.17.0.0/16" and plan.gateway6 == "fd00:1::1"
    with pytest.raises(NotFound, match="IPv6 address pool"):
        plan_ipam([], True, [], DEFAULT_POOLS)


def test_default_pools_skip_host_routes(tmp_path: Path) -> None:
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    )
    routed = _routes(str(routes))
    assert [str(n) for n in routed] == ["172.17.0.0/16"]  # the default route is no conflict
    assert plan_ipam([], False, [], DEFAULT_POOLS, routed).subnet == "172.18.0.0/16"
    # a subnet the client names is taken as given
    assert (
        plan_ipam([PoolSpec("172.17.0.0/16")], False, [], DEFAULT_POOLS).subnet == "172.17.0.0/16"
    )
