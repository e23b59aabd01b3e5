"""Starting a container and watching it until it exits.

start → mount rw layer and volumes → network → OCI spec → conmon create →
pending attaches → runtime start → one monitor task that records the exit
and applies the restart policy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.context import (
    EXIT_UNKNOWN,
    ContainerContext,
    log,
    utcnow,
    write_bundle,
)
from berthd.daemon.containers.execstore import ExecStore
from berthd.daemon.containers.links import (
    child_address,
    link_env,
    link_host_entry,
    resolve_links,
)
from berthd.daemon.containers.mounting import VolumeMounts
from berthd.daemon.containers.restart_policy import next_delay, should_restart
from berthd.daemon.containers.volumes import (
    extra_volume_mounts,
)
from berthd.lib.timefmt import now_ns
from berthd.logger import log_opts
from berthd.oci import SpecOptions, build_spec
from berthd.oci.mounts import MountPoint
from berthd.runtime.conmon import CreateOptions
from berthd.runtime.errors import RuntimeStartError
from berthd.runtime.monitor import ExitStatus

__all__ = ["ContainerRunner", "Remove"]

# ``ContainerService.remove``: what an AutoRemove container's exit (or failed start) calls
Remove = Callable[[str, bool, bool], Awaitable[None]]


class ContainerRunner:
    """moby's daemon/start.go, monitor.go and restartmanager: start, one monitor
    task per running container, the exit, and the restart policy's restarts.

    Owns the monitor tasks, the events set at each exit, the pending policy
    restarts and their backoff; ``close`` cancels and awaits the monitors.
    """

    def __init__(
        self, ctx: ContainerContext, mounts: VolumeMounts, execs: ExecStore, remove: Remove
    ) -> None:
        self._ctx = ctx
        self._mounts = mounts
        self._execs = execs
        self._remove = remove
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._stopped: dict[str, asyncio.Event] = {}
        self._restarts: dict[str, asyncio.Task[None]] = {}
        # policy restarts past their backoff wait, starting the container: not cancellable
        self._restarts_starting: set[str] = set()
        self._backoff: dict[str, float] = {}
        self.shutting_down = False

    # -- start --------------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        c = self._ctx.get(ref)
        async with c.lock:
            if c.state.paused:
                raise errdefs.Conflict("cannot start a paused container, try unpause instead")
            if c.state.running:
                raise errdefs.NotModified("Container already started")
            if c.state.removal_in_progress or c.state.dead:
                raise errdefs.Conflict("container is marked for removal and cannot be started")
            self.reset_restart_policy(c)
            try:
                await self.start_locked(c)
                return
            except errdefs.BerthdError as e:
                failure = e
                c.state.set_error(str(e), c.state.exit_code or EXIT_UNKNOWN)
                await asyncio.to_thread(self._ctx.store.checkpoint, c)
        # the start failed: nobody will see this container run
        self._ctx.pending_attaches.cancel(c.id)
        self._ctx.waiters.exited(c.id, c.state.exit_code, c.state.error)
        if c.host_config.get("AutoRemove"):
            with contextlib.suppress(errdefs.BerthdError):
                await self._remove(c.id, True, True)
        raise failure

    def _links_at_start(self, c: Container) -> tuple[list[tuple[str, str]], list[str]]:
        """The /etc/hosts entries and (on the default bridge) the variables of c's links."""
        nets = list((c.network_settings.get("Networks") or {}).keys())
        hosts: list[tuple[str, str]] = []
        env: list[str] = []
        for target in resolve_links(c, self._ctx.store.get):
            legacy = "bridge" in nets
            ip = child_address(target, ["bridge"] if legacy else nets)
            if legacy and not ip:
                raise errdefs.System(
                    f"Cannot link to {target.child.name}, as it does not belong to the default "
                    "network"
                )
            if not ip:
                continue
            hosts.append(link_host_entry(target, ip))
            if legacy:
                env += link_env(target, ip)
        return hosts, env

    def _namespace_paths(self, c: Container, netns: str | None) -> dict[str, str]:
        """Namespaces to join: the network's, and another container's PID or IPC
        namespace for ``--pid``/``--ipc container:<name>``."""
        paths = {"network": netns} if netns else {}
        for key, ns_type, what in (("PidMode", "pid", "PID"), ("IpcMode", "ipc", "IPC")):
            mode = str(c.host_config.get(key) or "")
            if not mode.startswith("container:"):
                continue
            other = self._ctx.store.get(mode.partition(":")[2])
            if not other.state.running or not other.state.pid:
                raise errdefs.Conflict(f"cannot join {what} of a non running container: {other.id}")
            paths[ns_type] = f"/proc/{other.state.pid}/ns/{ns_type}"
        return paths

    def _spec_options(
        self,
        c: Container,
        volume_paths: dict[str, str],
        netns: str | None = None,
        linked_env: list[str] | None = None,
    ) -> SpecOptions:
        cfg = self._ctx.config()
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
            namespace_paths=self._namespace_paths(c, netns),
            linked_env=linked_env or [],
        )

    async def start_locked(self, c: Container) -> None:
        if c.state.removal_in_progress or c.state.dead:
            raise errdefs.Conflict("container is marked for removal and cannot be started")
        paths = self._ctx.paths
        bundle = paths.bundle_dir(c.id)
        await asyncio.to_thread(self._mounts.ensure_bind_sources, c)
        rootfs = await asyncio.to_thread(self._ctx.layers.mount, c.id)
        try:
            volume_paths = await self._mounts.mount(c)
        except BaseException:
            await asyncio.to_thread(self._ctx.layers.unmount, c.id)
            raise
        try:
            hosts, linked_env = self._links_at_start(c)
            net = await self._ctx.network.setup(c, hosts)
        except BaseException:
            await self._mounts.unmount(c)
            await asyncio.to_thread(self._ctx.layers.unmount, c.id)
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
                    self._spec_options(c, volume_paths, net.netns_path, linked_env),
                )
            except errdefs.InvalidParameter as e:
                raise errdefs.System(str(e)) from None
            size = c.host_config.get("ConsoleSize") or [0, 0]
            if c.tty and len(size) == 2 and size[0] and size[1]:
                spec["process"]["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
            await asyncio.to_thread(write_bundle, bundle, spec)
            log_settings = log_opts(c.host_config.get("LogConfig"))
            opts = CreateOptions(
                bundle=Path(bundle),
                persist_dir=Path(paths.container_dir(c.id)),
                log_path=Path(c.log_path) if c.log_path else None,
                log_size_max=-1 if log_settings.size_max is None else log_settings.size_max,
                terminal=c.tty,
                stdin=bool(c.config.get("OpenStdin")),
                stdin_once=bool(c.config.get("StdinOnce")),
                name=c.name.lstrip("/"),
            )
            try:
                pid = await self._ctx.supervisor.create(c.id, opts, runtime=c.runtime)
            except RuntimeStartError as e:
                c.state.exit_code = e.exit_code
                raise
            finally:
                # the runtime has bound the subpaths into the container (or failed)
                await self._mounts.release_subpaths(c)
            await self._connect_pending_attaches(c)
            # the process may exit before `runtime start` returns: take the time first
            started_at = now_ns()
            try:
                await self._ctx.supervisor.start(c.id)
            except BaseException:
                await self._ctx.supervisor.delete(c.id)
                raise
        except BaseException:
            with contextlib.suppress(Exception):
                await self._ctx.network.teardown(c)
            await self._mounts.unmount(c)
            await asyncio.to_thread(self._ctx.layers.unmount, c.id)
            raise
        c.state.set_running(pid, self._ctx.supervisor.conmon_pid(c.id), started_at)
        c.has_been_started_before = True
        c.has_been_manually_stopped = False
        await asyncio.to_thread(self._ctx.store.checkpoint, c)
        self._ctx.log_event(c, "start")
        self.watch(c)
        for hook in self._ctx.hooks:
            hook.started(c)

    async def _connect_pending_attaches(self, c: Container) -> None:
        """Clients that attached before the start get conmon's socket now,
        before the process runs, so they miss none of its output."""
        for fut in self._ctx.pending_attaches.take(c.id):
            try:
                session = await self._ctx.supervisor.attach(c.id)
            except errdefs.BerthdError as e:
                log.warning("container %s: pending attach failed: %s", c.short_id, e)
                fut.set_result(None)
                continue
            fut.set_result(session)

    def watch(self, c: Container) -> None:
        self._stopped[c.id] = asyncio.Event()
        self._monitors[c.id] = asyncio.create_task(self._monitor(c), name=f"monitor-{c.short_id}")

    async def _monitor(self, c: Container) -> None:
        try:
            status = await self._ctx.supervisor.wait(c.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("waiting for container %s failed", c.short_id)
            status = ExitStatus(255, False, utcnow())
        async with c.lock:
            # decided before the exit is recorded, so that nobody sees the container
            # stopped while its policy restarts it (a `docker stop` then stops the restart)
            restart = self._wants_restart(c, status.exit_code)
            if restart:
                c.restart_count += 1  # as dockerd: counted when decided, shown while waiting
            await self.handle_exit(c, status, restarting=restart)
            if restart and self._restart_vetoed(c):
                # stopped, removed or shut down while the exit was being recorded
                restart = False
                c.state.running = False
                c.state.restarting = False
                await asyncio.to_thread(self._ctx.store.checkpoint, c)
            if restart:
                ran = (c.state.finished_at - c.state.started_at) / 1e9
                delay = next_delay(self._backoff.get(c.id, 0.0), ran)
                self._backoff[c.id] = delay
                self._restarts[c.id] = asyncio.create_task(
                    self._restart_later(c, delay), name=f"restart-{c.short_id}"
                )
        self._monitors.pop(c.id, None)
        if not restart and c.host_config.get("AutoRemove"):
            with contextlib.suppress(errdefs.BerthdError):
                await self._remove(c.id, True, True)

    def _wants_restart(self, c: Container, exit_code: int) -> bool:
        """The policy's verdict on an exit while the daemon runs (a user's stop ends it)."""
        if self._restart_vetoed(c):
            return False
        policy = c.host_config.get("RestartPolicy") or {}
        return should_restart(policy, exit_code, False, c.restart_count)

    def _restart_vetoed(self, c: Container) -> bool:
        """No policy restart: the daemon stops, or the user stopped or removes it."""
        return (
            self.shutting_down
            or c.has_been_manually_stopped
            or c.state.removal_in_progress
            or self._ctx.store.try_get(c.id) is None
        )

    def reset_restart_policy(self, c: Container) -> None:
        """A start that is not the policy's (``docker start``/``restart``, daemon
        start-up) begins afresh: RestartCount 0 and the first backoff delay (dockerd's
        ResetRestartManager)."""
        c.restart_count = 0
        self._backoff.pop(c.id, None)

    async def _restart_later(self, c: Container, delay: float) -> None:
        """Apply the restart policy after its backoff delay.

        Until it holds the container's lock the task may be cancelled (a user's
        stop, kill or rm); from then on it is a start like any other, which
        ``cancel_restart`` waits for rather than interrupts.
        """
        try:
            await asyncio.sleep(delay)
            async with c.lock:
                if not c.state.restarting or self._ctx.store.try_get(c.id) is None:
                    return
                self._restarts_starting.add(c.id)
                # the state says `restarting` until the process runs (as dockerd's);
                # a policy restart logs `start` only, no `restart` event
                try:
                    await self.start_locked(c)
                except errdefs.BerthdError as e:
                    log.error("restart of container %s failed: %s", c.short_id, e)
                    c.state.running = False
                    c.state.restarting = False
                    c.state.set_error(str(e), c.state.exit_code or EXIT_UNKNOWN)
                    await asyncio.to_thread(self._ctx.store.checkpoint, c)
                    return
        finally:
            self._restarts_starting.discard(c.id)
            if self._restarts.get(c.id) is asyncio.current_task():
                del self._restarts[c.id]

    async def cancel_restart(self, c: Container) -> bool:
        """Call off a pending policy restart; True if one was waiting out its backoff
        (the container is then stopped). A restart already starting the container
        is waited for instead, and False returned: the caller then deals with a
        container that runs (or failed to start)."""
        task = self._restarts.get(c.id)
        if task is None:
            return False
        if c.id in self._restarts_starting:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
            return False
        del self._restarts[c.id]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        c.state.running = False
        c.state.restarting = False
        await asyncio.to_thread(self._ctx.store.checkpoint, c)
        return True

    async def handle_exit(
        self, c: Container, status: ExitStatus, *, restarting: bool = False
    ) -> None:
        """Record an exit and release what the run held; ``restarting``: the restart
        policy will start it again (the state says so from the first moment)."""
        finished = int(status.finished_at.timestamp() * 1e9)
        c.state.set_stopped(status.exit_code, status.oom_killed, finished)
        if restarting:
            c.state.running = True
            c.state.restarting = True
        with contextlib.suppress(errdefs.BerthdError):
            await self._ctx.supervisor.delete(c.id)
        for hook in self._ctx.hooks:
            hook.stopped(c)
        with contextlib.suppress(Exception):
            await self._ctx.network.teardown(c)
        await self._mounts.unmount(c)
        with contextlib.suppress(errdefs.BerthdError):
            await asyncio.to_thread(self._ctx.layers.unmount, c.id)
        await asyncio.to_thread(self._ctx.store.checkpoint, c)
        if status.oom_killed:
            self._ctx.log_event(c, "oom")
        self._ctx.log_event(c, "die", {"exitCode": str(status.exit_code)})
        ev = self._stopped.pop(c.id, None)
        if ev is not None:
            ev.set()
        # as moby's Cleanup: the container's execs that had not ended go with its run
        # (last: an exec killed with the container has most likely ended by now)
        self._execs.container_stopped(c)
        self._ctx.waiters.exited(c.id, status.exit_code)

    # -- what the other verbs ask of the runs ---------------------------------------------
    def restart_pending(self, cid: str) -> bool:
        """A policy restart is waiting out its backoff, or starting the container."""
        return cid in self._restarts

    def exited_event(self, cid: str) -> asyncio.Event | None:
        """Set when the running container ``cid`` exits (None if it does not run)."""
        return self._stopped.get(cid)

    async def wait_stopped(self, c: Container, timeout: float | None) -> bool:
        """Wait for c's exit to be recorded; False if ``timeout`` passed first."""
        ev = self._stopped.get(c.id)
        if ev is None:
            return True
        try:
            async with asyncio.timeout(timeout):
                await ev.wait()
        except TimeoutError:
            return False
        return True

    async def cancel_all_restarts(self) -> None:
        for cid in list(self._restarts):
            c = self._ctx.store.try_get(cid)
            if c is not None:
                await self.cancel_restart(c)

    async def close(self) -> None:
        """At shutdown: cancel the monitors and await them (a failure is logged)."""
        owned = list(self._monitors.values())
        for task in owned:
            task.cancel()
        for task in owned:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception:  # a monitor's failure is a bug: say so, go on
                    log.exception("%s failed at shutdown", task.get_name())
        self._monitors.clear()
