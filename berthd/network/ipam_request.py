"""A new network's IPAM request checked and turned into pools, with dockerd's rules.

dockerd (v26, the same in 20.10) does it in three steps, and so does berthd:

1. ``ValidateIPAM`` (400): each ``IPAM.Config`` entry's subnet, ip-range, gateway and
   auxiliary addresses must parse and fit, every problem listed at once under
   "invalid network config:". IPv6 entries are only checked when IPv6 is enabled;
   without it they are kept (inspect shows them) but nothing is allocated from them.
2. The IPAM pools (403 "Pool overlaps with other one on this address space"): a
   subnet without an ip-range may not overlap any network's pool; with an ip-range
   only the very same subnet *and* range is refused. A subnet left out comes from the
   default pools (IPv6 has none: 404, as dockerd).
3. The bridge driver (403 "cannot create network …: conflicts with network …"): no
   two bridges with the same device name, nor whose subnets hold each other's
   gateways (so overlapping bridges are refused even when step 2 let them through).

Pure functions over the networks that exist; the service holds the lock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from berthd.errdefs import Forbidden, InvalidParameter, NotFound
from berthd.network.ipam import AddressPool, IPNetwork, choose_subnet
from berthd.network.model import Network

__all__ = ["IpamPlan", "PoolSpec", "check_bridge_conflicts", "plan_ipam", "validate_ipam"]


@dataclass(frozen=True)
class PoolSpec:
    """One ``IPAM.Config`` entry as the client sent it."""

    subnet: str = ""
    ip_range: str = ""
    gateway: str = ""
    aux: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, cfg: Mapping[str, Any]) -> PoolSpec:
        aux = cfg.get("AuxiliaryAddresses") or cfg.get("AuxAddress") or {}
        return cls(
            subnet=str(cfg.get("Subnet") or ""),
            ip_range=str(cfg.get("IPRange") or ""),
            gateway=str(cfg.get("Gateway") or ""),
            aux={str(k): str(v) for k, v in aux.items()},
        )


@dataclass
class IpamPlan:
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    aux: dict[str, str] = field(default_factory=dict)
    subnet6: str = ""
    gateway6: str = ""
    ip_range6: str = ""
    aux6: dict[str, str] = field(default_factory=dict)
    show_gateway: bool = True
    show_gateway6: bool = True
    user_subnet: bool = True


def _prefix(text: str) -> IPNetwork | None:
    """A CIDR as Go's netip.ParsePrefix takes it (host bits allowed, no bare address)."""
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _masked(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return True


def _family(version: int) -> str:
    return f"IPv{version}"


def _address_problem(address: str, subnet: IPNetwork) -> str:
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return "invalid address"
    if addr.version != subnet.version:
        return f"parent subnet is an {_family(subnet.version)} block"
    if addr not in subnet:
        return f"parent subnet {subnet} doesn't contain this address"
    return ""


def validate_ipam(specs: Iterable[PoolSpec], enable_ipv6: bool) -> None:
    """dockerd's ValidateIPAM: every problem of every entry, in one 400."""
    errs: list[str] = []
    for spec in specs:
        subnet = _prefix(spec.subnet)
        if subnet is None:
            errs.append(f"invalid subnet {spec.subnet}: invalid CIDR block notation")
            continue
        if subnet.version == 6 and not enable_ipv6:
            continue
        if not _masked(spec.subnet):
            errs.append(f"invalid subnet {spec.subnet}: it should be {subnet}")
        if spec.ip_range:
            errs += _range_problems(spec.ip_range, subnet)
        if spec.gateway and (why := _address_problem(spec.gateway, subnet)):
            errs.append(f"invalid gateway {spec.gateway}: {why}")
        for name, aux in sorted(spec.aux.items()):
            if why := _address_problem(aux, subnet):
                errs.append(f"invalid auxiliary address {name}: {why}")
    if len(errs) == 1:
        raise InvalidParameter(f"invalid network config:\n{errs[0]}")
    if errs:
        raise InvalidParameter("invalid network config:\n* " + "\n* ".join(errs))


def _range_problems(ip_range: str, subnet: IPNetwork) -> list[str]:
    rng = _prefix(ip_range)
    if rng is None:
        return [f"invalid ip-range {ip_range}: invalid CIDR block notation"]
    if rng.version != subnet.version:
        return [f"invalid ip-range {ip_range}: parent subnet is an {_family(subnet.version)} block"]
    errs = []
    if rng.prefixlen < subnet.prefixlen:
        errs.append(
            f"invalid ip-range {ip_range}: CIDR block is bigger than its parent subnet {subnet}"
        )
    if not _masked(ip_range):
        errs.append(f"invalid ip-range {ip_range}: it should be {rng}")
    if not subnet.overlaps(rng):
        errs.append(f"invalid ip-range {ip_range}: parent subnet {subnet} doesn't contain ip-range")
    return errs


def _pools(nets: Iterable[Network], version: int) -> list[tuple[IPNetwork, str]]:
    """The pools existing networks hold in one family: (subnet, ip-range)."""
    out: list[tuple[IPNetwork, str]] = []
    for n in nets:
        if version == 4 and n.subnet:
            out.append((ipaddress.ip_network(n.subnet), n.ip_range))
        elif version == 6 and n.enable_ipv6 and n.subnet6:
            out.append((ipaddress.ip_network(n.subnet6), n.ip_range6))
    return out


def _first_free(pool: IPNetwork, aux: Iterable[str]) -> str:
    """libnetwork's gateway when none is given: the first free address of the pool
    (of the ip-range when there is one: its first address, even ``.0``)."""
    held = set(aux)
    start = int(pool.network_address)
    for i in range(len(held) + 2):
        addr = str(ipaddress.ip_address(start + i) if pool.version == 4 else _v6(start + i))
        if addr not in held:
            return addr
    return str(pool.network_address)


def _v6(n: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(n)


def _one_family(
    specs: list[PoolSpec],
    version: int,
    existing: list[Network],
    pools: Iterable[AddressPool],
    routed: Iterable[IPNetwork] = (),
) -> tuple[str, str, str, dict[str, str]]:
    family = _family(version)
    if len(specs) > 1:
        raise InvalidParameter(f"berthd: only one {family} subnet per network")
    if not specs or not specs[0].subnet:
        if version == 6:
            raise NotFound(
                "could not find an available, non-overlapping IPv6 address pool among the "
                "defaults to assign to the network"
            )
        taken = [p for p, _ in _pools(existing, 4)] + list(routed)
        subnet: IPNetwork = choose_subnet(pools, taken)
        return str(subnet), str(next(iter(subnet.hosts()))), "", {}
    spec = specs[0]
    subnet = ipaddress.ip_network(spec.subnet, strict=False)
    rng = ipaddress.ip_network(spec.ip_range, strict=False) if spec.ip_range else None
    if rng is not None and rng.prefixlen < subnet.prefixlen:
        rng = None  # libnetwork takes the whole subnet then (pre-v24 networks' rule)
    for pool, pool_range in _pools(existing, version):
        same = pool == subnet and (pool_range or "") == (str(rng) if rng else "")
        if (rng is None and pool.overlaps(subnet)) or same:
            raise Forbidden("Pool overlaps with other one on this address space")
    if version == 4 and subnet.prefixlen > 30:
        # a bridge needs a gateway and at least one container address
        raise InvalidParameter(
            f"invalid network config: subnet {subnet} is too small (at most /30)"
        )
    if version == 6 and subnet.prefixlen > 126:
        raise InvalidParameter(
            f"invalid network config: subnet {subnet} is too small (at most /126)"
        )
    reserved = {str(subnet.network_address)}
    if version == 4:
        reserved.add(str(subnet.broadcast_address))
    gateway = spec.gateway
    if gateway:
        gateway = str(ipaddress.ip_address(gateway))
        if gateway in reserved:
            raise InvalidParameter(
                f"failed to allocate gateway ({spec.gateway}): Address already in use"
            )
    else:
        gateway = _first_free(rng or subnet, reserved | set(spec.aux.values()))
    # the subnet as the client wrote it (dockerd keeps the string: inspect shows it)
    shown = spec.subnet if _masked(spec.subnet) else str(subnet)
    return shown, gateway, str(rng) if rng else "", dict(spec.aux)


def plan_ipam(
    specs: list[PoolSpec],
    enable_ipv6: bool,
    existing: list[Network],
    pools: Iterable[AddressPool],
    routed: Iterable[IPNetwork] = (),
) -> IpamPlan:
    """Validated specs → the new network's pools; dockerd's errors for clashes.
    ``routed``: the host's networks (``host_routes``), which a default pool skips."""
    v4 = [s for s in specs if (p := _prefix(s.subnet)) is not None and p.version == 4]
    v6 = [s for s in specs if (p := _prefix(s.subnet)) is not None and p.version == 6]
    # dockerd's inspect shows a gateway it chose only for a subnet it chose too
    plan = IpamPlan(
        show_gateway=not any(s.subnet and not s.gateway for s in v4),
        show_gateway6=not any(s.subnet and not s.gateway for s in v6),
        user_subnet=any(s.subnet for s in v4),
    )
    plan.subnet, plan.gateway, plan.ip_range, plan.aux = _one_family(v4, 4, existing, pools, routed)
    if enable_ipv6:
        plan.subnet6, plan.gateway6, plan.ip_range6, plan.aux6 = _one_family(v6, 6, existing, pools)
    elif v6:
        # kept as dockerd keeps it (inspect shows it), not allocated from
        s = v6[0]
        plan.subnet6, plan.gateway6, plan.ip_range6 = s.subnet, s.gateway, s.ip_range
        plan.aux6 = dict(s.aux)
    return plan


def _holds(subnet: str, address: str) -> bool:
    if not subnet or not address:
        return False
    net = ipaddress.ip_network(subnet)
    addr = ipaddress.ip_address(address)
    return addr.version == net.version and addr in net


def check_bridge_conflicts(new: Network, existing: Iterable[Network]) -> None:
    """The bridge driver's own check (403), after the pools were granted."""
    for old in existing:
        if old.driver != "bridge":
            continue
        why = ""
        if old.bridge == new.bridge:
            why = "networks have same bridge name"
        elif _holds(old.subnet, new.gateway) or _holds(new.subnet, old.gateway):
            why = "networks have overlapping IPv4"
        elif (
            old.enable_ipv6
            and new.enable_ipv6
            and (_holds(old.subnet6, new.gateway6) or _holds(new.subnet6, old.gateway6))
        ):
            why = "networks have overlapping IPv6"
        if why:
            raise Forbidden(
                f"cannot create network {new.id} ({new.bridge}): conflicts with network "
                f"{old.id} ({old.bridge}): {why}"
            )
