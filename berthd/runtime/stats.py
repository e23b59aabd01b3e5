"""Container resource usage read straight from cgroup files.

``docker stats`` polls this once a second per container, so it must be cheap: it
is a handful of small pseudo-file reads, no runtime process (``runc events
--stats`` costs ~10 ms of fork/exec each time). The result is a plain dict with
the pieces of dockerd's stats JSON that come from cgroups (cpu_stats,
memory_stats, pids_stats, blkio_stats); the API layer adds read/preread,
precpu_stats and networks. v1 (and hybrid) hosts read the per-controller
hierarchies; unified hosts read the single v2 directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from berthd.runtime.cgroups import Hierarchy, hierarchies, is_unified, process_cgroups

__all__ = ["cgroup_paths", "parse_net_dev", "read_networks", "read_stats", "system_cpu_usage"]

_NS = 1_000_000_000


def _read(p: Path) -> str:
    try:
        return p.read_text()
    except OSError:
        return ""


def _int(p: Path) -> int:
    text = _read(p).strip()
    try:
        return int(text)
    except ValueError:
        return 0


def _kv(p: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read(p).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def system_cpu_usage() -> tuple[int, int]:
    """(host CPU time in ns over all CPUs, number of online CPUs) from /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, cpus = 0, 0
    for line in _read(Path("/proc/stat")).splitlines():
        if line.startswith("cpu "):
            total = sum(int(x) for x in line.split()[1:8]) * _NS // ticks
        elif line.startswith("cpu"):
            cpus += 1
    return total, cpus


def cgroup_paths(pid: int | None) -> dict[str, str]:
    """Per-controller cgroup of the container: from /proc/<pid>/cgroup while the
    process lives (authoritative); empty when it is gone."""
    if pid:
        try:
            return process_cgroups(pid)
        except OSError:
            pass
    return {}


def _dir(hs: list[Hierarchy], ctrl: str, paths: dict[str, str], fallback: str) -> Path | None:
    for h in hs:
        if h.version == 1 and ctrl in h.controllers:
            return h.path(paths.get(ctrl, fallback))
    return None


def _blkio(f: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in _read(f).splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            out.append(
                {"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}
            )
    return out


def _v1(hs: list[Hierarchy], paths: dict[str, str], fallback: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cpuacct = _dir(hs, "cpuacct", paths, fallback)
    cpu = _dir(hs, "cpu", paths, fallback)
    if cpuacct is not None:
        ticks = os.sysconf("SC_CLK_TCK")
        st = _kv(cpuacct / "cpuacct.stat")
        percpu = [int(x) for x in _read(cpuacct / "cpuacct.usage_percpu").split()]
        out["cpu_stats"] = {
            "cpu_usage": {
                "total_usage": _int(cpuacct / "cpuacct.usage"),
                "percpu_usage": percpu,
                "usage_in_kernelmode": st.get("system", 0) * _NS // ticks,
                "usage_in_usermode": st.get("user", 0) * _NS // ticks,
            },
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }
        if cpu is not None:
            t = _kv(cpu / "cpu.stat")
            out["cpu_stats"]["throttling_data"] = {
                "periods": t.get("nr_periods", 0),
                "throttled_periods": t.get("nr_throttled", 0),
                "throttled_time": t.get("throttled_time", 0),
            }
    mem = _dir(hs, "memory", paths, fallback)
    if mem is not None:
        out["memory_stats"] = {
            "usage": _int(mem / "memory.usage_in_bytes"),
            "max_usage": _int(mem / "memory.max_usage_in_bytes"),
            "failcnt": _int(mem / "memory.failcnt"),
            "limit": _int(mem / "memory.limit_in_bytes"),
            "stats": _kv(mem / "memory.stat"),
        }
    pids = _dir(hs, "pids", paths, fallback)
    if pids is not None:
        out["pids_stats"] = _pids(pids)
    blkio = _dir(hs, "blkio", paths, fallback)
    if blkio is not None:
        out["blkio_stats"] = {
            "io_service_bytes_recursive": _blkio(
                blkio / "blkio.throttle.io_service_bytes_recursive"
            ),
            "io_serviced_recursive": _blkio(blkio / "blkio.throttle.io_serviced_recursive"),
        }
    return out


def _pids(d: Path) -> dict[str, int]:
    out = {"current": _int(d / "pids.current")}
    limit = _read(d / "pids.max").strip()
    if limit.isdigit():
        out["limit"] = int(limit)
    return out


def _v2(d: Path) -> dict[str, Any]:
    c = _kv(d / "cpu.stat")
    mem_stat = _kv(d / "memory.stat")
    limit = _read(d / "memory.max").strip()
    io: list[dict[str, Any]] = []
    for line in _read(d / "io.stat").splitlines():
        dev, *fields = line.split()
        if ":" not in dev:
            continue
        major, minor = (int(x) for x in dev.split(":"))
        kv = dict(f.split("=", 1) for f in fields if "=" in f)
        for key, op in (("rbytes", "read"), ("wbytes", "write")):
            if key in kv:
                io.append({"major": major, "minor": minor, "op": op, "value": int(kv[key])})
    return {
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": c.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": c.get("system_usec", 0) * 1000,
                "usage_in_usermode": c.get("user_usec", 0) * 1000,
            },
            "throttling_data": {
                "periods": c.get("nr_periods", 0),
                "throttled_periods": c.get("nr_throttled", 0),
                "throttled_time": c.get("throttled_usec", 0) * 1000,
            },
        },
        "memory_stats": {
            "usage": _int(d / "memory.current"),
            "limit": int(limit) if limit.isdigit() else 0,
            "stats": mem_stat,
        },
        "pids_stats": _pids(d),
        "blkio_stats": {"io_service_bytes_recursive": io},
    }


_NET_FIELDS = {
    0: "rx_bytes",
    1: "rx_packets",
    2: "rx_errors",
    3: "rx_dropped",
    8: "tx_bytes",
    9: "tx_packets",
    10: "tx_errors",
    11: "tx_dropped",
}


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """``/proc/<pid>/net/dev`` → dockerd's ``networks`` (per interface, no ``lo``)."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep or not name or name == "lo":
            continue
        cols = rest.split()
        if len(cols) < 16:
            continue
        out[name] = {key: int(cols[i]) for i, key in _NET_FIELDS.items()}
    return out


def read_networks(pid: int) -> dict[str, dict[str, int]]:
    """Interface counters of the network namespace of ``pid`` (empty if unreadable)."""
    return parse_net_dev(_read(Path(f"/proc/{pid}/net/dev"))) if pid > 0 else {}


def read_stats(
    paths: dict[str, str], cgroups_path: str, hs: list[Hierarchy] | None = None
) -> dict[str, Any]:
    """Stats of one container's cgroup(s) plus the host CPU counters.

    ``paths`` is ``/proc/<pid>/cgroup`` as returned by ``cgroup_paths`` (may be
    empty); ``cgroups_path`` is the config's path, used where ``paths`` is silent.
    """
    hs = hierarchies() if hs is None else hs
    if is_unified(hs):
        v2 = next(h for h in hs if h.version == 2)
        out = _v2(v2.path(paths.get("", cgroups_path)))
    else:
        out = _v1(hs, paths, cgroups_path)
    system, cpus = system_cpu_usage()
    cpu_stats = out.setdefault("cpu_stats", {})
    cpu_stats["system_cpu_usage"] = system
    cpu_stats["online_cpus"] = cpus
    return out
