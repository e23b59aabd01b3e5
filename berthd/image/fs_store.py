"""imagedb on disk: content-addressed configs plus per-image metadata files.

Layout (moby ``image/fs.go``), under ``<data-root>/image/<driver>/imagedb``::

    content/sha256/<hex>            the config bytes; <hex> = sha256(bytes)
    metadata/sha256/<hex>/parent    "sha256:<parent hex>" (no newline)
    metadata/sha256/<hex>/lastUpdated   RFC3339Nano time

Directories are 0700 and files 0600 as dockerd makes them, so a data-root can move
between dockerd and berthd. Unlike moby, every write is atomic *and durable* (fsync of
file and directory): the kill -9 rule of DESIGN.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading

from berthd import errdefs
from berthd.image.digest import digest_hex, sha256_digest, validate_sha256_digest
from berthd.lib.atomicfile import fsync_dir
from berthd.lib.atomicfile import write_atomic as atomic_write

__all__ = ["FSStoreBackend"]

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


class FSStoreBackend:
    """Blocking file store of image configs; thread-safe. Call from a worker thread."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._lock = threading.RLock()
        os.makedirs(os.path.join(self.root, "content", "sha256"), mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(self.root, "metadata", "sha256"), mode=0o700, exist_ok=True)

    def _content_file(self, image_id: str) -> str:
        _check_id(image_id)
        return os.path.join(self.root, "content", "sha256", digest_hex(image_id))

    def _metadata_dir(self, image_id: str) -> str:
        _check_id(image_id)
        return os.path.join(self.root, "metadata", "sha256", digest_hex(image_id))

    def walk(self) -> list[str]:
        """IDs of every stored config, skipping names that are not a sha256 hex."""
        directory = os.path.join(self.root, "content", "sha256")
        with self._lock:
            names = sorted(os.listdir(directory))
        ids: list[str] = []
        for name in names:
            if not _HEX64.match(name):
                log.debug("imagedb: skipping invalid entry %s", name)
                continue
            ids.append("sha256:" + name)
        return ids

    def get(self, image_id: str) -> bytes:
        """The config bytes, verified against the ID (a corrupt file is an error)."""
        with self._lock:
            return self._get(image_id)

    def _get(self, image_id: str) -> bytes:
        try:
            with open(self._content_file(image_id), "rb") as f:
                content = f.read()
        except FileNotFoundError:
            raise errdefs.NotFound(f"No such image: {image_id}") from None
        if sha256_digest(content) != image_id:
            raise errdefs.DataLoss(f"failed to verify: {image_id}")
        return content

    def set(self, data: bytes) -> str:
        """Store config bytes; return their ID (idempotent)."""
        if not data:
            raise errdefs.InvalidParameter("invalid empty data")
        image_id = sha256_digest(data)
        with self._lock:
            atomic_write(self._content_file(image_id), data, 0o600)
        return image_id

    def delete(self, image_id: str) -> None:
        """Remove config and metadata; the metadata goes first so a crash in between
        leaves a parent-less image rather than metadata of a missing one."""
        with self._lock:
            meta = self._metadata_dir(image_id)
            if os.path.isdir(meta):
                shutil.rmtree(meta)
                fsync_dir(os.path.dirname(meta))
            content = self._content_file(image_id)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(content)
                fsync_dir(os.path.dirname(content))

    def set_metadata(self, image_id: str, key: str, data: bytes) -> None:
        """Write one metadata file; the image must exist (as in moby)."""
        _check_key(key)
        with self._lock:
            self._get(image_id)
            directory = self._metadata_dir(image_id)
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700, exist_ok=True)
                fsync_dir(os.path.dirname(directory))
            atomic_write(os.path.join(directory, key), data, 0o600)

    def get_metadata(self, image_id: str, key: str) -> bytes:
        """Read one metadata file; ``errdefs.NotFound`` when absent."""
        _check_key(key)
        with self._lock:
            self._get(image_id)
            try:
                with open(os.path.join(self._metadata_dir(image_id), key), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                raise errdefs.NotFound(f"no {key} metadata for {image_id}") from None

    def delete_metadata(self, image_id: str, key: str) -> None:
        _check_key(key)
        with self._lock:
            path = os.path.join(self._metadata_dir(image_id), key)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                fsync_dir(os.path.dirname(path))


def _check_key(key: str) -> None:
    if not _KEY.match(key) or key in (".", ".."):
        raise errdefs.InvalidParameter(f"invalid metadata key {key!r}")


def _check_id(image_id: str) -> None:
    try:
        validate_sha256_digest(image_id)
    except ValueError:
        raise errdefs.InvalidParameter(f"invalid image ID {image_id!r}") from None
