"""``--ulimit`` → ``process.rlimits`` (go-units ParseUlimit, dockerd's WithRlimits).

dockerd sets no rlimits unless asked. A hard limit above the daemon's own hard
limit cannot be granted (not even root may raise it), and runc then fails deep
inside the start with "error setting rlimit type 7: operation not permitted";
we refuse it at create with a clear InvalidParameter instead.
"""

from __future__ import annotations

import re
import resource
from collections.abc import Iterable, Mapping
from typing import Any

from berthd.errdefs import InvalidParameter

__all__ = ["RLIM_INFINITY", "ULIMIT_NAMES", "merge_ulimits", "parse_ulimit", "rlimits"]

RLIM_INFINITY = 2**64 - 1

ULIMIT_NAMES: dict[str, int] = {
    "core": resource.RLIMIT_CORE,
    "cpu": resource.RLIMIT_CPU,
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "locks": 10,  # RLIMIT_LOCKS: Linux has it, Python's resource module does not
    "memlock": resource.RLIMIT_MEMLOCK,
    "msgqueue": resource.RLIMIT_MSGQUEUE,
    "nice": resource.RLIMIT_NICE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "rss": resource.RLIMIT_RSS,
    "rtprio": resource.RLIMIT_RTPRIO,
    "rttime": resource.RLIMIT_RTTIME,
    "sigpending": resource.RLIMIT_SIGPENDING,
    "stack": resource.RLIMIT_STACK,
}

_INT = re.compile(r"[+-]?[0-9]+")


def _parse_int(s: str) -> int:
    if not _INT.fullmatch(s):
        raise InvalidParameter(f'strconv.ParseInt: parsing "{s}": invalid syntax')
    return int(s)


def parse_ulimit(val: str) -> dict[str, Any]:
    """``nofile=1024:2048`` → ``{"Name": "nofile", "Soft": 1024, "Hard": 2048}``."""
    name, eq, limits = val.partition("=")
    if not eq:
        raise InvalidParameter(f"invalid ulimit argument: {val}")
    if name not in ULIMIT_NAMES:
        raise InvalidParameter(f"invalid ulimit type: {name}")
    parts = limits.split(":")
    if len(parts) > 2:
        raise InvalidParameter(
            f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        )
    soft = _parse_int(parts[0])
    hard = _parse_int(parts[1]) if len(parts) == 2 else soft
    if hard != -1 and soft > hard:
        raise InvalidParameter(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return {"Name": name, "Soft": soft, "Hard": hard}


def merge_ulimits(
    ulimits: Iterable[Mapping[str, Any]] | None,
    defaults: Iterable[Mapping[str, Any]] | None,
) -> list[Mapping[str, Any]]:
    """The container's ulimits plus the daemon's --default-ulimit for names it lacks."""
    own = list(ulimits or [])
    names = {u.get("Name") for u in own}
    return own + [d for d in defaults or [] if d.get("Name") not in names]


def _as_rlim(v: int) -> int:
    return RLIM_INFINITY if v < 0 else v


def rlimits(
    ulimits: Iterable[Mapping[str, Any]] | None,
    defaults: Iterable[Mapping[str, Any]] | None = None,
    own_limits: Mapping[str, tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """OCI rlimits from HostConfig.Ulimits (+ daemon defaults).

    ``own_limits`` maps a name to the daemon's (soft, hard) for tests; by default
    the limits of this process are read with getrlimit.
    """
    out: list[dict[str, Any]] = []
    for ul in merge_ulimits(ulimits, defaults):
        name = str(ul.get("Name", ""))
        if name not in ULIMIT_NAMES:
            raise InvalidParameter(f"invalid ulimit type: {name}")
        soft, hard = int(ul.get("Soft", 0)), int(ul.get("Hard", 0))
        if (hard != -1 and soft > hard) or (soft == -1 and hard != -1):
            raise InvalidParameter(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
        if own_limits is not None and name in own_limits:
            max_hard = own_limits[name][1]
        else:
            max_hard = resource.getrlimit(ULIMIT_NAMES[name])[1]
        max_hard = _as_rlim(max_hard)
        if _as_rlim(hard) > max_hard:
            shown = "unlimited" if hard < 0 else str(hard)
            raise InvalidParameter(
                f"ulimit {name}: hard limit {shown} is above the daemon's own hard limit "
                f"{max_hard}; the runtime cannot raise it"
            )
        out.append(
            {"type": "RLIMIT_" + name.upper(), "hard": _as_rlim(hard), "soft": _as_rlim(soft)}
        )
    return out
