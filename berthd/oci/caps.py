"""Capabilities: dockerd's ``oci/caps`` (normalise, tweak, privileged = all).

"All capabilities" means the ones the running kernel knows
(``/proc/sys/kernel/cap_last_cap``), as dockerd's capability list is cut at the
kernel's last cap: asking runc for a capability the kernel lacks fails the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from berthd.errdefs import InvalidParameter

from .defaults import DEFAULT_CAPABILITIES

__all__ = [
    "CAPABILITY_NAMES",
    "all_capabilities",
    "cap_last_cap",
    "normalize_capabilities",
    "own_bounding_set",
    "tweak_capabilities",
]

# Index = capability number (linux/capability.h).
CAPABILITY_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

_ALL = "ALL"


def cap_last_cap(path: str = "/proc/sys/kernel/cap_last_cap") -> int:
    """The kernel's highest capability number, capped at the names we know."""
    try:
        with open(path, encoding="ascii") as f:
            last = int(f.read().strip())
    except (OSError, ValueError):
        last = len(CAPABILITY_NAMES) - 1
    return min(last, len(CAPABILITY_NAMES) - 1)


def own_bounding_set(path: str = "/proc/self/status") -> set[str] | None:
    """The daemon's own capability bounding set, or None if it cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    mask = int(line.split()[1], 16)
                    return {n for i, n in enumerate(CAPABILITY_NAMES) if mask >> i & 1}
    except (OSError, ValueError, IndexError):
        pass
    return None


def all_capabilities(last_cap: int | None = None) -> list[str]:
    """Every capability that can be granted, in number order (dockerd's GetAllCapabilities).

    That is the kernel's capabilities, minus any the daemon itself lacks in its
    bounding set: a process cannot hand out a capability it cannot hold, and runc
    fails with "unable to apply caps: operation not permitted" if asked to (this
    host's sandbox lacks CAP_SYS_RESOURCE). dockerd does not filter, as it
    normally runs with a full set. ``last_cap`` overrides both host reads (tests).
    """
    if last_cap is not None:
        return list(CAPABILITY_NAMES[: min(last_cap, len(CAPABILITY_NAMES) - 1) + 1])
    caps = list(CAPABILITY_NAMES[: cap_last_cap() + 1])
    own = own_bounding_set()
    return caps if own is None else [c for c in caps if c in own]


def normalize_capabilities(caps: Iterable[str], last_cap: int | None = None) -> list[str]:
    """Upper-case, add the ``CAP_`` prefix, keep ``ALL``; refuse unknown names.

    The error is dockerd's, with the normalised name: ``unknown capability: "CAP_FOO"``.
    """
    last = cap_last_cap() if last_cap is None else min(last_cap, len(CAPABILITY_NAMES) - 1)
    valid = set(CAPABILITY_NAMES[: last + 1])
    out: list[str] = []
    for raw in caps:
        c = raw.upper()
        if c == _ALL:
            out.append(c)
            continue
        if not c.startswith("CAP_"):
            c = "CAP_" + c
        if c not in valid:
            raise InvalidParameter(f'unknown capability: "{c}"')
        out.append(c)
    return out


def tweak_capabilities(
    basics: Sequence[str] | None = None,
    adds: Sequence[str] | None = None,
    drops: Sequence[str] | None = None,
    privileged: bool = False,
    last_cap: int | None = None,
) -> list[str]:
    """The container's capability set from CapAdd/CapDrop/Privileged (caps.TweakCapabilities).

    Privileged gets everything; ``--cap-add ALL`` is everything minus the drops;
    ``--cap-drop ALL`` keeps only the adds; otherwise defaults minus drops plus adds.
    """
    base = list(DEFAULT_CAPABILITIES if basics is None else basics)
    adds = list(adds or [])
    drops = list(drops or [])
    if privileged:
        return all_capabilities(last_cap)
    if not adds and not drops:
        return base
    cap_drop = normalize_capabilities(drops, last_cap)
    cap_add = normalize_capabilities(adds, last_cap)
    if _ALL in cap_add:
        return [c for c in all_capabilities(last_cap) if c not in cap_drop]
    if _ALL in cap_drop:
        out = _dedup(cap_add)
    else:
        out = _dedup([c for c in base if c not in cap_drop] + cap_add)
    own = own_bounding_set() if last_cap is None else None
    for c in out:
        if own is not None and c not in own:
            # Fail at create with a clear message, not inside runc at start.
            raise InvalidParameter(f"capability {c} cannot be granted: the daemon does not hold it")
    return out


def _dedup(caps: Iterable[str]) -> list[str]:
    # dockerd can list a cap twice (default + --cap-add of the same); runc does not
    # care, but a set of unique names is easier for everyone downstream.
    seen: dict[str, None] = {}
    for c in caps:
        seen.setdefault(c, None)
    return list(seen)
