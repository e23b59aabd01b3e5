"""/etc/hosts and /etc/resolv.conf once a container's addresses are known.

The container service writes placeholder files at create (it cannot know the
address then); they are bind-mounted files, so rewriting them in place at
start is what the container sees. dockerd's rules: the container's own
address and hostname in hosts; on networks with container DNS, the resolver
is the network's (aardvark-dns on the gateway); on the default bridge, the
--dns servers, else the daemon's ``dns``, else the host's resolvers without
loopback ones (unreachable from a netns); with --network host, the host's
files as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from berthd.container import Container
from berthd.daemon.containers.files import HOSTS_BASE

__all__ = ["copy_files", "write_host_mode_files", "write_hosts", "write_resolv"]


def _write_in_place(path: str, text: str) -> None:
    """Bind-mounted files must keep their inode: truncate and write, no rename."""
    with open(path, "w") as f:
        f.write(text)


def write_hosts(c: Container, ip: str, gateway: str, extra: Sequence[tuple[str, str]] = ()) -> None:
    hostname = str(c.config.get("Hostname") or c.id[:12])
    domain = str(c.config.get("Domainname") or "")
    names = f"{hostname}.{domain} {hostname}" if domain else hostname
    text = HOSTS_BASE
    for entry in c.host_config.get("ExtraHosts") or []:
        name, _, addr = str(entry).partition(":")
        if addr == "host-gateway":
            addr = gateway or "0.0.0.0"
        text += f"{addr}\t{name}\n"
    for addr, aliases in extra:
        text += f"{addr}\t{aliases}\n"
    if ip:
        text += f"{ip}\t{names}\n"
    if c.hosts_path:
        _write_in_place(c.hosts_path, text)


def write_resolv(c: Container, aardvark: str, daemon_dns: tuple[str, ...]) -> None:
    hc: dict[str, Any] = c.host_config
    dns = [str(d) for d in hc.get("Dns") or []]
    search = [str(s) for s in hc.get("DnsSearch") or []]
    options = [str(o) for o in hc.get("DnsOptions") or []]
    if aardvark:
        servers = [aardvark]
        if not any(o.startswith("ndots:") for o in options):
            options.insert(0, "ndots:0")  # dockerd's, with its internal resolver
    elif dns:
        servers = dns
    elif daemon_dns:
        servers = list(daemon_dns)
    else:
        return  # the file written at create (the host's, filtered) stands
    text = "".join(f"nameserver {s}\n" for s in servers)
    if search:
        text += "search " + " ".join(search) + "\n"
    if options:
        text += "options " + " ".join(options) + "\n"
    if c.resolv_conf_path:
        _write_in_place(c.resolv_conf_path, text)


def write_host_mode_files(c: Container) -> None:
    """--network host: the host's resolv.conf unfiltered (its resolvers are reachable)."""
    if c.resolv_conf_path and not (c.host_config.get("Dns") or c.host_config.get("DnsSearch")):
        try:
            with open("/etc/resolv.conf") as f:
                _write_in_place(c.resolv_conf_path, f.read())
        except OSError:
            pass


def copy_files(src: Container, dst: Container) -> None:
    """--network container:<x>: the same hosts and resolv.conf as the container joined."""
    for a, b in ((src.hosts_path, dst.hosts_path), (src.resolv_conf_path, dst.resolv_conf_path)):
        if a and b:
            try:
                with open(a) as f:
                    _write_in_place(b, f.read())
            except OSError:
                pass
