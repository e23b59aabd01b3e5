"""The local driver's mount options (``-o type=… -o device=… -o o=…``) and mounting them.

A local volume created with ``type``/``device`` is not a plain directory: its
``_data`` is a mount point that is mounted when the first user mounts the
volume and unmounted after the last one leaves, as dockerd does. Validation
happens at create time so that a bad option fails ``docker volume create``,
not the later ``docker run``.

Mounting goes through mount(8): it parses ``o=`` into flags and data exactly
as the kernel expects (``bind``, ``ro``, ``size=…``, ``addr=…``) and runs the
helpers (mount.nfs, mount.cifs) when a type needs one. Unmounting is a lazy
umount2(2), as moby's ``mount.Unmount``.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berthd.errdefs import InvalidParameter, System

__all__ = [
    "MountOptions",
    "is_mounted",
    "mount",
    "parse_ram_bytes",
    "unmount",
    "validate_opts",
]

VALID_OPTS = ("type", "o", "device", "size")
# option → the options it requires (moby's mandatoryOpts), checked in this order
MANDATORY_OPTS: dict[str, tuple[str, ...]] = {
    "device": ("type",),
    "type": ("device",),
    "o": ("device", "type"),
}

_MNT_DETACH = 2
_RAM_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_ram_bytes(value: str) -> int:
    """go-units ``RAMInBytes``: "64m", "1.5GiB", "100" → bytes (binary multiples)."""
    m = _RAM_SIZE.match(value)
    if m is None:
        raise InvalidParameter(f"invalid size: '{value}'")
    size = float(m.group(1))
    unit = (m.group(2) or "").lower()
    return int(size * (1024 ** _UNITS.get(unit, 0)))


def validate_opts(opts: Mapping[str, str] | None) -> None:
    """Refuse what the local driver cannot do, with dockerd's messages."""
    if not opts:
        return
    for key in opts:
        if key not in VALID_OPTS:
            raise InvalidParameter(f'invalid option: "{key}"')
    if opts.get("type") == "cifs" and opts.get("device", ""):
        host = opts["device"].split("//", 1)[-1].split("/", 1)[0]
        if re.search(r":\d+$", host) and not host.endswith("]"):
            raise InvalidParameter("port not allowed in CIFS device URL, include 'port' in 'o='")
    if "size" in opts and parse_ram_bytes(opts["size"]) > 0:
        # berthd has no project-quota support (dockerd only has it on xfs)
        raise InvalidParameter("quota size requested but no quota support")
    for key, required in MANDATORY_OPTS.items():
        if key in opts:
            for req in required:
                if req not in opts:
                    raise InvalidParameter(f'missing required option: "{req}"')


@dataclass(frozen=True)
class MountOptions:
    """The parsed options, as moby's ``optsConfig`` (persisted in opts.json)."""

    mount_type: str = ""
    mount_opts: str = ""
    mount_device: str = ""

    @classmethod
    def from_opts(cls, opts: Mapping[str, str] | None) -> MountOptions | None:
        if not opts:
            return None
        return cls(opts.get("type", ""), opts.get("o", ""), opts.get("device", ""))

    @property
    def needs_mount(self) -> bool:
        return bool(self.mount_device or self.mount_type)

    def to_json(self) -> dict[str, Any]:
        # moby's field names, so an opts.json reads the same to a human who knows dockerd's
        return {
            "MountType": self.mount_type,
            "MountOpts": self.mount_opts,
            "MountDevice": self.mount_device,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MountOptions | None:
        opts = cls(
            str(data.get("MountType", "")),
            str(data.get("MountOpts", "")),
            str(data.get("MountDevice", "")),
        )
        return None if opts == cls() else opts


def _mask_password(text: str, mount_opts: str) -> str:
    for part in mount_opts.split(","):
        if part.startswith("password="):
            text = text.replace(part, "password=********")
    return text


def mount(opts: MountOptions, target: str) -> None:
    """Blocking: mount the volume's device on ``target`` (its _data directory)."""
    if not opts.mount_device:
        raise System("failed to mount local volume: missing device in volume options")
    argv = ["mount", "-n"]
    if opts.mount_type:
        argv += ["-t", opts.mount_type]
    if opts.mount_opts:
        argv += ["-o", opts.mount_opts]
    argv += ["--", opts.mount_device, target]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise System(f"failed to mount local volume: {e}") from None
    if proc.returncode != 0:
        detail = proc.stderr.strip() or f"exit status {proc.returncode}"
        msg = (
            f"failed to mount local volume: mount {opts.mount_device}:{target}, "
            f"data: {opts.mount_opts}: {detail}"
        )
        raise System(_mask_password(msg, opts.mount_opts))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def unmount(target: str) -> None:
    """Blocking: lazily unmount ``target``; an error only if it stays mounted."""
    rc = _libc().umount2(os.fsencode(target), _MNT_DETACH)
    if rc != 0:
        errno = ctypes.get_errno()
        if is_mounted(target):
            raise System(f"unmount {target}: {os.strerror(errno)}")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mounted(path: str) -> bool:
    """True when ``path`` itself is a mount point (per /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split(" ", 5)
                if len(fields) > 4 and _unescape(fields[4]) == real:
                    return True
    except OSError:
        return False
    return False
