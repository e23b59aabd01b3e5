"""The cluster of a node that is in no swarm (dockerd without ``swarm init``).

Every manager-only call answers dockerd's 503 ``This node is not a swarm
manager …``, leave answers ``This node is not part of a swarm`` (clients
treat that as "nothing to leave"). Init and join check the request as dockerd
does (a bad address is still a 400), then refuse with 501: berthd cannot be a
swarm node yet. A real cluster (issue 18) replaces this object behind the same
``SwarmBackend``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from berthd.daemon.cluster.addresses import validate_init_request, validate_join_request
from berthd.errdefs import NotImplemented_, Unavailable
from berthd.lib.filters import FilterArgs

__all__ = ["NOT_A_MANAGER", "NOT_IN_SWARM", "InactiveCluster", "inactive_info"]

NOT_IN_SWARM = "This node is not part of a swarm"
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
SWARM_UNSUPPORTED = "swarm mode is not supported by berthd yet"


def inactive_info() -> dict[str, Any]:
    """/info's ``Swarm`` for a node in no swarm, field for field as dockerd's."""
    return {
        "NodeID": "",
        "NodeAddr": "",
        "LocalNodeState": "inactive",
        "ControlAvailable": False,
        "Error": "",
        "RemoteManagers": None,
    }


class InactiveCluster:
    """Satisfies the API's ``SwarmBackend`` for a node outside any swarm."""

    def status(self) -> str:
        return "inactive"

    def info(self) -> dict[str, Any]:
        return inactive_info()

    async def init(self, req: dict[str, Any]) -> str:
        validate_init_request(req)
        raise NotImplemented_(f"This node cannot initialize a swarm: {SWARM_UNSUPPORTED}")

    async def join(self, req: dict[str, Any]) -> None:
        validate_join_request(req)
        raise NotImplemented_(f"This node cannot join a swarm: {SWARM_UNSUPPORTED}")

    async def leave(self, force: bool) -> None:
        raise Unavailable(NOT_IN_SWARM)

    async def inspect(self) -> dict[str, Any]:
        raise Unavailable(NOT_A_MANAGER)

    async def update(self, version: int, spec: dict[str, Any], rotate: Mapping[str, bool]) -> None:
        raise Unavailable(NOT_A_MANAGER)

    async def unlock(self, req: dict[str, Any]) -> None:
        raise Unavailable(NOT_A_MANAGER)

    async def unlock_key(self) -> str:
        raise Unavailable(NOT_A_MANAGER)

    async def list_objects(
        self, kind: str, filters: FilterArgs, status: bool = False
    ) -> list[dict[str, Any]]:
        raise Unavailable(NOT_A_MANAGER)

    async def get_object(
        self, kind: str, ref: str, insert_defaults: bool = False
    ) -> dict[str, Any]:
        raise Unavailable(NOT_A_MANAGER)

    async def create_object(
        self, kind: str, spec: dict[str, Any], registry_auth: str = ""
    ) -> dict[str, Any]:
        raise Unavailable(NOT_A_MANAGER)

    async def update_object(
        self,
        kind: str,
        ref: str,
        version: int,
        spec: dict[str, Any],
        options: Mapping[str, str],
    ) -> dict[str, Any] | None:
        raise Unavailable(NOT_A_MANAGER)

    async def remove_object(self, kind: str, ref: str, force: bool = False) -> None:
        raise Unavailable(NOT_A_MANAGER)

    async def logs(
        self, kind: str, ref: str, options: Mapping[str, Any]
    ) -> tuple[bool, AsyncIterator[bytes]]:
        raise Unavailable(NOT_A_MANAGER)
