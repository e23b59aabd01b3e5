"""Walk, measure and remove directory trees of any depth, through directory fds.

A container controls the shape of its file system: ``mkdir d; cd d`` 100,000
times is legal, and so is a path far longer than ``PATH_MAX`` (4,096 bytes:
the kernel refuses longer *strings*, not deeper trees). So nothing here
recurses on a tree's depth, and nothing builds an absolute path string to
reach an entry: every operation is ``*at()``-relative to the fd of the entry's
own directory.

:class:`DirChain` is the open chain ``root/a/b/…`` down to the current
directory, with at most :data:`FD_CAP` fds open however deep it goes: an
ancestor whose fd was closed is reopened with ``..`` from its child and checked
against the (device, inode) recorded on the way down, so a tree renamed under
us is noticed, never silently followed elsewhere. Every component is opened
with ``O_NOFOLLOW``: a symlink is never entered.

Standard library only (``cpchild.py`` imports it with ``python -I -S``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator

__all__ = [
    "FD_CAP",
    "O_DIR",
    "DirChain",
    "Entry",
    "TreeChanged",
    "TreeWalk",
    "at_path",
    "copy_tree",
    "lstat_beneath",
    "open_dir_beneath",
    "remove_at",
    "rmtree",
    "tree_bytes",
]

FD_CAP = 32
O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# What opening a component that is not a plain directory fails with.
_NOT_A_DIR = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


class TreeChanged(OSError):
    """A directory on the chain was moved while we walked."""

    def __init__(self) -> None:
        super().__init__(errno.ESTALE, "directory tree changed during the walk")


def at_path(dir_fd: int, name: str) -> str:
    """A short path naming ``name`` in the directory ``dir_fd`` (for calls
    without an ``*at()`` form: xattrs). Symlinks in ``name`` are not followed
    when the caller passes ``follow_symlinks=False``."""
    return f"/proc/self/fd/{dir_fd}/{name}"


def _components(rel: str) -> list[str]:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise OSError(errno.EINVAL, "path leaves its root", rel)
    return parts


class DirChain:
    """The open directories from a root down to the current one."""

    def __init__(self, root: str | int, *, cap: int | None = None) -> None:
        """``root``: a path (opened here) or an fd (owned from now on)."""
        fd = os.open(root, O_DIR & ~os.O_NOFOLLOW) if isinstance(root, str) else root
        st = os.fstat(fd)
        self._fds: list[int | None] = [fd]
        self._ids: list[tuple[int, int]] = [(st.st_dev, st.st_ino)]
        self.names: list[str] = []
        self._cap = max(cap if cap is not None else FD_CAP, 2)
        self._open = 1
        self._lowest = 1  # lowest index above the root that may still hold an fd

    def __enter__(self) -> DirChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fd(self) -> int:
        fd = self._fds[-1]
        assert fd is not None
        return fd

    @property
    def depth(self) -> int:
        return len(self.names)

    def push(self, name: str) -> bool:
        """Enter the directory ``name``; False (and no change) if it is not one."""
        try:
            fd = os.open(name, O_DIR, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in _NOT_A_DIR:
                return False
            raise
        st = os.fstat(fd)
        self._fds.append(fd)
        self._ids.append((st.st_dev, st.st_ino))
        self.names.append(name)
        self._open += 1
        while self._open > self._cap:
            old = self._fds[self._lowest]
            if old is not None:
                os.close(old)
                self._fds[self._lowest] = None
                self._open -= 1
            self._lowest += 1
        return True

    def pop(self) -> None:
        """Go back up one level."""
        top = self._fds.pop()
        assert top is not None and self.names
        self._ids.pop()
        self.names.pop()
        try:
            if self._fds[-1] is None:
                fd = os.open("..", O_DIR, dir_fd=top)
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != self._ids[-1]:
                    os.close(fd)
                    raise TreeChanged()
                self._fds[-1] = fd
                self._lowest = len(self._fds) - 1
                self._open += 1
        finally:
            os.close(top)
            self._open -= 1

    def goto(self, parts: list[str], *, create: Callable[[int, str], None] | None = None) -> None:
        """Make the chain ``root/parts…``: pop to the common prefix, push the rest.

        ``create(dir_fd, name)`` is called for a missing component (then entered);
        without it a missing or non-directory component raises ``ENOTDIR``.
        """
        depth = len(self.names)
        if parts[:depth] == self.names:  # the usual case (tar order): compared in C
            common = depth
        else:
            common = 0
            for have, want in zip(self.names, parts, strict=False):
                if have != want:
                    break
                common += 1
        while self.depth > common:
            self.pop()
        for name in parts[common:]:
            if self.push(name):
                continue
            if create is not None:
                try:
                    create(self.fd, name)
                except FileExistsError:
                    pass
                if self.push(name):
                    continue
            raise OSError(errno.ENOTDIR, "not a directory", "/".join(parts))

    def close(self) -> None:
        for fd in self._fds:
            if fd is not None:
                os.close(fd)
        self._fds = []
        self._open = 0


class Entry:
    """One entry met by :class:`TreeWalk`; ``dir_fd`` is valid while it is current
    (so is a lazy ``st``: read it then, not later)."""

    __slots__ = ("_dir", "_st", "dir_fd", "name", "path")

    def __init__(
        self, dir_fd: int, name: str, path: str, st: os.stat_result | None, is_dir: bool
    ) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.path = path  # relative to the root, "a/b/c"
        self._st = st
        self._dir = is_dir

    @property
    def st(self) -> os.stat_result:
        if self._st is None:
            self._st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        return self._st

    @property
    def is_dir(self) -> bool:
        return self._dir


def _sorted_names(fd: int) -> Iterator[str]:
    return iter(sorted(os.listdir(fd)))


def _sorted_kinds(fd: int) -> Iterator[tuple[str, bool]]:
    """(name, is a directory) from the directory's own type bits: no stat each."""
    with os.scandir(fd) as it:
        found = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    return iter(sorted(found))


