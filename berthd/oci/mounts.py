"""Mounts: ``Binds``, ``Mounts``, ``Tmpfs`` → OCI mounts, merged with the defaults.

Parsing follows dockerd's ``volume/mounts/linux_parser.go`` (modes, errors such as
``invalid mode: xyz`` and ``invalid volume specification: '…'``); assembling
follows ``daemon.WithMounts``: user mounts sorted by path depth, replacing a
default mount at the same destination (a user ``/dev`` drops every default under
``/dev``), ``/dev/shm`` sized from ShmSize, ``--read-only`` adding ``ro`` to the
remaining default mounts, and ``--privileged`` making ``/sys`` and the cgroup
mount writable.

Volumes are another store's business: a volume-type mount point is handed to
the caller's ``resolve_volume`` hook, which returns the host path to bind.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from berthd.errdefs import InvalidParameter

__all__ = [
    "MountPoint",
    "VolumeResolver",
    "build_mounts",
    "container_mount_points",
    "convert_tmpfs_options",
    "merge_tmpfs_options",
    "parse_bind",
    "parse_mount_spec",
    "validate_tmpfs_destination",
]

DEFAULT_PROPAGATION = "rprivate"
_RW_MODES = frozenset({"rw", "ro"})
_LABEL_MODES = frozenset({"z", "Z"})
_PROPAGATION_MODES = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
_COPY_MODES = frozenset({"nocopy"})
_CONSISTENCY_MODES = frozenset({"consistent", "cached", "delegated"})


@dataclass(frozen=True)
class MountPoint:
    """A parsed user mount (dockerd's volume/mounts.MountPoint, trimmed)."""

    type: str  # "bind", "volume" or "tmpfs"
    destination: str
    source: str = ""
    rw: bool = True
    mode: str = ""
    propagation: str = ""
    name: str = ""  # volume name ("" = anonymous)
    copy_data: bool = True
    non_recursive: bool = False
    data: str = ""  # tmpfs mount data
    subpath: str = ""  # VolumeOptions.Subpath: the part of the volume to mount


VolumeResolver = Callable[[MountPoint], str]


def _valid_mode(mode: str) -> bool:
    if mode == "":
        return True
    counts = [0, 0, 0, 0, 0]
    for o in mode.split(","):
        for i, group in enumerate(
            (_RW_MODES, _LABEL_MODES, _PROPAGATION_MODES, _COPY_MODES, _CONSISTENCY_MODES)
        ):
            if o in group:
                counts[i] += 1
                break
        else:
            return False
    return max(counts) <= 1


def _mode_opts(mode: str) -> list[str]:
    return mode.split(",") if mode else []


class _MountConfigError(InvalidParameter):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f'invalid mount config for type "{kind}": {reason}')


def _validate_target(kind: str, target: str) -> None:
    if not target:
        raise _MountConfigError(kind, "field Target must not be empty")
    if target == "/":
        raise _MountConfigError(kind, "invalid specification: destination can't be '/'")
    if not posixpath.isabs(target):
        raise _MountConfigError(kind, f"invalid mount path: '{target}' mount path must be absolute")


