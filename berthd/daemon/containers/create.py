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
from berthd.daemon.containers.base import (
    ServiceBase,
    _network_settings,
)
from berthd.daemon.containers.files import write_network_files
from berthd.daemon.containers.hooks import NoNetwork
from berthd.daemon.containers.links import register_links
from berthd.daemon.containers.normalize import (
    merge_image_config,
    normalize_host_config,
    parse_create_body,
)
from berthd.daemon.containers.verify import verify_container_settings
from berthd.daemon.containers.volumes import (
    plan_volumes,
)
from berthd.lib.timefmt import now_ns
from berthd.oci import validate_host_config


class CreateMixin(ServiceBase):
    # -- create -------------------------------------------------------------------------
    async def create(self, name: str, body: Any) -> dict[str, Any]:
        config, host_config, networking = parse_create_body(body)
        verify_container_settings(config, host_config, self.driver_name)  # before any lookup
        if name:
            name = validate_name(name)
        image_ref = str(config.get("Image") or "")
        if not image_ref:
            raise errdefs.InvalidParameter("config.Image must not be empty")
        image = await asyncio.to_thread(self.images.resolve_image, image_ref)
        config = merge_image_config(config, image.config)
        host_config = normalize_host_config(host_config, self._default_runtime())
        runtime = host_config["Runtime"]
        if runtime not in self.supervisor.runtimes:
            raise errdefs.InvalidParameter(f"unknown or invalid runtime name: {runtime}")
        warnings = validate_host_config(config, host_config)
        if (
            isinstance(self.network, NoNetwork)
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
            self.store.names.reserve(name, cid)
        else:
            name = self.store.names.reserve_generated(cid)
        if not config.get("Hostname"):
            # dockerd: the host's name with --network host, else the short ID
            config["Hostname"] = (
                socket.gethostname() if host_config["NetworkMode"] == "host" else cid[:12]
            )
        try:
            host_config["Links"] = register_links(name, host_config, self.store.get) or None
            points, vol_names = await plan_volumes(
                self.volumes, cid, config, host_config, self.store
            )
        except BaseException:
            self.store.names.release(name)
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
            await self._fill_volumes(c)
            await self.network.prepare(c, networking)
            await asyncio.to_thread(self.store.checkpoint, c)  # the record: last, once
        except BaseException:
            self.store.names.release(name)
            for vol in vol_names:
                with contextlib.suppress(errdefs.BerthdError):
                    await self.volumes.release(vol, cid)
            with contextlib.suppress(errdefs.BerthdError):
                await asyncio.to_thread(self._remove_on_disk_id, cid)
            raise
        self.store.add(c)
        self.log_event(c, "create")
        return {"Id": cid, "Warnings": warnings}

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
        paths = self.paths
        cdir = paths.container_dir(cid)
        os.makedirs(cdir, mode=0o710)
        try:
            self.layers.create_rw_layer(cid, chain_id)
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
                    driver=self.driver_name,
                    log_path=paths.log_path(cid)
                    if host_config["LogConfig"]["Type"] != "none"
                    else "",
                    hostname_path=hostname_path,
                    hosts_path=hosts_path,
                    resolv_conf_path=resolv_path,
                    network_settings=_network_settings(host_config),
                    mount_points=mount_points,
                )
                return c
            except BaseException:
                self.layers.release_rw_layer(cid)
                raise
        except BaseException:
            self.store.remove_dir(cid)
            raise
