"""What clients see of a container: inspect documents and ``docker ps`` rows."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from typing import Any

from berthd.container import Container, ContainerStore
from berthd.errdefs import InvalidParameter, NotFound
from berthd.lib.filters import FilterArgs
from berthd.lib.timefmt import format_ns
from berthd.network.ports import ps_ports

__all__ = ["LIST_FILTERS", "inspect_container", "list_containers", "summary"]

LIST_FILTERS = (
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
)
_INTERNAL_MOUNT_KEYS = ("CopyData", "Anonymous")
_STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def _mounts(c: Container) -> list[dict[str, Any]]:
    out = []
    for mp in c.mount_points.values():
        out.append({k: v for k, v in mp.items() if k not in _INTERNAL_MOUNT_KEYS})
    for bind in c.host_config.get("Binds") or []:
        parts = str(bind).split(":")
        if len(parts) >= 2 and parts[0].startswith("/"):
            mode = parts[2] if len(parts) > 2 else ""
            out.append(
                {
                    "Type": "bind",
                    "Source": parts[0],
                    "Destination": parts[1],
                    "Mode": mode,
                    "RW": "ro" not in mode.split(","),
                    "Propagation": "rprivate",
                }
            )
    for m in c.host_config.get("Mounts") or []:
        if m.get("Type") in ("bind", "tmpfs"):
            out.append(
                {
                    "Type": m.get("Type"),
                    "Source": m.get("Source", ""),
                    "Destination": m.get("Target", ""),
                    "Mode": "",
                    "RW": not m.get("ReadOnly", False),
                    "Propagation": "rprivate" if m.get("Type") == "bind" else "",
                }
            )
    return out


def inspect_container(
    c: Container, graph_data: dict[str, str], api_version: str, size: tuple[int, int] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Id": c.id,
        "Created": format_ns(c.created),
        "Path": c.path,
        "Args": c.args,
        "State": c.state.to_api(),
        "Image": c.image_id,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path,
        "Name": c.name,
        "RestartCount": c.restart_count,
        "Driver": c.driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": sorted(c.exec_ids) or None,
        "HostConfig": c.host_config,
        "GraphDriver": {"Data": graph_data, "Name": c.driver},
        "Mounts": _mounts(c),
        "Config": c.config,
        "NetworkSettings": c.network_settings,
    }
    if size is not None:
        doc["SizeRw"], doc["SizeRootFs"] = size
    return doc


def _command(c: Container) -> str:
    parts = [c.path, *c.args]
    return " ".join(shlex.quote(p) if (" " in p or not p) else p for p in parts)


def summary(c: Container, image_name: str, link_names: Sequence[str] = ()) -> dict[str, Any]:
    """One ``GET /containers/json`` row; a linked container is also named by its links."""
    return {
        "Id": c.id,
        "Names": [c.name, *link_names],
        "Image": image_name,
        "ImageID": c.image_id,
        "Command": _command(c),
        "Created": c.created // 1_000_000_000,
        "Ports": ps_ports(c.network_settings.get("Ports")),
        "Labels": dict(c.config.get("Labels") or {}),
        "State": c.state.status(),
        "Status": c.state.human(),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": c.network_settings.get("Networks") or {}},
        "Mounts": _mounts(c),
    }


def _resolve(store: ContainerStore, ref: str, key: str) -> Container:
    try:
        return store.get(ref)
    except NotFound:
        raise InvalidParameter(f"No such container: {ref}") from None


def list_containers(
    store: ContainerStore,
    all_: bool,
    limit: int,
    filters: FilterArgs,
    image_ids: dict[str, str] | None = None,
) -> list[Container]:
    """The containers ``docker ps`` shows, newest first (dockerd's rules)."""
    filters.validate(LIST_FILTERS)
    for value in filters.get("status"):
        if value not in _STATES:
            raise InvalidParameter(f"invalid filter 'status={value}'")
    exited_codes: list[int] = []
    for value in filters.get("exited"):
        try:
            exited_codes.append(int(value))
        except ValueError:
            raise InvalidParameter(f'strconv.Atoi: parsing "{value}": invalid syntax') from None
    before = since = None
    for value in filters.get("before"):
        before = _resolve(store, value, "before")
    for value in filters.get("since"):
        since = _resolve(store, value, "since")
    containers = sorted(store, key=lambda c: (c.created, c.id), reverse=True)
    if (
        limit > 0
        or before is not None
        or since is not None
        or filters.contains("status")
        or exited_codes
    ):
        all_ = True
    out: list[Container] = []
    for c in containers:
        if not all_ and not c.state.running:
            continue
        if before is not None and c.created >= before.created:
            continue
        if since is not None and c.created <= since.created:
            continue
        if not _match(c, filters, exited_codes, image_ids or {}):
            continue
        out.append(c)
        if 0 < limit <= len(out):
            break
    return out


def _match(c: Container, f: FilterArgs, exited: list[int], image_ids: dict[str, str]) -> bool:
    if f.contains("id") and not any(c.id.startswith(v) for v in f.get("id")):
        return False
    if f.contains("name") and not any(
        _regex(v, c.name) or _regex(v, c.name.lstrip("/")) for v in f.get("name")
    ):
        return False
    if not f.match_kv_list("label", dict(c.config.get("Labels") or {})):
        return False
    if f.contains("status") and c.state.status() not in f.get("status"):
        return False
    if exited and (c.state.running or c.state.started_at == 0 or c.state.exit_code not in exited):
        return False
    if f.contains("ancestor"):
        wanted = set(f.get("ancestor"))
        names = {str(c.config.get("Image") or ""), c.image_id, c.image_id.removeprefix("sha256:")}
        resolved = {image_ids.get(a, "") for a in wanted}
        if (
            not (names & wanted)
            and c.image_id not in resolved
            and not any(c.image_id.removeprefix("sha256:").startswith(a) for a in wanted)
        ):
            return False
    if f.contains("health"):
        health = c.state.health_status() or "none"
        if health not in f.get("health"):
            return False
    return True


def _regex(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def image_names(containers: Iterable[Container]) -> dict[str, str]:
    return {c.id: str(c.config.get("Image") or c.image_id) for c in containers}