class TreeWalk:
    """Every entry under a root, parents first, each directory's names sorted
    (Go's ``filepath.Walk`` order), iteratively.

    ``enter(name)`` / ``leave()`` are called as the walk goes into and out of a
    directory (after the entry was yielded), so callers can move cursors of
    their own in step (the lower layers of an overlay diff). Call :meth:`skip`
    while an entry is current not to descend into it. With ``stats=False``
    entries are typed from the directory listing and ``st`` is read only if
    asked (a walk that looks at names only costs no ``stat`` per entry).
    """

    def __init__(
        self,
        root: str | int,
        *,
        enter: Callable[[str], None] | None = None,
        leave: Callable[[], None] | None = None,
        stats: bool = True,
    ) -> None:
        self.chain = DirChain(root)
        self._enter = enter
        self._leave = leave
        self._stats = stats
        self._skip = False

    def skip(self) -> None:
        self._skip = True

    def close(self) -> None:
        self.chain.close()

    def __enter__(self) -> TreeWalk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _list(self, fd: int) -> Iterator[tuple[str, bool]]:
        if self._stats:
            return ((name, False) for name in _sorted_names(fd))
        return _sorted_kinds(fd)

    def __iter__(self) -> Iterator[Entry]:
        chain = self.chain
        stack = [self._list(chain.fd)]
        prefix = ""
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
                if stack:
                    left = chain.names[-1]
                    if self._leave is not None:
                        self._leave()
                    chain.pop()
                    prefix = prefix[: len(prefix) - len(left) - 1]
                continue
            name, is_dir = item
            st: os.stat_result | None = None
            if self._stats:
                try:
                    st = os.stat(name, dir_fd=chain.fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # gone under a running container
                is_dir = stat.S_ISDIR(st.st_mode)
            self._skip = False
            yield Entry(chain.fd, name, prefix + name, st, is_dir)
            if not is_dir or self._skip or not chain.push(name):
                continue
            try:
                names = self._list(chain.fd)
            except FileNotFoundError:
                chain.pop()
                continue
            if self._enter is not None:
                self._enter(name)
            prefix += name + "/"
            stack.append(names)


def open_dir_beneath(root_fd: int, parts: list[str]) -> int:
    """A new fd for the directory ``root/parts…``, no component followed."""
    fd = os.dup(root_fd)
    try:
        for name in parts:
            nxt = os.open(name, O_DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def lstat_beneath(root: str, rel: str) -> os.stat_result:
    """``lstat`` of ``root/rel`` without following any symlink on the way, at any depth."""
    parts = _components(rel)
    if not parts:
        return os.lstat(root)
    top = os.open(root, O_DIR & ~os.O_NOFOLLOW)
    try:
        fd = open_dir_beneath(top, parts[:-1])
    finally:
        os.close(top)
    try:
        return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)


def remove_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd`` (a whole tree if a directory); missing is fine."""
    try:
        os.unlink(name, dir_fd=dir_fd)
        return
    except FileNotFoundError:
        return
    except IsADirectoryError:
        pass
    except PermissionError:  # some file systems answer EPERM for a directory
        if not stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise
    try:
        top = os.open(name, O_DIR, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    with DirChain(top) as chain:
        stack = [iter(os.listdir(chain.fd))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                if stack:
                    done = chain.names[-1]
                    chain.pop()
                    os.rmdir(done, dir_fd=chain.fd)
                continue
            try:
                os.unlink(child, dir_fd=chain.fd)
                continue
            except FileNotFoundError:
                continue
            except IsADirectoryError:
                pass
            except PermissionError:
                st = os.stat(child, dir_fd=chain.fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise
            if chain.push(child):
                stack.append(iter(os.listdir(chain.fd)))
    os.rmdir(name, dir_fd=dir_fd)


def rmtree(path: str) -> None:
    """Remove the tree at ``path`` if it exists (iterative, any depth)."""
    parent, base = os.path.split(path.rstrip("/"))
    if not base:
        raise OSError(errno.EINVAL, "refusing to remove a root", path)
    try:
        pfd = os.open(parent or ".", O_DIR & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        remove_at(pfd, base)
    finally:
        os.close(pfd)


def tree_bytes(root: str) -> int:
    """Bytes of the non-directories under ``root``, each hard-linked inode once
    (moby's ``directory.Size``)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    try:
        walk = TreeWalk(root)
    except FileNotFoundError:
        return 0
    with walk:
        for entry in walk:
            st = entry.st
            if stat.S_ISDIR(st.st_mode):
                continue
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_size
    return total


_FICLONE = 0x40049409
_COPY_CHUNK = 1 << 30


def _copy_data(src: int, dst: int, size: int) -> None:
    """Share the blocks if the file system can (a reflink), else copy in the kernel."""
    import fcntl

    try:
        fcntl.ioctl(dst, _FICLONE, src)
        return
    except OSError:
        pass
    left = size
    while left > 0:
        done = os.copy_file_range(src, dst, min(left, _COPY_CHUNK))
        if done == 0:
            break  # the file shrank under us
        left -= done


def _copy_xattrs(src: int | str, dst: int | str) -> None:
    nofollow = {} if isinstance(src, int) else {"follow_symlinks": False}
    try:
        keys = os.listxattr(src, **nofollow)
    except OSError:
        return
    for key in keys:
        try:
            value = os.getxattr(src, key, **nofollow)
            os.setxattr(dst, key, value, **nofollow)
        except OSError:
            continue  # e.g. a user.* xattr the target file system refuses


def _copy_meta(src: int, dst: int, st: os.stat_result) -> None:
    os.fchown(dst, st.st_uid, st.st_gid)
    os.fchmod(dst, stat.S_IMODE(st.st_mode))  # after chown, which clears setuid bits
    _copy_xattrs(src, dst)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_tree(src: str, dst: str) -> None:
    """``cp -a`` of the tree ``src`` to the new directory ``dst``, by directory fds:
    owners, modes, times, xattrs, devices, symlinks and hard links kept, blocks
    shared where the file system can; iterative, any depth and path length."""
    os.mkdir(dst, 0o700)
    links: dict[tuple[int, int], tuple[list[str], str]] = {}
    with DirChain(src) as s, DirChain(dst) as d:
        dst_root = os.dup(d.fd)
        try:
            stack: list[tuple[Iterator[str], os.stat_result]] = [
                (_sorted_names(s.fd), os.fstat(s.fd))
            ]
            while stack:
                names, dir_st = stack[-1]
                name = next(names, None)
                if name is None:
                    stack.pop()
                    _copy_meta(s.fd, d.fd, dir_st)
                    if stack:
                        s.pop()
                        d.pop()
                    continue
                try:
                    st = os.stat(name, dir_fd=s.fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(name, 0o700, dir_fd=d.fd)
                    if s.push(name):
                        d.push(name)
                        stack.append((_sorted_names(s.fd), st))
                    continue
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    parts, first = links[key]
                    tfd = open_dir_beneath(dst_root, parts)
                    try:
                        os.link(first, name, src_dir_fd=tfd, dst_dir_fd=d.fd, follow_symlinks=False)
                    finally:
                        os.close(tfd)
                    continue
                _copy_one(s.fd, d.fd, name, st)
                if st.st_nlink > 1:
                    links[key] = (list(d.names), name)
        finally:
            os.close(dst_root)


def _copy_one(sdir: int, ddir: int, name: str, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        sfd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sdir)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            dfd = os.open(name, flags, 0o600, dir_fd=ddir)
            try:
                _copy_data(sfd, dfd, st.st_size)
                _copy_meta(sfd, dfd, st)
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
        return
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=sdir), name, dir_fd=ddir)
    else:  # devices, fifos, sockets
        os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=ddir)
    os.chown(name, st.st_uid, st.st_gid, dir_fd=ddir, follow_symlinks=False)
    if not stat.S_ISLNK(mode):
        os.chmod(name, stat.S_IMODE(mode), dir_fd=ddir)
        _copy_xattrs(at_path(sdir, name), at_path(ddir, name))
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=ddir, follow_symlinks=False)
