"""Tar a tree and reach deep directories with the standard library only.

Shared by the chrooted children of ``docker cp`` (``daemon/containers/cpchild.py``)
and :func:`berthd.lib.archive.archive_in_root`, which run as ``python -I -S`` and
import this module (and :mod:`berthd.lib.fdtree`) before they ``chroot``. Entries
are read relative to their directory's fd and trees are walked iteratively, so a
container's tree of any depth and path length is archived whole, with the headers
``tarfile.add`` would write.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator

from berthd.lib.fdtree import O_DIR, TreeWalk

__all__ = ["LONG_NAME", "add_at", "add_tree", "chdir_into", "place", "tar_info"]


def tar_info(
    name: str, st: os.stat_result, dir_fd: int | None, base: str, links: dict[tuple[int, int], str]
) -> tarfile.TarInfo | None:
    """The header ``tarfile.add`` would make for ``base`` (in ``dir_fd``), read by fd."""
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    ti.uname = ti.gname = ""
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(base, dir_fd=dir_fd)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
        else:
            if st.st_nlink > 1:
                links[key] = name
            ti.type, ti.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return None  # sockets do not go into a tar
    return ti


def add_at(
    tf: tarfile.TarFile,
    name: str,
    st: os.stat_result,
    dir_fd: int | None,
    base: str,
    links: dict[tuple[int, int], str],
) -> None:
    try:
        ti = tar_info(name, st, dir_fd, base, links)
    except FileNotFoundError:
        return  # gone under a running container
    if ti is None:
        return
    if ti.type != tarfile.REGTYPE:
        tf.addfile(ti)
        return
    try:
        fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "rb") as f:
        tf.addfile(ti, f)


def add_tree(tf: tarfile.TarFile, path: str, name: str, *, recursive: bool = True) -> None:
    """``tf.add(path, arcname=name, recursive=…)``, by fds and iteratively; a
    directory's entries are named ``name/…`` (``/…`` when ``name`` is empty)."""
    links: dict[tuple[int, int], str] = {}
    top = os.lstat(path)
    add_at(tf, name or "/", top, None, path, links)
    if not recursive or not stat.S_ISDIR(top.st_mode):
        return
    prefix = name + "/" if name else "/"
    with TreeWalk(os.open(path, O_DIR)) as walk:
        for entry in walk:
            add_at(tf, prefix + entry.path, entry.st, entry.dir_fd, entry.name, links)


# A member whose name is longer than this is created from inside its parent directory
# (tarfile opens members by their whole name, which stops at PATH_MAX).
LONG_NAME = 3072
_CHDIR_CHUNK = 2048


def chdir_into(parts: list[str]) -> None:
    """``cd`` down ``parts`` (in the chroot: the container's own resolution), making
    missing directories, a few KiB of path per ``chdir``."""
    i = 0
    while i < len(parts):
        j, size = i, 0
        while j < len(parts) and (j == i or size + len(parts[j]) < _CHDIR_CHUNK):
            size += len(parts[j]) + 1
            j += 1
        try:
            os.chdir("/".join(parts[i:j]))
        except FileNotFoundError:
            for comp in parts[i:j]:
                try:
                    os.mkdir(comp, 0o755)
                except FileExistsError:
                    pass
                os.chdir(comp)
        i = j


def _dir_here(member: tarfile.TarInfo) -> None:
    """A directory member, made in the working directory under its base name."""
    try:
        os.mkdir(member.name, 0o700)
    except FileExistsError:
        pass
    os.chown(member.name, member.uid, member.gid, follow_symlinks=False)
    os.chmod(member.name, member.mode)
    os.utime(member.name, (member.mtime, member.mtime), follow_symlinks=False)


def place(
    members: Iterable[tarfile.TarInfo],
    top: int,
    check: Callable[[tarfile.TarInfo, str], None] | None = None,
) -> Iterator[tarfile.TarInfo]:
    """Members (names already cleaned and relative) ready for ``extractall(".")``
    from the directory ``top`` (an fd), whatever their length.

    A member whose name ``tarfile`` could not open (past :data:`LONG_NAME`) is
    renamed to its base name with the working directory moved to its parent
    (followed as the tree resolves it: in a chroot, the container's own view); a
    long directory is made here (its time then moves with its children's). The
    working directory is back at ``top`` for every other member and at the end,
    where ``extractall`` sets the directories' times. ``check(member, path)``
    runs with the working directory in place (``path`` is the member's full one).
    """
    here: list[str] = []  # where the working directory is, below ``top``
    for member in members:
        parts = [] if member.name == "." else member.name.split("/")
        shown = "/".join(parts)
        long = len(os.fsencode(member.name)) > LONG_NAME
        parent = parts[:-1] if long else []
        if not here or parent[: len(here)] != here:
            os.fchdir(top)
            here = []
        if long:
            if member.islnk():
                raise OSError(errno.ENAMETOOLONG, "hard link with a long name", shown)
            chdir_into(parent[len(here) :])  # a tree's entries come parents first
            here = parent
            member.name = parts[-1]
        if check is not None:
            check(member, shown)
        if long and member.isdir():
            _dir_here(member)
            continue
        yield member
    os.fchdir(top)
