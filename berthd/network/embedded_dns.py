"""dockerd's embedded DNS address, 127.0.0.11, inside a container's network namespace.

dockerd answers container DNS on 127.0.0.11 in every container on a user network, and
configurations rely on it (nginx's ``resolver 127.0.0.11``). aardvark-dns answers on the
network's gateway instead, so berthd redirects 127.0.0.11:53 (udp and tcp) to the
gateway with three NAT rules inside the container's own namespace (nothing is added on
the host): DNAT in OUTPUT, MASQUERADE of the loopback source towards the gateway, and
``route_localnet`` so the kernel lets that source leave through eth0. One ``nsenter``
and one ``iptables-restore``: about 10 ms per container start.
"""

from __future__ import annotations

import asyncio
import ipaddress

from berthd.errdefs import System

__all__ = ["EMBEDDED_DNS", "redirect_embedded_dns"]

EMBEDDED_DNS = "127.0.0.11"


def _rules(target: str, udp_port: int = 53) -> str:
    ipaddress.IPv4Address(target)  # never put anything else into the rules
    port = int(udp_port)
    # the chains hold these rules alone (the container's own namespace): flushed
    # first, so a second call (a link resolver added by network connect) re-points
    return (
        "*nat\n"
        "-F OUTPUT\n"
        "-F POSTROUTING\n"
        f"-A OUTPUT -d {EMBEDDED_DNS}/32 -p udp --dport 53 -j DNAT --to-destination {target}:{port}\n"
        f"-A OUTPUT -d {EMBEDDED_DNS}/32 -p tcp --dport 53 -j DNAT --to-destination {target}:53\n"
        f"-A POSTROUTING -s 127.0.0.0/8 -d {target}/32 -j MASQUERADE\n"
        "COMMIT\n"
    )


async def redirect_embedded_dns(netns: str, target: str, udp_port: int = 53) -> None:
    """Make 127.0.0.11:53 in the namespace at ``netns`` reach ``target``:53 (UDP: at
    ``udp_port``, where a container's link resolver listens)."""
    proc = await asyncio.create_subprocess_exec(
        "nsenter",
        f"--net={netns}",
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && exec iptables-restore --noflush",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate(_rules(target, udp_port).encode())
    if proc.returncode != 0:
        raise System(f"embedded DNS redirect: {err.decode(errors='replace').strip()}")
