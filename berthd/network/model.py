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
    mtu: int = 0
    last_ip: str = ""  # the last address handed out: allocation continues after it

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
    mac: str = ""
    interface: str = "eth0"
    aliases: list[str] = field(default_factory=list)
    static_ip: bool = False
    ports: list[dict[str, Any]] = field(default_factory=list)  # PortMapping.to_json() items

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
