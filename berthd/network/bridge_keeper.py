"""A placeholder port that keeps a network's bridge, and netavark's rules for it, for
as long as the network exists (as dockerd keeps ``docker0`` and its rules).

netavark 1.4 treats the last container leaving a bridge as the end of the network: it
deletes the network's NAT chain, its POSTROUTING jump and NETAVARK_FORWARD rules (a
kernel transaction each with iptables-nft, ~15 ms) and the bridge itself (~25 ms), and
the next container pays for making them again. For ``docker run --rm`` in a loop that
was most of the cost of the default bridge. netavark decides "last" by the bridge's
ports, so berthd adds one port of its own to each bridge after netavark made it: one
end of a veth pair (this kernel has no ``dummy`` driver), down, with the bridge's MTU
(a bridge takes the smallest MTU of its ports), named after the bridge (``bk`` + 13
hex digits of its name's SHA-256; the other end ``bq`` + the same). netavark
then never sees a last container; its per-container work (veth, addresses, published
ports, DNS entries) is unchanged.

The network's end is berthd's to do: ``release`` at ``network rm``, at shutdown (for
bridges no container uses any more; with live-restore a bridge with running containers
stays) — the keeper, the network's rules (one ``iptables-restore``, chain included) and
the bridge. A berthd killed with SIGKILL leaves the bridge as dockerd leaves docker0;
the next berthd uses it and releases it at its own shutdown. The bridge's MAC is
pinned before the keeper joins (bridge_mac.py), so the keeper's address is never
taken by the bridge.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os

from berthd.network.batch_teardown import remove_network_rules
from berthd.network.model import Network

__all__ = ["keep_bridge", "keeper_name", "release_bridge"]

log = logging.getLogger("berthd.network")


def keeper_name(bridge: str, end: str = "bk") -> str:
    return end + hashlib.sha256(bridge.encode()).hexdigest()[:13]


def _ports(bridge: str) -> list[str] | None:
    """The bridge's ports (None: no such bridge)."""
    try:
        return os.listdir(f"/sys/class/net/{bridge}/brif")
    except OSError:
        return None


async def _ip(*commands: str) -> tuple[int, str]:
    """One ``ip -batch -`` process for all ``commands``; its exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "-batch", "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate("".join(f"{c}\n" for c in commands).encode())
    return proc.returncode or 0, err.decode(errors="replace").strip()


def _keeper_commands(bridge: str) -> list[str]:
    """The ``ip`` commands that give ``bridge`` its keeper ([]: it has one, or there is
    no such bridge). sysfs reads only."""
    ports = _ports(bridge)
    name = keeper_name(bridge)
    if ports is None or name in ports:
        return []
    try:
        with open(f"/sys/class/net/{bridge}/mtu") as f:
            mtu = int(f.read().strip())
    except (OSError, ValueError):
        return []
    commands = []
    if os.path.exists(f"/sys/class/net/{name}"):
        commands.append(f"link del dev {name}")  # left over, not on this bridge
    peer = keeper_name(bridge, "bq")
    return [
        *commands,
        f"link add name {name} mtu {mtu} type veth peer name {peer} mtu {mtu}",
        f"link set dev {name} master {bridge}",
    ]


async def keep_bridge(bridge: str) -> None:
    """Give ``bridge`` its keeper port, unless it has one (or is not there): made once
    per bridge, by one process."""
    commands = _keeper_commands(bridge)
    if commands:
        rc, err = await _ip(*commands)
        if rc:
            log.warning("could not add a keeper port to bridge %s: %s", bridge, err)


async def release_bridge(net: Network) -> bool:
    """The network's end: if only the keeper is left on its bridge, remove the keeper
    (and its peer), the network's iptables rules and the bridge. True if it did. The
    caller holds the host-wide netavark lock."""
    bridge = net.bridge
    if not bridge or _ports(bridge) != [keeper_name(bridge)]:
        return False
    await remove_network_rules(net, drop_chain=True)
    rc, err = await _ip(f"link del dev {keeper_name(bridge)}", f"link del dev {bridge}")
    if rc:
        log.warning("could not remove bridge %s: %s", bridge, err)
    return rc == 0
