"""``docker rmi``: dockerd's untag/delete decision, over the image and reference stores.

moby ``daemon/images/image_delete.go``, transcribed rule for rule because clients and
scripts depend on the exact outcome and wording:

* by *name*: remove that reference; the image goes only when no reference is left
  (and then quietly: conflicts just stop the delete). Removing the last tag of an
  image a container uses needs ``force``.
* by *ID*: with at most one tag (plus digests of the same repository) all references
  go first; otherwise deleting needs ``force``.
* hard conflicts (child images, a running container) cannot be forced; soft ones
  (other references, a stopped container) can.
* ``prune`` (the default; ``--no-prune`` turns it off) then deletes untagged parents.

Which containers use an image comes from a callback: the container store is above this
package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from berthd import errdefs
from berthd.image.digest import digest_hex, truncate_id
from berthd.image.lookup import get_image
from berthd.image.reference import Reference, parse_normalized_named
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore

__all__ = ["ContainerUse", "DeleteItem", "ImageDeleteConflict", "ImageDeleter"]

_DEPENDENT_CHILD = 1
_RUNNING_CONTAINER = 2
_ACTIVE_REFERENCE = 4
_STOPPED_CONTAINER = 8
_HARD = _DEPENDENT_CHILD | _RUNNING_CONTAINER
_SOFT = _ACTIVE_REFERENCE | _STOPPED_CONTAINER


@dataclass(frozen=True, slots=True)
class ContainerUse:
    """A container that uses an image (as its image, or only through an image mount)."""

    id: str
    running: bool
    mount_only: bool = False  # dockerd's conflict checks look only at Config.Image


@dataclass(frozen=True, slots=True)
class DeleteItem:
    """One line of the ``DELETE /images/{name}`` answer."""

    untagged: str = ""
    deleted: str = ""

    def to_json(self) -> dict[str, str]:
        return {"Untagged": self.untagged} if self.untagged else {"Deleted": self.deleted}


class ImageDeleteConflict(errdefs.Conflict):
    """dockerd's ``imageDeleteConflict``: 409 with its exact message."""

    def __init__(self, image_id: str, hard: bool, used: bool, message: str) -> None:
        force = "cannot be forced" if hard else "must be forced"
        super().__init__(
            f"conflict: unable to delete {truncate_id(image_id)} ({force}) - {message}"
        )
        self.hard = hard
        self.used = used


ContainersUsing = Callable[[str], Sequence[ContainerUse]]


