"""The registry service's configuration (moby ``registry/config.go``).

``ServiceOptions`` is what the daemon configuration says; ``ServiceConfig`` is it
validated: mirrors normalised (trailing ``/``, duplicates dropped), the insecure list
split into networks and ``host[:port]`` names, with ``127.0.0.0/8`` always added.

Departure: dockerd resolves a registry's hostname (DNS) to match it against the insecure
networks. berthd matches IP literals and the names of ``/etc/hosts`` (``localhost``) only,
so deciding how to talk to a registry never waits on a resolver.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from berthd.config.registry_options import (
    validate_index_name,
    validate_insecure_registry,
    validate_mirror,
)

__all__ = [
    "DEFAULT_CERTS_DIR",
    "INDEX_HOSTNAME",
    "INDEX_NAME",
    "INDEX_SERVER",
    "IndexInfo",
    "ServiceConfig",
    "ServiceOptions",
]

INDEX_NAME = "docker.io"
INDEX_HOSTNAME = "index.docker.io"
INDEX_SERVER = "https://index.docker.io/v1/"
DEFAULT_REGISTRY_HOST = "registry-1.docker.io"
DEFAULT_CERTS_DIR = "/etc/docker/certs.d"
# dockerd has no read timeout on blob bodies (downloads then hang forever on a dead
# connection); berthd gives up on a body that sends nothing for this long.
DEFAULT_READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class ServiceOptions:
    mirrors: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    certs_dir: str = DEFAULT_CERTS_DIR
    read_timeout: float = DEFAULT_READ_TIMEOUT


class IndexInfoJSON(TypedDict):
    Name: str
    Mirrors: list[str]
    Secure: bool
    Official: bool


class RegistryConfigJSON(TypedDict):
    AllowNondistributableArtifactsCIDRs: None
    AllowNondistributableArtifactsHostnames: None
    InsecureRegistryCIDRs: list[str]
    IndexConfigs: dict[str, IndexInfoJSON]
    Mirrors: list[str] | None


@dataclass(frozen=True)
class IndexInfo:
    name: str
    mirrors: tuple[str, ...] = ()
    secure: bool = True
    official: bool = False

    def to_api(self) -> IndexInfoJSON:
        return {
            "Name": self.name,
            "Mirrors": list(self.mirrors),
            "Secure": self.secure,
            "Official": self.official,
        }


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ServiceConfig:
    mirrors: tuple[str, ...]
    insecure_cidrs: tuple[Network, ...]
    index_configs: dict[str, IndexInfo] = field(hash=False)
    certs_dir: str = DEFAULT_CERTS_DIR
    read_timeout: float = DEFAULT_READ_TIMEOUT
    # names of /etc/hosts, read when the configuration is built (no DNS: see above)
    hosts: Mapping[str, tuple[Address, ...]] = field(default_factory=dict, hash=False)

    @classmethod
    def from_options(cls, opts: ServiceOptions, *, warn: bool = True) -> ServiceConfig:
        """Validate; InvalidParameter with dockerd's wording for a bad value."""
        mirrors: list[str] = []
        for m in opts.mirrors:
            v = validate_mirror(m)
            if v not in mirrors:
                mirrors.append(v)
        cidrs: list[Network] = []
        index: dict[str, IndexInfo] = {}
        for r in (*opts.insecure_registries, "127.0.0.0/8"):
            entry = validate_insecure_registry(r, warn=warn)
            if entry.network is not None:
                if entry.network not in cidrs:
                    cidrs.append(entry.network)
            else:
                index[entry.name] = IndexInfo(entry.name, (), secure=False, official=False)
        index[INDEX_NAME] = IndexInfo(INDEX_NAME, tuple(mirrors), secure=True, official=True)
        return cls(
            tuple(mirrors),
            tuple(cidrs),
            index,
            opts.certs_dir or DEFAULT_CERTS_DIR,
            opts.read_timeout,
            read_hosts_file(),
        )

    def to_api(self) -> RegistryConfigJSON:
        """The ``RegistryConfig`` of ``/info``."""
        return {
            "AllowNondistributableArtifactsCIDRs": None,
            "AllowNondistributableArtifactsHostnames": None,
            "InsecureRegistryCIDRs": [str(n) for n in self.insecure_cidrs],
            "IndexConfigs": {k: self.index_configs[k].to_api() for k in sorted(self.index_configs)},
            "Mirrors": list(self.mirrors) or None,
        }

    def is_secure_index(self, name: str) -> bool:
        """False for a configured insecure name or a host inside an insecure network."""
        info = self.index_configs.get(name)
        if info is not None:
            return info.secure
        host = _host_of(name)
        try:
            addrs: tuple[Address, ...] = (ipaddress.ip_address(host),)
        except ValueError:
            addrs = self.hosts.get(host.lower(), ())
        return not any(
            a.version == n.version and a in n for a in addrs for n in self.insecure_cidrs
        )

    def index_info(self, name: str) -> IndexInfo:
        """The configured IndexInfo of a registry host, or one made for it."""
        name = validate_index_name(name)
        info = self.index_configs.get(name)
        if info is not None:
            return info
        return IndexInfo(name, (), secure=self.is_secure_index(name), official=False)


def _host_of(url_host: str) -> str:
    if url_host.startswith("["):
        end = url_host.find("]")
        return url_host[1:end] if end != -1 else url_host
    if url_host.count(":") == 1:
        return url_host.partition(":")[0]
    return url_host


def read_hosts_file(path: str = "/etc/hosts") -> dict[str, tuple[Address, ...]]:
    """/etc/hosts as name → addresses (``localhost`` always included)."""
    table: dict[str, list[Address]] = {
        "localhost": [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    }
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        words = line.partition("#")[0].split()
        if len(words) < 2:
            continue
        try:
            addr = ipaddress.ip_address(words[0].partition("%")[0])
        except ValueError:
            continue
        for name in words[1:]:
            known = table.setdefault(name.lower(), [])
            if addr not in known:
                known.append(addr)
    return {k: tuple(v) for k, v in table.items()}