def parse_mount_spec(m: Mapping[str, Any], validate_bind_source: bool = True) -> MountPoint:
    """One ``HostConfig.Mounts`` entry (``--mount``) → MountPoint, with dockerd's checks."""
    kind = str(m.get("Type") or "")
    target = str(m.get("Target") or "")
    source = str(m.get("Source") or "")
    readonly = bool(m.get("ReadOnly"))
    bind_opts = m.get("BindOptions") or None
    vol_opts = m.get("VolumeOptions") or None
    tmpfs_opts = m.get("TmpfsOptions") or None
    if kind not in ("bind", "volume", "tmpfs"):
        raise _MountConfigError(kind, "mount type unknown")
    _validate_target(kind, target)
    dest = posixpath.normpath(target)
    if kind == "bind":
        if not source:
            raise _MountConfigError(kind, "field Source must not be empty")
        prop = str((bind_opts or {}).get("Propagation") or "")
        if prop and prop not in _PROPAGATION_MODES:
            raise _MountConfigError(kind, f"invalid propagation mode: {prop}")
        if vol_opts is not None:
            raise _MountConfigError(kind, "field VolumeOptions must not be specified")
        if tmpfs_opts is not None:
            raise _MountConfigError(kind, "field TmpfsOptions must not be specified")
        if not posixpath.isabs(source):
            raise _MountConfigError(
                kind, f"invalid mount path: '{source}' mount path must be absolute"
            )
        create = bool((bind_opts or {}).get("CreateMountpoint"))
        if validate_bind_source and not create and not os.path.lexists(source):
            raise _MountConfigError(kind, f"bind source path does not exist: {source}")
        return MountPoint(
            type="bind",
            destination=dest,
            source=posixpath.normpath(source),
            rw=not readonly,
            propagation=prop or DEFAULT_PROPAGATION,
            non_recursive=bool((bind_opts or {}).get("NonRecursive")),
        )
    if kind == "volume":
        if bind_opts is not None:
            raise _MountConfigError(kind, "field BindOptions must not be specified")
        subpath = str((vol_opts or {}).get("Subpath") or "")
        if subpath:
            if not source:
                raise _MountConfigError(kind, "must not set Subpath when using anonymous volumes")
            if not _is_local(subpath):
                raise _MountConfigError(kind, "subpath must be a relative path within the volume")
        if readonly and not source:
            raise _MountConfigError(kind, "must not set ReadOnly mode when using anonymous volumes")
        return MountPoint(
            type="volume",
            destination=dest,
            name=source,
            rw=not readonly,
            copy_data=not bool((vol_opts or {}).get("NoCopy")),
            propagation=DEFAULT_PROPAGATION,
            subpath=subpath,
        )
    if bind_opts is not None:
        raise _MountConfigError(kind, "field BindOptions must not be specified")
    if source:
        raise _MountConfigError(kind, "field Source must not be specified")
    data = convert_tmpfs_options(tmpfs_opts, readonly)
    try:
        merge_tmpfs_options(_tmpfs_base() + _split(data))
    except InvalidParameter as e:
        raise _MountConfigError(kind, str(e)) from None
    return MountPoint(type="tmpfs", destination=dest, rw=not readonly, data=data)


def _is_local(path: str) -> bool:
    """Go's ``filepath.IsLocal``: relative, not empty, and no ``..`` climbing out of it."""
    if not path or path.startswith("/"):
        return False
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def parse_bind(raw: str) -> MountPoint:
    """One ``HostConfig.Binds`` string (``-v``) → MountPoint (ParseMountRaw).

    ``/host:/ctr[:mode]`` is a bind, ``name:/ctr[:mode]`` a named volume and
    ``/ctr`` an anonymous volume. The host path of a bind is created by the
    daemon if missing, as dockerd does for ``-v``; it is not checked here.
    """
    invalid = InvalidParameter(f"invalid volume specification: '{raw}'")
    arr = raw.split(":", 3)
    if arr[0] == "":
        raise invalid
    mode = ""
    if len(arr) == 1:
        source, target = "", arr[0]
    elif len(arr) == 2:
        if _valid_mode(arr[1]):
            # /foo:rw is a destination plus a mode: volumes cannot have one
            raise invalid
        source, target = arr
    elif len(arr) == 3:
        source, target, mode = arr
    else:
        raise invalid
    if not _valid_mode(mode):
        raise InvalidParameter(f"invalid mode: {mode}")
    opts = _mode_opts(mode)
    kind = "bind" if posixpath.isabs(source) else "volume"
    spec: dict[str, Any] = {"Type": kind, "Target": target, "Source": source}
    spec["ReadOnly"] = "ro" in opts
    props = [o for o in opts if o in _PROPAGATION_MODES]
    if props:
        spec["BindOptions"] = {"Propagation": props[0]}
    if kind == "volume" and "nocopy" in opts:
        spec["VolumeOptions"] = {"NoCopy": True}
    try:
        mp = parse_mount_spec(spec, validate_bind_source=False)
    except InvalidParameter as e:
        raise InvalidParameter(f"{invalid}: {e}") from None
    return replace(mp, mode=mode)


