"""Volumes in containers: resolved at create, mounted at start, released at rm.

At create (dockerd's registerMountPoints) every volume the container will use
is looked up or created and referenced by the container: named and anonymous
volumes from ``-v``/``--mount``, the image's and the user's ``Volumes``
(anonymous), and ``--volumes-from``. An empty volume over a non-empty image
directory is filled from the image (unless ``nocopy``). The container's
``mount_points`` record what was chosen, so start, restore and rm need no
re-parsing.
"""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
from typing import Any, Protocol

from berthd import errdefs
from berthd.container import Container, ContainerStore
from berthd.oci.mounts import MountPoint, parse_bind, parse_mount_spec

__all__ = ["VolumeBackend", "copy_up", "plan_volumes"]


class VolumeInfo(Protocol):
    name: str
    driver: str
    mountpoint: str

    @property
    def anonymous(self) -> bool: ...


class VolumeBackend(Protocol):
    async def get_or_create(
        self,
        name: str,
        driver: str = "",
        opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        ref: str = "",
    ) -> Any: ...
    async def get(self, name: str, driver: str = "", ref: str = "") -> Any: ...
    async def release(self, name: str, ref: str) -> None: ...
    async def mount(self, name: str, ref: str) -> str: ...
    async def unmount(self, name: str, ref: str) -> None: ...
    async def live_restore(self, name: str, ref: str) -> None: ...
    async def remove(self, name: str, force: bool = False) -> None: ...


def _wanted(
    host_config: dict[str, Any], config: dict[str, Any], store: ContainerStore
) -> list[dict[str, Any]]:
    """Volume mount points to create, as (name, dest, rw, driver, opts, copy) dicts."""
    out: list[dict[str, Any]] = []
    taken: set[str] = set()
    for raw in host_config.get("Binds") or []:
        mp = parse_bind(str(raw))
        taken.add(mp.destination)
        if mp.type == "volume":
            out.append(
                {
                    "name": mp.name,
                    "dest": mp.destination,
                    "rw": mp.rw,
                    "mode": mp.mode,
                    "driver": str(host_config.get("VolumeDriver") or ""),
                    "opts": None,
                    "labels": None,
                    "copy": mp.copy_data,
                }
            )
    for m in host_config.get("Mounts") or []:
        mp = parse_mount_spec(m)
        taken.add(mp.destination)
        if mp.type == "volume":
            vo = m.get("VolumeOptions") or {}
            dc = vo.get("DriverConfig") or {}
            out.append(
                {
                    "name": mp.name,
                    "dest": mp.destination,
                    "rw": mp.rw,
                    "mode": "",
                    "driver": str(dc.get("Name") or ""),
                    "opts": dc.get("Options"),
                    "labels": vo.get("Labels"),
                    "copy": not vo.get("NoCopy", False),
                    "subpath": mp.subpath,
                }
            )
    for ref in host_config.get("VolumesFrom") or []:
        name, _, mode = str(ref).partition(":")
        if mode not in ("", "ro", "rw"):
            raise errdefs.InvalidParameter(f"invalid mode for volumes-from: {mode}")
        other = store.get(name)
        for dest, rec in other.mount_points.items():
            if dest in taken:
                continue
            taken.add(dest)
            rw = rec.get("RW", True) if mode == "" else mode == "rw"
            if rec.get("Type") == "volume":
                out.append(
                    {
                        "name": rec["Name"],
                        "dest": dest,
                        "rw": rw,
                        "mode": mode,
                        "driver": rec.get("Driver", ""),
                        "opts": None,
                        "labels": None,
                        "copy": False,
                    }
                )
    for dest in config.get("Volumes") or {}:
        d = posixpath.normpath(str(dest))
        if d in taken:
            continue
        taken.add(d)
        out.append(
            {
                "name": "",
                "dest": d,
                "rw": True,
                "mode": "",
                "driver": str(host_config.get("VolumeDriver") or ""),
                "opts": None,
                "labels": None,
                "copy": True,
            }
        )
    return out


async def plan_volumes(
    volumes: VolumeBackend,
    cid: str,
    config: dict[str, Any],
    host_config: dict[str, Any],
    store: ContainerStore,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Reference (creating if needed) every volume; return mount points and new names.

    On failure the references taken so far are dropped again.
    """
    points: dict[str, dict[str, Any]] = {}
    taken: list[str] = []
    try:
        for w in _wanted(host_config, config, store):
            vol = await volumes.get_or_create(
                w["name"], w["driver"], w["opts"], w["labels"], ref=cid
            )
            taken.append(vol.name)
            points[w["dest"]] = {
                "Type": "volume",
                "Name": vol.name,
                "Source": vol.mountpoint,
                "Destination": w["dest"],
                "Driver": vol.driver,
                "Mode": w["mode"] or "z",
                "RW": w["rw"],
                "Propagation": "",
                "CopyData": bool(w["copy"]),
                "Anonymous": bool(vol.anonymous),
            }
            if w.get("subpath"):
                points[w["dest"]]["Subpath"] = w["subpath"]
    except BaseException:
        for name in taken:
            try:
                await volumes.release(name, cid)
            except errdefs.BerthdError:
                pass
        raise
    return points, taken


def _inside(rootfs: str, dest: str) -> str | None:
    """``dest`` within ``rootfs`` without following any symlink; None if not a dir."""
    path = rootfs
    for part in [p for p in dest.split("/") if p and p != "."]:
        if part == "..":
            return None
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
    return path


def copy_up(rootfs: str, dest: str, volume_path: str) -> None:
    """Fill an empty volume with the image's content at ``dest`` (blocking)."""
    src = _inside(rootfs, dest)
    if src is None or not os.listdir(src):
        return
    if os.listdir(volume_path):
        return
    subprocess.run(
        ["cp", "-a", "--no-dereference", "--", src + "/.", volume_path + "/"],
        check=True,
        capture_output=True,
    )
    st = os.lstat(src)
    os.chown(volume_path, st.st_uid, st.st_gid)
    os.chmod(volume_path, stat.S_IMODE(st.st_mode))


def extra_volume_mounts(c: Container, paths: dict[str, str]) -> list[MountPoint]:
    """Bind mounts for the container's volumes (already mounted at ``paths``)."""
    out = []
    for dest, rec in c.mount_points.items():
        if rec.get("Type") != "volume" or dest not in paths:
            continue
        out.append(
            MountPoint(
                type="bind", destination=dest, source=paths[dest], rw=bool(rec.get("RW", True))
            )
        )
    return out
