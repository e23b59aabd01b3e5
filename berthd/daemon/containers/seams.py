"""What the code beside the container service uses of it, and of the image service.

``ContainerFSService`` (fs.py), commit, prune and the health prober take these
Protocols instead of ``ContainerService``/``ImageService``: they import this
module, never the services, so there is no import circle, and each states the
little it uses. ``ContainerService`` and ``ImageService`` satisfy them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from berthd.container import Container, ContainerStore
from berthd.daemon.containers.files import ContainerPaths
from berthd.daemon.events import EventsService
from berthd.image.reference import Reference
from berthd.image.spec import ImageConfig
from berthd.layer import LayerStore
from berthd.runtime.supervisor import Supervisor

__all__ = [
    "ContainerEvents",
    "ContainerOps",
    "CreateRequest",
    "Created",
    "ImageRegistrar",
    "ProbeHost",
]


@dataclass(frozen=True)
class CreateRequest:
    """A container to create, as the builder and the swarm agent ask for one: the
    ``Config`` fields, ``HostConfig`` and ``NetworkingConfig`` of a create body
    (checked and defaulted as the API's are)."""

    config: Mapping[str, object]
    host_config: Mapping[str, object] = field(default_factory=dict)
    networking: Mapping[str, object] = field(default_factory=dict)
    name: str = ""

    def body(self) -> dict[str, object]:
        """The ``POST /containers/create`` body these make."""
        out: dict[str, object] = dict(self.config)
        if self.host_config:
            out["HostConfig"] = dict(self.host_config)
        if self.networking:
            out["NetworkingConfig"] = dict(self.networking)
        return out


@dataclass(frozen=True)
class Created:
    """What a create returns: the new container's ID and dockerd's warnings."""

    id: str
    warnings: list[str]

    def to_api(self) -> dict[str, object]:
        return {"Id": self.id, "Warnings": self.warnings}


class ContainerEvents(Protocol):
    def log_event(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None: ...


class ContainerOps(ContainerEvents, Protocol):
    """The store and the verbs that cp, commit, prune and the sizes use."""

    @property
    def store(self) -> ContainerStore: ...
    @property
    def layers(self) -> LayerStore: ...
    @property
    def events(self) -> EventsService: ...
    def get(self, ref: str) -> Container: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...
    async def remove(self, ref: str, force: bool, volumes: bool) -> None: ...


class ProbeHost(ContainerEvents, Protocol):
    """What a health probe runs through: the bundle paths and the supervisor."""

    @property
    def paths(self) -> ContainerPaths: ...
    @property
    def supervisor(self) -> Supervisor: ...


class ImageRegistrar(Protocol):
    """What commit and the builder use of the image service (all blocking): the layer
    store, an image's config, registering a config over layers, tagging."""

    @property
    def layers(self) -> LayerStore: ...
    def config_of(self, image_id: str) -> ImageConfig: ...
    def register(self, config: bytes, parent: str = "", built_locally: bool = False) -> str: ...
    def tag(self, image_id: str, ref: Reference) -> None: ...
