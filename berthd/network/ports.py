"""Published ports: HostConfig.PortBindings / PublishAllPorts → netavark port mappings.

netavark programs DNAT rules and never binds the host port, so nothing would
stop two containers (or a host process) from claiming the same one. berthd
therefore checks each port the way dockerd's port allocator and userland proxy
fail, with their messages: a port another container publishes is "already
allocated"; a port a host process holds gives the proxy's "address already in
use". Random ports (``-P``, or an empty host port) come from the kernel's
ephemeral range by binding port 0.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any

from berthd.errdefs import InvalidParameter, System
from berthd.network.netavark import PortMapping
from berthd.network.userland_proxy import ipv6_listenable

__all__ = ["inspect_ports", "plan_ports", "ps_ports"]


def _split(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    try:
        return int(port), (proto or "tcp").lower()
    except ValueError:
        raise InvalidParameter(f"invalid port specification: {key!r}") from None


def _host_ports(spec: str) -> list[int]:
    """``""`` → [0] (random); ``"8080"``; ``"8000-8010"`` (any free one of them)."""
    if not spec:
        return [0]
    lo, _, hi = spec.partition("-")
    try:
        start, end = int(lo), int(hi or lo)
    except ValueError:
        raise InvalidParameter(f"invalid port specification: {spec!r}") from None
    if not (0 <= start <= end <= 65535):
        raise InvalidParameter(f"invalid port specification: {spec!r}")
    return list(range(start, end + 1))


def _bindable(ip: str, port: int, proto: str) -> int | None:
    """Bind and release; the port actually bound (port 0 → a random one) or None."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, kind) as s:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip or "0.0.0.0", port))
        except OSError:
            return None
        return int(s.getsockname()[1])


def plan_ports(
    host_config: Mapping[str, Any],
    exposed: Iterable[str],
    allocated: set[tuple[str, int, str]],
    endpoint_desc: str,
) -> list[PortMapping]:
    """Choose host ports for a container that starts; raises dockerd's errors."""
    bindings: dict[str, list[dict[str, Any]]] = {
        k: list(v or []) for k, v in (host_config.get("PortBindings") or {}).items()
    }
    if host_config.get("PublishAllPorts"):
        for key in exposed:
            bindings.setdefault(key, [])
    out: list[PortMapping] = []
    taken = set(allocated)
    v6 = ipv6_listenable()
    for key, items in sorted(bindings.items()):
        cport, proto = _split(key)
        for item in items or [{"HostIp": "", "HostPort": ""}]:
            host_ip = str(item.get("HostIp") or "")
            shown_ip = host_ip or "0.0.0.0"
            candidates = _host_ports(str(item.get("HostPort") or ""))
            chosen = 0
            for hp in candidates:
                if hp and (
                    (shown_ip, hp, proto) in taken
                    or ("0.0.0.0", hp, proto) in taken
                    or (host_ip == "" and any(t[1:] == (hp, proto) for t in taken))
                ):
                    if len(candidates) == 1:
                        raise System(
                            f"driver failed programming external connectivity on endpoint "
                            f"{endpoint_desc}: Bind for {shown_ip}:{hp} failed: port is "
                            "already allocated"
                        )
                    continue
                got = _bindable(host_ip, hp, proto)
                if got is None:
                    if len(candidates) == 1:
                        family = "tcp6" if ":" in host_ip else "tcp4"
                        where = f"[{shown_ip}]" if ":" in shown_ip else shown_ip  # Go's form
                        if proto == "udp":
                            family = family.replace("tcp", "udp")
                        raise System(
                            f"driver failed programming external connectivity on endpoint "
                            f"{endpoint_desc}: Error starting userland proxy: listen "
                            f"{family} {where}:{hp}: bind: address already in use"
                        )
                    continue
                chosen = got
                break
            if not chosen:
                raise System(
                    f"driver failed programming external connectivity on endpoint "
                    f"{endpoint_desc}: Bind for {shown_ip}:{candidates[0]}-{candidates[-1]} "
                    "failed: port is already allocated"
                )
            taken.add((shown_ip, chosen, proto))
            out.append(PortMapping(host_ip, cport, chosen, proto))
            if not host_ip and v6:
                # dockerd publishes a default binding on [::] as well (its userland proxy)
                taken.add(("::", chosen, proto))
                out.append(PortMapping("::", cport, chosen, proto))
    return out


def inspect_ports(exposed: Iterable[str], mappings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed or published port; None when unpublished."""
    ports: dict[str, Any] = {k if "/" in k else k + "/tcp": None for k in exposed}
    for m in mappings:
        key = f"{m['container_port']}/{m['protocol']}"
        entry = {"HostIp": m["host_ip"] or "0.0.0.0", "HostPort": str(m["host_port"])}
        ports[key] = [*(ports.get(key) or []), entry]
    return ports


def ps_ports(ports: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The ``Ports`` of ``GET /containers/json`` from NetworkSettings.Ports."""
    out: list[dict[str, Any]] = []
    for key, bindings in (ports or {}).items():
        cport, proto = _split(key)
        if not bindings:
            out.append({"PrivatePort": cport, "Type": proto})
            continue
        for b in bindings:
            out.append(
                {
                    "IP": b.get("HostIp") or "0.0.0.0",
                    "PrivatePort": cport,
                    "PublicPort": int(b.get("HostPort") or 0),
                    "Type": proto,
                }
            )
    return out
