"""The container record: what ``config.v2.json`` holds.

Config and HostConfig are kept as the Engine API's own JSON objects (dicts),
normalised once at create time, so that inspect returns exactly what was
asked for and new API fields need no model change.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from berthd.container.state import State
from berthd.lib.timefmt import format_ns, parse_ns

__all__ = ["Container"]


@dataclass
class Container:
    id: str
    name: str  # with the leading "/"
    created: int  # ns since the epoch
    path: str
    args: list[str]
    config: dict[str, Any]
    host_config: dict[str, Any]
    image_id: str  # "sha256:…"
    driver: str
    state: State = field(default_factory=State)
    restart_count: int = 0
    has_been_started_before: bool = False
    has_been_manually_stopped: bool = False
    mount_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    network_settings: dict[str, Any] = field(default_factory=dict)
    log_path: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_conf_path: str = ""
    # not persisted
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)
    exec_ids: set[str] = field(default_factory=set, repr=False, compare=False)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def runtime(self) -> str:
        return str(self.host_config.get("Runtime") or "")

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    def to_disk(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Name": self.name,
            "Created": format_ns(self.created),
            "Path": self.path,
            "Args": self.args,
            "Config": self.config,
            "HostConfig": self.host_config,
            "Image": self.image_id,
            "Driver": self.driver,
            "OS": "linux",
            "State": self.state.to_disk(),
            "RestartCount": self.restart_count,
            "HasBeenStartedBefore": self.has_been_started_before,
            "HasBeenManuallyStopped": self.has_been_manually_stopped,
            "MountPoints": self.mount_points,
            "NetworkSettings": self.network_settings,
            "LogPath": self.log_path,
            "HostnamePath": self.hostname_path,
            "HostsPath": self.hosts_path,
            "ResolvConfPath": self.resolv_conf_path,
        }

    @classmethod
    def from_disk(cls, d: dict[str, Any]) -> Container:
        return cls(
            id=str(d["ID"]),
            name=str(d["Name"]),
            created=parse_ns(str(d.get("Created", ""))),
            path=str(d.get("Path", "")),
            args=list(d.get("Args") or []),
            config=dict(d.get("Config") or {}),
            host_config=dict(d.get("HostConfig") or {}),
            image_id=str(d.get("Image", "")),
            driver=str(d.get("Driver", "")),
            state=State.from_disk(dict(d.get("State") or {})),
            restart_count=int(d.get("RestartCount", 0)),
            has_been_started_before=bool(d.get("HasBeenStartedBefore", False)),
            has_been_manually_stopped=bool(d.get("HasBeenManuallyStopped", False)),
            mount_points=dict(d.get("MountPoints") or {}),
            network_settings=dict(d.get("NetworkSettings") or {}),
            log_path=str(d.get("LogPath", "")),
            hostname_path=str(d.get("HostnamePath", "")),
            hosts_path=str(d.get("HostsPath", "")),
            resolv_conf_path=str(d.get("ResolvConfPath", "")),
        )
