"""Restart policies: whether an exited container starts again, and when.

dockerd's restartmanager: ``always`` restarts whatever the exit, ``unless-stopped``
unless the user stopped the container; ``on-failure[:N]`` restarts after a
non-zero exit, at most N times (N = 0: no limit). A user's stop cancels the
pending restart of a running daemon (the caller checks that), but at daemon
start-up an ``always`` container that was stopped by hand starts again. The delay starts at 100 ms and
doubles with every restart, up to a minute; a container that ran for 10 s or
more starts the backoff afresh.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BACKOFF_MAX", "BACKOFF_START", "next_delay", "should_restart"]

BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0


def should_restart(
    policy: dict[str, Any], exit_code: int, manually_stopped: bool, restart_count: int
) -> bool:
    name = str(policy.get("Name") or "no")
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def next_delay(previous: float, ran_seconds: float) -> float:
    """The wait before the next restart, given the last one and how long it ran."""
    if ran_seconds >= BACKOFF_RESET_AFTER or previous <= 0:
        return BACKOFF_START
    return min(previous * 2, BACKOFF_MAX)