def validate_tmpfs_destination(dest: str) -> None:
    """``--tmpfs`` destinations: absolute and not ``/``."""
    if dest == "/":
        raise InvalidParameter("invalid specification: destination can't be '/'")
    if not posixpath.isabs(dest):
        raise InvalidParameter(f"invalid mount path: '{dest}' mount path must be absolute")


def convert_tmpfs_options(opts: Mapping[str, Any] | None, readonly: bool) -> str:
    """``--mount type=tmpfs,tmpfs-size=…,tmpfs-mode=…`` → mount data (``size=64m,mode=1777``).

    The size gets the largest unit (g, m, k) that divides it evenly, as dockerd writes it.
    """
    raw: list[str] = []
    if readonly:
        raw.append("ro")
    opts = opts or {}
    mode = int(opts.get("Mode") or 0)
    if mode:
        raw.append(f"mode={mode & 0o7777:o}")
    size = int(opts.get("SizeBytes") or 0)
    if size:
        suffix = ""
        for s, div in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % div == 0:
                size, suffix = size // div, s
                break
        raw.append(f"size={size}{suffix}")
    for extra in opts.get("Options") or []:
        raw.append("=".join(str(x) for x in extra if x != ""))
    return ",".join(raw)


# Mount flags and the kernel flag they toggle: two options in one group collide.
_FLAG_GROUPS = {
    "ro": "rdonly",
    "rw": "rdonly",
    "suid": "nosuid",
    "nosuid": "nosuid",
    "dev": "nodev",
    "nodev": "nodev",
    "exec": "noexec",
    "noexec": "noexec",
    "sync": "sync",
    "async": "sync",
    "dirsync": "dirsync",
    "remount": "remount",
    "mand": "mand",
    "nomand": "mand",
    "atime": "noatime",
    "noatime": "noatime",
    "diratime": "nodiratime",
    "nodiratime": "nodiratime",
    "bind": "bind",
    "rbind": "rbind",
    "relatime": "relatime",
    "norelatime": "relatime",
    "strictatime": "strictatime",
    "nostrictatime": "strictatime",
    "unbindable": "propagation",
    "runbindable": "propagation",
    "private": "propagation",
    "rprivate": "propagation",
    "shared": "propagation",
    "rshared": "propagation",
    "slave": "propagation",
    "rslave": "propagation",
}
_TMPFS_DATA_KEYS = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})


def _go_quote_list(items: list[str]) -> str:
    return "[" + " ".join('"' + i.replace('"', '\\"') + '"' for i in items) + "]"


def merge_tmpfs_options(options: Iterable[str]) -> list[str]:
    """mount.MergeTmpfsOptions: later options win, one per flag group or data key."""
    seen_flags: set[str] = set()
    seen_data: set[str] = set()
    out: list[str] = []
    for opt in reversed(list(options)):
        if opt == "defaults":
            continue
        group = _FLAG_GROUPS.get(opt)
        if group is not None:
            if group not in seen_flags:
                out.insert(0, opt)
                seen_flags.add(group)
            continue
        parts = opt.split("=", 1)
        if len(parts) != 2 or parts[0] not in _TMPFS_DATA_KEYS:
            raise InvalidParameter(f"Invalid tmpfs option {_go_quote_list(parts)}")
        if parts[0] not in seen_data:
            out.insert(0, opt)
            seen_data.add(parts[0])
    return out


def _split(data: str) -> list[str]:
    return data.split(",") if data else []


def _tmpfs_base() -> list[str]:
    return ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION]


