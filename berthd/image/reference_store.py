"""``repositories.json``: which names (tags and digests) point at which image IDs.

moby ``reference/store.go``, same file, same format, so a data-root is shared with
dockerd: compact JSON, keys sorted (Go marshals maps that way)::

    {"Repositories":{"busybox":{"busybox:latest":"sha256:…","busybox@sha256:…":"sha256:…"}}}

The outer key is the *familiar name* of the repository, the inner key the *familiar
string* of the reference; a reference with both tag and digest is stored by digest only.
Every change rewrites the file atomically under a lock, so concurrent tags from request
threads cannot lose each other's updates.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from berthd import errdefs
from berthd.image.reference import Reference, parse_normalized_named
from berthd.lib.atomicfile import write_atomic as atomic_write

__all__ = ["ReferenceStore"]


class ReferenceStore:
    """Thread-safe tag/digest → image ID map, persisted on every change."""

    def __init__(self, json_path: str) -> None:
        self.json_path = os.path.abspath(json_path)
        self._lock = threading.RLock()
        self._repositories: dict[str, dict[str, str]] = {}
        self._by_id: dict[str, dict[str, Reference]] = {}
        try:
            self._reload()
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self.json_path), mode=0o700, exist_ok=True)
            self._save()

    # --- persistence ----------------------------------------------------------------
    def _reload(self) -> None:
        with open(self.json_path, "rb") as f:
            data = f.read()
        try:
            doc = json.loads(data)
            repos = doc.get("Repositories") or {}
            if not isinstance(repos, dict):
                raise ValueError("Repositories is not an object")
        except (ValueError, AttributeError) as err:
            raise errdefs.DataLoss(f"corrupt {self.json_path}: {err}") from None
        for name, repo in repos.items():
            if not isinstance(repo, dict):
                continue
            clean: dict[str, str] = {}
            for ref_str, image_id in repo.items():
                if not isinstance(image_id, str):
                    continue
                try:
                    ref = parse_normalized_named(ref_str)
                except errdefs.InvalidParameter:
                    continue  # "should never happen" in moby too: skip it
                clean[ref_str] = image_id
                self._by_id.setdefault(image_id, {})[ref_str] = ref
            self._repositories[name] = clean

    def _save(self) -> None:
        payload = {"Repositories": self._repositories}
        data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        atomic_write(self.json_path, data, 0o600)

    @contextmanager
    def _mutating(self) -> Iterator[None]:
        """Apply a change in memory and save it; roll memory back if saving fails."""
        with self._lock:
            backup_repos = {k: dict(v) for k, v in self._repositories.items()}
            backup_ids = {k: dict(v) for k, v in self._by_id.items()}
            try:
                yield
                self._save()
            except BaseException:
                self._repositories, self._by_id = backup_repos, backup_ids
                raise

    # --- writes ---------------------------------------------------------------------
    def add_tag(self, ref: Reference, image_id: str, force: bool) -> None:
        """Point ``ref`` (``:latest`` when it has no tag) at ``image_id``.

        A digest reference cannot be a tag; an existing tag moves only with ``force``.
        """
        if ref.is_canonical:
            raise errdefs.InvalidParameter("refusing to create a tag with a digest reference")
        self._add(ref.tag_name_only(), image_id, force)

    def add_digest(self, ref: Reference, image_id: str, force: bool) -> None:
        """Record ``name@digest`` (e.g. after a pull); a digest never moves."""
        if not ref.is_canonical:
            raise errdefs.InvalidParameter("reference is not a digest reference")
        self._add(ref, image_id, force)

    def _add(self, ref: Reference, image_id: str, force: bool) -> None:
        ref = ref.favor_digest()
        name = ref.familiar_name()
        key = ref.familiar_string()
        if name == "sha256":
            raise errdefs.InvalidParameter(
                "refusing to create an ambiguous tag using digest algorithm as name"
            )
        with self._mutating():
            repo = self._repositories.setdefault(name, {})
            old = repo.get(key)
            if old is not None:
                if ref.is_canonical:
                    raise errdefs.Conflict(f"Cannot overwrite digest {ref.digest}")
                if not force:
                    raise errdefs.Conflict(
                        f"Conflict: Tag {key} is already set to image {old}, "
                        "if you want to replace it, please use the force option"
                    )
                self._drop_cached(old, key)
            repo[key] = image_id
            self._by_id.setdefault(image_id, {})[key] = ref

    def delete(self, ref: Reference) -> bool:
        """Remove one reference (``:latest`` if untagged); NotFound when absent."""
        ref = ref.favor_digest().tag_name_only()
        name = ref.familiar_name()
        key = ref.familiar_string()
        with self._lock:
            repo = self._repositories.get(name)
            if repo is None or key not in repo:
                raise errdefs.NotFound("reference does not exist")
            with self._mutating():
                image_id = repo.pop(key)
                if not repo:
                    del self._repositories[name]
                self._drop_cached(image_id, key)
        return True

    def _drop_cached(self, image_id: str, key: str) -> None:
        refs = self._by_id.get(image_id)
        if refs is not None:
            refs.pop(key, None)
            if not refs:
                del self._by_id[image_id]

    # --- reads ----------------------------------------------------------------------
    def get(self, ref: Reference) -> str:
        """The image ID a reference points at; a tag+digest reference looks up the digest."""
        ref = ref.favor_digest() if ref.is_canonical else ref.tag_name_only()
        with self._lock:
            repo = self._repositories.get(ref.familiar_name())
            if repo is None or ref.familiar_string() not in repo:
                raise errdefs.NotFound("reference does not exist")
            return repo[ref.familiar_string()]

    def references(self, image_id: str) -> list[Reference]:
        """Every reference to an image, sorted by full string (dockerd's order)."""
        with self._lock:
            refs = list(self._by_id.get(image_id, {}).values())
        return sorted(refs, key=str)

    def references_by_name(self, ref: Reference) -> list[tuple[Reference, str]]:
        """Every (reference, image ID) in ref's repository, sorted by reference string."""
        with self._lock:
            repo = dict(self._repositories.get(ref.familiar_name(), {}))
        out = [(parse_normalized_named(key), image_id) for key, image_id in repo.items()]
        return sorted(out, key=lambda pair: str(pair[0]))

    def image_ids(self) -> set[str]:
        """IDs that have at least one reference (everything else is dangling)."""
        with self._lock:
            return set(self._by_id)
