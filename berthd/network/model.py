"""A network and a container's endpoint on it, as berthd records them.

Records are plain dataclasses that round-trip through JSON, so the store can
keep them in SQLite and netavark's configuration can be derived from them at
any time (after a restart too) without asking the kernel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Endpoint", "Network"]


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge | host | null
    created: str  # RFC 3339, as dockerd prints it
    subnet: str = ""  # "" for host/none
    gateway: str = ""
    ip_range: str = ""
    bridge: str = ""  # the Linux bridge device
    internal: bool = False
    attachable: bool = False
    dns: bool = True  # aardvark answers container names (user networks only)
    default: bool = False  # the predefined "bridge" network
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    # IPAM.Options as the client sent them (inspect echoes them; null when none were sent)
    ipam_options: dict[str, str] | None = None
    mtu: int = 0
    last_ip: str = ""  # the last address handed out: allocation continues after it
    aux: dict[str, str] = field(default_factory=dict)  # IPAM AuxiliaryAddresses: never handed out
    # inspect shows IPAM.Config's Gateway as dockerd does: omitted when the client gave a
    # subnet but no gateway (libnetwork picked it); shown when it chose both
    show_gateway: bool = True
    show_gateway6: bool = True
    user_subnet: bool = True  # the client chose the IPv4 subnet (--ip needs that)
    # IPv6 (EnableIPv6): a second pool; subnet6 may be kept without enable_ipv6 (as
    # dockerd keeps a v6 IPAM config it was given), then nothing is allocated from it
    enable_ipv6: bool = False
    subnet6: str = ""
    gateway6: str = ""
    ip_range6: str = ""
    last_ip6: str = ""
    aux6: dict[str, str] = field(default_factory=dict)

    @property
    def ipv6(self) -> bool:
        """IPv6 addresses are handed out on this network."""
        return self.enable_ipv6 and bool(self.subnet6)

    @property
    def predefined(self) -> bool:
        return self.name in ("bridge", "host", "none") and (self.default or self.driver != "bridge")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Network:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Endpoint:
    """A container's attachment to a network while it runs."""

    network_id: str
    container_id: str
    endpoint_id: str
    ip: str
    ip6: str = ""  # on networks with IPv6
    link_local: list[str] = field(default_factory=list)  # IPAMConfig.LinkLocalIPs
    mac: str = ""
    interface: str = "eth0"
    aliases: list[str] = field(default_factory=list)
    static_ip: bool = False
    ports: list[dict[str, Any]] = field(default_factory=list)  # PortMapping.to_json() items
    # links on a user network: names this container alone resolves (alias → the
    # target's name, looked up at each query), and the gateway port of its link
    # resolver (berthd.network.link_dns)
    link_names: dict[str, str] = field(default_factory=dict)
    dns_port: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
