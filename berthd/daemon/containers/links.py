"""Legacy container links (``--link name:alias``), as dockerd keeps them.

A link is recorded at create in the parent's ``HostConfig.Links`` in dockerd's
form ``/child:/parent/alias``. At every start of the parent the child must be
running; the parent then gets the child's address in /etc/hosts under the
alias, the child's hostname and name, and (on the default bridge, where links
are "legacy") the environment variables dockerd sets: ``ALIAS_NAME``,
``ALIAS_PORT…`` for each exposed port and ``ALIAS_ENV_…`` for the child's own
environment. A child removed since is silently dropped, as dockerd's link
graph drops it; a renamed one is followed (``rename_child``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from berthd import errdefs
from berthd.container import Container

__all__ = [
    "LinkTarget",
    "link_env",
    "link_host_entry",
    "link_names",
    "parse_link",
    "register_links",
    "remove_link",
    "rename_child",
    "resolve_links",
    "child_address",
]

_PORT = re.compile(r"^(\d+)(?:/(\w+))?$")


def parse_link(value: str) -> tuple[str, str]:
    """``name:alias``, ``name`` or the stored ``/name:/parent/alias`` → (name, alias)."""
    if not value:
        raise errdefs.InvalidParameter("empty string specified for links")
    parts = value.split(":")
    if len(parts) > 2:
        raise errdefs.InvalidParameter(f"bad format for links: {value}")
    if len(parts) == 1:
        return value.lstrip("/"), value.lstrip("/")
    name, alias = parts
    if name.startswith("/"):
        return name[1:], posixpath.basename(alias)
    if not name or not alias:
        raise errdefs.InvalidParameter(f"bad format for links: {value}")
    return name, alias


@dataclass
class LinkTarget:
    child: Container
    alias: str  # as given: "w"
    path: str  # dockerd's link name: "/parent/w"


def _net_owner(c: Container, lookup: Callable[[str], Container]) -> Container:
    """A container that joins another's network namespace is reached through it."""
    seen = {c.id}
    while str(c.host_config.get("NetworkMode") or "").startswith("container:"):
        c = lookup(str(c.host_config["NetworkMode"]).partition(":")[2])
        if c.id in seen:
            break
        seen.add(c.id)
    return c


def register_links(
    parent_name: str, host_config: dict[str, Any], lookup: Callable[[str], Container]
) -> list[str]:
    """At create: check each link and return them in dockerd's stored form."""
    links = [str(v) for v in host_config.get("Links") or []]
    if not links:
        return []
    mode = str(host_config.get("NetworkMode") or "")
    if mode == "host":
        raise errdefs.InvalidParameter(
            "conflicting options: host type networking can't be used with links. This would "
            "result in undefined behavior"
        )
    if mode.startswith("container:"):
        raise errdefs.InvalidParameter(
            "conflicting options: container type network can't be used with links. This would "
            "result in undefined behavior"
        )
    out: list[str] = []
    parent = "/" + parent_name.lstrip("/")
    for value in links:
        name, alias = parse_link(value)
        try:
            child = _net_owner(lookup(name), lookup)
        except errdefs.NotFound as e:
            # dockerd: not a 404, which the CLI would take for a missing image
            raise errdefs.InvalidParameter(f"could not get container for {name}: {e}") from None
        if child.host_config.get("NetworkMode") == "host":
            raise errdefs.InvalidParameter(
                "conflicting options: host type networking can't be used with links. This "
                "would result in undefined behavior"
            )
        entry = f"{child.name}:{parent}/{alias}"
        if entry not in out:
            out.append(entry)
    return out


def resolve_links(parent: Container, lookup: Callable[[str], Container]) -> list[LinkTarget]:
    """At start: the children that still exist (a removed one is dropped)."""
    found: list[LinkTarget] = []
    for value in parent.host_config.get("Links") or []:
        name, alias = parse_link(str(value))
        try:
            child = _net_owner(lookup(name), lookup)
        except errdefs.NotFound:
            continue
        path = (
            f"{parent.name}/{alias}" if parent.name.startswith("/") else f"/{parent.name}/{alias}"
        )
        if not child.state.running:
            raise errdefs.System(f"Cannot link to a non running container: {child.name} AS {path}")
        found.append(LinkTarget(child, alias, path))
    return found