def container_mount_points(
    host_config: Mapping[str, Any], resolve_volume: VolumeResolver | None = None
) -> list[MountPoint]:
    """Binds then Mounts, parsed, duplicates refused, volumes resolved to host binds.

    A volume-type mount point is passed to ``resolve_volume`` (the volume store's
    hook), whose answer becomes the bind source; without a hook volumes are refused.
    """
    points: list[MountPoint] = []
    seen: set[str] = set()
    raw_points = [parse_bind(b) for b in host_config.get("Binds") or []]
    raw_points += [parse_mount_spec(m) for m in host_config.get("Mounts") or []]
    for mp in raw_points:
        if mp.destination in seen:
            raise InvalidParameter(f"Duplicate mount point: {mp.destination}")
        seen.add(mp.destination)
        if mp.type == "volume":
            if resolve_volume is None:
                raise InvalidParameter(
                    f"volume mount at {mp.destination} needs the volume store, which was not given"
                )
            mp = replace(mp, type="bind", source=resolve_volume(mp))
        points.append(mp)
    for dest in host_config.get("Tmpfs") or {}:
        validate_tmpfs_destination(dest)
    return points


def _depth(dest: str) -> int:
    return posixpath.normpath(dest).count("/")


def _clear_ro(m: dict[str, Any]) -> None:
    m["options"] = [o for o in m.get("options", []) if o != "ro"]


def build_mounts(
    base: list[dict[str, Any]],
    points: Iterable[MountPoint],
    tmpfs: Mapping[str, str] | None = None,
    shm_size: int = 0,
    ipc_mode: str = "private",
    readonly_rootfs: bool = False,
    privileged: bool = False,
) -> tuple[list[dict[str, Any]], str]:
    """Merge the default mounts ``base`` with the user's; returns (mounts, rootfsPropagation).

    ``points`` are resolved mount points (binds and tmpfs from ``--mount``, plus any
    the daemon adds: /etc/hosts, /etc/resolv.conf, an IPC /dev/shm …); ``tmpfs``
    is HostConfig.Tmpfs. rootfsPropagation is "" unless a bind asks for shared
    or slave propagation, which needs the root to propagate too.
    """
    user: list[MountPoint] = list(points)
    for dest, data in (tmpfs or {}).items():
        user.append(MountPoint(type="tmpfs", destination=dest, data=data))
    user.sort(key=lambda p: _depth(p.destination))
    user_dests = {posixpath.normpath(p.destination) for p in user}
    mount_dev = "/dev" in user_dests

    out: list[dict[str, Any]] = []
    for m in base:
        dest = m["destination"]
        if dest in user_dests:
            continue
        if mount_dev and dest.startswith("/dev/"):
            continue
        m = dict(m, options=list(m.get("options", [])))
        if dest == "/dev/shm":
            if ipc_mode == "none":
                continue
            m["options"].append(f"size={shm_size}")
        out.append(m)

    root_prop = ""
    for p in user:
        if p.type == "tmpfs":
            opts = merge_tmpfs_options(_tmpfs_base() + _split(p.data))
            out.append(
                {"destination": p.destination, "type": "tmpfs", "source": "tmpfs", "options": opts}
            )
            continue
        prop = p.propagation or DEFAULT_PROPAGATION
        if prop in ("shared", "rshared"):
            root_prop = "shared" if root_prop not in ("shared", "rshared") else root_prop
        elif prop in ("slave", "rslave") and root_prop == "":
            root_prop = "rslave"
        opts = ["bind" if p.non_recursive else "rbind"]
        if not p.rw:
            opts.append("ro")
        opts.append(prop)
        out.append(
            {"destination": p.destination, "type": "bind", "source": p.source, "options": opts}
        )

    if readonly_rootfs:
        keep_rw = {"/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"}
        for m in out:
            if m["destination"] in keep_rw or m["destination"] in user_dests:
                continue
            if "ro" not in m["options"]:
                m["options"].append("ro")
    if privileged:
        for m in out:
            if m["destination"] == "/sys" or m["type"] == "cgroup":
                _clear_ro(m)
    return out, root_prop
