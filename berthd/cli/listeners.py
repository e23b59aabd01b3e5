"""One listening socket per ``-H`` host, and the TLS context for tcp ones.

unix sockets are created mode 0660, owned by root and the ``--group`` group
(a missing default group is only a warning, as in dockerd); ``fd://`` takes
sockets passed by systemd socket activation (``LISTEN_PID``/``LISTEN_FDS``,
starting at fd 3). TLS applies to tcp listeners only.
"""

from __future__ import annotations

import grp
import logging
import os
import socket
import ssl
import stat
from dataclasses import dataclass

from berthd.config import DaemonConfig, Host, parse_host
from berthd.errdefs import InvalidParameter, System

__all__ = ["Listener", "listen_backlog", "make_listeners", "make_tls_context"]

log = logging.getLogger("berthd")

SD_LISTEN_FDS_START = 3
# the kernel's limit when /proc does not say (SOMAXCONN since Linux 5.4)
_DEFAULT_BACKLOG = 4096


def listen_backlog() -> int:
    """The system's maximum listen backlog, as Go's net package (and so dockerd) uses:
    ``/proc/sys/net/core/somaxconn``. A backlog of 128 (aiohttp's and Python's
    default) refuses the 129th client while the daemon is busy accepting."""
    try:
        with open("/proc/sys/net/core/somaxconn", encoding="ascii") as f:
            value = int(f.read().strip())
    except (OSError, ValueError):
        return _DEFAULT_BACKLOG
    return max(1, min(value, 65535))  # the kernel takes 16 bits on older releases


@dataclass
class Listener:
    host: Host
    sock: socket.socket
    tls: bool


def make_tls_context(cfg: DaemonConfig) -> ssl.SSLContext:
    cert = os.path.expanduser(cfg.tlscert)
    key = os.path.expanduser(cfg.tlskey)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise InvalidParameter(f"Could not load X509 key pair ({cert}, {key}): {e}") from None
    if cfg.tlsverify:
        ca = os.path.expanduser(cfg.tlscacert)
        try:
            ctx.load_verify_locations(ca)
        except (OSError, ssl.SSLError) as e:
            raise InvalidParameter(f"Could not read CA certificate {ca!r}: {e}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _socket_gid(group: str) -> int | None:
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    if group.isdigit():
        return int(group)
    if group == "docker":
        log.warning("could not change group of the API socket to %s: group not found", group)
        return None
    raise InvalidParameter(f"can't create unix socket: group {group} not found")


def _unix_listener(path: str, group: str) -> socket.socket:
    os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise InvalidParameter(f"can't create unix socket {path}: a non-socket file is there")
        os.unlink(path)
    gid = _socket_gid(group)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777)
    try:
        sock.bind(path)
    except OSError as e:
        sock.close()
        raise System(f"can't create unix socket {path}: {e.strerror}") from None
    finally:
        os.umask(old)
    os.chown(path, 0, gid if gid is not None else 0)
    os.chmod(path, 0o660)
    sock.listen(listen_backlog())
    return sock


def _tcp_listener(host: Host) -> socket.socket:
    addr = host.tcp_host
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((addr, host.tcp_port))
    except OSError as e:
        sock.close()
        raise System(f"listen tcp {host.addr}: bind: {e.strerror}") from None
    sock.listen(listen_backlog())
    return sock


def _activated_fds() -> list[int]:
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))


def _fd_listeners(host: Host, fds: list[int]) -> list[socket.socket]:
    if not fds:
        raise InvalidParameter(
            "no sockets found via socket activation: make sure the service was started by systemd"
        )
    if host.addr:
        wanted = int(host.addr)
        if wanted not in fds:
            raise InvalidParameter(
                f"too few socket activated files passed in by systemd (fd {wanted})"
            )
        fds = [wanted]
    socks = []
    for fd in fds:
        os.set_inheritable(fd, False)
        socks.append(socket.socket(fileno=fd))
    return socks


def make_listeners(cfg: DaemonConfig, default_socket: str) -> list[Listener]:
    """Open every listener, or none: a failure closes what was opened."""
    hosts = [parse_host(h, cfg.tls_enabled) for h in cfg.hosts] or [
        parse_host("unix://" + default_socket)
    ]
    out: list[Listener] = []
    activated = _activated_fds()
    try:
        for host in hosts:
            if host.proto == "unix":
                out.append(Listener(host, _unix_listener(host.addr, cfg.group), False))
            elif host.proto == "tcp":
                if not cfg.tlsverify:
                    log.warning(
                        "[!] DON'T BIND ON ANY IP ADDRESS WITHOUT setting --tlsverify IF YOU "
                        "DON'T KNOW WHAT YOU'RE DOING [!]"
                    )
                out.append(Listener(host, _tcp_listener(host), cfg.tls_enabled))
            else:
                for s in _fd_listeners(host, activated):
                    tls = cfg.tls_enabled and s.family in (socket.AF_INET, socket.AF_INET6)
                    out.append(Listener(host, s, tls))
    except BaseException:
        for lst in out:
            lst.sock.close()
        raise
    return out
