"""``docker create``: validate, merge with the image, reserve the name,
reference volumes, make the rw layer and write the record (last).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from typing import Any

from berthd import errdefs
from berthd.container import Container, validate_name
from berthd.daemon.containers.context import ContainerContext
from berthd.daemon.containers.files import write_network_files
from berthd.daemon.containers.hooks import NoNetwork
from berthd.daemon.containers.links import register_links
from berthd.daemon.containers.mounting import VolumeMounts
from berthd.daemon.containers.normalize import (
    merge_image_config,
    normalize_host_config,
    parse_create_body,
)
from berthd.daemon.containers.seams import Created, CreateRequest
from berthd.daemon.containers.verify import verify_container_settings
from berthd.daemon.containers.volumes import (
    plan_volumes,
)
from berthd.lib.timefmt import now_ns
from berthd.oci import validate_host_config

__all__ = ["ContainerCreator"]


class ContainerCreator:
    """moby's daemon/create.go: a create request becomes a container on disk."""

    def __init__(self, ctx: ContainerContext, mounts: VolumeMounts) -> None:
        self._ctx = ctx
        self._mounts = mounts

    async def create_from(self, req: CreateRequest) -> Created:
        """The typed seam (builder, swarm agent): the same path as ``POST /containers/create``."""
        return await self.create(req.name, req.body())

    async def create(self, name: str, body: object) -> Created:
        """A ``POST /containers/create`` body (parsed JSON, checked here)."""
        ctx = self._ctx
        config, host_config, networking = parse_create_body(body)
        verify_container_settings(config, host_config, ctx.driver_name)  # before any lookup
        if name:
            name = validate_name(name)
        image_ref = str(config.get("Image") or "")
        if not image_ref:
            raise errdefs.InvalidParameter("config.Image must not be empty")
        image = await asyncio.to_thread(ctx.images.resolve_image, image_ref)
        config = merge_image_config(config, image.config)
        host_config = normalize_host_config(host_config, ctx.default_runtime())
        runtime = host_config["Runtime"]
        if runtime not in ctx.supervisor.runtimes:
            raise errdefs.InvalidParameter(f"unknown or invalid runtime name: {runtime}")
        warnings = validate_host_config(config, host_config)
        if (
            isinstance(ctx.network, NoNetwork)
            and host_config["NetworkMode"]
            not in (
                "host",
                "none",
            )
            and not str(host_config["NetworkMode"]).startswith("container:")
        ):
            warnings.append(
                "berthd: bridge networks are not implemented yet; this container gets a "
                "private network namespace with only a loopback interface"
            )
        cid = secrets.token_hex(32)
        if name:
            ctx.store.names.reserve(name, cid)
        else:
            name = ctx.store.names.reserve_generated(cid)
        if not config.get("Hostname"):
            # dockerd: the host's name with --network host, else the short ID
            config["Hostname"] = (
                socket.gethostname() if host_config["NetworkMode"] == "host" else cid[:12]
            )
        try:
            host_config["Links"] = register_links(name, host_config, ctx.store.get) or None
            points, vol_names = await plan_volumes(ctx.volumes, cid, config, host_config, ctx.store)
        except BaseException:
            ctx.store.names.release(name)
            raise
        try:
            c = await asyncio.to_thread(
                self._create_on_disk,
                cid,
                name,
                config,
                host_config,
                image.id,
                image.chain_id,
                points,
            )
            await self._mounts.fill(c)
            await ctx.network.prepare(c, networking)
            await asyncio.to_thread(ctx.store.checkpoint, c)  # the record: last, once
        except BaseException:
            ctx.store.names.release(name)
            for vol in vol_names:
                with contextlib.suppress(errdefs.BerthdError):
                    await ctx.volumes.release(vol, cid)
            with contextlib.suppress(errdefs.BerthdError):
                await asyncio.to_thread(ctx.remove_on_disk, cid)
            raise
        ctx.store.add(c)
        ctx.log_event(c, "create")
        return Created(cid, warnings)

    def _create_on_disk(
        self,
        cid: str,
        name: str,
        config: dict[str, Any],
        host_config: dict[str, Any],
        image_id: str,
        chain_id: str | None,
        mount_points: dict[str, dict[str, Any]],
    ) -> Container:
        """Blocking: the directory, the rw layer and the network files. No record
        yet: ``create`` writes it once, last (after volumes and network), so a
        crash before it leaves a directory without config.v2.json, which the next
        start-up removes."""
        paths = self._ctx.paths
        cdir = paths.container_dir(cid)
        os.makedirs(cdir, mode=0o710)
        try:
            self._ctx.layers.create_rw_layer(cid, chain_id)
            try:
                entrypoint = config.get("Entrypoint") or []
                cmd = config.get("Cmd") or []
                argv = [*entrypoint, *cmd]
                hostname_path, hosts_path, resolv_path = write_network_files(
                    cdir,
                    str(config.get("Hostname") or cid[:12]),
                    str(config.get("Domainname") or ""),
                    str(host_config.get("NetworkMode") or ""),
                    list(host_config.get("ExtraHosts") or []),
                    list(host_config.get("Dns") or []),
                    list(host_config.get("DnsSearch") or []),
                    list(host_config.get("DnsOptions") or []),
                )
                c = Container(
                    id=cid,
                    name=name,
                    created=now_ns(),
                    path=argv[0],
                    args=argv[1:],
                    config=config,
                    host_config=host_config,
                    image_id=image_id,
                    driver=self._ctx.driver_name,
                    log_path=paths.log_path(cid)
                    if host_config["LogConfig"]["Type"] != "none"
                    else "",
                    hostname_path=hostname_path,
                    hosts_path=hosts_path,
                    resolv_conf_path=resolv_path,
                    network_settings=_network_settings(),
                    mount_points=mount_points,
                )
                return c
            except BaseException:
                self._ctx.layers.release_rw_layer(cid)
                raise
        except BaseException:
            self._ctx.store.remove_dir(cid)
            raise


def _network_settings() -> dict[str, Any]:
    """A new container's NetworkSettings: nothing allocated yet."""
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {},
    }
