"""An endpoint's ``IPAMConfig`` (``--ip``, ``--ip6``, ``--link-local-ip``) checked as
dockerd checks it at create and connect: each address must parse as its family and
fall in the network's subnet of that family, all problems reported together under
"invalid endpoint settings:" (400)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from berthd import errdefs
from berthd.network import Network

__all__ = ["check_endpoint_ipam"]


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if addr.is_unspecified else addr


def check_endpoint_ipam(net: Network, ipam: Mapping[str, Any]) -> None:
    errs: list[str] = []
    v4 = str(ipam.get("IPv4Address") or "")
    v6 = str(ipam.get("IPv6Address") or "")
    a4 = _parse(v4) if v4 else None
    a6 = _parse(v6) if v6 else None
    if v4 and (a4 is None or a4.version != 4):
        errs.append(f"invalid IPv4 address: {v4}")
    if v6 and (a6 is None or a6.version != 6):
        errs.append(f"invalid IPv6 address: {v6}")
    for addr in ipam.get("LinkLocalIPs") or []:
        if _parse(str(addr)) is None:
            errs.append(f"invalid link-local IP address: {addr}")
    # dockerd: a static address needs a subnet the client configured (IPv6 ones always
    # are), and must be in it
    for addr, text, version, subnet, configured in (
        (a4, v4, 4, net.subnet, net.user_subnet),
        (a6, v6, 6, net.subnet6, net.ipv6),
    ):
        if addr is None or addr.version != version or net.default:
            continue
        if not configured:
            errs.append(
                "user specified IP address is supported only when connecting to networks "
                "with user configured subnets"
            )
        elif addr not in ipaddress.ip_network(subnet):
            errs.append(f"no configured subnet or ip-range contain the IP address {text}")
    if len(errs) == 1:
        raise errdefs.InvalidParameter(f"invalid endpoint settings:\n{errs[0]}")
    if errs:
        raise errdefs.InvalidParameter("invalid endpoint settings:\n* " + "\n* ".join(errs))
