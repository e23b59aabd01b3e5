"""``docker container prune``: remove every stopped container the filters allow.

moby ``daemon/prune.go`` ``ContainersPrune``: filters ``until`` (created
before) and ``label``/``label!``; a container that is running (paused and
restarting count as running) is kept; the space reclaimed is the sum of the rw
layer sizes measured just before each removal; a removal that fails is
skipped, not reported; one ``prune`` event carries ``reclaimed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.seams import ContainerOps
from berthd.image.filters import parse_timestamp_ns
from berthd.lib.filters import FilterArgs

__all__ = ["PRUNE_FILTERS", "prunable", "prune_containers", "until_ns"]

log = logging.getLogger("berthd.containers")

PRUNE_FILTERS = ("label", "label!", "until")


def until_ns(filters: FilterArgs, now: int | None = None) -> int:
    """dockerd's ``getUntilFromPruneFilters``: 0 when absent."""
    values = filters.get("until")
    if not values:
        return 0
    if len(values) > 1:
        raise errdefs.InvalidParameter("more than one until filter specified")
    return parse_timestamp_ns(values[0], now)


def _labels_match(filters: FilterArgs, labels: dict[str, str]) -> bool:
    if not filters.match_kv_list("label", labels):
        return False
    return not (filters.contains("label!") and filters.match_kv_list("label!", labels))


def prunable(c: Container, filters: FilterArgs, until: int) -> bool:
    """Whether prune removes ``c`` (the filters already validated)."""
    if c.state.running:
        return False
    if until and c.created > until:
        return False
    labels = {str(k): str(v) for k, v in (c.config.get("Labels") or {}).items()}
    return _labels_match(filters, labels)


async def prune_containers(containers: ContainerOps, filters: FilterArgs) -> dict[str, Any]:
    """Remove the stopped containers ``filters`` match; report what that reclaimed."""
    filters.validate(PRUNE_FILTERS)
    until = until_ns(filters)
    deleted: list[str] = []
    reclaimed = 0
    for c in list(containers.store):
        if not prunable(c, filters, until):
            continue
        size = 0
        with contextlib.suppress(errdefs.BerthdError):
            size = await asyncio.to_thread(containers.layers.rw_size, c.id)
        try:
            await containers.remove(c.id, force=False, volumes=False)
        except errdefs.BerthdError as e:
            log.warning("prune: could not remove container %s: %s", c.short_id, e)
            continue
        reclaimed += max(size, 0)
        deleted.append(c.id)
    containers.events.log("container", "prune", "", {"reclaimed": str(reclaimed)})
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}
