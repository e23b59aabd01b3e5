"""Removal of netavark's shared iptables chains once nothing uses them.

netavark removes a network's own rules with its last container but leaves its
shared chains (NETAVARK_FORWARD, NETAVARK-HOSTPORT-*) and the jumps to them, in
iptables and (for networks with IPv6) ip6tables alike.
berthd removes them when it stops with no endpoint left, but only if they hold
nothing beyond netavark's fixed rules, so another user of netavark (a second
daemon) is never cut off.
"""

from __future__ import annotations

import asyncio

from berthd.network.netavark import host_lock

__all__ = ["remove_empty_port_chains", "remove_idle_netavark_chains"]

_FIXED = {
    "NETAVARK-HOSTPORT-MASQ": 1,  # the mark → MASQUERADE rule
    "NETAVARK-HOSTPORT-SETMARK": 1,
    "NETAVARK-HOSTPORT-DNAT": 0,
}
_NAT_JUMPS = (
    ["PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "NETAVARK-HOSTPORT-DNAT"],
    ["OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "NETAVARK-HOSTPORT-DNAT"],
    ["POSTROUTING", "-j", "NETAVARK-HOSTPORT-MASQ"],
)
_FILTER_JUMP = [
    "FORWARD",
    "-m",
    "comment",
    "--comment",
    "netavark firewall plugin rules",
    "-j",
    "NETAVARK_FORWARD",
]


_COMMANDS = ("iptables", "ip6tables")  # netavark makes the same chains for IPv6 networks


async def _iptables(cmd: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        cmd,
        "-w",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def _rule_count(cmd: str, table: str, chain: str) -> int | None:
    rc, out = await _iptables(cmd, "-t", table, "-S", chain)
    if rc != 0:
        return None
    return sum(1 for line in out.splitlines() if line.startswith("-A "))


async def remove_idle_netavark_chains() -> None:
    async with host_lock():
        for cmd in _COMMANDS:
            await _remove_idle(cmd)


async def remove_empty_port_chains() -> None:
    async with host_lock():
        for cmd in _COMMANDS:
            await _remove_empty_port_chains(cmd)


async def _remove_idle(cmd: str) -> None:
    counts = {c: await _rule_count(cmd, "nat", c) for c in _FIXED}
    if all(n is not None and n <= _FIXED[c] for c, n in counts.items()):
        for jump in _NAT_JUMPS:
            await _iptables(cmd, "-t", "nat", "-D", *jump)
        for chain in _FIXED:
            await _iptables(cmd, "-t", "nat", "-F", chain)
        for chain in _FIXED:
            await _iptables(cmd, "-t", "nat", "-X", chain)
    if await _rule_count(cmd, "filter", "NETAVARK_FORWARD") == 0:
        await _iptables(cmd, "-D", *_FILTER_JUMP)
        await _iptables(cmd, "-X", "NETAVARK_FORWARD")
    await _remove_empty_port_chains(cmd)


async def _remove_empty_port_chains(cmd: str) -> None:
    """netavark leaves a network's port-forwarding chain (``NETAVARK-DN-<hash>``) empty
    when its last published port goes; an empty chain nothing jumps to is removed
    (``-X`` refuses a chain that is still referenced)."""
    rc, out = await _iptables(cmd, "-t", "nat", "-S")
    if rc != 0:
        return
    chains = [line.split()[1] for line in out.splitlines() if line.startswith("-N NETAVARK-DN-")]
    for chain in chains:
        if await _rule_count(cmd, "nat", chain) == 0:
            await _iptables(cmd, "-t", "nat", "-X", chain)
