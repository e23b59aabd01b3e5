"""The image store: images by ID, their parent/child links and their layer references.

moby ``image/store.go`` over :class:`~berthd.image.fs_store.FSStoreBackend`. Each image
holds one reference on its top layer in the layer store, so layers stay while an image
needs them and ``delete`` reports which layers went away. The start-up scan never fails
on one bad entry: a corrupt config or a missing layer is logged and skipped, so one
damaged image does not keep the daemon down (dockerd does the same).
"""

from __future__ import annotations

import bisect
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from berthd import errdefs
from berthd.image.config import StoredConfig
from berthd.image.digest import digest_hex
from berthd.image.fs_store import FSStoreBackend
from berthd.image.layer_protocol import LayerGetReleaser

__all__ = ["AmbiguousImageID", "Image", "ImageStore"]

log = logging.getLogger(__name__)


class AmbiguousImageID(errdefs.NotFound):
    """A short ID matches more than one image."""


@dataclass(frozen=True, slots=True)
class Image:
    """A stored image: its config plus the imagedb parent link."""

    config: StoredConfig
    parent: str = ""  # "" or "sha256:…"

    @property
    def id(self) -> str:
        return self.config.id


@dataclass(slots=True)
class _Meta:
    chain_id: str  # "" for an image without layers: no layer reference held
    children: set[str] = field(default_factory=set)


