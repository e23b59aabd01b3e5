"""The netavark driver: network JSON, ``netavark setup/teardown``, netns files.

netavark makes the bridge, the veth pair, the addresses, the iptables rules
(NAT, published ports — 127.0.0.1 included, via route_localnet and a
MASQUERADE mark) and starts aardvark-dns for networks with DNS. berthd hands
it everything it needs on each call (the network definitions and the
container's endpoints), so netavark keeps no state that berthd must trust.

Each netavark runs in a private mount namespace in which ``/etc/resolv.conf``
is a file berthd writes. aardvark-dns, started by netavark, inherits that
namespace, so its upstream resolvers are exactly the daemon's ``dns``
setting (or the host's non-loopback resolvers): a test daemon can point it
at loopback and no query ever leaves the machine. With ``ip-forward=false``
the kernel's ip_forward file (and IPv6's ``all/forwarding``, which netavark sets for
networks with IPv6) is masked the same way, so netavark cannot turn forwarding on
for the host.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from berthd.errdefs import System
from berthd.lib.atomicfile import write_atomic
from berthd.lib.libc import LIBC
from berthd.lib.resolvconf import host_resolv_lines, loopback_nameserver, nameserver
from berthd.network.batch_teardown import last_on_bridge, remove_network_rules
from berthd.network.bridge_keeper import keep_bridge, release_bridge
from berthd.network.bridge_mac import pin_bridge_mac
from berthd.network.model import Endpoint, Network

__all__ = ["HOST_LOCK", "Netavark", "NetavarkSettings", "PortMapping", "host_lock"]

# One lock for every berthd on the host: netavark's own lock lives in each
# daemon's config directory, but the iptables chains it shares are global, and
# removing them when idle (berthd.network.iptables) must not race a setup.
HOST_LOCK = "/run/lock/berthd-netavark.lock"


@asynccontextmanager
async def host_lock(path: str = HOST_LOCK) -> AsyncIterator[None]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_WRAPPER = (
    'mount --bind "$1" /etc/resolv.conf || exit 125; '
    'if [ -n "$2" ]; then mount --bind "$2" /proc/sys/net/ipv4/ip_forward || exit 125; '
    "f=/proc/sys/net/ipv6/conf/all/forwarding; "
    'if [ -e $f ]; then mount --bind "$2" $f || exit 125; fi; fi; '
    'shift 2; exec "$@"'
)
_MNT_DETACH = 2


@dataclass(frozen=True)
class NetavarkSettings:
    run_dir: str  # <exec-root>/network: netavark config, aardvark state, netns files
    binary: str = "/usr/lib/podman/netavark"
    aardvark: str = "/usr/lib/podman/aardvark-dns"
    ip_forward: bool = True
    upstream_dns: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortMapping:
    host_ip: str
    container_port: int
    host_port: int
    protocol: str
    range: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "host_ip": self.host_ip,
            "container_port": self.container_port,
            "host_port": self.host_port,
            "range": self.range,
            "protocol": self.protocol,
        }


@dataclass
class Attachment:
    network: Network
    endpoint: Endpoint
    port_mappings: list[PortMapping] = field(default_factory=list)


def netavark_name(net: Network) -> str:
    """netavark names its iptables chains after a hash of the network's name, so two
    daemons' ``bridge`` networks would share (and tear down) each other's chains:
    give netavark the unique ID instead."""
    return net.id


def network_json(net: Network) -> dict[str, Any]:
    """netavark's network definition (podman's ``containers.conf`` network format)."""
    subnets: list[dict[str, Any]] = [{"subnet": net.subnet, "gateway": net.gateway}]
    if net.ipv6:
        subnets.append({"subnet": net.subnet6, "gateway": net.gateway6})
    opts: dict[str, str] = {}
    if net.mtu:
        opts["mtu"] = str(net.mtu)
    return {
        "name": netavark_name(net),
        "id": net.id,
        "driver": "bridge",
        "network_interface": net.bridge,
        "created": net.created,
        "subnets": subnets,
        "ipv6_enabled": net.ipv6,
        "internal": net.internal,
        "dns_enabled": net.dns,
        "options": opts,
        "ipam_options": {"driver": "host-local"},
    }


class Netavark:
    def __init__(self, settings: NetavarkSettings) -> None:
        self.settings = settings
        self.used = False  # netavark ran for this daemon (setup or teardown)
        self.config_dir = os.path.join(settings.run_dir, "netavark")
        self.netns_dir = os.path.join(settings.run_dir, "netns")
        os.makedirs(self.config_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.netns_dir, mode=0o700, exist_ok=True)
        self._resolv = os.path.join(settings.run_dir, "upstream-resolv.conf")
        self._ipfwd = os.path.join(settings.run_dir, "ip_forward")
        servers = settings.upstream_dns or _host_resolvers()
        resolv = "".join(f"nameserver {s}\n" for s in servers) or "nameserver 127.0.0.1\n"
        write_atomic(self._resolv, resolv.encode(), sync=False)
        if not settings.ip_forward:
            write_atomic(self._ipfwd, b"0\n", sync=False)

    # -- netns files -------------------------------------------------------------------------
    def netns_path(self, container_id: str) -> str:
        return os.path.join(self.netns_dir, container_id)

    def netns_ids(self) -> list[str]:
        """Blocking: the container IDs that have a netns file."""
        return sorted(os.listdir(self.netns_dir))

    async def create_netns(self, container_id: str) -> str:
        """A persistent network namespace: a bind mount of nsfs, like ``ip netns add``."""
        path = self.netns_path(container_id)
        if await asyncio.to_thread(_touch_unmounted, path):
            return path
        await _run(["unshare", f"--net={path}", "true"])
        return path

    def remove_netns(self, container_id: str) -> None:
        """Blocking: unmount and delete the netns file (absent is fine)."""
        path = self.netns_path(container_id)
        if os.path.ismount(path) and LIBC.umount2(path.encode(), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.ENOENT):
                raise System(f"unmount {path}: {os.strerror(err)}")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    # -- setup / teardown ------------------------------------------------------------------
    async def setup(
        self, netns: str, container_id: str, name: str, attachments: list[Attachment]
    ) -> dict[str, Any]:
        """Connect the netns to the networks; returns netavark's status (MACs, addresses)."""
        self.used = True
        out = await self._call("setup", netns, container_id, name, attachments)
        result: dict[str, Any] = orjson.loads(out) if out.strip() else {}
        bridges = [a.network.bridge for a in attachments if a.network.bridge]
        if bridges:
            async with host_lock():
                for bridge in bridges:
                    await pin_bridge_mac(bridge)  # first: the keeper's MAC never counts
                    await keep_bridge(bridge)
        return result

    async def release(self, net: Network) -> bool:
        """The network's end (``network rm``, shutdown): its bridge and rules go, if
        no container is on the bridge any more (bridge_keeper.py)."""
        async with host_lock():
            return await release_bridge(net)

    async def teardown(
        self, netns: str, container_id: str, name: str, attachments: list[Attachment]
    ) -> None:
        self.used = True
        await self._call("teardown", netns, container_id, name, attachments)

    async def _call(
        self,
        verb: str,
        netns: str,
        container_id: str,
        name: str,
        attachments: list[Attachment],
    ) -> bytes:
        ports = [p.to_json() for a in attachments for p in a.port_mappings if ":" not in p.host_ip]
        opts = {
            "container_id": container_id,
            "container_name": name,
            "port_mappings": ports or None,
            "networks": {
                netavark_name(a.network): {
                    "static_ips": [a.endpoint.ip, *([a.endpoint.ip6] if a.endpoint.ip6 else [])],
                    # aardvark-dns already answers for the container's name
                    "aliases": [n for n in a.endpoint.aliases if n != name]
                    if a.network.dns
                    else [],
                    "interface_name": a.endpoint.interface,
                    **({"static_mac": a.endpoint.mac} if a.endpoint.mac else {}),
                }
                for a in attachments
            },
            "network_info": {
                netavark_name(a.network): network_json(a.network) for a in attachments
            },
        }
        fd, opts_path = tempfile.mkstemp(prefix="netavark-", suffix=".json", dir=self.config_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(opts))
            argv = [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                _WRAPPER,
                "sh",
                self._resolv,
                "" if self.settings.ip_forward else self._ipfwd,
                self.settings.binary,
                "--config",
                self.config_dir,
                "--aardvark-binary",
                self.settings.aardvark,
                "--file",
                opts_path,
                verb,
                netns,
            ]
            async with host_lock():
                if verb == "teardown":
                    for a in attachments:
                        if await last_on_bridge(a.network, netns, a.endpoint.interface):
                            await remove_network_rules(a.network)
                return await _run(argv)
        finally:
            os.unlink(opts_path)


async def _run(argv: list[str]) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        msg = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        try:
            msg = str(orjson.loads(msg).get("error", msg))
        except (orjson.JSONDecodeError, AttributeError):
            pass
        raise System(f"netavark: {msg}")
    return out


def _touch_unmounted(path: str) -> bool:
    """True if ``path`` is already a netns mount; else make the empty mount point."""
    if os.path.ismount(path):
        return True
    with open(path, "a"):
        pass
    return False


def _host_resolvers() -> list[str]:
    """The host's non-loopback nameservers (aardvark's upstreams by default)."""
    return [
        ns
        for line in host_resolv_lines()
        if (ns := nameserver(line)) is not None and not loopback_nameserver(line)
    ]
