"""Pick a graph driver by name, or the best one the host supports.

As dockerd: an explicit ``--storage-driver`` is used or fails loudly; without
one, overlay2 is chosen when the kernel has overlayfs and the data root is on
a file system that can be an overlay upper dir, else vfs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from berthd import errdefs

from .driver import Driver
from .mounts import mount_overlay, unmount
from .overlay2 import Overlay2Driver
from .vfs import VfsDriver

__all__ = ["DRIVERS", "new_driver", "overlay_supported"]

DRIVERS = ("overlay2", "vfs")


def overlay_supported(root: str) -> bool:
    """True if an overlay mount with ``root`` as upper/work dir works here."""
    try:
        with open("/proc/filesystems", encoding="ascii") as f:
            if "overlay" not in f.read().split():
                return False
    except OSError:
        return False
    os.makedirs(root, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".check-overlay-", dir=root) as tmp:
            for sub in ("lower", "upper", "work", "merged"):
                os.mkdir(os.path.join(tmp, sub))
            try:
                mount_overlay(tmp, "lowerdir=lower,upperdir=upper,workdir=work", "merged")
            except errdefs.System:
                return False
            unmount(os.path.join(tmp, "merged"))
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(tmp, "work", "work"))
            return True
    except OSError:
        return False


def new_driver(data_root: str, name: str | None = None) -> Driver:
    """The driver ``name`` (or auto-picked) rooted at ``<data_root>/<name>``."""
    if name in (None, ""):
        probe = os.path.join(data_root, "overlay2")
        existed = os.path.exists(probe)
        if overlay_supported(probe):
            return Overlay2Driver(probe)
        if not existed:
            with contextlib.suppress(OSError):
                os.rmdir(probe)
        name = "vfs"
    if name == "overlay2":
        root = os.path.join(data_root, "overlay2")
        os.makedirs(root, exist_ok=True)
        if not overlay_supported(root):
            raise errdefs.InvalidParameter(
                "error initializing graphdriver: driver not supported: overlay2"
            )
        return Overlay2Driver(root)
    if name == "vfs":
        return VfsDriver(os.path.join(data_root, "vfs"))
    raise errdefs.InvalidParameter(f"error initializing graphdriver: driver not supported: {name}")
