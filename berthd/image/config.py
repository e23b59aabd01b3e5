"""The image config: the JSON document stored in imagedb, and its ID.

An image ID is ``sha256`` of the config *exactly as stored*: re-serialising would change
the bytes and so the ID, which is why :class:`ImageConfig` keeps the raw bytes and only
reads fields out of them. The fields read are the ones dockerd's ``image.Image`` uses
(architecture, os, config, container_config, created, history, rootfs, …).
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from typing import Any

from berthd import errdefs
from berthd.image.digest import chain_id, sha256_digest

__all__ = ["History", "ImageConfig", "RootFS", "parse_time_ns"]

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


@dataclass(frozen=True, slots=True)
class History:
    """One ``history`` entry (``docker history`` shows these)."""

    created: str = ""
    author: str = ""
    created_by: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: Any) -> History:
        if not isinstance(obj, dict):
            raise ValueError("history entry is not an object")
        return cls(
            created=_str(obj.get("created")),
            author=_str(obj.get("author")),
            created_by=_str(obj.get("created_by")),
            comment=_str(obj.get("comment")),
            empty_layer=bool(obj.get("empty_layer", False)),
        )


@dataclass(frozen=True, slots=True)
class RootFS:
    """``rootfs``: the ordered diff IDs of the image's layers."""

    type: str = "layers"
    diff_ids: tuple[str, ...] = ()

    def chain_id(self) -> str:
        """Chain ID of the top layer; ``""`` for an image without layers."""
        return chain_id(self.diff_ids)


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """An image config as stored: raw bytes plus the fields berthd reads from it."""

    raw: bytes
    id: str
    rootfs: RootFS
    architecture: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = ""
    created: str = ""
    author: str = ""
    comment: str = ""
    docker_version: str = ""
    container: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    container_config: dict[str, Any] = field(default_factory=dict)
    history: tuple[History, ...] = ()
    legacy_parent: str = ""  # the v1 "parent" field, not the imagedb parent link

    @classmethod
    def from_json(cls, raw: bytes) -> ImageConfig:
        """``image.NewFromJSON``: parse and require a ``rootfs`` key.

        Raises ``errdefs.InvalidParameter`` for malformed input (it comes from clients:
        ``docker load``, ``docker import``, a registry).
        """
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:  # deep nesting: a 400
            raise errdefs.InvalidParameter(f"invalid image JSON: {err}") from None
        if not isinstance(doc, dict):
            raise errdefs.InvalidParameter("invalid image JSON: not an object")
        rootfs = doc.get("rootfs")
        if not isinstance(rootfs, dict):
            raise errdefs.InvalidParameter("invalid image JSON, no RootFS key")
        diff_ids = rootfs.get("diff_ids") or []
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise errdefs.InvalidParameter("invalid image JSON: bad rootfs.diff_ids")
        try:
            history = tuple(History.from_json(h) for h in (doc.get("history") or []))
        except ValueError as err:
            raise errdefs.InvalidParameter(f"invalid image JSON: {err}") from None
        return cls(
            raw=raw,
            id=sha256_digest(raw),
            rootfs=RootFS(type=_str(rootfs.get("type")), diff_ids=tuple(diff_ids)),
            architecture=_str(doc.get("architecture")),
            os=_str(doc.get("os")),
            variant=_str(doc.get("variant")),
            os_version=_str(doc.get("os.version")),
            created=_str(doc.get("created")),
            author=_str(doc.get("author")),
            comment=_str(doc.get("comment")),
            docker_version=_str(doc.get("docker_version")),
            container=_str(doc.get("container")),
            config=_dict(doc.get("config")),
            container_config=_dict(doc.get("container_config")),
            history=history,
            legacy_parent=_str(doc.get("parent")),
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
        labels = self.config.get("Labels")
        if not isinstance(labels, dict):
            return {}
        return {str(k): str(v) for k, v in labels.items()}

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


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
