"""Keep ``[::1]`` connections to a published port away from netavark's IPv6 DNAT.

For a default binding (``-p P:80``) on a network with IPv6, netavark DNATs every
local IPv6 destination of port P to the container, ``::1`` included; but IPv6 cannot
route a packet from ``::1`` off the loopback device (no ``route_localnet``), so such a
connection would hang. dockerd leaves ``::1`` out of its DNAT (``! -d ::1``) and lets
its userland proxy answer there; berthd does the same with one RETURN rule per port at
the head of netavark's ``NETAVARK-HOSTPORT-DNAT`` chain, tagged with the container's
ID, removed at teardown (and for containers that are gone, at start-up).
"""

from __future__ import annotations

import asyncio
import shlex

from berthd.network.netavark import host_lock

__all__ = ["add_loopback_exclusions", "remove_loopback_exclusions"]

_CHAIN = "NETAVARK-HOSTPORT-DNAT"


def _tag(cid: str) -> str:
    return f"berthd-proxy-{cid[:32]}"


async def _ip6tables(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip6tables",
        "-w",
        "-t",
        "nat",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def add_loopback_exclusions(cid: str, ports: list[tuple[int, int, str]]) -> None:
    """``ports``: (first host port, count, protocol) of the default bindings."""
    if not ports:
        return
    async with host_lock():
        await _remove(cid)  # a daemon restarted under a running container adds them again
        for port, count, proto in ports:
            dport = str(port) if count == 1 else f"{port}:{port + count - 1}"
            await _ip6tables(
                "-I", _CHAIN, "1", "-d", "::1/128", "-p", proto, "-m", proto,
                "--dport", dport, "-m", "comment", "--comment", _tag(cid), "-j", "RETURN",
            )  # fmt: skip


async def remove_loopback_exclusions(cid: str) -> None:
    """Drop the rules of container ``cid`` (none is fine)."""
    async with host_lock():
        await _remove(cid)


async def _remove(cid: str) -> None:
    rc, out = await _ip6tables("-S", _CHAIN)
    if rc != 0:
        return
    for line in out.splitlines():
        if line.startswith("-A ") and _tag(cid) in line:
            await _ip6tables("-D", *shlex.split(line)[1:])
