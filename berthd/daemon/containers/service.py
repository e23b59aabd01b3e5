"""ContainerService: the container verbs of the daemon (dockerd's daemon/*.go).

State changes of one container are serialised by its lock; waiting for an
exit never holds it (the exit handler needs it). Every container that runs
has one monitor task, owned here, that waits for conmon to report the exit
and then records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal as signal_mod
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson

from berthd import errdefs
from berthd.config import DaemonConfig
from berthd.container import Container, ContainerStore, validate_name
from berthd.daemon.containers.attach import AttachPlan, PendingAttaches, plan_attach, run_attach
from berthd.daemon.containers.deps import ImageLookup
from berthd.daemon.containers.exec import ExecRecord, exec_process, new_exec
from berthd.daemon.containers.files import ContainerPaths, write_network_files
from berthd.daemon.containers.hooks import LifecycleHook, NetworkAttacher, NoNetwork
from berthd.daemon.containers.inspect_ops import empty_stats, run_ps, shape_stats
from berthd.daemon.containers.logs import LogsOptions, check_logs, stream_logs
from berthd.daemon.containers.normalize import (
    merge_image_config,
    normalize_host_config,
    parse_create_body,
    validate_restart_policy,
)
from berthd.daemon.containers.restart_policy import next_delay, should_restart
from berthd.daemon.containers.streams import ClientConn, parse_detach_keys, pump
from berthd.daemon.containers.view import inspect_container, summary
from berthd.daemon.containers.view import list_containers as view_list
from berthd.daemon.containers.volumes import (
    VolumeBackend,
    copy_up,
    extra_volume_mounts,
    plan_volumes,
)
from berthd.daemon.containers.waiters import Waiters
from berthd.daemon.events import EventsService
from berthd.layer import LayerStore
from berthd.layer.aio import aiter_chunks
from berthd.lib.atomicfile import write_atomic
from berthd.lib.filters import FilterArgs
from berthd.lib.timefmt import now_ns
from berthd.oci import SpecOptions, build_spec, parse_signal, validate_host_config
from berthd.oci.mounts import MountPoint, parse_bind
from berthd.oci.resources import linux_resources, update_resources
from berthd.runtime.conmon import CreateOptions
from berthd.runtime.errors import RuntimeStartError
from berthd.runtime.monitor import ExitStatus
from berthd.runtime.supervisor import Supervisor

__all__ = ["ContainerService"]

log = logging.getLogger("berthd.containers")

DEFAULT_STOP_TIMEOUT = 10
# dockerd's exit code for a container that failed to start for an unknown reason
EXIT_UNKNOWN = 128


class ContainerService:
    def __init__(
        self,
        config: Callable[[], DaemonConfig],
        store: ContainerStore,
        layers: LayerStore,
        images: ImageLookup,
        supervisor: Supervisor,
        events: EventsService,
        driver_name: str,
        default_runtime: Callable[[], str],
        volumes: VolumeBackend,
    ) -> None:
        self._config = config
        self.store = store
        self.layers = layers
        self.images = images
        self.supervisor = supervisor
        self.events = events
        self.driver_name = driver_name
        self._default_runtime = default_runtime
        self.volumes = volumes
        self.network: NetworkAttacher = NoNetwork()
        self.hooks: list[LifecycleHook] = []
        self.waiters = Waiters()
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._stopped: dict[str, asyncio.Event] = {}
        self.pending_attaches = PendingAttaches()
        self.execs: dict[str, ExecRecord] = {}
        self._exec_tasks: set[asyncio.Task[None]] = set()
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._backoff: dict[str, float] = {}
        self._shutting_down = False

    @property
    def paths(self) -> ContainerPaths:
        cfg = self._config()
        return ContainerPaths(cfg.data_root, cfg.exec_root)

    # -- events -------------------------------------------------------------------------
    def log_event(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None:
        attrs: dict[str, str] = dict(c.config.get("Labels") or {})
        attrs["image"] = str(c.config.get("Image") or "")
        attrs["name"] = c.name.lstrip("/")
        if extra:
            attrs.update(extra)
        self.events.log("container", action, c.id, attrs)

    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    # -- create -------------------------------------------------------------------------
    async def create(self, name: str, body: Any) -> dict[str, Any]:
        config, host_config, networking = parse_create_body(body)
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
            config["Hostname"] = cid[:12]
        try:
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
            await asyncio.to_thread(self.store.checkpoint, c)
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
        """Blocking. The record is written last: a crash before it leaves a
        directory without config.v2.json, which the next start-up removes."""
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
                self.store.checkpoint(c)
                return c
            except BaseException:
                self.layers.release_rw_layer(cid)
                raise
        except BaseException:
            self.store.remove_dir(cid)
            raise

    # -- start --------------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if c.state.paused:
                raise errdefs.Conflict("cannot start a paused container, try unpause instead")
            if c.state.running:
                raise errdefs.NotModified("Container already started")
            if c.state.removal_in_progress or c.state.dead:
                raise errdefs.Conflict("container is marked for removal and cannot be started")
            try:
                await self._start_locked(c)
                return
            except errdefs.BerthdError as e:
                failure = e
                c.state.set_error(str(e), c.state.exit_code or EXIT_UNKNOWN)
                await asyncio.to_thread(self.store.checkpoint, c)
        # the start failed: nobody will see this container run
        self.pending_attaches.cancel(c.id)
        self.waiters.exited(c.id, c.state.exit_code, c.state.error)
        if c.host_config.get("AutoRemove"):
            with contextlib.suppress(errdefs.BerthdError):
                await self.remove(c.id, force=True, volumes=True)
        raise failure

    async def _fill_volumes(self, c: Container) -> None:
        """Copy the image's content into new, empty volumes (dockerd's copy-up)."""
        todo = [
            (d, r)
            for d, r in c.mount_points.items()
            if r.get("Type") == "volume" and r.get("CopyData")
        ]
        if not todo:
            return
        rootfs = await asyncio.to_thread(self.layers.mount, c.id)
        try:
            for dest, rec in todo:
                path = await self.volumes.mount(rec["Name"], c.id)
                try:
                    await asyncio.to_thread(copy_up, rootfs, dest, path)
                finally:
                    await self.volumes.unmount(rec["Name"], c.id)
        finally:
            await asyncio.to_thread(self.layers.unmount, c.id)

    async def _mount_volumes(self, c: Container) -> dict[str, str]:
        paths: dict[str, str] = {}
        try:
            for dest, rec in c.mount_points.items():
                if rec.get("Type") != "volume":
                    continue
                paths[dest] = await self.volumes.mount(rec["Name"], c.id)
                rw = "true" if rec.get("RW", True) else "false"
                self.events.log(
                    "volume",
                    "mount",
                    rec["Name"],
                    {
                        "container": c.id,
                        "destination": dest,
                        "driver": str(rec.get("Driver", "")),
                        "propagation": "",
                        "read/write": rw,
                    },
                )
        except BaseException:
            await self._unmount_volumes(c)
            raise
        return paths

    async def _unmount_volumes(self, c: Container) -> None:
        for rec in c.mount_points.values():
            if rec.get("Type") != "volume":
                continue
            with contextlib.suppress(errdefs.BerthdError):
                await self.volumes.unmount(rec["Name"], c.id)
                attrs = {"container": c.id, "driver": str(rec.get("Driver", ""))}
                self.events.log("volume", "unmount", rec["Name"], attrs)

    def _ensure_bind_sources(self, c: Container) -> None:
        """``-v /host:/ctr`` creates a missing host directory, as dockerd does."""
        for raw in c.host_config.get("Binds") or []:
            mp = parse_bind(str(raw))
            if mp.type == "bind" and mp.source and not os.path.lexists(mp.source):
                os.makedirs(mp.source, mode=0o755, exist_ok=True)

    def _spec_options(
        self, c: Container, volume_paths: dict[str, str], netns: str | None = None
    ) -> SpecOptions:
        cfg = self._config()
        extra = [
            MountPoint(type="bind", destination="/etc/hostname", source=c.hostname_path),
            MountPoint(type="bind", destination="/etc/hosts", source=c.hosts_path),
            MountPoint(type="bind", destination="/etc/resolv.conf", source=c.resolv_conf_path),
            *extra_volume_mounts(c, volume_paths),
        ]

        def resolve_volume(mp: MountPoint) -> str:
            return volume_paths[mp.destination]

        return SpecOptions(
            cgroup_parent=cfg.cgroup_parent,
            extra_mounts=extra,
            resolve_volume=resolve_volume,
            namespace_paths={"network": netns} if netns else {},
        )

    async def _start_locked(self, c: Container) -> None:
        paths = self.paths
        bundle = paths.bundle_dir(c.id)
        await asyncio.to_thread(self._ensure_bind_sources, c)
        rootfs = await asyncio.to_thread(self.layers.mount, c.id)
        try:
            volume_paths = await self._mount_volumes(c)
        except BaseException:
            await asyncio.to_thread(self.layers.unmount, c.id)
            raise
        try:
            net = await self.network.setup(c)
        except BaseException:
            await self._unmount_volumes(c)
            await asyncio.to_thread(self.layers.unmount, c.id)
            raise
        if net.settings:
            c.network_settings.update(net.settings)
        try:
            try:
                spec = await asyncio.to_thread(
                    build_spec,
                    c.id,
                    c.config,
                    c.host_config,
                    rootfs,
                    self._spec_options(c, volume_paths, net.netns_path),
                )
            except errdefs.InvalidParameter as e:
                raise errdefs.System(str(e)) from None
            size = c.host_config.get("ConsoleSize") or [0, 0]
            if c.tty and len(size) == 2 and size[0] and size[1]:
                spec["process"]["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
            await asyncio.to_thread(_write_bundle, bundle, spec)
            log_opts = c.host_config.get("LogConfig", {}).get("Config") or {}
            opts = CreateOptions(
                bundle=Path(bundle),
                persist_dir=Path(paths.container_dir(c.id)),
                log_path=Path(c.log_path) if c.log_path else None,
                log_size_max=_size(log_opts.get("max-size")),
                terminal=c.tty,
                stdin=bool(c.config.get("OpenStdin")),
                stdin_once=bool(c.config.get("StdinOnce")),
                name=c.name.lstrip("/"),
            )
            try:
                pid = await self.supervisor.create(c.id, opts, runtime=c.runtime)
            except RuntimeStartError as e:
                c.state.exit_code = e.exit_code
                raise
            await self._connect_pending_attaches(c)
            try:
                await self.supervisor.start(c.id)
            except BaseException:
                await self.supervisor.delete(c.id)
                raise
        except BaseException:
            with contextlib.suppress(Exception):
                await self.network.teardown(c)
            await self._unmount_volumes(c)
            await asyncio.to_thread(self.layers.unmount, c.id)
            raise
        c.state.set_running(pid, self.supervisor.conmon_pid(c.id))
        c.has_been_started_before = True
        c.has_been_manually_stopped = False
        await asyncio.to_thread(self.store.checkpoint, c)
        self.log_event(c, "start")
        self._watch(c)
        for hook in self.hooks:
            hook.started(c)

    async def _connect_pending_attaches(self, c: Container) -> None:
        """Clients that attached before the start get conmon's socket now,
        before the process runs, so they miss none of its output."""
        for fut in self.pending_attaches.take(c.id):
            try:
                session = await self.supervisor.attach(c.id)
            except errdefs.BerthdError as e:
                log.warning("container %s: pending attach failed: %s", c.short_id, e)
                fut.set_result(None)
                continue
            fut.set_result(session)

    def _watch(self, c: Container) -> None:
        self._stopped[c.id] = asyncio.Event()
        self._monitors[c.id] = asyncio.create_task(self._monitor(c), name=f"monitor-{c.short_id}")

    async def _monitor(self, c: Container) -> None:
        try:
            status = await self.supervisor.wait(c.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("waiting for container %s failed", c.short_id)
            status = ExitStatus(255, False, _utcnow())
        async with c.lock:
            await self._handle_exit(c, status)
            restart = not self._shutting_down and should_restart(
                c.host_config.get("RestartPolicy") or {},
                c.state.exit_code,
                c.has_been_manually_stopped,
                c.restart_count,
            )
            if restart:
                ran = (c.state.finished_at - c.state.started_at) / 1e9
                delay = next_delay(self._backoff.get(c.id, 0.0), ran)
                self._backoff[c.id] = delay
                c.state.running = True
                c.state.restarting = True
                await asyncio.to_thread(self.store.checkpoint, c)
                self._restarts[c.id] = asyncio.create_task(
                    self._restart_later(c, delay), name=f"restart-{c.short_id}"
                )
        self._monitors.pop(c.id, None)
        if not restart and c.host_config.get("AutoRemove"):
            with contextlib.suppress(errdefs.BerthdError):
                await self.remove(c.id, force=True, volumes=True)

    async def _restart_later(self, c: Container, delay: float) -> None:
        """Apply the restart policy after its backoff delay."""
        try:
            await asyncio.sleep(delay)
            async with c.lock:
                if not c.state.restarting or self.store.try_get(c.id) is None:
                    return
                c.restart_count += 1
                c.state.running = False
                c.state.restarting = False
                try:
                    await self._start_locked(c)
                except errdefs.BerthdError as e:
                    log.error("restart of container %s failed: %s", c.short_id, e)
                    c.state.set_error(str(e), c.state.exit_code or EXIT_UNKNOWN)
                    await asyncio.to_thread(self.store.checkpoint, c)
                    return
            self.log_event(c, "restart")
        finally:
            if self._restarts.get(c.id) is asyncio.current_task():
                del self._restarts[c.id]

    async def _cancel_restart(self, c: Container) -> bool:
        """Stop a pending policy restart; True if there was one."""
        task = self._restarts.pop(c.id, None)
        if task is None:
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        c.state.running = False
        c.state.restarting = False
        await asyncio.to_thread(self.store.checkpoint, c)
        return True

    async def _handle_exit(self, c: Container, status: ExitStatus) -> None:
        finished = int(status.finished_at.timestamp() * 1e9)
        c.state.set_stopped(status.exit_code, status.oom_killed, finished)
        with contextlib.suppress(errdefs.BerthdError):
            await self.supervisor.delete(c.id)
        for hook in self.hooks:
            hook.stopped(c)
        with contextlib.suppress(Exception):
            await self.network.teardown(c)
        await self._unmount_volumes(c)
        with contextlib.suppress(errdefs.BerthdError):
            await asyncio.to_thread(self.layers.unmount, c.id)
        await asyncio.to_thread(self.store.checkpoint, c)
        if status.oom_killed:
            self.log_event(c, "oom")
        self.log_event(c, "die", {"exitCode": str(status.exit_code)})
        ev = self._stopped.pop(c.id, None)
        if ev is not None:
            ev.set()
        self.waiters.exited(c.id, status.exit_code)

    # -- signals, stop, restart ------------------------------------------------------------
    async def kill(self, ref: str, sig: str) -> None:
        c = self.get(ref)
        signum = parse_signal(sig) if sig else signal_mod.SIGKILL
        if not c.state.running:
            raise errdefs.Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        if c.state.restarting:
            # no process to signal: the pending policy restart is what dies
            if await self._cancel_restart(c):
                self.log_event(c, "kill", {"signal": str(signum)})
            return
        await self._signal(c, signum)

    async def _signal(self, c: Container, signum: int) -> None:
        self.log_event(c, "kill", {"signal": str(signum)})
        try:
            await self.supervisor.signal(c.id, signum)
        except errdefs.Conflict:
            return
        if c.state.paused and signum == signal_mod.SIGKILL:
            with contextlib.suppress(errdefs.BerthdError):
                await self.supervisor.resume(c.id)

    async def _wait_stopped(self, c: Container, timeout: float | None) -> bool:
        ev = self._stopped.get(c.id)
        if ev is None:
            return True
        try:
            async with asyncio.timeout(timeout):
                await ev.wait()
        except TimeoutError:
            return False
        return True

    def _stop_signal_and_timeout(self, c: Container, sig: str, t: int | None) -> tuple[int, int]:
        signum = parse_signal(sig or str(c.config.get("StopSignal") or "SIGTERM"))
        if t is None:
            stop_timeout = c.config.get("StopTimeout")
            t = int(stop_timeout) if stop_timeout is not None else DEFAULT_STOP_TIMEOUT
        return signum, t

    async def stop(self, ref: str, t: int | None = None, sig: str = "") -> None:
        c = self.get(ref)
        if not c.state.running:
            raise errdefs.NotModified("Container already stopped")
        c.has_been_manually_stopped = True
        if await self._cancel_restart(c):
            self.log_event(c, "stop")
            return
        await self._stop_container(c, sig, t)

    async def _stop_container(self, c: Container, sig: str, t: int | None) -> None:
        await asyncio.to_thread(self.store.checkpoint, c)
        signum, timeout = self._stop_signal_and_timeout(c, sig, t)
        if c.state.running:
            await self._signal(c, signum)
            if c.state.paused and signum != signal_mod.SIGKILL:
                with contextlib.suppress(errdefs.BerthdError):
                    await self.supervisor.resume(c.id)
            if not await self._wait_stopped(c, None if timeout < 0 else timeout):
                log.info(
                    "Container %s failed to exit within %d seconds of signal %d - using the force",
                    c.short_id,
                    timeout,
                    signum,
                )
                await self._signal(c, signal_mod.SIGKILL)
                await self._wait_stopped(c, None)
        self.log_event(c, "stop")

    async def restart(self, ref: str, t: int | None = None, sig: str = "") -> None:
        c = self.get(ref)
        if c.state.running:
            await self._stop_container(c, sig, t)
        async with c.lock:
            if not c.state.running:
                await self._start_locked(c)
        self.log_event(c, "restart")

    # -- wait -------------------------------------------------------------------------------
    def wait_future(self, ref: str, condition: str) -> asyncio.Future[tuple[int, str]]:
        """The future a ``POST /wait`` resolves with, taken before it answers 200."""
        c = self.get(ref)
        if condition in ("", "not-running"):
            if not c.state.running:
                fut: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
                fut.set_result((c.state.exit_code, c.state.error))
                return fut
            return self.waiters.on_exit(c.id)
        if condition == "next-exit":
            return self.waiters.on_exit(c.id)
        if condition == "removed":
            return self.waiters.on_removed(c.id)
        raise errdefs.InvalidParameter(f"invalid condition: {condition!r}")

    # -- remove -------------------------------------------------------------------------------
    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        c = self.get(ref)
        if c.state.running and not force:
            if c.state.paused:
                raise errdefs.Conflict(
                    f'cannot remove container "{c.name}": container is paused and must be '
                    "unpaused first"
                )
            raise errdefs.Conflict(
                f'cannot remove container "{c.name}": container is running: stop the '
                "container before removing or force remove"
            )
        if c.state.removal_in_progress:
            raise errdefs.Conflict(f"removal of container {c.id} is already in progress")
        await self._cancel_restart(c)
        if c.state.running:
            await self._signal(c, signal_mod.SIGKILL)
            await self._wait_stopped(c, None)
        async with c.lock:
            if self.store.try_get(c.id) is None:
                return
            c.state.removal_in_progress = True
            await asyncio.to_thread(self.store.checkpoint, c)
            try:
                await asyncio.to_thread(self._remove_on_disk, c)
            except errdefs.BerthdError as e:
                c.state.removal_in_progress = False
                c.state.dead = True
                c.state.error = str(e)
                await asyncio.to_thread(self.store.checkpoint, c)
                raise errdefs.System(f"unable to remove filesystem for {c.id}: {e}") from None
            self.store.delete(c)
        await self._release_volumes(c, volumes)
        with contextlib.suppress(Exception):
            await self.network.release(c)
        self.log_event(c, "destroy")
        self.waiters.removed(c.id, c.state.exit_code)

    async def _release_volumes(self, c: Container, remove_anonymous: bool) -> None:
        for rec in c.mount_points.values():
            if rec.get("Type") != "volume":
                continue
            with contextlib.suppress(errdefs.BerthdError):
                await self.volumes.release(rec["Name"], c.id)
            if remove_anonymous and rec.get("Anonymous"):
                try:
                    await self.volumes.remove(rec["Name"])
                except errdefs.BerthdError as e:
                    log.warning("could not remove volume %s: %s", rec["Name"], e)

    def _remove_on_disk(self, c: Container) -> None:
        self._remove_on_disk_id(c.id)

    def _remove_on_disk_id(self, cid: str) -> None:
        with contextlib.suppress(errdefs.NotFound):
            self.layers.release_rw_layer(cid)
        self.store.remove_dir(cid)
        shutil.rmtree(self.paths.bundle_dir(cid), ignore_errors=True)

    # -- small verbs ----------------------------------------------------------------------------
    async def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise errdefs.InvalidParameter("Neither old nor new names may be empty")
        new = validate_name(new_name)
        if new == c.name:
            raise errdefs.InvalidParameter(
                "Renaming a container with the same name as its current name"
            )
        async with c.lock:
            old = c.name
            self.store.names.reserve(new, c.id)
            c.name = new
            try:
                await asyncio.to_thread(self.store.checkpoint, c)
            except BaseException:
                c.name = old
                self.store.names.release(new)
                raise
            self.store.names.release(old)
        self.log_event(c, "rename", {"oldName": old})

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if not c.state.running:
                raise errdefs.Conflict(f"Container {c.id} is not running")
            if c.state.paused:
                raise errdefs.Conflict(f"Container {c.id} is already paused")
            await self.supervisor.pause(c.id)
            c.state.paused = True
            await asyncio.to_thread(self.store.checkpoint, c)
        self.log_event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if not c.state.paused:
                raise errdefs.Conflict(f"Container {c.id} is not paused")
            await self.supervisor.resume(c.id)
            c.state.paused = False
            await asyncio.to_thread(self.store.checkpoint, c)
        self.log_event(c, "unpause")

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.state.running:
            raise errdefs.Conflict(f"Container {c.id} is not running")
        self.supervisor.resize(c.id, height, width)
        self.log_event(c, "resize", {"height": str(height), "width": str(width)})

    # -- views ------------------------------------------------------------------------------------
    def inspect(self, ref: str, api_version: str, size: bool) -> dict[str, Any]:
        c = self.get(ref)
        return inspect_container(c, self._graph_data(c), api_version)

    def _graph_data(self, c: Container) -> dict[str, str]:
        try:
            rw = self.layers.get_rw_layer(c.id)
        except errdefs.NotFound:
            return {}
        root = getattr(self.layers.driver, "root", "")
        if self.driver_name != "overlay2" or not root:
            return {}
        mount = os.path.join(root, rw.mount_id)
        return {
            "MergedDir": os.path.join(mount, "merged"),
            "UpperDir": os.path.join(mount, "diff"),
            "WorkDir": os.path.join(mount, "work"),
        }

    def list_containers(
        self, all_: bool, limit: int, size: bool, filters: FilterArgs
    ) -> list[dict[str, Any]]:
        ancestors: dict[str, str] = {}
        for ref in filters.get("ancestor"):
            with contextlib.suppress(errdefs.BerthdError):
                ancestors[ref] = self.images.resolve_image(ref).id
        rows = view_list(self.store, all_, limit, filters, ancestors)
        return [summary(c, str(c.config.get("Image") or c.image_id)) for c in rows]

    # -- top, stats, update, changes, export -------------------------------------------------------
    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        c = self.get(ref)
        if not c.state.running or c.state.restarting:
            raise errdefs.Conflict(f"Container {c.id} is not running")
        pids = await self.supervisor.pids(c.id)
        return await run_ps(ps_args, pids)

    async def stats(self, ref: str, stream: bool) -> AsyncIterator[dict[str, Any]]:
        """One stats document, or one a second while ``stream``."""
        c = self.get(ref)
        return self._stats_iter(c, stream)

    async def _stats_iter(self, c: Container, stream: bool) -> AsyncIterator[dict[str, Any]]:
        previous: dict[str, Any] | None = None
        while True:
            if not c.state.running or c.state.restarting:
                yield empty_stats(c.name, c.id)
                return
            try:
                raw = await self.supervisor.stats(c.id)
            except errdefs.BerthdError:
                yield empty_stats(c.name, c.id)
                return
            if previous is None and stream is False:
                # one-shot with a CPU delta, as the CLI's --no-stream expects
                first = shape_stats(raw, None, c.name, c.id)
                await asyncio.sleep(0.1)
                with contextlib.suppress(errdefs.BerthdError):
                    raw = await self.supervisor.stats(c.id)
                yield shape_stats(raw, first, c.name, c.id)
                return
            doc = shape_stats(raw, previous, c.name, c.id)
            yield doc
            if not stream:
                return
            previous = doc
            await asyncio.sleep(1.0)

    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errdefs.InvalidParameter("invalid JSON: update configuration must be an object")
        c = self.get(ref)
        async with c.lock:
            hc = update_resources(c.host_config, body)
            policy = body.get("RestartPolicy")
            if policy and policy.get("Name") is not None:
                validate_restart_policy(policy)
                if hc.get("AutoRemove") and policy.get("Name") not in ("", "no"):
                    raise errdefs.InvalidParameter(
                        "Restart policy cannot be updated because AutoRemove is enabled for "
                        "the container"
                    )
                hc["RestartPolicy"] = {
                    "Name": policy.get("Name") or "no",
                    "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0),
                }
            if c.state.running and not c.state.restarting:
                await self.supervisor.update(c.id, linux_resources(hc))
            c.host_config = hc
            await asyncio.to_thread(self.store.checkpoint, c)
        self.log_event(c, "update")
        return {"Warnings": []}

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        c = self.get(ref)
        found = await asyncio.to_thread(self.layers.changes, c.id)
        return [{"Path": ch.path, "Kind": int(ch.kind)} for ch in found]

    def export(self, ref: str) -> AsyncIterator[bytes]:
        c = self.get(ref)
        self.log_event(c, "export")
        return aiter_chunks(lambda: self.layers.export_rootfs(c.id))

    # -- logs -----------------------------------------------------------------------------------
    def logs(self, ref: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]:
        """(tty, body chunks); errors are raised before anything is sent."""
        c = self.get(ref)
        check_logs(c, opts)
        stopped = self._stopped.get(c.id) if c.state.running else None
        return c.tty, stream_logs(c, opts, stopped)

    # -- attach -------------------------------------------------------------------------------
    def plan_attach(
        self,
        ref: str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stream: bool,
        logs: bool,
        detach_keys: str,
    ) -> AttachPlan:
        return plan_attach(self.get(ref), stdin, stdout, stderr, stream, logs, detach_keys)

    async def attach(self, plan: AttachPlan, conn: ClientConn) -> None:
        c = plan.container
        if plan.logs and c.log_path:
            replay = LogsOptions(
                stdout=plan.stdout,
                stderr=plan.stderr,
                follow=False,
                since_ns=0,
                until_ns=0,
                timestamps=False,
                tail=None,
            )
            with contextlib.suppress(ConnectionResetError, OSError):
                async for chunk in stream_logs(c, replay, None):
                    await conn.write(chunk)
        if not plan.stream:
            return
        self.log_event(c, "attach")
        session = None
        pending = None
        if c.state.running:
            session = await self.supervisor.attach(c.id)
        else:
            pending = self.pending_attaches.wait_for_start(c.id)
        detached = await run_attach(plan, conn, session, pending)
        if detached:
            self.log_event(c, "detach")

    # -- exec ---------------------------------------------------------------------------------
    def exec_create(self, ref: str, body: Any) -> dict[str, str]:
        c = self.get(ref)
        rec = new_exec(c, body)
        if rec.detach_keys:
            parse_detach_keys(rec.detach_keys)
        self.execs[rec.id] = rec
        c.exec_ids.add(rec.id)
        self.log_event(c, "exec_create: " + " ".join(rec.cmd), {"execID": rec.id})
        return {"Id": rec.id}

    def get_exec(self, exec_id: str) -> ExecRecord:
        rec = self.execs.get(exec_id)
        if rec is None:
            raise errdefs.NotFound(f"No such exec instance: {exec_id}")
        return rec

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.get_exec(exec_id).to_api()

    def exec_prepare(self, exec_id: str, body: Any) -> ExecRecord:
        rec = self.get_exec(exec_id)
        if rec.running:
            raise errdefs.Conflict(f"Error: Exec command {rec.id} is already running")
        if rec.started:
            raise errdefs.Conflict(f"Error: Exec command {rec.id} has already run")
        c = rec.container
        if not c.state.running:
            raise errdefs.Conflict(f"container {c.id} is not running")
        if c.state.paused:
            raise errdefs.Conflict(f"container {c.id} is paused, unpause the container before exec")
        if isinstance(body, dict) and body.get("Tty") is not None:
            rec.tty = bool(body.get("Tty"))
        if isinstance(body, dict) and body.get("ConsoleSize"):
            rec.console_size = body.get("ConsoleSize")
        return rec

    async def exec_start(self, rec: ExecRecord, conn: ClientConn | None) -> None:
        """Run the exec; with ``conn`` None it is detached (``exec -d``)."""
        c = rec.container
        rec.started = True
        process = await asyncio.to_thread(exec_process, rec, self.paths.bundle_dir(c.id))
        detach = conn is None
        try:
            session = await self.supervisor.exec(
                c.id, rec.id, process, stdin=rec.attach_stdin and not detach, detach=detach
            )
        except RuntimeStartError as e:
            rec.exit_code = e.exit_code
            raise
        rec.session = session
        rec.running = True
        rec.pid = session.pid
        self.log_event(c, "exec_start: " + " ".join(rec.cmd), {"execID": rec.id})
        if detach:
            task = asyncio.create_task(self._finish_exec(rec), name=f"exec-{rec.id[:12]}")
            self._exec_tasks.add(task)
            task.add_done_callback(self._exec_tasks.discard)
            return
        assert conn is not None
        try:
            if session.attach is not None:
                keys = parse_detach_keys(rec.detach_keys) if rec.detach_keys else None
                await pump(
                    conn,
                    session.attach,
                    tty=rec.tty,
                    stdin=rec.attach_stdin,
                    stdout=rec.attach_stdout,
                    stderr=rec.attach_stderr,
                    detach_keys=keys,
                )
        finally:
            await self._finish_exec(rec)

    async def _finish_exec(self, rec: ExecRecord) -> None:
        session = rec.session
        if session is None:
            return
        try:
            rec.exit_code = await session.wait()
        finally:
            rec.running = False
            await session.close()
        self.log_event(
            rec.container, "exec_die", {"execID": rec.id, "exitCode": str(rec.exit_code)}
        )

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        rec = self.get_exec(exec_id)
        if rec.session is None or not rec.running:
            raise errdefs.Conflict(f"Exec {exec_id} is not running")
        rec.session.resize(height, width)

    # -- start-up and shutdown ---------------------------------------------------------------
    async def load(self) -> None:
        """Load every container from disk (restore's first half)."""
        result = await asyncio.to_thread(self.store.load_all)
        for cid in result.unfinished:
            log.warning("removing container %s whose creation did not finish", cid[:12])
            await asyncio.to_thread(self._remove_unfinished, cid)
        for c in result.containers:
            self.store.add(c)
            try:
                self.store.names.reserve(c.name, c.id)
            except errdefs.Conflict:
                log.error("container %s: name %s is taken; giving it a new one", c.short_id, c.name)
                c.name = self.store.names.reserve_generated(c.id)
            for rec in c.mount_points.values():
                if rec.get("Type") == "volume":
                    try:
                        await self.volumes.get(rec["Name"], ref=c.id)
                    except errdefs.BerthdError as e:
                        log.warning("container %s: volume %s: %s", c.short_id, rec["Name"], e)
            if c.state.removal_in_progress:
                # a removal was interrupted: dockerd marks such containers dead
                c.state.removal_in_progress = False
                c.state.dead = True
                await asyncio.to_thread(self.store.checkpoint, c)
            elif c.state.restarting:
                c.state.running = False
                c.state.restarting = False
            elif c.state.running or c.state.paused:
                await self._restore_running(c)

    async def restart_by_policy(self, live_restore: bool) -> None:
        """After load: remove --rm leftovers and start what the policies say (in parallel)."""
        todo = []
        for c in list(self.store):
            if c.state.running or c.state.dead:
                continue
            if c.host_config.get("AutoRemove") and c.state.started_at:
                with contextlib.suppress(errdefs.BerthdError):
                    await self.remove(c.id, force=True, volumes=True)
                continue
            policy = c.host_config.get("RestartPolicy") or {}
            manual = c.has_been_manually_stopped
            if c.state.started_at and should_restart(
                policy, c.state.exit_code, manual, c.restart_count
            ):
                todo.append(c)

        async def start_one(c: Container) -> None:
            try:
                await self.start(c.id)
            except errdefs.BerthdError as e:
                log.error("failed to start container %s at start-up: %s", c.short_id, e)

        await asyncio.gather(*(start_one(c) for c in todo))

    def _remove_unfinished(self, cid: str) -> None:
        with contextlib.suppress(errdefs.BerthdError):
            self.layers.release_rw_layer(cid)
        self.store.remove_dir(cid)

    async def _restore_running(self, c: Container) -> None:
        try:
            restored = await self.supervisor.restore(c.id)
        except errdefs.BerthdError as e:
            log.warning("container %s: cannot restore (%s); marking it stopped", c.short_id, e)
            c.state.set_stopped(255, False)
            await asyncio.to_thread(self.store.checkpoint, c)
            return
        if restored.running:
            await asyncio.to_thread(self.layers.mount, c.id)
            for rec in c.mount_points.values():
                if rec.get("Type") == "volume":
                    with contextlib.suppress(errdefs.BerthdError):
                        await self.volumes.live_restore(rec["Name"], c.id)
            self._watch(c)
            for hook in self.hooks:
                hook.started(c)
            return
        status = restored.exit_status or ExitStatus(255, False, _utcnow())
        await asyncio.to_thread(self.layers.mount, c.id)
        async with c.lock:
            await self._handle_exit(c, status)

    async def shutdown(self, live_restore: bool, timeout: int) -> None:
        """Stop containers (all at once, bounded), or leave them running."""
        self._shutting_down = True
        for c in list(self.store):
            if c.id in self._restarts:
                await self._cancel_restart(c)
        running = [c for c in self.store if c.state.running]
        if not live_restore and running:

            async def stop_one(c: Container) -> None:
                with contextlib.suppress(errdefs.BerthdError):
                    await self._stop_container(c, "", None)

            try:
                async with asyncio.timeout(None if timeout < 0 else timeout + 1):
                    await asyncio.gather(*(stop_one(c) for c in running))
            except TimeoutError:
                log.warning("containers did not stop within the shutdown timeout")
        self.pending_attaches.cancel_all()
        owned = [*self._monitors.values(), *self._exec_tasks]
        for task in owned:
            task.cancel()
        for task in owned:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._monitors.clear()
        self.waiters.release_all("the daemon is shutting down")
        await self.supervisor.close()


def _write_bundle(bundle: str, spec: dict[str, Any]) -> None:
    os.makedirs(bundle, mode=0o700, exist_ok=True)
    write_atomic(os.path.join(bundle, "config.json"), orjson.dumps(spec), mode=0o600, sync=False)


def _size(value: Any) -> int:
    """``max-size`` as bytes (10k, 20m, 1g); -1 when unset."""
    if not value:
        return -1
    text = str(value).strip().lower()
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    mult = 1
    if text and text[-1] in units:
        mult = units[text[-1]]
        text = text[:-1]
    try:
        return int(float(text) * mult)
    except ValueError:
        raise errdefs.InvalidParameter(f"invalid value for max-size: {value}") from None


def _network_settings(host_config: dict[str, Any]) -> dict[str, Any]:
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


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
