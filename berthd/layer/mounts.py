"""Mount and unmount overlay file systems, and count who uses each mount.

The legacy ``mount(2)`` option string is capped at one page (4095 bytes), so
absolute ``lowerdir`` paths stop working around 40 layers. As dockerd, the
overlay2 driver passes *relative* ``l/<26 chars>`` links and runs the mount
with its working directory set to the driver root: here that is the ``mount``
binary started with ``cwd=`` (the daemon process never ``chdir``\\s, which
would be process-wide) — only when the absolute paths would not fit; else one
``mount(2)``, as dockerd does. Unmounting needs no paths tricks: ``umount2(2)``.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading

from berthd import errdefs
from berthd.lib.libc import LIBC

__all__ = ["MountCounter", "is_mountpoint", "mount_overlay", "unmount"]

MNT_DETACH = 2
_libc = LIBC


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for space...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mountpoints() -> set[str]:
    """Every mount point of this process's mount namespace."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return {_unescape(line.split(" ", 5)[4]) for line in f}


def is_mountpoint(path: str) -> bool:
    return os.path.realpath(path) in mountpoints()


def _absolute(cwd: str, options: str) -> str:
    """``options`` with the relative lowerdir/upperdir/workdir paths made absolute."""
    out = []
    for opt in options.split(","):
        key, eq, value = opt.partition("=")
        if eq and key in ("lowerdir", "upperdir", "workdir"):
            value = ":".join(os.path.join(cwd, p) for p in value.split(":"))
        out.append(key + eq + value)
    return ",".join(out)


def mount_overlay(cwd: str, options: str, target: str) -> None:
    """``mount -t overlay overlay -o <options> <target>``, run inside ``cwd``.

    As dockerd's overlay2: one ``mount(2)`` with absolute paths when they fit in
    the page the kernel takes; else the ``mount`` binary in ``cwd`` (relative paths).
    """
    if len(options) >= 4096:
        raise errdefs.System("cannot mount layer, mount label too large")
    absolute = _absolute(cwd, options).encode()
    if len(absolute) < 4096:
        path = os.fsencode(os.path.join(cwd, target))
        if _libc.mount(b"overlay", path, b"overlay", 0, absolute) == 0:
            return
        err = ctypes.get_errno()
        raise errdefs.System(f"error creating overlay mount to {target}: {os.strerror(err)}")
    proc = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, target],
        cwd=cwd,
        capture_output=True,
        env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=False,
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise errdefs.System(f"error creating overlay mount to {target}: {msg}")


def unmount(target: str) -> None:
    """Detach the mount at ``target`` (lazy, like dockerd's overlay2 Put)."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err in (22, 2):  # EINVAL: not a mount point; ENOENT: gone already
            return
        raise errdefs.System(f"failed to unmount {target}: {os.strerror(err)}")


class MountCounter:
    """How many users hold each mount; the first ``get`` mounts, the last ``put``
    unmounts. A mount found already in place (the daemon restarted while a
    container ran) is adopted instead of mounted twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def increment(self, path: str) -> int:
        """Count one more user; return the new count (1 means: mount it now)."""
        with self._lock:
            count = self._counts.get(path)
            if count is None:
                count = 0
                if is_mountpoint(path):
                    count = 1
                    self._counts[path] = 1
                    return 2  # adopted: tell the caller not to mount
            self._counts[path] = count + 1
            return count + 1

    def decrement(self, path: str) -> int:
        """Count one user less; return the new count (0 means: unmount it now)."""
        with self._lock:
            count = self._counts.get(path, 0)
            if count <= 1:
                self._counts.pop(path, None)
                return 0
            self._counts[path] = count - 1
            return count - 1

    def count(self, path: str) -> int:
        with self._lock:
            return self._counts.get(path, 0)

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._counts)
