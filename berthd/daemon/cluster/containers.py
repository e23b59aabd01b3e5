"""The swarm agent's view of the container service: create, start, remove, state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from berthd.container.state import State
from berthd.daemon.containers.service import ContainerService
from berthd.logger.request import LogsOptions

__all__ = ["ContainerTaskRuntime"]


class ContainerTaskRuntime:
    """Satisfies ``agent.TaskRuntime`` with the daemon's container service."""

    def __init__(self, containers: ContainerService) -> None:
        self._containers = containers

    async def create(self, name: str, body: Mapping[str, object]) -> str:
        """A task's container: the create body the agent made of the service spec."""
        return str((await self._containers.create(name, dict(body)))["Id"])

    async def start(self, cid: str) -> None:
        await self._containers.start(cid)

    async def remove(self, cid: str) -> None:
        await self._containers.remove(cid, force=True, volumes=True)

    def logs(self, cid: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]:
        return self._containers.logs(cid, opts)

    def state(self, cid: str) -> State | None:
        c = self._containers.store.try_get(cid)
        return c.state if c is not None else None

    def task_containers(self) -> dict[str, str]:
        """Task ID → container ID of every swarm task container on this node."""
        out = {}
        for c in self._containers.store:
            task = (c.config.get("Labels") or {}).get("com.docker.swarm.task.id")
            if task:
                out[str(task)] = c.id
        return out
