"""The daemon's configuration after flags and daemon.json are merged.

Frozen: a reload builds a new instance and the daemon swaps it in whole, so no
reader ever sees half of an old and half of a new configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["STOCK_RUNTIMES", "DaemonConfig", "RuntimeSpec"]

# Runtimes berthd knows without configuration; user runtimes may not reuse
# these names (dockerd reserves "runc" the same way).
STOCK_RUNTIMES = ("runc", "crun")


@dataclass(frozen=True)
class RuntimeSpec:
    path: str
    runtime_args: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.runtime_args:
            out["runtimeArgs"] = list(self.runtime_args)
        return out


def _empty_runtimes() -> Mapping[str, RuntimeSpec]:
    return MappingProxyType({})


@dataclass(frozen=True)
class DaemonConfig:
    hosts: tuple[str, ...] = ()
    data_root: str = "/var/lib/berthd"
    exec_root: str = "/run/berthd"
    pidfile: str = "/run/berthd.pid"
    debug: bool = False
    log_level: str = "info"
    log_format: str = "text"
    group: str = "docker"
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str = "~/.docker/ca.pem"
    tlscert: str = "~/.docker/cert.pem"
    tlskey: str = "~/.docker/key.pem"
    api_cors_header: str = ""
    labels: tuple[str, ...] = ()
    shutdown_timeout: int = 15
    live_restore: bool = False
    default_runtime: str = ""
    runtimes: Mapping[str, RuntimeSpec] = field(default_factory=_empty_runtimes)
    storage_driver: str = ""
    cgroup_parent: str = "/berthd"
    bridge: str = "berth0"
    bip: str = ""
    fixed_cidr: str = ""
    mtu: int = 0
    ip_forward: bool = True
    icc: bool = True
    ip_masq: bool = True
    iptables: bool = True
    userland_proxy: bool = True
    dns: tuple[str, ...] = ()
    default_address_pools: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    registry_certs_dir: str = "/etc/docker/certs.d"
    registry_read_timeout: int = 60
    # 0 in a file or flag means the default, as in dockerd (config/load.py applies it)
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    max_download_attempts: int = 5
    # Where the configuration came from; not an option itself.
    config_file: str = ""

    @property
    def tls_enabled(self) -> bool:
        return self.tls or self.tlsverify

    def label_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.labels:
            k, _, v = item.partition("=")
            out[k] = v
        return out