def child_address(target: LinkTarget, networks: Iterable[str]) -> str:
    """The child's IPv4 address on the first network it shares with the parent."""
    child_nets: dict[str, Any] = target.child.network_settings.get("Networks") or {}
    for net in networks:
        ip = str((child_nets.get(net) or {}).get("IPAddress") or "")
        if ip:
            return ip
    return ""


def link_host_entry(target: LinkTarget, ip: str) -> tuple[str, str]:
    """The /etc/hosts line: alias, the child's hostname and (if different) its name."""
    child_name = target.child.name.lstrip("/")
    names = [target.alias, str(target.child.config.get("Hostname") or target.child.id[:12])]
    if target.alias != child_name:
        names.append(child_name)
    return ip, " ".join(dict.fromkeys(names))


def _ports(child: Container) -> list[tuple[int, str]]:
    ports: set[tuple[int, str]] = set()
    for key in child.config.get("ExposedPorts") or {}:
        m = _PORT.match(str(key))
        if m:
            ports.add((int(m.group(1)), (m.group(2) or "tcp").lower()))
    # by number, tcp first on a tie (dockerd's order; the first is ALIAS_PORT)
    return sorted(ports, key=lambda p: (p[0], p[1] != "tcp", p[1]))


def link_env(target: LinkTarget, ip: str) -> list[str]:
    """dockerd's legacy link variables for one child (links.go ToEnv)."""
    alias = target.alias.upper().replace("-", "_")
    env: list[str] = []
    ports = _ports(target.child)
    if ports:
        port, proto = ports[0]
        env.append(f"{alias}_PORT={proto}://{ip}:{port}")
    # contiguous runs of the same protocol also get _START/_END variables
    i = 0
    while i < len(ports):
        j = i
        while (
            j + 1 < len(ports)
            and ports[j + 1][1] == ports[i][1]
            and ports[j + 1][0] == ports[j][0] + 1
        ):
            j += 1
        if j > i:
            first, proto = ports[i]
            last = ports[j][0]
            pre = f"{alias}_PORT_{first}_{proto.upper()}"
            env += [
                f"{pre}_START={proto}://{ip}:{first}",
                f"{pre}_ADDR={ip}",
                f"{pre}_PROTO={proto}",
                f"{pre}_PORT_START={first}",
                f"{pre}_PORT_END={last}",
            ]
        i = j + 1
    for port, proto in ports:
        pre = f"{alias}_PORT_{port}_{proto.upper()}"
        env += [
            f"{pre}={proto}://{ip}:{port}",
            f"{pre}_ADDR={ip}",
            f"{pre}_PORT={port}",
            f"{pre}_PROTO={proto}",
        ]
    env.append(f"{alias}_NAME={target.path}")
    for var in target.child.config.get("Env") or []:
        key, sep, value = str(var).partition("=")
        if not sep or key in ("HOME", "PATH"):
            continue
        env.append(f"{alias}_ENV_{key}={value}")
    return env


def link_names(containers: Iterable[Container]) -> dict[str, list[str]]:
    """Child ID → the link names it is known by (``/parent/alias``), for ``ps``."""
    by_name = {c.name: c for c in containers}
    out: dict[str, list[str]] = {}
    for parent in by_name.values():
        for value in parent.host_config.get("Links") or []:
            try:
                name, alias = parse_link(str(value))
            except errdefs.InvalidParameter:
                continue
            child = by_name.get("/" + name.lstrip("/"))
            if child is not None:
                out.setdefault(child.id, []).append(f"{parent.name}/{alias}")
    return out


def rename_child(containers: Iterable[Container], old: str, new: str) -> list[Container]:
    """A renamed child keeps its links: rewrite the parents' entries; the parents changed."""
    changed = []
    for parent in containers:
        links = [str(v) for v in parent.host_config.get("Links") or []]
        updated = [
            f"{new}:{v.partition(':')[2]}" if v.partition(":")[0] == old else v for v in links
        ]
        if updated != links:
            parent.host_config["Links"] = updated
            changed.append(parent)
    return changed


def remove_link(parent: Container, alias: str) -> bool:
    """``docker rm --link /parent/alias``: drop the link; False if there was none."""
    links = [str(v) for v in parent.host_config.get("Links") or []]
    kept = [v for v in links if posixpath.basename(v.partition(":")[2]) != alias]
    if kept == links:
        return False
    parent.host_config["Links"] = kept or None
    return True
