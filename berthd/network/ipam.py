"""IP address management: subnets from address pools, addresses in a subnet.

Like libnetwork's default IPAM, addresses are handed out *after* the last
one given (wrapping round at the end of the range), so an address freed by a
container that just stopped is not given to the next one at once; together
with the store's uniqueness constraint that means no address is ever held
twice. Pure functions: the store supplies what is taken.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from berthd.errdefs import InvalidParameter, NotFound, Unavailable

__all__ = ["DEFAULT_POOLS", "AddressPool", "allocate_address", "choose_subnet", "parse_pool"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AddressPool:
    base: ipaddress.IPv4Network
    size: int


# dockerd's defaults (libnetwork/ipamutils): 172.17-31/16, then 192.168/16 cut in /20s
DEFAULT_POOLS = (
    AddressPool(ipaddress.IPv4Network("172.17.0.0/16"), 16),
    AddressPool(ipaddress.IPv4Network("172.18.0.0/16"), 16),
    AddressPool(ipaddress.IPv4Network("172.19.0.0/16"), 16),
    AddressPool(ipaddress.IPv4Network("172.20.0.0/14"), 16),
    AddressPool(ipaddress.IPv4Network("172.24.0.0/14"), 16),
    AddressPool(ipaddress.IPv4Network("172.28.0.0/14"), 16),
    AddressPool(ipaddress.IPv4Network("192.168.0.0/16"), 20),
)


def parse_pool(text: str) -> AddressPool:
    """``base=172.31.0.0/16,size=24`` (dockerd's --default-address-pool syntax)."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep:
            raise InvalidParameter(f"invalid default address pool {text!r}")
        fields[k.strip()] = v.strip()
    try:
        base = ipaddress.IPv4Network(fields["base"], strict=False)
        size = int(fields["size"])
    except (KeyError, ValueError) as e:
        raise InvalidParameter(f"invalid default address pool {text!r}: {e}") from None
    if size < base.prefixlen or size > 30:
        raise InvalidParameter(f"invalid default address pool {text!r}: bad size {size}")
    return AddressPool(base, size)


def choose_subnet(pools: Iterable[AddressPool], used: Iterable[IPNetwork]) -> ipaddress.IPv4Network:
    """The first subnet of a pool that overlaps no network in ``used``."""
    taken = list(used)
    for pool in pools:
        for candidate in pool.base.subnets(new_prefix=pool.size):
            if not any(candidate.overlaps(t) for t in taken if t.version == 4):
                return candidate
    # dockerd's wording (20.10 and 26 alike), a 404
    raise NotFound(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network"
    )


def allocate_address(
    subnet: IPNetwork,
    gateway: str,
    ip_range: str,
    last_ip: str,
    taken: set[str],
) -> str:
    """The next free host address after ``last_ip`` in ``ip_range`` (or the subnet).

    IPv4 keeps the network and broadcast addresses back; IPv6 only the first
    (the subnet-router anycast address), as libnetwork's bitmap does."""
    pool = ipaddress.ip_network(ip_range) if ip_range else subnet
    first = int(pool.network_address)
    last = int(pool.broadcast_address)
    if subnet.version == 6:
        first = max(first, int(subnet.network_address) + 1)
    elif pool.prefixlen < 31:
        first = max(first, int(subnet.network_address) + 1)
        last = min(last, int(subnet.broadcast_address) - 1)
    count = last - first + 1
    family = f"IPv{subnet.version}"
    if count <= 0:
        raise Unavailable(
            f"no available {family} addresses on this network's address pools: {subnet}"
        )
    start = first
    if last_ip:
        prev = int(ipaddress.ip_address(last_ip))
        if first <= prev <= last:
            start = prev + 1
    # taken addresses are few: skipping them is bounded by their number, not the range's
    for i in range(min(count, len(taken) + 2)):
        n = first + (start - first + i) % count
        addr = str(ipaddress.IPv6Address(n) if subnet.version == 6 else ipaddress.IPv4Address(n))
        if addr != gateway and addr not in taken:
            return addr
    raise Unavailable(f"no available {family} addresses on this network's address pools: {subnet}")
