"""Swarm init/join request checks, as moby's ``daemon/cluster`` makes them.

Pure checks of what a client sent (addresses, spec name, address pools, data
path port), shared by the inactive cluster and any real one: each raises
InvalidParameter with dockerd's wording. An address may name a network
interface (``eth0``) instead of an IP, as in dockerd.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Mapping
from typing import Any

from berthd.errdefs import InvalidParameter

__all__ = ["validate_init_request", "validate_join_request"]

DEFAULT_LISTEN_ADDR = "0.0.0.0:2377"

_BAD_LISTEN = (
    "listen address must be an IP address or network interface (with optional port number)"
)
_BAD_ADVERTISE = (
    "advertise address must be a non-zero IP address or network interface "
    "(with optional port number)"
)
_BAD_DATA_PATH = (
    "data path address must be a non-zero IP address or network interface (without a port number)"
)
_SIOCGIFADDR = 0x8915


class _BadIdentifier(Exception):
    """Neither an interface name nor a usable IP (moby's errBadNetworkIdentifier)."""


def _split_host_port(addr: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, enough for swarm addresses; ValueError when it fails."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0 or not addr[end + 1 :].startswith(":"):
            raise ValueError(addr)
        return addr[1:end], addr[end + 2 :]
    host, sep, port = addr.rpartition(":")
    if not sep or ":" in host:
        raise ValueError(addr)
    return host, port


def _normalize_addr(addr: str) -> str:
    """moby's validateAddr: ``opts.ParseTCPAddr`` against 0.0.0.0:2377, or as given."""
    if addr == "":
        raise InvalidParameter("invalid empty address")
    rest = addr
    if "://" in rest:
        proto, _, rest = rest.partition("://")
        if proto != "tcp":
            return addr
    if "/" in rest:
        return addr
    try:
        host, port = _split_host_port(rest if ":" in rest else rest + ":")
    except ValueError:
        return addr
    if port and (not port.isdigit() or int(port) > 65535):
        return addr
    host = host or "0.0.0.0"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port or '2377'}"


def _interface_addrs(name: str) -> list[str]:
    """The IPv4 and IPv6 addresses of interface ``name``; KeyError if there is none such."""
    if name not in {n for _, n in socket.if_nameindex()}:
        raise KeyError(name)
    out: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            out.append(socket.inet_ntoa(raw[20:24]))
        except OSError:
            pass  # no IPv4 address
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if len(fields) == 6 and fields[5] == name:
                    out.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    except OSError:
        pass
    return out


def _resolve_ip(value: str, unspecified_ok: bool) -> str:
    """moby's resolveInputIPAddr: an interface's only address, else a literal IP."""
    try:
        addrs = _interface_addrs(value)
    except KeyError:
        pass
    else:
        v4 = [a for a in addrs if ":" not in a]
        v6 = [a for a in addrs if ":" in a]
        for family, found in (("IPv4", v4), ("IPv6", v6)):
            if len(found) > 1:
                raise InvalidParameter(
                    f"interface {value} has more than one {family} address "
                    f"({found[0]} and {found[1]})"
                )
        if not addrs:
            raise InvalidParameter(f"interface {value} has no usable IPv4 or IPv6 address")
        return (v4 or v6)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise _BadIdentifier from None
    if ip.is_unspecified and not unspecified_ok:
        raise _BadIdentifier
    return str(ip)


def _resolve_listen(addr: str) -> None:
    try:
        host, _ = _split_host_port(addr)
    except ValueError:
        raise InvalidParameter(f"could not parse listen address {addr}") from None
    try:
        _resolve_ip(host, unspecified_ok=True)
    except _BadIdentifier:
        raise InvalidParameter(_BAD_LISTEN) from None


def _check_advertise(addr: str) -> None:
    try:
        host, _ = _split_host_port(addr)
    except ValueError:
        host = addr
    try:
        _resolve_ip(host, unspecified_ok=False)
    except _BadIdentifier:
        raise InvalidParameter(_BAD_ADVERTISE) from None


def _check_data_path(addr: str) -> None:
    if addr:
        try:
            _resolve_ip(addr, unspecified_ok=False)
        except _BadIdentifier:
            raise InvalidParameter(_BAD_DATA_PATH) from None


def _str(req: Mapping[str, Any], key: str) -> str:
    return str(req.get(key) or "")


def _listen_addr(req: dict[str, Any]) -> None:
    raw = _str(req, "ListenAddr")
    try:
        req["ListenAddr"] = _normalize_addr(raw)
    except InvalidParameter as e:
        raise InvalidParameter(f'invalid ListenAddr "{raw}": {e}') from None


def _check_pools(pools: list[str] | None, size: int) -> None:
    if pools is None:
        return
    size = size or 24
    if size > 29:
        raise InvalidParameter(f"subnet size is out of range: {size}")
    for raw in pools:
        pool = raw.strip()
        try:
            if "/" not in pool:
                raise ValueError(pool)
            net = ipaddress.ip_network(pool, strict=False)
        except ValueError:
            raise InvalidParameter(
                f"invalid base pool {pool}: invalid CIDR address: {pool}"
            ) from None
        if size < net.prefixlen:
            raise InvalidParameter(
                f'invalid CIDR: "{pool}". Subnet size is too small for pool: {size}'
            )


def validate_init_request(req: dict[str, Any]) -> None:
    """``POST /swarm/init``'s checks, in dockerd's order (the request is normalised in place)."""
    _listen_addr(req)
    name = _str(req.get("Spec") or {}, "Name")
    if name not in ("", "default"):
        raise InvalidParameter('swarm spec must be named "default"')
    _resolve_listen(req["ListenAddr"])
    advertise = _str(req, "AdvertiseAddr")
    if advertise:
        _check_advertise(advertise)
    _check_data_path(_str(req, "DataPathAddr"))
    _check_pools(req.get("DefaultAddrPool"), int(req.get("SubnetSize") or 0))
    data_port = int(req.get("DataPathPort") or 0)
    if data_port and not 1024 <= data_port <= 49151:
        raise InvalidParameter(
            f"Datapath port number is not in valid range (1024-49151) : {data_port}"
        )


def validate_join_request(req: dict[str, Any]) -> None:
    """``POST /swarm/join``'s checks, in dockerd's order."""
    _listen_addr(req)
    remotes = [str(r or "") for r in req.get("RemoteAddrs") or []]
    if not remotes:
        raise InvalidParameter("at least 1 RemoteAddr is required to join")
    for i, raw in enumerate(remotes):
        try:
            remotes[i] = _normalize_addr(raw)
        except InvalidParameter as e:
            raise InvalidParameter(f'invalid remoteAddr "{raw}": {e}') from None
    req["RemoteAddrs"] = remotes
    _resolve_listen(req["ListenAddr"])
    _check_data_path(_str(req, "DataPathAddr"))
