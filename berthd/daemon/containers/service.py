"""ContainerService: the container verbs of the daemon, as one facade.

The API's backend Protocol, the builder, the swarm agent and the other services
call this object; it owns no logic, only the collaborators it builds, each over
the dependencies it is handed (moby's daemon/{create,start,monitor,stop,delete,
exec,attach,inspect}.go over one container store):

- ``context.py`` ``ContainerContext``: the stores and services, the waiters and
  the attaches waiting for a start, which every collaborator shares;
- ``mounting.py`` ``VolumeMounts``: volumes and binds of a run;
- ``create.py`` ``ContainerCreator``: create;
- ``run.py`` ``ContainerRunner``: start, the monitor task per running container,
  the exit and the restart policy (owns the monitors and the pending restarts);
- ``stop.py`` ``ContainerStopper``: kill, stop, restart;
- ``delete.py`` ``ContainerRemover``: rm, rm --link;
- ``rename.py``, ``pause.py``: rename, pause, unpause, resize (functions);
- ``info.py`` ``ContainerViews``: inspect, ps, top, stats, diff, export, logs, update;
- ``sessions.py`` ``ContainerSessions``: attach and exec (owns the exec tasks),
  over ``execstore.py`` ``ExecStore`` (the exec records and their collection);
- ``restore.py`` ``ContainerRestorer``: start-up and shutdown.

State changes of one container are serialised by its lock; waiting for an exit
never holds it (the exit handler needs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from berthd.config import DaemonConfig
from berthd.container import Container, ContainerStore
from berthd.daemon.containers import pause as pause_verbs
from berthd.daemon.containers.attach import PendingAttaches
from berthd.daemon.containers.context import ContainerContext
from berthd.daemon.containers.create import ContainerCreator
from berthd.daemon.containers.delete import ContainerRemover
from berthd.daemon.containers.deps import ImageLookup
from berthd.daemon.containers.execstore import ExecStore
from berthd.daemon.containers.files import ContainerPaths
from berthd.daemon.containers.hooks import LifecycleHook, NetworkAttacher
from berthd.daemon.containers.info import ContainerViews
from berthd.daemon.containers.logs import LogsOptions
from berthd.daemon.containers.mounting import VolumeMounts
from berthd.daemon.containers.rename import rename as rename_container
from berthd.daemon.containers.restore import ContainerRestorer
from berthd.daemon.containers.run import ContainerRunner
from berthd.daemon.containers.seams import Created, CreateRequest
from berthd.daemon.containers.sessions import ContainerSessions, PreparedAttach, PreparedExec
from berthd.daemon.containers.stop import ContainerStopper
from berthd.daemon.containers.volumes import VolumeBackend
from berthd.daemon.containers.waiters import Waiters, wait_future
from berthd.daemon.events import EventsService
from berthd.image.delete import ContainerUse
from berthd.layer import LayerStore
from berthd.lib.filters import FilterArgs
from berthd.runtime.supervisor import Supervisor

__all__ = ["ContainerService"]


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
        ctx = ContainerContext(
            config=config,
            store=store,
            layers=layers,
            images=images,
            supervisor=supervisor,
            events=events,
            driver_name=driver_name,
            default_runtime=default_runtime,
            volumes=volumes,
        )
        self._ctx = ctx
        mounts = VolumeMounts(volumes, layers, events, lambda: ctx.paths)
        self._execs = ExecStore()
        self._creator = ContainerCreator(ctx, mounts)
        self._runner = ContainerRunner(ctx, mounts, self._execs, self.remove)
        self._stopper = ContainerStopper(ctx, self._runner)
        self._remover = ContainerRemover(ctx, self._runner, self._stopper, mounts, self._execs)
        self._views = ContainerViews(ctx, self._runner)
        self._sessions = ContainerSessions(ctx, self._execs)
        self._restorer = ContainerRestorer(
            ctx, mounts, self._runner, self._stopper, self._remover, self._sessions
        )

    # -- what the other services use ------------------------------------------------------
    @property
    def store(self) -> ContainerStore:
        return self._ctx.store

    @property
    def layers(self) -> LayerStore:
        return self._ctx.layers

    @property
    def events(self) -> EventsService:
        return self._ctx.events

    @property
    def supervisor(self) -> Supervisor:
        return self._ctx.supervisor

    @property
    def paths(self) -> ContainerPaths:
        return self._ctx.paths

    @property
    def waiters(self) -> Waiters:
        return self._ctx.waiters

    @property
    def pending_attaches(self) -> PendingAttaches:
        return self._ctx.pending_attaches

    @property
    def hooks(self) -> list[LifecycleHook]:
        return self._ctx.hooks

    @property
    def network(self) -> NetworkAttacher:
        return self._ctx.network

    @network.setter
    def network(self, attacher: NetworkAttacher) -> None:
        self._ctx.network = attacher

    def get(self, ref: str) -> Container:
        return self._ctx.get(ref)

    def log_event(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None:
        self._ctx.log_event(c, action, extra)

    def image_users(self, image_id: str) -> list[ContainerUse]:
        return self._views.image_users(image_id)

    # -- create, start, stop, remove --------------------------------------------------------
    async def create(self, name: str, body: object) -> dict[str, object]:
        return (await self._creator.create(name, body)).to_api()

    async def create_from(self, req: CreateRequest) -> Created:
        return await self._creator.create_from(req)

    async def start(self, ref: str) -> None:
        await self._runner.start(ref)

    async def kill(self, ref: str, sig: str) -> None:
        await self._stopper.kill(ref, sig)

    async def stop(self, ref: str, t: int | None = None, sig: str = "") -> None:
        await self._stopper.stop(ref, t, sig)

    async def restart(self, ref: str, t: int | None = None, sig: str = "") -> None:
        await self._stopper.restart(ref, t, sig)

    def wait_future(self, ref: str, condition: str) -> asyncio.Future[tuple[int, str]]:
        return wait_future(self._ctx.get(ref), self._ctx.waiters, condition)

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        await self._remover.remove(ref, force, volumes)

    async def remove_link(self, name: str) -> None:
        await self._remover.remove_link(name)

    async def rename(self, ref: str, new_name: str) -> None:
        await rename_container(self._ctx, ref, new_name)

    async def pause(self, ref: str) -> None:
        await pause_verbs.pause(self._ctx, ref)

    async def unpause(self, ref: str) -> None:
        await pause_verbs.unpause(self._ctx, ref)

    def resize(self, ref: str, height: int, width: int) -> None:
        pause_verbs.resize(self._ctx, ref, height, width)

    # -- views --------------------------------------------------------------------------------
    async def inspect(self, ref: str, api_version: str, size: bool) -> dict[str, Any]:
        return await self._views.inspect(ref, api_version, size)

    async def list_containers(
        self, all_: bool, limit: int, size: bool, filters: FilterArgs
    ) -> list[dict[str, Any]]:
        return await self._views.list_containers(all_, limit, size, filters)

    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        return await self._views.top(ref, ps_args)

    async def stats(self, ref: str, stream: bool) -> AsyncIterator[dict[str, Any]]:
        return await self._views.stats(ref, stream)

    async def update(self, ref: str, body: object) -> dict[str, Any]:
        return await self._views.update(ref, body)

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        return await self._views.changes(ref)

    def export(self, ref: str) -> AsyncIterator[bytes]:
        return self._views.export(ref)

    def logs(self, ref: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]:
        return self._views.logs(ref, opts)

    # -- attach and exec ----------------------------------------------------------------------
    def plan_attach(
        self,
        ref: str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stream: bool,
        logs: bool,
        detach_keys: str,
    ) -> PreparedAttach:
        plan = self._sessions.plan_attach(ref, stdin, stdout, stderr, stream, logs, detach_keys)
        return PreparedAttach(plan, self._sessions)

    def exec_create(self, ref: str, body: object) -> dict[str, str]:
        return self._sessions.exec_create(ref, body)

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self._sessions.exec_inspect(exec_id)

    def exec_prepare(self, exec_id: str, body: object) -> PreparedExec:
        return PreparedExec(self._sessions.exec_prepare(exec_id, body), self._sessions)

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self._sessions.exec_resize(exec_id, height, width)

    # -- start-up and shutdown ----------------------------------------------------------------
    async def load(self, live_restore: bool = True) -> None:
        await self._restorer.load(live_restore)

    async def restart_by_policy(self, live_restore: bool) -> None:
        await self._restorer.restart_by_policy(live_restore)

    async def shutdown(self, live_restore: bool, timeout: int) -> None:
        await self._restorer.shutdown(live_restore, timeout)
