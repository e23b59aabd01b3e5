"""Distribution metadata: which registry blobs a local layer came from.

moby ``distribution/metadata`` under ``<data-root>/image/<driver>/distribution``::

    diffid-by-digest/sha256/<blob hex>       "sha256:<diff id>"  (raw, no newline)
    v2metadata-by-diffid/sha256/<diff hex>   [{"Digest":"sha256:…",
                                               "SourceRepository":"docker.io/library/x",
                                               "HMAC":""}]   (compact, one line)

Pull uses it to skip layers it already has; push uses it to mount or skip blobs it
already uploaded. Same files as dockerd (dirs 0755, files 0644), written atomically.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass

from berthd import errdefs
from berthd.image.digest import parse_digest
from berthd.lib.atomicfile import fsync_dir
from berthd.lib.atomicfile import write_atomic as atomic_write

__all__ = ["MAX_METADATA", "DistributionMetadataStore", "V2Metadata", "compute_hmac"]

DIFFID_NAMESPACE = "v2metadata-by-diffid"
DIGEST_NAMESPACE = "diffid-by-digest"
MAX_METADATA = 50  # entries kept per diff ID, oldest dropped first


@dataclass(frozen=True, slots=True)
class V2Metadata:
    """A blob a layer is known as, and where it was seen."""

    digest: str
    source_repository: str
    hmac: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "Digest": self.digest,
            "SourceRepository": self.source_repository,
            "HMAC": self.hmac,
        }


def compute_hmac(key: bytes, meta: V2Metadata) -> str:
    """``ComputeV2MetadataHMAC``: ties an entry to the credentials it was pushed with."""
    if not key:
        return ""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(meta.digest.encode())
    mac.update(meta.source_repository.encode())
    return mac.hexdigest()


class DistributionMetadataStore:
    """``V2MetadataService`` over the ``FSMetadataStore`` files; thread-safe, blocking."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._lock = threading.RLock()
        os.makedirs(self.root, mode=0o700, exist_ok=True)  # NewFSMetadataStore

    def _path(self, namespace: str, dgst: str) -> str:
        try:
            parse_digest(dgst)
        except ValueError as err:
            raise errdefs.InvalidParameter(f"invalid digest {dgst!r}: {err}") from None
        algorithm, encoded = dgst.split(":", 1)
        return os.path.join(self.root, namespace, algorithm, encoded)

    def _read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _write(self, path: str, data: bytes) -> None:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755, exist_ok=True)
            fsync_dir(os.path.dirname(directory))
        atomic_write(path, data, 0o644)

    def get_metadata(self, diff_id: str) -> list[V2Metadata]:
        """Known blobs for a layer, oldest first; [] when none (or unreadable)."""
        raw = self._read(self._path(DIFFID_NAMESPACE, diff_id))
        if raw is None:
            return []
        try:
            items = json.loads(raw)
            return [
                V2Metadata(i["Digest"], i.get("SourceRepository", ""), i.get("HMAC", ""))
                for i in items
            ]
        except (ValueError, TypeError, KeyError):
            return []

    def get_diff_id(self, blob_digest: str) -> str:
        """The layer diff ID a registry blob unpacks to; NotFound when unknown."""
        raw = self._read(self._path(DIGEST_NAMESPACE, blob_digest))
        if raw is None:
            raise errdefs.NotFound(f"no diff ID known for {blob_digest}")
        return raw.decode()

    def add(self, diff_id: str, meta: V2Metadata) -> None:
        """Remember ``meta`` for ``diff_id`` (moved to newest if present; cap 50)."""
        with self._lock:
            entries = [m for m in self.get_metadata(diff_id) if m != meta]
            entries.append(meta)
            entries = entries[-MAX_METADATA:]
            data = json.dumps([m.to_json() for m in entries], separators=(",", ":")).encode()
            self._write(self._path(DIFFID_NAMESPACE, diff_id), data)
            self._write(self._path(DIGEST_NAMESPACE, meta.digest), diff_id.encode())

    def tag_and_add(self, diff_id: str, hmac_key: bytes, meta: V2Metadata) -> None:
        """``TagAndAdd``: store ``meta`` with its HMAC under ``hmac_key``."""
        self.add(
            diff_id, V2Metadata(meta.digest, meta.source_repository, compute_hmac(hmac_key, meta))
        )

    def remove(self, meta: V2Metadata) -> None:
        """Forget one blob association (e.g. the registry said the blob is gone)."""
        with self._lock:
            diff_id = self.get_diff_id(meta.digest)
            entries = [m for m in self.get_metadata(diff_id) if m != meta]
            path = self._path(DIFFID_NAMESPACE, diff_id)
            if not entries:
                try:
                    os.unlink(path)
                    fsync_dir(os.path.dirname(path))
                except FileNotFoundError:
                    pass
                return
            data = json.dumps([m.to_json() for m in entries], separators=(",", ":")).encode()
            self._write(path, data)
