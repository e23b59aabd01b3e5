"""An in-memory registry behind the distribution seam (unit tests only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from berthd.registry.errors import ErrorEntry, RegistryError, registry_error


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def FakeRegistryError(code: str, message: str) -> RegistryError:
    return registry_error([ErrorEntry(code, message)])


@dataclass(frozen=True)
class Desc:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class FakeEndpoint:
    url: str = "https://reg.test"
    mirror: bool = False


class FakeReader:
    def __init__(self, data: bytes, offset: int, resumed: bool, cut_at: int | None) -> None:
        self._data = data[offset if resumed else 0 :]
        self.total: int | None = len(data)
        self.resumed = resumed
        self._pos = 0
        self._cut_at = cut_at

    async def read(self, n: int = 1 << 20) -> bytes:
        n = min(n, 64 * 1024)
        if self._cut_at is not None and self._pos + n > self._cut_at:
            n = self._cut_at - self._pos
            if n <= 0:
                raise ConnectionResetError("connection cut")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk

    async def close(self) -> None:
        pass


class FakeUpload:
    def __init__(self, repo: FakeRepository) -> None:
        self.repo = repo
        self.buf = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.buf += chunk

    async def commit(self, digest: str) -> Desc:
        data = bytes(self.buf)
        if sha(data) != digest:
            raise FakeRegistryError(
                "DIGEST_INVALID", "provided digest did not match uploaded content"
            )
        self.repo.reg.blobs[digest] = data
        self.repo.reg.repo_blobs.setdefault(self.repo.path, set()).add(digest)
        return Desc("application/octet-stream", digest, len(data))

    async def cancel(self) -> None:
        pass


@dataclass
class FakeRegistry:
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, dict[str, tuple[bytes, str]]] = field(
        default_factory=dict
    )  # path → ref → (raw, ct)
    repo_blobs: dict[str, set[str]] = field(default_factory=dict)
    blob_gets: dict[str, int] = field(default_factory=dict)
    cut_once: dict[str, int] = field(default_factory=dict)  # digest → byte offset to cut at (once)
    no_range: bool = False
    corrupt: set[str] = field(default_factory=set)
    gate: object = None  # an asyncio.Event blobs wait on, when set

    # --- fixtures ------------------------------------------------------------------
    def add_blob(self, path: str, data: bytes) -> str:
        d = sha(data)
        self.blobs[d] = data
        self.repo_blobs.setdefault(path, set()).add(d)
        return d

    def add_manifest(self, path: str, raw: bytes, ct: str, tags: Sequence[str] = ()) -> str:
        d = sha(raw)
        repo = self.manifests.setdefault(path, {})
        repo[d] = (raw, ct)
        for t in tags:
            repo[t] = (raw, ct)
        return d

    def add_image(
        self,
        path: str,
        layers: Sequence[bytes],
        tags: Sequence[str] = ("latest",),
        arch: str = "amd64",
        oci: bool = False,
        compress: bool | str = True,
    ) -> tuple[str, str]:
        """Push an image; return (config digest = image ID, manifest digest)."""
        diff_ids = [sha(layer) for layer in layers]
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created": "2024-01-01T00:00:00Z"} for _ in layers],
            }
        ).encode()
        cfg = self.add_blob(path, config)
        descs = []
        for layer in layers:
            if compress == "zstd":
                import zstandard

                blob = zstandard.ZstdCompressor().compress(layer)
            else:
                blob = gzip.compress(layer, mtime=0) if compress else layer
            descs.append(
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                    if oci
                    else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(blob),
                    "digest": self.add_blob(path, blob),
                }
            )
        mt = (
            "application/vnd.oci.image.manifest.v1+json"
            if oci
            else "application/vnd.docker.distribution.manifest.v2+json"
        )
        doc = {
            "schemaVersion": 2,
            "mediaType": mt,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json"
                if oci
                else "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": cfg,
            },
            "layers": descs,
        }
        raw = json.dumps(doc, indent=3).encode()
        return cfg, self.add_manifest(path, raw, mt, tags)


class FakeRepository:
    def __init__(self, reg: FakeRegistry, path: str) -> None:
        self.reg = reg
        self.path = path
        self.closed = False

    async def ping(self) -> int:
        return 200

    def _manifests(self) -> dict[str, tuple[bytes, str]]:
        if self.path not in self.reg.manifests:
            raise FakeRegistryError("NAME_UNKNOWN", "repository name not known to registry")
        return self.reg.manifests[self.path]

    async def resolve(self, tag: str) -> Desc:
        item = self._manifests().get(tag)
        if item is None:
            raise FakeRegistryError("MANIFEST_UNKNOWN", "manifest unknown")
        return Desc(item[1], sha(item[0]), len(item[0]))

    async def get_manifest(self, ref: str) -> tuple[bytes, str, str]:
        item = self._manifests().get(ref)
        if item is None:
            raise FakeRegistryError("MANIFEST_UNKNOWN", "manifest unknown")
        return item[0], item[1], sha(item[0])

    async def get_blob(self, digest: str, limit: int) -> bytes:
        data = self.reg.blobs.get(digest)
        if data is None:
            raise FakeRegistryError("BLOB_UNKNOWN", "blob unknown to registry")
        return data

    async def open_blob(self, digest: str, offset: int = 0) -> FakeReader:
        import asyncio

        if isinstance(self.reg.gate, asyncio.Event):
            await self.reg.gate.wait()
        data = self.reg.blobs.get(digest)
        if data is None:
            raise FakeRegistryError("BLOB_UNKNOWN", "blob unknown to registry")
        if digest in self.reg.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        self.reg.blob_gets[digest] = self.reg.blob_gets.get(digest, 0) + 1
        cut = self.reg.cut_once.pop(digest, None)
        return FakeReader(data, offset, offset > 0 and not self.reg.no_range, cut)

    async def stat_blob(self, digest: str) -> Desc | None:
        if digest in self.reg.repo_blobs.get(self.path, set()):
            return Desc("application/octet-stream", digest, len(self.reg.blobs[digest]))
        return None

    async def mount_blob(self, digest: str, source_path: str) -> FakeUpload | None:
        if digest in self.reg.repo_blobs.get(source_path, set()):
            self.reg.repo_blobs.setdefault(self.path, set()).add(digest)
            return None
        return FakeUpload(self)

    async def start_upload(self) -> FakeUpload:
        return FakeUpload(self)

    async def put_manifest(self, tag_or_digest: str, media_type: str, body: bytes) -> str:
        self.reg.manifests.setdefault(self.path, {})[tag_or_digest] = (body, media_type)
        self.reg.manifests[self.path][sha(body)] = (body, media_type)
        return sha(body)

    async def tags(self) -> list[str]:
        return sorted(k for k in self._manifests() if not k.startswith("sha256:"))

    async def close(self) -> None:
        self.closed = True


class FakeRegistryClient:
    def __init__(
        self, reg: FakeRegistry, endpoints: Sequence[FakeEndpoint] = (FakeEndpoint(),)
    ) -> None:
        self.reg = reg
        self.endpoints = list(endpoints)
        self.opened: list[tuple[str, str, tuple[str, ...]]] = []
        self.fail_open: set[str] = set()

    def lookup_pull_endpoints(self, domain: str) -> list[FakeEndpoint]:
        return self.endpoints

    def lookup_push_endpoints(self, domain: str) -> list[FakeEndpoint]:
        return [e for e in self.endpoints if not e.mirror]

    async def open_repository(
        self,
        endpoint: FakeEndpoint,
        path: str,
        cfg: object,
        actions: Sequence[str],
        *,
        headers: Mapping[str, str] = {},
        mount_from: Sequence[str] = (),
    ) -> FakeRepository:
        self.opened.append((endpoint.url, path, tuple(actions)))
        if endpoint.url in self.fail_open:
            raise ConnectionRefusedError(f"dial {endpoint.url}: connection refused")
        return FakeRepository(self.reg, path)
