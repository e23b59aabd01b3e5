"""A network's own iptables rules removed in one ``iptables-restore`` when its last
container leaves, before ``netavark teardown`` runs.

With iptables-nft every command that deletes something is a kernel transaction that
waits for an RCU grace period (~14 ms here, where an append costs ~1.5 ms); netavark
1.4 deletes a network's rules one command at a time when its last container goes
(the POSTROUTING jump, the two rules of its NAT chain, the two NETAVARK_FORWARD rules, the
chain: six such transactions, ~90 ms of a ~150 ms teardown). Removing
exactly those lines first, in one transaction per family, leaves netavark nothing to
delete: it checks each rule (``-C``, cheap) before deleting it. The emptied chain
itself is left for netavark to remove (one transaction): its teardown fails if the
chain is already gone.

Only the lines netavark made for this network's subnets are removed, taken from the
live ruleset (``iptables-save``), and only when the container is the last one on the
bridge: the bridge has one port, and the container's netns still holds the interface
whose peer is that port. Anything else (published ports, another container still on
the network, an interface already gone) is left to netavark as before. The caller
holds the host-wide netavark lock.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading

from berthd.lib.libc import LIBC
from berthd.network.model import Network

__all__ = ["last_on_bridge", "network_rule_lines", "remove_network_rules"]

_CLONE_NEWNET = 0x40000000


def _has_interface(netns: str, name: str) -> bool:
    """Blocking, in a thread of its own: does ``netns`` hold an interface ``name``?"""
    found: list[bool] = []

    def probe() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(own)
            return
        try:
            if LIBC.setns(target, _CLONE_NEWNET) != 0:
                return
            try:
                socket.if_nametoindex(name)
                found.append(True)
            except OSError:
                pass
            finally:
                # if this fails the thread ends anyway, and its namespace with it
                LIBC.setns(own, _CLONE_NEWNET)
        finally:
            os.close(target)
            os.close(own)

    t = threading.Thread(target=probe, name="netns-probe", daemon=True)
    t.start()
    t.join()
    return found == [True]


def _bridge_ports(bridge: str) -> list[str]:
    try:
        return os.listdir(f"/sys/class/net/{bridge}/brif")
    except OSError:
        return []


async def last_on_bridge(net: Network, netns: str, interface: str) -> bool:
    """True if the container's ``interface`` (in ``netns``) is the only port of the
    network's bridge."""
    if not net.bridge or len(_bridge_ports(net.bridge)) != 1:
        return False
    return await asyncio.to_thread(_has_interface, netns, interface)


def network_rule_lines(
    saved: str, subnet: str, drop_chain: bool = False
) -> tuple[list[str], list[str]]:
    """From ``iptables-save`` output: the ``-D`` lines that remove netavark's rules for
    ``subnet`` from the filter table and from the nat table (and, with ``drop_chain``,
    the ``-X`` of the network's NAT chain after them)."""
    filter_lines: list[str] = []
    nat_lines: list[str] = []
    table = ""
    rules: list[str] = []
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            rules.append(f"{table} {line}")
    forward = (
        f"-A NETAVARK_FORWARD -d {subnet} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A NETAVARK_FORWARD -s {subnet} -j ACCEPT",
    )
    chain = ""
    for r in rules:
        t, line = r.split(" ", 1)
        if t == "filter" and line in forward:
            filter_lines.append("-D" + line[2:])
        if t == "nat" and line.startswith(f"-A POSTROUTING -s {subnet} -j NETAVARK-"):
            parts = line.split()
            if len(parts) == 6 and not parts[5].startswith(("NETAVARK-HOSTPORT", "NETAVARK-DN")):
                chain = parts[5]
                nat_lines.append("-D" + line[2:])
    if chain:
        for r in rules:
            t, line = r.split(" ", 1)
            if t == "nat" and line.startswith(f"-A {chain} "):
                nat_lines.append("-D" + line[2:])
        if drop_chain:
            nat_lines.append(f"-X {chain}")
    return filter_lines, nat_lines


async def _run(argv: list[str], data: bytes | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate(data)
    return proc.returncode or 0, out.decode(errors="replace")


async def remove_network_rules(net: Network, drop_chain: bool = False) -> None:
    """One ``iptables-restore --noflush`` (and one for ip6tables on a v6 network)
    removing the network's own rules (``drop_chain``: its NAT chain too). A failure
    leaves them to netavark."""
    families = [("iptables", net.subnet)]
    if net.ipv6 and net.subnet6:
        families.append(("ip6tables", net.subnet6))
    for cmd, subnet in families:
        if not subnet:
            continue
        rc, saved = await _run([f"{cmd}-save"])
        if rc:
            continue
        filter_lines, nat_lines = network_rule_lines(saved, subnet, drop_chain)
        text = ""
        if filter_lines:
            text += "*filter\n" + "".join(f"{x}\n" for x in filter_lines) + "COMMIT\n"
        if nat_lines:
            text += "*nat\n" + "".join(f"{x}\n" for x in nat_lines) + "COMMIT\n"
        if text:
            await _run([f"{cmd}-restore", "--noflush", "-w"], text.encode())
