"""Where a process's cgroups are, and moving conmon out of the daemon's.

The host may be cgroup v1, hybrid (v1 controllers plus a v2 mount at
``/sys/fs/cgroup/unified``, as on the development machine) or pure v2. We read the
mounts from /proc/self/mountinfo instead of assuming a layout. Every function here
touches only a few small pseudo-files, so they are synchronous and cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Hierarchy",
    "hierarchies",
    "is_frozen",
    "is_unified",
    "join_cgroup",
    "move_to_cgroup",
    "needs_move",
    "process_cgroups",
    "remove_cgroup",
]


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy: its mount point and its controllers.

    ``controllers`` is empty for the v2 hierarchy and for named v1 ones
    (``name=systemd``).
    """

    mountpoint: Path
    version: int
    controllers: frozenset[str]
    name: str = ""

    def path(self, cgroup: str) -> Path:
        """The directory of ``cgroup`` (an absolute cgroup path) in this hierarchy."""
        return self.mountpoint / cgroup.lstrip("/")


def hierarchies(mountinfo: str | None = None) -> list[Hierarchy]:
    """Every cgroup hierarchy mounted in this mount namespace."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    out: list[Hierarchy] = []
    seen: set[str] = set()
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3 or fields[3] != "/":
            continue
        fstype, opts = rfields[0], rfields[2].split(",")
        mnt = fields[4]
        if fstype == "cgroup2":
            key = "v2"
            h = Hierarchy(Path(mnt), 2, frozenset())
        elif fstype == "cgroup":
            ctrls = frozenset(o for o in opts if o in _V1_CONTROLLERS)
            names = [o[5:] for o in opts if o.startswith("name=")]
            key = ",".join(sorted(ctrls)) or f"name={names[0] if names else mnt}"
            h = Hierarchy(Path(mnt), 1, ctrls, names[0] if names else "")
        else:
            continue
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


_V1_CONTROLLERS = frozenset(
    [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "net_prio",
        "blkio",
        "perf_event",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
    ]
)


def is_unified(hs: list[Hierarchy] | None = None) -> bool:
    """True on a pure cgroup v2 host (no v1 hierarchy with controllers)."""
    hs = hierarchies() if hs is None else hs
    return not any(h.version == 1 and h.controllers for h in hs)


def process_cgroups(pid: int | str = "self") -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as {controller or "name=x" or "": cgroup path}.

    The v2 entry has key ``""``; a v1 line ``4:cpu,cpuacct:/x`` yields both keys.
    """
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if not ctrls:
            out[""] = path
        for c in ctrls.split(","):
            out[c] = path
    return out


def _prepare_cpuset(d: Path) -> None:
    """A new v1 cpuset cgroup is unusable until cpus/mems are copied from its parent."""
    for f in ("cpuset.cpus", "cpuset.mems"):
        target = d / f
        if target.exists() and not target.read_text().strip():
            parent = d.parent
            while not (parent / f).read_text().strip():
                parent = parent.parent
            # fill from the top down so every level is valid
            chain = []
            p = d
            while p != parent:
                chain.append(p)
                p = p.parent
            value = (parent / f).read_text().strip()
            for c in reversed(chain):
                if not (c / f).read_text().strip():
                    (c / f).write_text(value)


def _key(h: Hierarchy) -> str:
    """The /proc/<pid>/cgroup key of a hierarchy: a controller, ``name=x`` or ``""``."""
    if h.version == 2:
        return ""
    if h.controllers:
        return min(h.controllers)
    return f"name={h.name}"


def needs_move(h: Hierarchy, away_from: dict[str, str] | None) -> bool:
    """Whether a process must be moved in ``h`` to leave the daemon's cgroup there.

    Where the daemon sits in the root cgroup, its children are already outside
    any daemon cgroup; every cgroup v1 migration costs an RCU grace period
    (~10 ms for the memory controller, measured here), so we skip those.
    ``away_from=None`` means "move in every hierarchy".
    """
    return away_from is None or away_from.get(_key(h), "/") != "/"


def join_cgroup(h: Hierarchy, cgroup: str, ident: int, *, thread: bool = False) -> bool:
    """Put process ``ident`` (or only thread ``ident``: v1 ``tasks``) into ``cgroup``
    of hierarchy ``h``, creating it; False when the hierarchy will not have it."""
    if thread and h.version != 1:
        return False  # v2 moves whole processes only (memory is not a threaded controller)
    d = h.path(cgroup)
    try:
        d.mkdir(parents=True, exist_ok=True)
        if "cpuset" in h.controllers:
            _prepare_cpuset(d)
        (d / ("tasks" if thread else "cgroup.procs")).write_text(f"{ident}\n")
    except OSError:
        return False
    return True


def move_to_cgroup(
    pid: int,
    cgroup: str,
    hs: list[Hierarchy] | None = None,
    *,
    away_from: dict[str, str] | None = None,
) -> list[Path]:
    """Put ``pid`` into ``cgroup`` in every hierarchy that lets us; return the dirs used.

    Used for conmon: it must leave the daemon's cgroups (so stopping the daemon's
    service does not kill it) before it forks the container. A hierarchy we cannot
    write is skipped: the process simply stays where it was there. With
    ``away_from`` (the daemon's own ``/proc/self/cgroup``) only the hierarchies
    where the daemon has a cgroup of its own are touched (see ``needs_move``).
    """
    return [
        h.path(cgroup)
        for h in (hierarchies() if hs is None else hs)
        if needs_move(h, away_from) and join_cgroup(h, cgroup, pid)
    ]


def remove_cgroup(cgroup: str, hs: list[Hierarchy] | None = None) -> None:
    """rmdir ``cgroup`` (and its empty sub-cgroups, leaves first) in every hierarchy.

    A cgroup that still has processes stays (rmdir fails with EBUSY) — that is the
    kernel protecting a live container, not an error for the caller.
    """
    for h in hierarchies() if hs is None else hs:
        top = h.path(cgroup)
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def is_frozen(cgroups_path: str, hs: list[Hierarchy] | None = None) -> bool:
    """Whether the container's cgroup is frozen (``docker pause``), from the files.

    A file read instead of ``runtime state`` (a 7–12 ms process) on every exec.
    v1: ``freezer.state`` is FROZEN (or FREEZING); v2: ``cgroup.events`` has
    ``frozen 1``.
    """
    hs = hierarchies() if hs is None else hs
    for h in hs:
        if h.version == 1 and "freezer" in h.controllers:
            try:
                state = (h.path(cgroups_path) / "freezer.state").read_text().strip()
            except OSError:
                return False
            return state in ("FROZEN", "FREEZING")
    for h in hs:
        if h.version == 2:
            try:
                events = (h.path(cgroups_path) / "cgroup.events").read_text()
            except OSError:
                return False
            return "frozen 1" in events
    return False
