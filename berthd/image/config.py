"""The image config: the JSON document stored in imagedb, and its ID.

An image ID is ``sha256`` of the config *exactly as stored*: re-serialising would change
the bytes and so the ID, which is why :class:`StoredConfig` keeps the raw bytes and only
reads fields out of them. The fields read are the ones dockerd's ``image.Image`` uses
(architecture, os, config, container_config, created, history, rootfs, …).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.image.digest import chain_id, sha256_digest
from berthd.image.spec import Config, History, ImageConfig, parse_image_config

__all__ = ["StoredConfig", "StoredHistory", "StoredRootFS", "parse_time_ns"]

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def parse_time_ns(value: str) -> int:
    """Parse Go's RFC3339Nano into Unix nanoseconds (keeps all 9 fraction digits).

    Python's datetime stops at microseconds; image ``created`` times carry nanoseconds
    and ``--filter before/since`` compares them, so they are kept as integers.
    """
    m = _RFC3339.match(value)
    if m is None:
        raise ValueError(f"invalid time {value!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:9].ljust(9, "0")
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    return seconds * 1_000_000_000 + int(frac)


def _empty_config() -> Config:
    return {}


@dataclass(frozen=True, slots=True)
class StoredHistory:
    """One ``history`` entry (``docker history`` shows these)."""

    created: str = ""
    author: str = ""
    created_by: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_doc(cls, entry: History) -> StoredHistory:
        return cls(
            created=entry.get("created", ""),
            author=entry.get("author", ""),
            created_by=entry.get("created_by", ""),
            comment=entry.get("comment", ""),
            empty_layer=entry.get("empty_layer", False),
        )


@dataclass(frozen=True, slots=True)
class StoredRootFS:
    """``rootfs``: the ordered diff IDs of the image's layers."""

    type: str = "layers"
    diff_ids: tuple[str, ...] = ()

    def chain_id(self) -> str:
        """Chain ID of the top layer; ``""`` for an image without layers."""
        return chain_id(self.diff_ids)


@dataclass(frozen=True, slots=True)
class StoredConfig:
    """An image config as stored: raw bytes, its typed document, and the fields berthd
    reads from it."""

    raw: bytes
    id: str
    doc: ImageConfig
    rootfs: StoredRootFS
    architecture: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = ""
    created: str = ""
    author: str = ""
    comment: str = ""
    docker_version: str = ""
    container: str = ""
    config: Config = field(default_factory=_empty_config)
    container_config: Config = field(default_factory=_empty_config)
    history: tuple[StoredHistory, ...] = ()
    legacy_parent: str = ""  # the v1 "parent" field, not the imagedb parent link

    @classmethod
    def from_json(cls, raw: bytes) -> StoredConfig:
        """``image.NewFromJSON``: parse, check every field and require ``rootfs``.

        Raises ``errdefs.InvalidParameter`` for malformed input (it comes from clients:
        ``docker load``, ``docker import``, a registry), in Go's wording.
        """
        doc = parse_image_config(raw)
        rootfs = doc["rootfs"]
        return cls(
            raw=raw,
            id=sha256_digest(raw),
            doc=doc,
            rootfs=StoredRootFS(type=rootfs["type"], diff_ids=tuple(rootfs.get("diff_ids") or ())),
            architecture=doc.get("architecture", ""),
            os=doc.get("os", ""),
            variant=doc.get("variant", ""),
            os_version=doc.get("os.version", ""),
            created=doc.get("created", ""),
            author=doc.get("author", ""),
            comment=doc.get("comment", ""),
            docker_version=doc.get("docker_version", ""),
            container=doc.get("container", ""),
            config=doc.get("config") or {},
            container_config=doc.get("container_config") or {},
            history=tuple(StoredHistory.from_doc(h) for h in doc.get("history") or ()),
            legacy_parent=doc.get("parent", ""),
        )

    def validate_history(self) -> None:
        """moby rejects configs whose history claims more layers than rootfs has."""
        non_empty = sum(1 for h in self.history if not h.empty_layer)
        if non_empty > len(self.rootfs.diff_ids):
            raise errdefs.InvalidParameter("too many non-empty layers in History section")

    def operating_system(self) -> str:
        """``img.OperatingSystem()``: the OS, ``linux`` when unset."""
        return self.os or "linux"

    def platform(self) -> dict[str, str]:
        """The OCI platform object, in the key order Go's ``ocispec.Platform`` writes."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.variant:
            out["variant"] = self.variant
        return out

    def labels(self) -> dict[str, str]:
        """``config.Labels`` (what ``--filter label=`` matches)."""
        return dict(self.config.get("Labels") or {})

    def created_ns(self) -> int:
        """Creation time in Unix nanoseconds; 0 when absent or unparsable."""
        if not self.created:
            return 0
        try:
            return parse_time_ns(self.created)
        except ValueError:
            return 0

    def chain_id(self) -> str:
        return self.rootfs.chain_id()
