from __future__ import annotations

import ipaddress

import pytest

from berthd.errdefs import InvalidParameter, NotFound, Unavailable
from berthd.network import allocate_address, choose_subnet, parse_pool

NET = ipaddress.IPv4Network("172.31.9.0/29")  # hosts .1-.6


def test_allocation_continues_after_the_last_address() -> None:
    assert allocate_address(NET, "172.31.9.1", "", "", set()) == "172.31.9.2"
    assert allocate_address(NET, "172.31.9.1", "", "172.31.9.2", set()) == "172.31.9.3"
    # a freed lower address is not reused before the range wraps round
    assert allocate_address(NET, "172.31.9.1", "", "172.31.9.3", {"172.31.9.2"}) == "172.31.9.4"
    assert allocate_address(NET, "172.31.9.1", "", "172.31.9.6", {"172.31.9.3"}) == "172.31.9.2"


def test_allocation_skips_taken_and_gateway_and_fails_when_full() -> None:
    taken = {f"172.31.9.{i}" for i in range(2, 6)}
    assert allocate_address(NET, "172.31.9.1", "", "", taken) == "172.31.9.6"
    with pytest.raises(Unavailable):
        allocate_address(NET, "172.31.9.1", "", "", taken | {"172.31.9.6"})


def test_ip_range_limits_allocation() -> None:
    net = ipaddress.IPv4Network("172.31.10.0/24")
    assert allocate_address(net, "172.31.10.1", "172.31.10.128/25", "", set()) == "172.31.10.128"


def test_choose_subnet_skips_overlaps() -> None:
    pools = [parse_pool("base=172.31.128.0/22,size=24")]
    used = [ipaddress.IPv4Network("172.31.128.0/24"), ipaddress.IPv4Network("172.31.129.0/25")]
    assert str(choose_subnet(pools, used)) == "172.31.130.0/24"
    with pytest.raises(NotFound):
        choose_subnet(pools, [ipaddress.IPv4Network("172.31.128.0/22")])


@pytest.mark.parametrize(
    "bad", ["172.31.0.0/16", "base=172.31.0.0/16", "base=x,size=24", "base=172.31.0.0/16,size=8"]
)
def test_parse_pool_refuses_bad_values(bad: str) -> None:
    with pytest.raises(InvalidParameter):
        parse_pool(bad)
