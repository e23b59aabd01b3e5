"""What the host already routes, which a default pool must not be cut into.

dockerd (libnetwork netutils.FindAvailableNetwork) skips a predefined subnet that
overlaps a route of the host's main IPv4 table (the default route aside) or one of
its nameservers; only for subnets it picks itself — a subnet the client names is
taken as given. Blocking (reads /proc): callers use a thread.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from berthd.lib.resolvconf import host_resolv_lines, nameserver

__all__ = ["host_networks"]


def _routes(path: str) -> list[ipaddress.IPv4Network]:
    out: list[ipaddress.IPv4Network] = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dst = socket.inet_ntoa(struct.pack("<I", int(fields[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<I", int(fields[7], 16)))
            net = ipaddress.IPv4Network(f"{dst}/{mask}", strict=False)
        except (ValueError, struct.error):
            continue
        if net.prefixlen:  # the default route overlaps everything: not a conflict
            out.append(net)
    return out


def host_networks(route_file: str = "/proc/net/route") -> list[ipaddress.IPv4Network]:
    """The host's routed IPv4 networks and nameservers (as /32s)."""
    out = _routes(route_file)
    for line in host_resolv_lines():
        ns = nameserver(line)
        if ns is None:
            continue
        try:
            out.append(ipaddress.IPv4Network(ns))
        except ValueError:
            continue  # an IPv6 nameserver
    return out
