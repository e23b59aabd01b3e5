"""Keep a bridge's MAC address fixed once netavark has made it.

A Linux bridge whose address was never set takes the lowest MAC of its ports, so it
changes whenever a container's veth joins or leaves. The containers keep the gateway's
old MAC in their neighbour caches (REACHABLE for a while), and what they send to the
gateway — DNS to aardvark or to a link resolver, traffic to the host — goes to a MAC
that is no longer the bridge's and is lost until the entry expires. libnetwork sets a
bridge's MAC when it creates it; netavark 1.4 does not, so berthd pins the address
the bridge has after netavark's first set-up (``addr_assign_type`` becomes 3, "set",
and the kernel stops following the ports).
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["pin_bridge_mac"]

log = logging.getLogger("berthd.network")

_NET_ADDR_SET = "3"


def _read(bridge: str, name: str) -> str:
    with open(f"/sys/class/net/{bridge}/{name}") as f:
        return f.read().strip()


async def pin_bridge_mac(bridge: str) -> None:
    """Set ``bridge``'s address to the one it has now, unless it was set already."""
    try:
        if _read(bridge, "addr_assign_type") == _NET_ADDR_SET:
            return
        mac = _read(bridge, "address")
    except OSError:
        return  # not a device of this host (yet): nothing to pin
    proc = await asyncio.create_subprocess_exec(
        "ip", "link", "set", "dev", bridge, "address", mac,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        log.warning("could not pin the MAC of bridge %s: %s", bridge, err.decode().strip())
