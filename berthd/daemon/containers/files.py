"""Per-container files berthd writes: hostname, hosts, resolv.conf, and the paths.

``<data-root>/containers/<id>/`` holds the record, these files, the log and
conmon's exit/oom files (so they survive a reboot's empty /run);
``<exec-root>/containers/<id>/`` is the OCI bundle (config.json, conmon's
sockets and pid files).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from berthd.lib.atomicfile import write_atomic
from berthd.lib.resolvconf import host_resolv_lines, loopback_nameserver

__all__ = ["HOSTS_BASE", "ContainerPaths", "write_network_files"]

LOG_FILE = "container.log"

HOSTS_BASE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


@dataclass(frozen=True)
class ContainerPaths:
    data_root: str
    exec_root: str

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.data_root, "containers", cid)

    def bundle_dir(self, cid: str) -> str:
        return os.path.join(self.exec_root, "containers", cid)

    def safepath_dir(self, cid: str = "") -> str:
        """Where a start binds its volumes' subpaths (all containers' without ``cid``)."""
        top = os.path.join(self.exec_root, "safepath")
        return os.path.join(top, cid) if cid else top

    def log_path(self, cid: str) -> str:
        return os.path.join(self.container_dir(cid), LOG_FILE)


def _host_resolv_conf() -> str:
    """The host's resolv.conf without loopback resolvers (unreachable from a netns)."""
    lines = host_resolv_lines()
    if not lines:
        return ""
    return "\n".join(line for line in lines if not loopback_nameserver(line)) + "\n"


def write_network_files(
    directory: str,
    hostname: str,
    domainname: str,
    network_mode: str,
    extra_hosts: list[str],
    dns: list[str],
    dns_search: list[str],
    dns_options: list[str],
) -> tuple[str, str, str]:
    """Write hostname, hosts and resolv.conf; return their paths (blocking)."""
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    hostname_path = os.path.join(directory, "hostname")
    hosts_path = os.path.join(directory, "hosts")
    resolv_path = os.path.join(directory, "resolv.conf")
    write_atomic(hostname_path, (hostname + "\n").encode(), sync=False)
    if network_mode == "host":
        try:
            with open("/etc/hosts") as f:
                hosts = f.read()
        except OSError:
            hosts = HOSTS_BASE
    else:
        hosts = HOSTS_BASE
    for entry in extra_hosts:
        name, _, addr = entry.partition(":")
        if addr == "host-gateway":
            addr = "127.0.0.1" if network_mode == "host" else "0.0.0.0"
        hosts += f"{addr}\t{name}\n"
    if network_mode != "host":
        names = f"{fqdn} {hostname}" if fqdn != hostname else hostname
        hosts += f"127.0.1.1\t{names}\n" if network_mode == "none" else ""
    write_atomic(hosts_path, hosts.encode(), sync=False)
    if dns or dns_search or dns_options:
        resolv = "".join(f"nameserver {d}\n" for d in dns)
        if dns_search:
            resolv += "search " + " ".join(dns_search) + "\n"
        if dns_options:
            resolv += "options " + " ".join(dns_options) + "\n"
    else:
        resolv = _host_resolv_conf()
    write_atomic(resolv_path, resolv.encode(), sync=False)
    return hostname_path, hosts_path, resolv_path