class ImageStore:
    """Thread-safe store; every method blocks on disk I/O (run it in a thread)."""

    def __init__(self, fs: FSStoreBackend, layers: LayerGetReleaser) -> None:
        self._fs = fs
        self._layers = layers
        self._lock = threading.RLock()
        self._images: dict[str, _Meta] = {}
        self._sorted_hex: list[str] = []  # for prefix search
        self._restore()

    # --- start-up -----------------------------------------------------------------
    def _restore(self) -> None:
        for image_id in self._fs.walk():
            try:
                config = StoredConfig.from_json(self._fs.get(image_id))
            except (errdefs.BerthdError, OSError) as err:
                log.error("invalid image %s, %s", image_id, err)
                continue
            chain = config.chain_id()
            if chain:
                try:
                    self._layers.get(chain)
                except errdefs.BerthdError as err:
                    log.error(
                        "layer does not exist, not restoring image %s, %s: %s", image_id, chain, err
                    )
                    continue
            self._images[image_id] = _Meta(chain)
        for image_id in self._images:
            parent = self._read_parent(image_id)
            if parent and parent in self._images:
                self._images[parent].children.add(image_id)
        self._sorted_hex = sorted(digest_hex(i) for i in self._images)

    # --- create / get / delete ----------------------------------------------------
    def create(self, raw_config: bytes) -> str:
        """Store a config and take a reference on its top layer; return the image ID.

        Idempotent: creating an existing image returns its ID without a second layer
        reference. The layer must already be registered.
        """
        config = StoredConfig.from_json(raw_config)
        config.validate_history()
        with self._lock:
            if config.id in self._images:
                return config.id
            chain = config.chain_id()
            if chain:
                try:
                    self._layers.get(chain)
                except errdefs.NotFound as err:
                    raise errdefs.InvalidParameter(f"failed to get layer {chain}: {err}") from None
            try:
                self._fs.set(raw_config)
            except BaseException:
                if chain:
                    self._layers.release(chain)
                raise
            self._images[config.id] = _Meta(chain)
            bisect.insort(self._sorted_hex, digest_hex(config.id))
            return config.id

    def get(self, image_id: str) -> Image:
        """The image with this full ID; ``errdefs.NotFound`` if there is none."""
        with self._lock:
            if image_id not in self._images:
                raise errdefs.NotFound(f"No such image: {image_id}")
            config = StoredConfig.from_json(self._fs.get(image_id))
            return Image(config, self._read_parent(image_id))

    def exists(self, image_id: str) -> bool:
        with self._lock:
            return image_id in self._images

    def delete(self, image_id: str) -> list[str]:
        """Remove an image and drop its layer reference; return removed layer chain IDs.

        Children lose their parent link (they stay valid images).
        """
        with self._lock:
            meta = self._images.get(image_id)
            if meta is None:
                raise errdefs.NotFound(f"unrecognized image ID {image_id}")
            for child in meta.children:
                self._fs.delete_metadata(child, "parent")
            parent = self._read_parent(image_id)
            if parent and parent in self._images:
                self._images[parent].children.discard(image_id)
            del self._images[image_id]
            hex_id = digest_hex(image_id)
            idx = bisect.bisect_left(self._sorted_hex, hex_id)
            if idx < len(self._sorted_hex) and self._sorted_hex[idx] == hex_id:
                del self._sorted_hex[idx]
            self._fs.delete(image_id)
            if meta.chain_id:
                return [layer.chain_id for layer in self._layers.release(meta.chain_id)]
            return []

    # --- lookup -------------------------------------------------------------------
    def search(self, term: str) -> str:
        """Resolve a full ID or any unique prefix (with or without ``sha256:``).

        ``errdefs.NotFound`` ("No such image: <term>") when nothing matches,
        :class:`AmbiguousImageID` when several images share the prefix.
        """
        prefix = term[len("sha256:") :] if term.startswith("sha256:") else term
        if not prefix or any(c not in "0123456789abcdef" for c in prefix) or len(prefix) > 64:
            raise errdefs.NotFound(f"No such image: {term}")
        with self._lock:
            idx = bisect.bisect_left(self._sorted_hex, prefix)
            if idx == len(self._sorted_hex) or not self._sorted_hex[idx].startswith(prefix):
                raise errdefs.NotFound(f"No such image: {term}")
            if self._sorted_hex[idx] != prefix and (
                idx + 1 < len(self._sorted_hex) and self._sorted_hex[idx + 1].startswith(prefix)
            ):
                raise AmbiguousImageID(f"ambiguous image ID prefix {term}")
            return "sha256:" + self._sorted_hex[idx]

    def ids(self) -> list[str]:
        with self._lock:
            return ["sha256:" + h for h in self._sorted_hex]

    def __len__(self) -> int:
        with self._lock:
            return len(self._images)

    def map(self) -> dict[str, Image]:
        """Every image (``Map``); unreadable ones are logged and left out."""
        return self._images_map(all_images=True)

    def heads(self) -> dict[str, Image]:
        """Images without children (``Heads``)."""
        return self._images_map(all_images=False)

    def _images_map(self, all_images: bool) -> dict[str, Image]:
        out: dict[str, Image] = {}
        with self._lock:
            for image_id, meta in self._images.items():
                if not all_images and meta.children:
                    continue
                try:
                    out[image_id] = self.get(image_id)
                except errdefs.BerthdError as err:
                    log.error("invalid image access: %s, error: %s", image_id, err)
        return out

    # --- parents and children ------------------------------------------------------
    def set_parent(self, image_id: str, parent: str) -> None:
        with self._lock:
            if parent not in self._images:
                raise errdefs.NotFound(f"unknown parent image ID {parent}")
            if image_id not in self._images:
                raise errdefs.NotFound(f"No such image: {image_id}")
            old = self._read_parent(image_id)
            if old and old in self._images:
                self._images[old].children.discard(image_id)
            self._images[parent].children.add(image_id)
            self._fs.set_metadata(image_id, "parent", parent.encode())

    def get_parent(self, image_id: str) -> str:
        """The parent ID, ``""`` when the image has none."""
        with self._lock:
            return self._read_parent(image_id)

    def _read_parent(self, image_id: str) -> str:
        try:
            return self._fs.get_metadata(image_id, "parent").decode()
        except (errdefs.BerthdError, UnicodeDecodeError):
            return ""

    def children(self, image_id: str) -> list[str]:
        with self._lock:
            meta = self._images.get(image_id)
            return sorted(meta.children) if meta else []

    # --- builtLocally (the classic build cache only trusts these) -----------------------
    def set_built_locally(self, image_id: str) -> None:
        self._fs.set_metadata(image_id, "builtLocally", b"1")

    def is_built_locally(self, image_id: str) -> bool:
        try:
            return self._fs.get_metadata(image_id, "builtLocally") == b"1"
        except errdefs.BerthdError:
            return False

    # --- lastUpdated ---------------------------------------------------------------
    def set_last_updated(self, image_id: str, when: datetime | None = None) -> None:
        """Record when the image was last pulled/loaded/tagged (``LastTagTime``)."""
        when = when or datetime.now(UTC)
        self._fs.set_metadata(image_id, "lastUpdated", _rfc3339nano(when).encode())

    def get_last_updated(self, image_id: str) -> str:
        """The stored RFC3339Nano string, ``""`` if never set."""
        try:
            return self._fs.get_metadata(image_id, "lastUpdated").decode()
        except (errdefs.BerthdError, UnicodeDecodeError):
            return ""


def _rfc3339nano(when: datetime) -> str:
    """Go's ``time.RFC3339Nano``: trailing zeros of the fraction dropped, Z for UTC."""
    when = when.astimezone(UTC)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{when.microsecond:06d}".rstrip("0")
    return base + (f".{frac}" if frac else "") + "Z"
