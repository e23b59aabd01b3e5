"""What this package needs of the registry client (SEAMS.md §1), as Protocols.

``berthd.registry`` provides the real classes; unit tests provide in-memory fakes.
Only the members used here are declared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from berthd.registry.auth_config import AuthConfig
from berthd.registry.endpoints import Endpoint

__all__ = [
    "AuthConfig",
    "BlobReader",
    "Endpoint",
    "RegistryClient",
    "RemoteDescriptor",
    "Repository",
    "Upload",
    "open_pinged",
]


class RemoteDescriptor(Protocol):
    @property
    def media_type(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def size(self) -> int: ...


class BlobReader(Protocol):
    @property
    def total(self) -> int | None: ...
    @property
    def resumed(self) -> bool: ...
    async def read(self, n: int = ...) -> bytes: ...
    async def close(self) -> None: ...


class Upload(Protocol):
    async def write(self, chunk: bytes) -> None: ...
    async def commit(self, digest: str) -> RemoteDescriptor: ...
    async def cancel(self) -> None: ...


class Repository(Protocol):
    async def ping(self) -> int: ...
    async def resolve(self, tag: str) -> RemoteDescriptor: ...
    async def get_manifest(self, ref: str) -> tuple[bytes, str, str]: ...
    async def get_blob(self, digest: str, limit: int) -> bytes: ...
    async def open_blob(self, digest: str, offset: int = ...) -> BlobReader: ...
    async def stat_blob(self, digest: str) -> RemoteDescriptor | None: ...
    async def mount_blob(self, digest: str, source_path: str) -> Upload | None: ...
    async def start_upload(self) -> Upload: ...
    async def put_manifest(self, tag_or_digest: str, media_type: str, body: bytes) -> str: ...
    async def tags(self) -> list[str]: ...
    async def close(self) -> None: ...


class RegistryClient(Protocol):
    """``RegistryService``: endpoints per registry host, and repositories on them."""

    def lookup_pull_endpoints(self, domain: str) -> Sequence[Endpoint]: ...
    def lookup_push_endpoints(self, domain: str) -> Sequence[Endpoint]: ...
    async def open_repository(
        self,
        endpoint: Endpoint,
        path: str,
        cfg: AuthConfig,
        actions: Sequence[str],
        *,
        headers: Mapping[str, str] | None = ...,
        mount_from: Sequence[str] = ...,
    ) -> Repository: ...


async def open_pinged(
    registry: RegistryClient,
    endpoint: Endpoint,
    path: str,
    cfg: AuthConfig,
    actions: Sequence[str],
    headers: Mapping[str, str],
    mount_from: Sequence[str] = (),
) -> Repository:
    """Open a repository and ping its endpoint (moby's ``newRepository``), so a host that
    cannot be reached fails here, where the next endpoint may be tried."""
    repo = await registry.open_repository(
        endpoint, path, cfg, actions, headers=headers, mount_from=mount_from
    )
    try:
        await repo.ping()
    except BaseException:
        await repo.close()
        raise
    return repo
