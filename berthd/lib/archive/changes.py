"""What changed in a container's filesystem: the data behind ``docker diff``.

Two algorithms, as in moby's pkg/archive/changes.go:

* :func:`overlay_changes` walks only the upper (rw) directory and asks the
  lower layers whether each path existed (Modify) or not (Add); overlay
  whiteouts (0/0 char devices) and opaque directories are Deletes.
* :func:`changes_dirs` compares two full trees (vfs, where the rw layer is a
  complete copy): added, deleted, or modified by stat (mode, owner, rdev, and
  for non-directories size and mtime) or by the ``security.capability`` xattr.

Kinds are dockerd's numbers (Modify=0, Add=1, Delete=2), which the API sends.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import stat
from collections.abc import Iterator

from .tarwriter import TarBuilder
from .whiteouts import is_opaque_dir, is_whiteout_device

__all__ = [
    "Change",
    "ChangeKind",
    "changes_dirs",
    "changes_size",
    "export_changes",
    "overlay_changes",
    "tree_size",
]


class ChangeKind(enum.IntEnum):
    MODIFY = 0
    ADD = 1
    DELETE = 2

    def letter(self) -> str:
        return "CAD"[self.value]


@dataclasses.dataclass(frozen=True, order=True)
class Change:
    path: str  # absolute inside the container, e.g. "/etc/passwd"
    kind: ChangeKind


def _same_time(a: int, b: int) -> bool:
    """moby's sameFsTime: equal, or same second with one side lacking nanoseconds."""
    if a == b:
        return True
    return a // 10**9 == b // 10**9 and (a % 10**9 == 0 or b % 10**9 == 0)


def _walk(root: str, rel: str = "/") -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) pairs in lexical order, as Go's filepath.Walk."""
    base = root if rel == "/" else root + rel
    for name in sorted(os.listdir(base)):
        path = rel + name if rel == "/" else rel + "/" + name
        st = os.lstat(root + path)
        yield path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, path)


def overlay_changes(layers: list[str], rw: str) -> list[Change]:
    """Changes of the upper dir ``rw`` against the lower diff dirs ``layers``."""
    changes: list[Change] = []
    changed_dirs: set[str] = set()
    for path, st in _walk(rw):
        deleted = is_whiteout_device(st) or (stat.S_ISDIR(st.st_mode) and is_opaque_dir(rw + path))
        if deleted:
            kind = ChangeKind.DELETE
        else:
            kind = ChangeKind.ADD
            skip = False
            for layer in layers:
                try:
                    lower = os.stat(layer + path)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if (
                    stat.S_ISDIR(lower.st_mode)
                    and stat.S_ISDIR(st.st_mode)
                    and lower.st_size == st.st_size
                    and lower.st_mode == st.st_mode
                    and _same_time(lower.st_mtime_ns, st.st_mtime_ns)
                ):
                    skip = True
                kind = ChangeKind.MODIFY
                break
            if skip:
                continue
        if stat.S_ISDIR(st.st_mode):
            changed_dirs.add(path)
        if kind in (ChangeKind.ADD, ChangeKind.DELETE):
            parent = os.path.dirname(path)
            if parent != "/" and parent not in changed_dirs:
                changes.append(Change(parent, ChangeKind.MODIFY))
                changed_dirs.add(parent)
        changes.append(Change(path, kind))
    return changes


@dataclasses.dataclass
class _Node:
    st: os.stat_result
    cap: bytes | None
    children: dict[str, _Node] = dataclasses.field(default_factory=dict)


def _cap(path: str) -> bytes | None:
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None


def _tree(root: str) -> _Node:
    top = _Node(os.lstat(root), None)
    stack = [(root, top)]
    while stack:
        path, node = stack.pop()
        for entry in os.scandir(path):
            st = entry.stat(follow_symlinks=False)
            child = _Node(st, _cap(entry.path))
            node.children[entry.name] = child
            if stat.S_ISDIR(st.st_mode):
                stack.append((entry.path, child))
    return top


def _stat_differs(a: os.stat_result, b: os.stat_result) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid, a.st_rdev) != (b.st_mode, b.st_uid, b.st_gid, b.st_rdev):
        return True
    if stat.S_ISDIR(a.st_mode):
        return False
    return a.st_mtime_ns != b.st_mtime_ns or a.st_size != b.st_size


def _add_changes(new: _Node, old: _Node | None, path: str, out: list[Change], added: bool) -> None:
    at_entry = len(out)
    if old is None:
        out.append(Change(path, ChangeKind.ADD))
        added = True
    old_children = dict(old.children) if old is not None and stat.S_ISDIR(new.st.st_mode) else {}
    for name in sorted(new.children):
        child = new.children[name]
        child_path = path.rstrip("/") + "/" + name
        old_child = old_children.pop(name, None)
        child_added = False
        if old_child is not None and (
            _stat_differs(old_child.st, child.st) or old_child.cap != child.cap
        ):
            out.append(Change(child_path, ChangeKind.MODIFY))
            child_added = True
        _add_changes(child, old_child, child_path, out, child_added)
    for name in sorted(old_children):
        out.append(Change(path.rstrip("/") + "/" + name, ChangeKind.DELETE))
    if len(out) > at_entry and stat.S_ISDIR(new.st.st_mode) and not added and path != "/":
        out.insert(at_entry, Change(path, ChangeKind.MODIFY))


def changes_dirs(new_dir: str, old_dir: str | None) -> list[Change]:
    """Changes turning the tree ``old_dir`` (None: empty) into ``new_dir``."""
    new = _tree(new_dir)
    old = _tree(old_dir) if old_dir is not None else _Node(new.st, None)
    out: list[Change] = []
    _add_changes(new, old, "/", out, False)
    return out


def changes_size(root: str, changes: list[Change]) -> int:
    """Bytes of the added/modified non-directories (hardlinks once), as moby's
    ``ChangesSize``: a container's ``SizeRw`` on vfs."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for change in changes:
        if change.kind is ChangeKind.DELETE:
            continue
        try:
            st = os.lstat(root + change.path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        if st.st_nlink > 1:
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        total += st.st_size
    return total


def tree_size(root: str) -> int:
    """Bytes of the non-directories under ``root`` (hardlinks once): an overlay
    upper dir's size, as moby's ``directory.Size``."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [root]
    while stack:
        for entry in os.scandir(stack.pop()):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def export_changes(root: str, changes: list[Change]) -> Iterator[bytes]:
    """A layer tar of ``changes`` read from ``root``; deletions become ``.wh.``."""
    builder = TarBuilder()
    for change in sorted(changes, key=lambda c: c.path):
        rel = change.path.lstrip("/")
        if change.kind is ChangeKind.DELETE:
            yield builder.whiteout(rel)
        else:
            yield from builder.add(os.path.join(root, rel), rel)
    yield builder.end()
