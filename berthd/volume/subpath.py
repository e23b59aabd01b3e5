"""A volume's subpath (``--mount …,volume-subpath=sub``), opened and bound safely.

As dockerd's ``internal/safepath``: ``sub`` is opened beneath the volume's
directory with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)``, so no
symlink and no ``..`` can lead out of the volume (a symlink that stays inside
is followed), and what was opened — not the path, which could be swapped
afterwards — is bind-mounted on a private mount point under
``<exec-root>/safepath/<container>/``. The runtime binds that into the
container; the caller removes it once the runtime has (``release``), and
``sweep`` removes what a crash left behind.

Kernels without ``openat2`` (before 5.6) get the same walk by hand: one
component at a time, ``O_PATH | O_NOFOLLOW``, and a symlink refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import stat

from berthd import errdefs
from berthd.lib.libc import LIBC

__all__ = ["SafePath", "join", "release", "sweep", "sweep_all"]

_SYS_OPENAT2 = 437  # the same number on x86_64, aarch64 and the other 64-bit ABIs
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_MS_BIND = 4096
_MNT_DETACH = 2
_O_PATH = getattr(os, "O_PATH", 0o10000000)


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


def _openat2(dir_fd: int, rel: str) -> int:
    """An O_PATH fd for ``rel`` beneath ``dir_fd``; -errno style errors as OSError."""
    how = _OpenHow(_O_PATH | os.O_CLOEXEC, 0, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    LIBC.syscall.restype = ctypes.c_long
    fd = LIBC.syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(dir_fd),
        ctypes.c_char_p(os.fsencode(rel)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return int(fd)


def _walk(dir_fd: int, rel: str) -> int:
    """openat2's job by hand: no symlink at all, ``..`` never above the root."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    chain = [os.dup(dir_fd)]
    try:
        for part in parts:
            if part == "..":
                if len(chain) == 1:
                    raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), rel)
                os.close(chain.pop())
                continue
            fd = os.open(part, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=chain[-1])
            chain.append(fd)
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), rel)
        out = chain.pop()
    finally:
        for fd in chain:
            os.close(fd)
    return out


def _open_beneath(dir_fd: int, rel: str) -> int:
    try:
        return _openat2(dir_fd, rel)
    except OSError as e:
        if e.errno != errno.ENOSYS:
            raise
    return _walk(dir_fd, rel)


def _missing_prefix(dir_fd: int, base: str, sub: str) -> str:
    """The first path that does not exist on the way to ``base/sub`` (Go's lstat error)."""
    path = base
    parts = [p for p in sub.split("/") if p not in ("", ".")]
    for i in range(len(parts)):
        path = posixpath.join(path, parts[i])
        try:
            os.close(_open_beneath(dir_fd, "/".join(parts[: i + 1])))
        except OSError:
            return path
    return path


class SafePath:
    """A bind of the opened subpath on a private mount point; ``path`` is its name."""

    def __init__(self, path: str) -> None:
        self.path = path


def join(base: str, sub: str, where: str) -> SafePath:
    """Blocking: open ``base/sub`` beneath ``base`` and bind it at a new entry in ``where``.

    Errors are dockerd's: a path leading out is InvalidParameter ("path
    concatenation escapes the base directory …"), a missing one NotFound
    ("cannot access path …").
    """
    try:
        base_fd = os.open(base, _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise errdefs.NotFound(
            f"cannot access path {base}: {os.strerror(e.errno or 0).lower()}"
        ) from None
    try:
        try:
            fd = _open_beneath(base_fd, sub)
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
