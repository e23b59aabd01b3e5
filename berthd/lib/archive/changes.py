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

from berthd.lib.fdtree import DirChain, TreeWalk, at_path, lstat_beneath, tree_bytes

from .tarwriter import TarBuilder
from .whiteouts import is_opaque_dir, is_whiteout_device

__all__ = [
    "Change",
    "ChangeKind",
    "changes_dirs",
    "changes_dirs_size",
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


# A cursor per lower layer (up to 128 of them): few fds each, the rest reopened with "..".
_LOWER_FD_CAP = 4


class _LowerCursor:
    """One lower layer, kept at the directory the upper walk is in (or below
    where the layer has no such directory: then it has nothing to say)."""

    def __init__(self, root: str) -> None:
        self.chain: DirChain | None
        try:
            self.chain = DirChain(root, cap=_LOWER_FD_CAP)
        except (FileNotFoundError, NotADirectoryError):
            self.chain = None
        self.missing = 0 if self.chain is not None else 1

    def enter(self, name: str) -> None:
        if self.missing or self.chain is None or not self.chain.push(name):
            self.missing += 1

    def leave(self) -> None:
        if self.missing:
            self.missing -= 1
        elif self.chain is not None:
            self.chain.pop()

    def lstat(self, name: str) -> os.stat_result | None:
        if self.missing or self.chain is None:
            return None
        try:
            return os.stat(name, dir_fd=self.chain.fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def close(self) -> None:
        if self.chain is not None:
            self.chain.close()


def overlay_changes(layers: list[str], rw: str) -> list[Change]:
    """Changes of the upper dir ``rw`` against the lower diff dirs ``layers``.

    One iterative walk of the upper dir; each lower layer is a cursor moved in
    step with it, so a lookup is one ``fstatat`` at any depth, and nothing in a
    lower layer is ever followed (a lower symlink is an entry, not a way in).
    """
    changes: list[Change] = []
    changed_dirs: set[str] = set()
    lowers = [_LowerCursor(layer) for layer in layers]

    def enter(name: str) -> None:
        for lower in lowers:
            lower.enter(name)

    def leave() -> None:
        for lower in lowers:
            lower.leave()

    try:
        with TreeWalk(rw, enter=enter, leave=leave) as walk:
            for entry in walk:
                path, st = "/" + entry.path, entry.st
                is_dir = stat.S_ISDIR(st.st_mode)
                deleted = is_whiteout_device(st) or (
                    is_dir and is_opaque_dir(at_path(entry.dir_fd, entry.name))
                )
                if deleted:
                    kind = ChangeKind.DELETE
                else:
                    kind = ChangeKind.ADD
                    skip = False
                    for lower in lowers:
                        low = lower.lstat(entry.name)
                        if low is None:
                            continue
                        if (
                            stat.S_ISDIR(low.st_mode)
                            and is_dir
                            and low.st_size == st.st_size
                            and low.st_mode == st.st_mode
                            and _same_time(low.st_mtime_ns, st.st_mtime_ns)
                        ):
                            skip = True
                        kind = ChangeKind.MODIFY
                        break
                    if skip:
                        continue
                if is_dir:
                    changed_dirs.add(path)
                if kind in (ChangeKind.ADD, ChangeKind.DELETE):
                    parent = path.rsplit("/", 1)[0] or "/"
                    if parent != "/" and parent not in changed_dirs:
                        changes.append(Change(parent, ChangeKind.MODIFY))
                        changed_dirs.add(parent)
                changes.append(Change(path, kind))
    finally:
        for lower in lowers:
            lower.close()
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
    """The whole tree under ``root`` in memory (iterative, any depth)."""
    top = _Node(os.lstat(root), None)
    parents = [top]
    last: list[_Node] = [top]

    def enter(name: str) -> None:
        parents.append(last[0])

    def leave() -> None:
        parents.pop()

    with TreeWalk(root, enter=enter, leave=leave) as walk:
        for entry in walk:
            child = _Node(entry.st, _cap(at_path(entry.dir_fd, entry.name)))
            parents[-1].children[entry.name] = child
            last[0] = child
    return top


def _stat_differs(a: os.stat_result, b: os.stat_result) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid, a.st_rdev) != (b.st_mode, b.st_uid, b.st_gid, b.st_rdev):
        return True
    if stat.S_ISDIR(a.st_mode):
        return False
    return a.st_mtime_ns != b.st_mtime_ns or a.st_size != b.st_size


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


_Found = tuple[Change, os.stat_result | None]


def _compare(new_dir: str, old_dir: str | None) -> list[_Found]:
    """moby's ``ChangesDirs`` over two in-memory trees, iteratively: each change
    with the new side's stat (None for deletions)."""
    new = _tree(new_dir)
    old = _tree(old_dir) if old_dir is not None else _Node(new.st, None)
    out: list[_Found | None] = []
    found = [0]  # real changes in ``out`` so far (slots not counted)
    # Frames: node, path, added, slot for its own Modify, changes found before it,
    # names left, old children left.
    stack: list[tuple[_Node, str, bool, int, int, Iterator[str], dict[str, _Node]]] = []

    def emit(change: Change, st: os.stat_result | None) -> None:
        out.append((change, st))
        found[0] += 1

    def start(node: _Node, before: _Node | None, path: str, added: bool) -> None:
        slot, seen = len(out), found[0]
        out.append(None)  # becomes a Modify of ``path`` if something below changed
        if before is None:
            emit(Change(path, ChangeKind.ADD), node.st)
            added = True
        kids = dict(before.children) if before is not None and stat.S_ISDIR(node.st.st_mode) else {}
        stack.append((node, path, added, slot, seen, iter(sorted(node.children)), kids))

    start(new, old, "/", False)
    while stack:
        node, path, added, slot, seen, names, kids = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            for gone in sorted(kids):
                emit(Change(_join(path, gone), ChangeKind.DELETE), None)
            if found[0] > seen and stat.S_ISDIR(node.st.st_mode) and not added and path != "/":
                out[slot] = (Change(path, ChangeKind.MODIFY), node.st)
                found[0] += 1
            continue
        child = node.children[name]
        child_path = _join(path, name)
        before = kids.pop(name, None)
        child_added = False
        if before is not None and (_stat_differs(before.st, child.st) or before.cap != child.cap):
            emit(Change(child_path, ChangeKind.MODIFY), child.st)
            child_added = True
        start(child, before, child_path, child_added)
    return [f for f in out if f is not None]


def changes_dirs(new_dir: str, old_dir: str | None) -> list[Change]:
    """Changes turning the tree ``old_dir`` (None: empty) into ``new_dir``."""
    return [change for change, _ in _compare(new_dir, old_dir)]


def _sum_sizes(found: list[_Found]) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    for change, st in found:
        if change.kind is ChangeKind.DELETE or st is None or stat.S_ISDIR(st.st_mode):
            continue
        if st.st_nlink > 1:
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        total += st.st_size
    return total


def changes_dirs_size(new_dir: str, old_dir: str | None) -> int:
    """``changes_size`` of ``changes_dirs`` in one pass (no path looked up again)."""
    return _sum_sizes(_compare(new_dir, old_dir))


def changes_size(root: str, changes: list[Change]) -> int:
    """Bytes of the added/modified non-directories (hardlinks once), as moby's
    ``ChangesSize``: a container's ``SizeRw`` on vfs."""
    found: list[_Found] = []
    for change in changes:
        if change.kind is ChangeKind.DELETE:
            continue
        try:
            found.append((change, lstat_beneath(root, change.path)))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return _sum_sizes(found)


def tree_size(root: str) -> int:
    """Bytes of the non-directories under ``root`` (hardlinks once): an overlay
    upper dir's size, as moby's ``directory.Size``."""
    return tree_bytes(root)


def _ancestors(paths: list[str]) -> set[str]:
    """Every proper ancestor of ``paths`` (relative, "a/b"), each found once."""
    out: set[str] = set()
    for path in sorted(paths):
        cut = path.rfind("/")
        while cut > 0:
            parent = path[:cut]
            if parent in out:
                break
            out.add(parent)
            cut = parent.rfind("/")
    return out


def export_changes(root: str, changes: list[Change]) -> Iterator[bytes]:
    """A layer tar of ``changes`` read from ``root``; deletions become ``.wh.``.

    The tree is walked once (iteratively, by directory fds) and only the changed
    entries are written, so any depth works; deletions follow, sorted.
    """
    builder = TarBuilder()
    wanted = {c.path.strip("/") for c in changes if c.kind is not ChangeKind.DELETE}
    wanted.discard("")
    through = _ancestors(list(wanted))
    if wanted:
        with TreeWalk(root) as walk:
            for entry in walk:
                if entry.path in wanted:
                    yield from builder.add_at(entry.dir_fd, entry.name, entry.path, entry.st)
                if entry.path not in through:
                    walk.skip()
    for change in sorted(changes, key=lambda c: c.path):
        if change.kind is ChangeKind.DELETE:
            yield builder.whiteout(change.path.lstrip("/"))
    yield builder.end()
