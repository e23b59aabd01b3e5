"""What clients see of a container: inspect documents and ``docker ps`` rows."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from berthd.container import Container, ContainerStore
from berthd.errdefs import InvalidParameter, NotFound
from berthd.lib.filters import FilterArgs, invalid_filter
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
_HEALTH = ("starting", "healthy", "unhealthy", "none")


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


@dataclass
class _ListFilter:
    """moby's listContext: the filters folded once, before the walk."""

    filters: FilterArgs
    all_: bool
    limit: int
    exited: list[int]
    before: str | None
    since: str | None
    is_task: bool | None
    ancestors: set[str] | None  # image IDs (with their descendants); None: no filter
    publish: set[str]
    expose: set[str]


def _id_or_name(store: ContainerStore, value: str, names: dict[str, list[str]]) -> str:
    """before=/since=: a full ID, or a name (with or without its slash) that only one
    container has (moby's idOrNameFilter: a short ID is not enough)."""
    if store.try_get(value) is not None and store.get(value).id == value:
        return value
    wanted = value.removeprefix("/")
    found = {
        cid
        for cid, all_names in names.items()
        if wanted in (n.removeprefix("/") for n in all_names)
    }
    if len(found) == 1:
        return found.pop()
    raise NotFound(f"No such container: {value}")


