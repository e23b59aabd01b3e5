"""Read-mostly verbs on a running container: top, stats, and the stats document.

``docker top`` runs the host's ``ps`` (with the client's ``ps_args``) and
keeps the rows whose PID belongs to the container, as dockerd does.
``docker stats`` reads the cgroup files through the supervisor and shapes
them like dockerd's ``StatsJSON`` (with ``precpu_stats`` from the previous
sample, so the CLI can compute a CPU percentage).
"""

from __future__ import annotations

import asyncio
import shlex
from typing import Any

from berthd import errdefs
from berthd.lib.timefmt import ZERO_TIME, format_ns, now_ns

__all__ = ["empty_stats", "parse_ps", "shape_stats"]


def parse_ps(output: str, pids: set[int]) -> dict[str, Any]:
    """``ps`` output → {"Titles", "Processes"} limited to ``pids``."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    if not lines:
        raise errdefs.System("ps produced no output")
    titles = lines[0].split()
    try:
        pid_col = titles.index("PID")
    except ValueError:
        raise errdefs.System(f"Couldn't find PID field in ps output: {lines[0]}") from None
    processes = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) <= pid_col:
            continue
        try:
            pid = int(fields[pid_col])
        except ValueError:
            continue
        if pid in pids:
            processes.append(fields)
    return {"Titles": titles, "Processes": processes}


async def run_ps(ps_args: str, pids: list[int]) -> dict[str, Any]:
    args = shlex.split(ps_args or "-ef")
    proc = await asyncio.create_subprocess_exec(
        "ps", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise errdefs.System(f"Error running ps: {err.decode(errors='replace').strip()}")
    return parse_ps(out.decode(errors="replace"), set(pids))


_HOST_MEMORY: list[int] = []


def _host_memory() -> int:
    if not _HOST_MEMORY:
        total = 0
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemTotal:"):
                        total = int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        _HOST_MEMORY.append(total)
    return _HOST_MEMORY[0]


def empty_stats(name: str, cid: str) -> dict[str, Any]:
    zero_cpu = {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    return {
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": {
            "io_service_bytes_recursive": None,
            "io_serviced_recursive": None,
            "io_queue_recursive": None,
            "io_service_time_recursive": None,
            "io_wait_time_recursive": None,
            "io_merged_recursive": None,
            "io_time_recursive": None,
            "sectors_recursive": None,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": zero_cpu,
        "precpu_stats": zero_cpu,
        "memory_stats": {},
        "name": name,
        "id": cid,
    }


def shape_stats(
    raw: dict[str, Any],
    previous: dict[str, Any] | None,
    name: str,
    cid: str,
    read_ns: int | None = None,
) -> dict[str, Any]:
    doc = empty_stats(name, cid)
    doc["read"] = format_ns(read_ns or now_ns())
    for key in ("cpu_stats", "memory_stats", "pids_stats", "blkio_stats", "networks"):
        if key in raw:
            doc[key] = raw[key]
    mem = doc.get("memory_stats") or {}
    total = _host_memory()
    if total and int(mem.get("limit") or 0) > total:
        # no limit: dockerd reports the machine's memory instead of the cgroup's 2^63
        mem["limit"] = total
    if previous is not None:
        doc["preread"] = previous["read"]
        doc["precpu_stats"] = previous["cpu_stats"]
    return doc
