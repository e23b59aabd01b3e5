"""The data-root and exec-root layout of DESIGN.md, created at start-up.

```
<data-root>/containers/ image/ volumes/ network/ trust/ tmp/
<exec-root>/
```

tmp/ is emptied at every start: whatever is there belongs to an operation a
previous process did not finish, and nothing refers to it.
"""

from __future__ import annotations

import os
import shutil

__all__ = ["DATA_DIRS", "backing_filesystem", "prepare_layout"]

# name → mode, as dockerd creates them
DATA_DIRS = {
    "containers": 0o710,
    "image": 0o700,
    "volumes": 0o701,
    "network": 0o700,
    "trust": 0o700,
    "tmp": 0o700,
}

# /proc names → the names Docker reports as "Backing Filesystem"
_FS_NAMES = {
    "ext4": "extfs",
    "ext3": "extfs",
    "ext2": "extfs",
    "xfs": "xfs",
    "btrfs": "btrfs",
    "tmpfs": "tmpfs",
    "overlay": "overlayfs",
    "zfs": "zfs",
    "f2fs": "f2fs",
}


def prepare_layout(data_root: str, exec_root: str) -> None:
    """Blocking: create the directories and clear tmp/."""
    os.makedirs(data_root, mode=0o711, exist_ok=True)
    for name, mode in DATA_DIRS.items():
        path = os.path.join(data_root, name)
        os.makedirs(path, mode=mode, exist_ok=True)
    tmp = os.path.join(data_root, "tmp")
    for entry in os.listdir(tmp):
        full = os.path.join(tmp, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except FileNotFoundError:
                pass
    os.makedirs(exec_root, mode=0o700, exist_ok=True)


def backing_filesystem(path: str) -> str:
    """The file system type under ``path`` (longest mount-point match)."""
    real = os.path.realpath(path)
    best, fstype = "", "unknown"
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return fstype
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, fstype = mount_point, right.split()[0]
    return _FS_NAMES.get(fstype, fstype)