def _go_uint16(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 0xFFFF:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def _ports_filter(key: str, values: list[str]) -> set[str]:
    """publish=/expose= values (``80``, ``80/udp``, ``8000-8010/tcp``) as ``port/proto``."""
    out: set[str] = set()
    for value in values:
        if ":" in value:
            raise InvalidParameter(f"filter for '{key}' should not contain ':': {value}")
        parts = value.split("/")
        if not value or not parts[0]:
            proto, port = "", ""
        else:
            proto, port = ("tcp" if len(parts) == 1 or not parts[1] else parts[1]), parts[0]
        try:
            if not port:
                raise ValueError("empty string specified for ports")
            first, _, last = port.partition("-")
            start = _go_uint16(first)
            end = _go_uint16(last.split("-")[0]) if "-" in port else start
            if end < start:
                raise ValueError(f"invalid range specified for port: {port}")
        except ValueError as e:
            raise InvalidParameter(f"error while looking up for {key} {value}: {e}") from None
        out.update(f"{p}/{proto}" for p in range(start, end + 1))
    return out


def _fold_filter(
    store: ContainerStore,
    all_: bool,
    limit: int,
    f: FilterArgs,
    ancestors: set[str] | None,
    names: dict[str, list[str]],
) -> _ListFilter:
    f.validate(LIST_FILTERS)
    exited: list[int] = []
    for value in f.get("exited"):
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise InvalidParameter(
                f"invalid filter 'exited={value}': strconv.Atoi: parsing \"{value}\": "
                "invalid syntax"
            )
        exited.append(int(value))
    for value in f.get("status"):
        if value not in _STATES:
            raise InvalidParameter(f"invalid filter 'status={value}'")
        all_ = True
    is_task: bool | None = None
    if f.contains("is-task"):
        values = set(f.get("is-task"))
        false, true = bool(values & {"0", "false"}), bool(values & {"1", "true"})
        if false == true:
            raise invalid_filter("is-task", f.get("is-task"))
        is_task = true
    for value in f.get("health"):
        if value not in _HEALTH:
            raise InvalidParameter(f"unrecognized filter value for health: {value}")
    before = since = None
    for value in f.get("before"):
        before = _id_or_name(store, value, names)
    for value in f.get("since"):
        since = _id_or_name(store, value, names)
    return _ListFilter(
        filters=f,
        all_=all_,
        limit=limit,
        exited=exited,
        before=before,
        since=since,
        is_task=is_task,
        ancestors=ancestors,
        publish=_ports_filter("publish", f.get("publish")),
        expose=_ports_filter("expose", f.get("expose")),
    )


def _candidates(
    store: ContainerStore, f: FilterArgs, names: dict[str, list[str]]
) -> list[Container]:
    """moby's filterByNameIDMatches: with id= or name=, only the containers they name
    (an ID prefix must be unique), newest first."""
    ids, wanted_names = f.get("id"), f.get("name")
    everything = list(store)
    if ids or wanted_names:
        matches: set[str] = set()
        for prefix in ids:
            hits = [c.id for c in everything if prefix and c.id.startswith(prefix)]
            if len(hits) == 1:
                matches.add(hits[0])
        if wanted_names:
            for cid, all_names in names.items():
                if ids and cid not in matches:
                    continue
                if any(
                    f.match_regexp("name", n) or f.match_regexp("name", n.removeprefix("/"))
                    for n in all_names
                ):
                    matches.add(cid)
        everything = [c for c in everything if c.id in matches]
    return sorted(everything, key=lambda c: (c.created, c.id), reverse=True)


def list_containers(
    store: ContainerStore,
    all_: bool,
    limit: int,
    filters: FilterArgs,
    ancestors: set[str] | None = None,
    link_names: dict[str, list[str]] | None = None,
) -> list[Container]:
    """The containers ``docker ps`` shows, newest first (moby v26 ``daemon/list.go``).

    ``ancestors`` are the image IDs an ``ancestor=`` filter stands for (each image the
    values resolve to, and its descendants); ``link_names`` the extra names of linked
    containers (``/parent/alias``)."""
    names = {c.id: [c.name, *(link_names or {}).get(c.id, ())] for c in store}
    ctx = _fold_filter(store, all_, limit, filters, ancestors, names)
    out: list[Container] = []
    before = ctx.before
    for c in _candidates(store, filters, names):
        if before is not None:
            if c.id == before:
                before = None
            continue
        if ctx.since is not None and c.id == ctx.since:
            break
        if not c.state.running and not ctx.all_ and ctx.limit <= 0:
            continue
        if not _match(c, ctx):
            continue
        if 0 < ctx.limit <= len(out):
            break
        out.append(c)
    return out


def _match(c: Container, ctx: _ListFilter) -> bool:
    f = ctx.filters
    if not (f.match_regexp("name", c.name) or f.match_regexp("name", c.name.lstrip("/"))):
        return False
    if not f.match_regexp("id", c.id):
        return False
    if ctx.is_task is True:  # no container of berthd is a swarm task
        return False
    if not f.match_kv_list("label", dict(c.config.get("Labels") or {})):
        return False
    if ctx.exited and (
        c.state.running or c.state.started_at == 0 or c.state.exit_code not in ctx.exited
    ):
        return False
    if not f.match_regexp("status", c.state.status()):
        return False
    if not f.exact_match("health", c.state.health_status() or "none"):
        return False
    if f.contains("volume"):
        mounts = _mounts(c)
        keys = {m.get("Name") or m.get("Source") for m in mounts} | {
            m.get("Destination") for m in mounts if m.get("Destination")
        }
        if not any(v in keys for v in f.get("volume")):
            return False
    if ctx.ancestors is not None and c.image_id not in ctx.ancestors:
        return False
    if f.contains("network"):
        networks = c.network_settings.get("Networks") or {}
        if not any(
            v in networks
            or any(str((n or {}).get("NetworkID") or "").startswith(v) for n in networks.values())
            for v in f.get("network")
        ):
            return False
    if ctx.publish or ctx.expose:
        ports = ps_ports(c.network_settings.get("Ports"))
        if not any(
            f"{p.get('PublicPort', 0)}/{p['Type']}" in ctx.publish
            or f"{p['PrivatePort']}/{p['Type']}" in ctx.expose
            for p in ports
        ):
            return False
    return True


def image_names(containers: Iterable[Container]) -> dict[str, str]:
    return {c.id: str(c.config.get("Image") or c.image_id) for c in containers}
