"""Devices: ``--device``, ``--device-cgroup-rule`` and privileged host devices.

Each device becomes a node runc creates (``linux.devices``) and an allow rule
in the devices cgroup (``linux.resources.devices``). Major/minor, mode and owner
come from the host node, as dockerd's ``oci.DevicesFromPath`` reads them.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from typing import Any

from berthd.errdefs import InvalidParameter

__all__ = [
    "NotADeviceError",
    "append_cgroup_rules",
    "device_from_path",
    "devices_from_path",
    "host_devices",
    "parse_device",
]


class NotADeviceError(Exception):
    """The path exists but is not a device node (runc's ErrNotADevice)."""


def device_from_path(path: str, container_path: str | None = None) -> dict[str, Any]:
    """An OCI ``linux.devices`` entry for a host node (lstat: symlinks are not devices)."""
    st = os.lstat(path)
    if stat.S_ISBLK(st.st_mode):
        kind = "b"
    elif stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISFIFO(st.st_mode):
        kind = "p"
    else:
        raise NotADeviceError(path)
    return {
        "path": container_path or path,
        "type": kind,
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def _rule(dev: Mapping[str, Any], access: str) -> dict[str, Any]:
    return {
        "allow": True,
        "type": dev["type"],
        "major": dev["major"],
        "minor": dev["minor"],
        "access": access,
    }


def devices_from_path(
    path_on_host: str, path_in_container: str, cgroup_permissions: str = "rwm"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One HostConfig.Devices entry → (devices, cgroup rules); a directory adds all
    device nodes under it. The error wording is dockerd's."""
    resolved = path_on_host
    if os.path.islink(path_on_host):
        resolved = os.path.realpath(path_on_host)
    devs: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    try:
        dev = device_from_path(resolved, path_in_container)
        return [dev], [_rule(dev, cgroup_permissions)]
    except NotADeviceError:
        reason = "not a device node"
        if os.path.isdir(resolved):
            for root, dirs, files in os.walk(resolved):
                dirs.sort()
                for name in sorted(files) + dirs:
                    full = os.path.join(root, name)
                    try:
                        child = device_from_path(full)
                    except (OSError, NotADeviceError):
                        continue
                    child["path"] = full.replace(resolved, path_in_container, 1)
                    devs.append(child)
                    rules.append(_rule(child, cgroup_permissions))
    except OSError as e:
        reason = f"lstat {resolved}: {os.strerror(e.errno or 0).lower()}"
    if devs:
        return devs, rules
    raise InvalidParameter(
        f'error gathering device information while adding custom device "{path_on_host}": {reason}'
    )


_SKIP_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every char/block device under /dev, for ``--privileged`` (containerd's HostDevices)."""
    out: list[dict[str, Any]] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in _SKIP_DIRS:
                out.extend(host_devices(entry.path))
            continue
        if entry.name == "console":
            continue
        try:
            dev = device_from_path(entry.path)
        except (OSError, NotADeviceError):
            continue
        if dev["type"] in ("b", "c"):
            out.append(dev)
    return out


def _valid_mode(mode: str) -> bool:
    return 0 < len(mode) <= 3 and len(set(mode)) == len(mode) and set(mode) <= set("rwm")


def parse_device(spec: str) -> dict[str, str]:
    """The CLI's ``--device`` string → a HostConfig.Devices entry.

    ``/dev/x``, ``/dev/x:/dev/y``, ``/dev/x:rw``, ``/dev/x:/dev/y:rwm``.
    """
    parts = spec.split(":", 3)
    if len(parts) > 3:
        raise InvalidParameter(f"invalid device specification: {spec}")
    src, dst, perms = parts[0], "", "rwm"
    if len(parts) == 3:
        if not _valid_mode(parts[2]):
            raise InvalidParameter(f"invalid device mode: {parts[2]}")
        perms = parts[2]
    if len(parts) >= 2:
        if _valid_mode(parts[1]):
            perms = parts[1]
        else:
            dst = parts[1]
    return {"PathOnHost": src, "PathInContainer": dst or src, "CgroupPermissions": perms}


_RULE_RE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def append_cgroup_rules(
    rules: list[dict[str, Any]], device_cgroup_rules: Iterable[str] | None
) -> list[dict[str, Any]]:
    """``--device-cgroup-rule 'c 1:3 rwm'`` → more allow rules; ``*`` = any (-1)."""
    out = list(rules)
    for raw in device_cgroup_rules or []:
        m = _RULE_RE.match(raw)
        if not m:
            raise InvalidParameter(f"invalid device cgroup rule format: '{raw}'")
        major = -1 if m.group(2) == "*" else int(m.group(2))
        minor = -1 if m.group(3) == "*" else int(m.group(3))
        out.append(
            {
                "allow": True,
                "type": m.group(1),
                "major": major,
                "minor": minor,
                "access": m.group(4),
            }
        )
    return out
