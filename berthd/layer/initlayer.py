"""The "-init" layer between an image and a container's writable layer.

dockerd (daemon/initlayer) puts empty placeholders there for what the runtime
will bind-mount or the kernel will mount: /etc/hosts, /etc/hostname,
/etc/resolv.conf, /dev/shm, /proc... so mount targets exist even in images
that lack them, without those files showing up in ``docker diff`` or commits.

The tree belongs to an untrusted image, so we never follow a symlink on the
way: if any component is a symlink (or the path already exists) the
placeholder is simply not created, where dockerd's ``os.Stat`` would follow.
"""

from __future__ import annotations

import os
import stat

__all__ = ["INIT_PATHS", "setup_init_layer"]

# path -> "dir", "file", or a symlink target (dockerd's list, same order).
INIT_PATHS: dict[str, str] = {
    "/dev/pts": "dir",
    "/dev/shm": "dir",
    "/proc": "dir",
    "/sys": "dir",
    "/.dockerenv": "file",
    "/etc/resolv.conf": "file",
    "/etc/hosts": "file",
    "/etc/hostname": "file",
    "/dev/console": "file",
    "/etc/mtab": "/proc/mounts",
}


def _ensure_parents(root: str, parts: list[str], uid: int, gid: int) -> str | None:
    """Create missing parent dirs; None if a component is not a real directory."""
    path = root
    for part in parts:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            os.lchown(path, uid, gid)
            continue
        if not stat.S_ISDIR(st.st_mode):
            return None
    return path


def setup_init_layer(root: str, uid: int = 0, gid: int = 0) -> None:
    """Populate ``root`` (the mounted init layer) with the placeholders."""
    for rel, kind in INIT_PATHS.items():
        parts = rel.strip("/").split("/")
        parent = _ensure_parents(root, parts[:-1], uid, gid)
        if parent is None:
            continue
        path = os.path.join(parent, parts[-1])
        if os.path.lexists(path):
            continue
        if kind == "dir":
            os.mkdir(path, 0o755)
        elif kind == "file":
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o755)
            os.close(fd)
        else:
            os.symlink(kind, path)
        os.lchown(path, uid, gid)
