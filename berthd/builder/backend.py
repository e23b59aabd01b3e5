"""What the builder needs from the daemon (moby's ``builder.Backend``).

Plain dataclasses at the seam; container configs travel as the Engine API's
``container.Config`` dicts (what ``POST /containers/create`` takes), typed as
``ContainerConfig``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from berthd.image.spec import History

__all__ = [
    "Backend",
    "BaseImage",
    "CommitStep",
    "ContainerConfig",
    "CopyPart",
    "Created",
    "CopyToLayer",
    "HostOptions",
    "OutputFn",
]

# a container.Config as JSON-decoded dict: Env, Cmd, Entrypoint, Labels, …
ContainerConfig = dict[str, object]
OutputFn = Callable[[int, bytes], Awaitable[None]]  # (1 stdout | 2 stderr, data)


@dataclass(frozen=True)
class BaseImage:
    """An image the builder starts a stage from or probes the cache with."""

    id: str  # "sha256:…"
    config: ContainerConfig  # the image's "config" section
    os: str
    architecture: str
    variant: str
    history: list[History]
    diff_ids: list[str]
    container_config: ContainerConfig  # what the cache compares ("container_config")
    created: str
    built_locally: bool
    parent: str


@dataclass(frozen=True)
class HostOptions:
    """The HostConfig of every build container (``hostConfigFromOptions``)."""

    network_mode: str = ""
    extra_hosts: list[str] = field(default_factory=list)
    shm_size: int = 0
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    cgroup_parent: str = ""
    ulimits: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Created:
    id: str
    warnings: list[str]


@dataclass(frozen=True)
class CommitStep:
    """``backend.CommitConfig``: a build container's changes become a child image."""

    container_id: str
    config: ContainerConfig  # the image's config
    container_config: ContainerConfig  # the probe config (its Cmd is the history line)
    author: str


@dataclass(frozen=True)
class CopyPart:
    """One uncompressed tar on disk, extracted at ``dest`` in the new layer.

    ``mode``: "dir" — the entries go under dest; "auto" — one file named
    ``name``: under dest if dest is an existing directory, else dest itself;
    "archive" — ADD of a local archive, unpacked under dest with its owners.
    """

    tar_path: str
    dest: str
    mode: str
    name: str


@dataclass(frozen=True)
class CopyToLayer:
    """COPY/ADD: the parts go into one new layer on ``parent`` (no container)."""

    parent: str  # image ID ("" for scratch)
    parts: list[CopyPart]
    config: ContainerConfig
    container_config: ContainerConfig
    author: str
    uid: int  # the owner of directories the copy creates
    gid: int


class Backend(Protocol):
    async def get_image(self, ref: str) -> BaseImage:
        """By name or ID; ``errdefs.NotFound`` when absent."""
        ...

    async def pull_image(
        self,
        ref: str,
        platform: str,
        auth: dict[str, dict[str, str]],
        output: Callable[[bytes], None],
    ) -> None:
        """Pull (``--pull`` or a missing base) with the auth config of its registry
        from ``auth`` (X-Registry-Config); may raise NotImplemented_."""
        ...

    async def children(self, image_id: str) -> list[BaseImage]:
        """Images whose imagedb parent is ``image_id`` (the cache candidates); for ""
        (FROM scratch) the one-step images built locally with no parent."""
        ...

    async def set_parent(self, image_id: str, parent: str) -> None: ...

    async def restore_cached(self, raw_config: bytes, parent: str) -> str:
        """``--cache-from``: store a cache image (its layers exist) as a child of parent."""
        ...

    async def create_container(self, config: ContainerConfig, host: HostOptions) -> Created:
        """Create a build container (journalled until removed)."""
        ...

    async def make_workdir(self, container_id: str, path: str) -> None:
        """``ContainerCreateWorkdir``: mkdir -p the WORKDIR in the container's rw layer."""
        ...

    async def run_container(self, container_id: str, output: OutputFn) -> int:
        """Attach, start and wait: stream its output as written; return the exit code."""
        ...

    async def commit(self, req: CommitStep) -> str:
        """Commit the container (parent link, builtLocally); return the image ID."""
        ...

    async def copy_to_layer(self, req: CopyToLayer) -> str:
        """A layer with the tar extracted at dest on the parent image; return the image ID."""
        ...

    async def mount_image(self, image_id: str) -> str:
        """Mount an image's file system read-only for COPY --from; return its path."""
        ...

    async def unmount_image(self, path: str) -> None: ...

    async def remove_container(self, container_id: str) -> None:
        """Force-remove (with anonymous volumes)."""
        ...

    async def keep_container(self, container_id: str) -> None:
        """The build ended and leaves this container (``rm=0``, a failed step): it is
        the user's now, so a later start-up must not remove it as a crash leftover."""
        ...

    async def tag(self, image_id: str, ref: str) -> str:
        """Tag; return the familiar name (``app:latest``)."""
        ...
