"""Parsing of ``-H``/``hosts`` values, as dockerd's ``opts.ParseHost``.

``unix://PATH`` (``unix://`` alone is the default socket), ``tcp://HOST:PORT``
(missing host → 127.0.0.1, missing port → 2375, or 2376 with TLS; a bare
``HOST:PORT`` means tcp), and ``fd://`` / ``fd://N`` for systemd socket
activation.
"""

from __future__ import annotations

from dataclasses import dataclass

from berthd.errdefs import InvalidParameter

__all__ = ["DEFAULT_UNIX_SOCKET", "Host", "parse_host"]

DEFAULT_UNIX_SOCKET = "/run/berthd.sock"
DEFAULT_TCP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 2375
DEFAULT_TLS_PORT = 2376


@dataclass(frozen=True)
class Host:
    proto: str  # unix | tcp | fd
    addr: str  # socket path, "host:port", or the fd spec after fd://

    def __str__(self) -> str:
        return f"{self.proto}://{self.addr}"

    @property
    def tcp_host(self) -> str:
        host, _, _ = self.addr.rpartition(":")
        return host.strip("[]")

    @property
    def tcp_port(self) -> int:
        return int(self.addr.rpartition(":")[2])


def _bad(value: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"invalid bind address ({value}): {why}")


def _parse_tcp(value: str, addr: str, tls: bool) -> Host:
    addr, _, path = addr.partition("/")
    if path:
        raise _bad(value, "should not contain a path element")
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise _bad(value, "missing ']' in address")
        host, rest = addr[1:end], addr[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _bad(value, "invalid address")
        port_s = rest[1:]
    elif addr.count(":") > 1:
        raise _bad(value, "too many colons in address")
    else:
        host, _, port_s = addr.partition(":")
    host = host or DEFAULT_TCP_HOST
    if port_s:
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise _bad(value, f'invalid port "{port_s}"')
        port = int(port_s)
    else:
        port = DEFAULT_TLS_PORT if tls else DEFAULT_HTTP_PORT
    shown = f"[{host}]" if ":" in host else host
    return Host("tcp", f"{shown}:{port}")


def parse_host(value: str, tls: bool = False) -> Host:
    """Normalise one ``-H`` value, raising dockerd's error for a bad one."""
    value = value.strip()
    if not value:
        return Host("unix", DEFAULT_UNIX_SOCKET)
    proto, sep, addr = value.partition("://")
    if not sep:
        proto, addr = "tcp", value
    if proto == "unix":
        return Host("unix", addr or DEFAULT_UNIX_SOCKET)
    if proto == "tcp":
        return _parse_tcp(value, addr, tls)
    if proto == "fd":
        if addr and not addr.isdigit():
            raise _bad(value, "fd:// takes no value or a file descriptor number")
        return Host("fd", addr)
    raise _bad(value, f"unsupported proto '{proto}'")