class ImageDeleter:
    """Runs ``ImageDelete``; blocking (stores write to disk)."""

    def __init__(
        self,
        images: ImageStore,
        references: ReferenceStore,
        containers_using: ContainersUsing,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self._images = images
        self._refs = references
        self._using = containers_using
        self._on_event = on_event

    def _event(self, image_id: str, action: str) -> None:
        if self._on_event is not None:
            self._on_event(image_id, action)

    def delete(self, image_ref: str, force: bool = False, prune: bool = True) -> list[DeleteItem]:
        """Untag and/or delete; the records in dockerd's order."""
        records: list[DeleteItem] = []
        image_id = get_image(self._images, self._refs, image_ref).id
        repo_refs = self._refs.references(image_id)
        removed_repository_ref = False
        if not _is_id_prefix(image_id, image_ref):
            if not force and _is_single_reference(repo_refs):
                users = self._using(image_id)
                if users:
                    raise errdefs.Conflict(
                        f'conflict: unable to remove repository reference "{image_ref}" '
                        f"(must force) - container {truncate_id(users[0].id)} is using its "
                        f"referenced image {truncate_id(image_id)}"
                    )
            parsed = self._remove_ref(parse_normalized_named(image_ref))
            self._event(image_id, "untag")
            records.append(DeleteItem(untagged=parsed.familiar_string()))
            repo_refs = self._refs.references(image_id)
            if not parsed.is_canonical:
                same_repo_tag = any(not r.is_canonical and r.name == parsed.name for r in repo_refs)
                if not same_repo_tag:
                    remaining: list[Reference] = []
                    for r in repo_refs:
                        if r.is_canonical and r.name == parsed.name:
                            self._remove_ref(r)
                            records.append(DeleteItem(untagged=r.familiar_string()))
                        else:
                            remaining.append(r)
                    repo_refs = remaining
            if repo_refs:
                return records
            removed_repository_ref = True
        elif _is_single_reference(repo_refs):
            mask = _HARD if force else _HARD | (_SOFT & ~_ACTIVE_REFERENCE)
            conflict = self._check_conflict(image_id, mask)
            if conflict is not None:
                raise conflict
            for r in repo_refs:
                parsed = self._remove_ref(r)
                self._event(image_id, "untag")
                records.append(DeleteItem(untagged=parsed.familiar_string()))
        self._delete_helper(image_id, records, force, prune, removed_repository_ref)
        return records

    def _remove_ref(self, ref: Reference) -> Reference:
        """Delete one reference (``:latest`` when untagged); absence is an error, as in moby."""
        ref = ref.tag_name_only()
        self._refs.delete(ref)
        return ref

    def _delete_helper(
        self, image_id: str, records: list[DeleteItem], force: bool, prune: bool, quiet: bool
    ) -> None:
        mask = _HARD if force else _HARD | _SOFT
        conflict = self._check_conflict(image_id, mask)
        if conflict is not None:
            if quiet and (not self._is_dangling(image_id) or conflict.used):
                return
            raise conflict
        parent = self._images.get_parent(image_id)
        for ref in self._refs.references(image_id):
            parsed = self._remove_ref(ref)
            self._event(image_id, "untag")
            records.append(DeleteItem(untagged=parsed.familiar_string()))
        removed_layers = self._images.delete(image_id)
        self._event(image_id, "delete")
        records.append(DeleteItem(deleted=image_id))
        records.extend(DeleteItem(deleted=chain) for chain in removed_layers)
        if prune and parent:
            self._delete_helper(parent, records, False, True, True)

    def _check_conflict(self, image_id: str, mask: int) -> ImageDeleteConflict | None:
        if mask & _DEPENDENT_CHILD and self._images.children(image_id):
            return ImageDeleteConflict(image_id, True, False, "image has dependent child images")
        users = [c for c in self._using(image_id) if not c.mount_only]
        if mask & _RUNNING_CONTAINER:
            running = next((c for c in users if c.running), None)
            if running is not None:
                return ImageDeleteConflict(
                    image_id,
                    True,
                    True,
                    f"image is being used by running container {truncate_id(running.id)}",
                )
        if mask & _ACTIVE_REFERENCE and self._refs.references(image_id):
            return ImageDeleteConflict(
                image_id, False, False, "image is referenced in multiple repositories"
            )
        if mask & _STOPPED_CONTAINER:
            stopped = next((c for c in users if not c.running), None)
            if stopped is not None:
                return ImageDeleteConflict(
                    image_id,
                    False,
                    True,
                    f"image is being used by stopped container {truncate_id(stopped.id)}",
                )
        return None

    def _is_dangling(self, image_id: str) -> bool:
        return not self._refs.references(image_id) and not self._images.children(image_id)


def _is_id_prefix(image_id: str, possible_prefix: str) -> bool:
    return image_id.startswith(possible_prefix) or digest_hex(image_id).startswith(possible_prefix)


def _is_single_reference(refs: Sequence[Reference]) -> bool:
    """At most one tag, and every digest reference in that tag's repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical_names: set[str] = set()
    for ref in refs:
        if ref.is_canonical:
            canonical_names.add(ref.name)
        elif single is None:
            single = ref
        else:
            return False
    if single is None:
        single = refs[0]
    return len(canonical_names) == 1 and single.name in canonical_names
