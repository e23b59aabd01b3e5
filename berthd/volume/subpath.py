"""A volume's subpath (``--mount …,volume-subpath=sub``), opened and bound safely.

As dockerd's ``internal/safepath``: ``sub`` is opened beneath the volume's
directory with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)``, so no
symlink and no ``..`` can lead out of the volume (a symlink that stays inside
is followed), and what was opened — not the path, which could be swapped
afterwards — is bind-mounted on a private mount point under
``<exec-root>/safepath/<container>/``. The runtime binds that into the
container; the caller removes it once the runtime has (``release``), and
``sweep`` removes what a crash left behind.

The resolution is ``lib.fdtree.open_beneath`` (kernels without ``openat2``
get a walk by hand, one ``O_NOFOLLOW`` component at a time, symlinks refused).
``docker cp`` resolves the same way in its child (``cpchild.py``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import stat
from dataclasses import dataclass

from berthd import errdefs
from berthd.lib.fdtree import O_PATH, open_beneath
from berthd.lib.libc import LIBC

__all__ = ["SafePath", "join", "release", "sweep", "sweep_all"]

_MS_BIND = 4096
_MNT_DETACH = 2


def _missing_prefix(dir_fd: int, base: str, sub: str) -> str:
    """The first path that does not exist on the way to ``base/sub`` (Go's lstat error)."""
    path = base
    parts = [p for p in sub.split("/") if p not in ("", ".")]
    for i in range(len(parts)):
        path = posixpath.join(path, parts[i])
        try:
            os.close(open_beneath(dir_fd, "/".join(parts[: i + 1])))
        except OSError:
            return path
    return path


@dataclass(frozen=True)
class SafePath:
    """A bind of the opened subpath on a private mount point; ``path`` is its name."""

    path: str


def join(base: str, sub: str, where: str) -> SafePath:
    """Blocking: open ``base/sub`` beneath ``base`` and bind it at a new entry in ``where``.

    Errors are dockerd's: a path leading out is InvalidParameter ("path
    concatenation escapes the base directory …"), a missing one NotFound
    ("cannot access path …").
    """
    try:
        base_fd = os.open(base, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise errdefs.NotFound(
            f"cannot access path {base}: {os.strerror(e.errno or 0).lower()}"
        ) from None
    try:
        try:
            fd = open_beneath(base_fd, sub)
        except OSError as e:
            full = posixpath.join(base, sub)
            if e.errno == errno.EXDEV:
                raise errdefs.InvalidParameter(
                    f"path concatenation escapes the base directory, base: {base}, subpath: {sub}"
                ) from None
            if e.errno == errno.ENOENT:
                missing = _missing_prefix(base_fd, base, sub)
                raise errdefs.NotFound(
                    f"cannot access path {full}: lstat {missing}: no such file or directory"
                ) from None
            raise errdefs.NotFound(
                f"cannot access path {full}: {os.strerror(e.errno or 0).lower()}"
            ) from None
    finally:
        os.close(base_fd)
    try:
        return _bind_fd(fd, where)
    finally:
        os.close(fd)


def _bind_fd(fd: int, where: str) -> SafePath:
    os.makedirs(where, mode=0o700, exist_ok=True)
    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    n = 0
    while True:
        target = os.path.join(where, str(n))
        try:
            if is_dir:
                os.mkdir(target, 0o700)
            else:
                os.close(
                    os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
                )
            break
        except FileExistsError:
            n += 1
    src = f"/proc/self/fd/{fd}".encode()
    if LIBC.mount(src, os.fsencode(target), None, ctypes.c_ulong(_MS_BIND), None) != 0:
        err = ctypes.get_errno()
        _remove(target)
        raise errdefs.System(f"failed to mount resolved path: {os.strerror(err)}")
    return SafePath(target)


def _remove(path: str) -> None:
    """rmdir or unlink; a mount point that stays (busy, not ours) is left for the next sweep."""
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.unlink(path)


def release(path: str) -> None:
    """Blocking: unmount one safe path (lazily) and remove its mount point."""
    while LIBC.umount2(os.fsencode(path), _MNT_DETACH) == 0:
        pass  # a path bound twice (a crash between two starts) comes off whole
    _remove(path)


def _entries(where: str) -> list[str]:
    try:
        return [os.path.join(where, name) for name in os.listdir(where)]
    except FileNotFoundError:
        return []


def sweep(where: str) -> None:
    """Blocking: release every safe path under ``where`` (``<exec-root>/safepath/<id>``).

    Only ``rmdir``/``unlink``: a mount point still holding a volume is never emptied.
    """
    for path in _entries(where):
        release(path)
    with contextlib.suppress(OSError):
        os.rmdir(where)


def sweep_all(top: str) -> None:
    """Blocking: ``sweep`` every container's directory under ``top`` (at start-up)."""
    for where in _entries(top):
        sweep(where)
