"""Resource limits: HostConfig resources → ``linux.resources`` and the cgroup path.

Validation and wording follow dockerd's ``verifyPlatformContainerResources``;
defaults follow ``adaptContainerSettings`` (MemorySwap = 2 * Memory when unset);
the spec fields follow ``getMemoryResources``/``getCPUResources``/``getPidsLimit``.
Things dockerd turns into *warnings* (e.g. OOM killer disabled without a memory
limit) are returned as strings for the create response's ``Warnings``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import Any

from berthd.errdefs import Conflict, InvalidParameter

__all__ = [
    "LINUX_MIN_MEMORY",
    "adapt_resources",
    "cgroups_path",
    "linux_resources",
    "parse_uint_list",
    "update_resources",
    "validate_resources",
]

# dockerd's linuxMinMemory: not a kernel limit, a floor for a working container.
LINUX_MIN_MEMORY = 6291456
_CFS_PERIOD_US = 100000


def _int(hc: Mapping[str, Any], key: str) -> int:
    v = hc.get(key)
    return int(v) if v is not None else 0


def parse_uint_list(val: str, maximum: int = 0) -> set[int]:
    """pkg/parsers.ParseUintList: "0-3,5" → {0, 1, 2, 3, 5}; ``invalid format: …``."""
    if val == "":
        return set()
    out: set[int] = set()
    err = InvalidParameter(f"invalid format: {val}")
    for part in val.split(","):
        lo_s, dash, hi_s = part.partition("-")
        if not dash:
            if not part.isdigit():
                raise err
            out.add(int(part))
            continue
        if not (lo_s.isdigit() and hi_s.isdigit()):
            raise err
        lo, hi = int(lo_s), int(hi_s)
        if hi < lo:
            raise err
        out.update(range(lo, hi + 1))
    if maximum and any(v > maximum for v in out):
        raise InvalidParameter(f"value of out range, maximum is {maximum}")
    return out


def _online(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def adapt_resources(host_config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of HostConfig with dockerd's create-time defaults filled in."""
    hc = dict(host_config)
    if _int(hc, "Memory") > 0 and _int(hc, "MemorySwap") == 0:
        hc["MemorySwap"] = _int(hc, "Memory") * 2
    if hc.get("OomKillDisable") is None:
        hc["OomKillDisable"] = False
    return hc


def kernel_memory_supported() -> bool:
    """sysinfo's KernelMemory: a cgroup v1 memory controller with kmem accounting."""
    return os.path.exists("/sys/fs/cgroup/memory/memory.kmem.limit_in_bytes")


def validate_resources(
    hc: Mapping[str, Any],
    update: bool = False,
    num_cpus: int | None = None,
    cpus_online: str | None = None,
    mems_online: str | None = None,
    kmem: bool | None = None,
) -> list[str]:
    """Check resource values as dockerd does; return its warnings, raise its errors.

    ``cpus_online``/``mems_online`` are the cpuset lists available (default: read
    from /sys/devices/system/{cpu,node}/online); ``kmem`` whether kernel memory
    limits are supported (default: read from the cgroup mount).
    """
    warnings: list[str] = []
    memory = _int(hc, "Memory")
    swap = _int(hc, "MemorySwap")
    reservation = _int(hc, "MemoryReservation")
    if memory != 0 and memory < LINUX_MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if memory == 0 and swap > 0 and not update:
        raise InvalidParameter(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidParameter(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100"
        )
    if reservation > 0 and reservation < LINUX_MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidParameter(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    kernel_memory = _int(hc, "KernelMemory")
    if kernel_memory > 0:
        if not (kernel_memory_supported() if kmem is None else kmem):
            warnings.append(
                "Your kernel does not support kernel memory limit capabilities or the cgroup "
                "is not mounted. Limitation discarded."
            )
        elif kernel_memory < LINUX_MIN_MEMORY:
            raise InvalidParameter("Minimum kernel memory limit allowed is 6MB")
    if hc.get("OomKillDisable") and memory == 0:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, "
            "this can result in the system running out of resources."
        )

    nano = _int(hc, "NanoCpus")
    period = _int(hc, "CpuPeriod")
    quota = _int(hc, "CpuQuota")
    if nano > 0 and period > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano != 0:
        # Go's runtime.NumCPU: the CPUs this process may run on, not all online ones
        nc = num_cpus if num_cpus is not None else len(os.sched_getaffinity(0))
        if nano < 0 or nano > nc * 1_000_000_000:
            raise InvalidParameter(
                f"Range of CPUs is from 0.01 to {nc}.00, as there are only {nc} CPUs available"
            )
    if _int(hc, "CpuShares") < 0:
        raise InvalidParameter("shares: invalid argument")
    if period != 0 and not 1000 <= period <= 1000000:
        raise InvalidParameter(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if quota > 0 and quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if _int(hc, "CpuPercent") > 0:
        warnings.append("linux does not support CPU percent. Percent discarded.")

    for key, label, what, online_default in (
        ("CpusetCpus", "cpus", "CPUs", "/sys/devices/system/cpu/online"),
        ("CpusetMems", "mems", "memory nodes", "/sys/devices/system/node/online"),
    ):
        req = hc.get(key) or ""
        if not req:
            continue
        try:
            wanted = parse_uint_list(req)
        except InvalidParameter as e:
            raise InvalidParameter(f"Invalid value {req} for cpuset {label}: {e}") from None
        avail_s = cpus_online if key == "CpusetCpus" else mems_online
        if avail_s is None:
            avail_s = _online(online_default) or "0"
        if not wanted <= parse_uint_list(avail_s):
            raise InvalidParameter(
                f"Requested {what} are not available - requested {req}, available: {avail_s}"
            )

    weight = _int(hc, "BlkioWeight")
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    if _int(hc, "IOMaximumBandwidth") != 0 or _int(hc, "IOMaximumIOps") != 0:
        raise InvalidParameter(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"
        )
    if _int(hc, "ShmSize") < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    oom = _int(hc, "OomScoreAdj")
    if not -1000 <= oom <= 1000:
        raise InvalidParameter(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    return warnings


def linux_resources(hc: Mapping[str, Any]) -> dict[str, Any]:
    """``linux.resources`` minus devices (see ``devices``) from an adapted HostConfig."""
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if _int(hc, "Memory") > 0:
        mem["limit"] = _int(hc, "Memory")
    if _int(hc, "MemoryReservation") > 0:
        mem["reservation"] = _int(hc, "MemoryReservation")
    swap = _int(hc, "MemorySwap")
    if swap > 0:
        # -1 (unlimited) is left out, as dockerd does: no memsw limit at all.
        mem["swap"] = swap
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1:
        mem["swappiness"] = int(swappiness)
    if hc.get("OomKillDisable") is not None:
        mem["disableOOMKiller"] = bool(hc["OomKillDisable"])
    if mem:
        res["memory"] = mem

    cpu: dict[str, Any] = {}
    if _int(hc, "CpuShares") > 0:
        cpu["shares"] = _int(hc, "CpuShares")
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    nano = _int(hc, "NanoCpus")
    if nano > 0:
        # --cpus: a quota of the standard 100 ms CFS period.
        cpu["period"] = _CFS_PERIOD_US
        cpu["quota"] = nano * _CFS_PERIOD_US // 1_000_000_000
    if _int(hc, "CpuPeriod") != 0:
        cpu["period"] = _int(hc, "CpuPeriod")
    if _int(hc, "CpuQuota") != 0:
        cpu["quota"] = _int(hc, "CpuQuota")
    if _int(hc, "CpuRealtimePeriod") != 0:
        cpu["realtimePeriod"] = _int(hc, "CpuRealtimePeriod")
    if _int(hc, "CpuRealtimeRuntime") != 0:
        cpu["realtimeRuntime"] = _int(hc, "CpuRealtimeRuntime")
    if cpu:
        res["cpu"] = cpu

    pids = hc.get("PidsLimit")
    if pids is not None:
        # 0 and negative mean unlimited; runc wants -1 to clear a previous limit.
        res["pids"] = {"limit": int(pids) if int(pids) > 0 else -1}

    blkio: dict[str, Any] = {}
    if _int(hc, "BlkioWeight") > 0:
        blkio["weight"] = _int(hc, "BlkioWeight")
    weights = [
        {**_dev_numbers(d["Path"]), "weight": int(d["Weight"])}
        for d in hc.get("BlkioWeightDevice") or []
    ]
    if weights:
        blkio["weightDevice"] = weights
    for key, oci_key in (
        ("BlkioDeviceReadBps", "throttleReadBpsDevice"),
        ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
        ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
        ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"),
    ):
        rates = [{**_dev_numbers(d["Path"]), "rate": int(d["Rate"])} for d in hc.get(key) or []]
        if rates:
            blkio[oci_key] = rates
    if blkio:
        res["blockIO"] = blkio
    return res


def _dev_numbers(path: str) -> dict[str, int]:
    """major/minor of a block device for the blkio controller (stat follows links)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidParameter(f"stat {path}: {os.strerror(e.errno or 0).lower()}") from None
    return {"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev)}


def cgroups_path(container_id: str, cgroup_parent: str = "", daemon_parent: str = "/berthd") -> str:
    """cgroupfs-style ``<parent>/<id>``: HostConfig.CgroupParent, else the daemon's.

    Cleaned like Go's filepath.Join, so ``../`` cannot climb out of the hierarchy
    root (runc also resolves it under the mount point).
    """
    parent = cgroup_parent or daemon_parent
    path = posixpath.normpath(posixpath.join("/", parent, container_id))
    return path


_UPDATABLE = (
    "CpuShares",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "MemoryReservation",
    "BlkioWeight",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "KernelMemory",  # checked like the rest; cgroup v1 only, and not applied by berthd
)


def update_resources(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``docker update``: merge new resource values into a HostConfig (zero = unchanged).

    Conflicts use dockerd's wording and kind (409).
    """
    cur = dict(current)
    new_nano, new_period, new_quota = (
        _int(update, "NanoCpus"),
        _int(update, "CpuPeriod"),
        _int(update, "CpuQuota"),
    )
    already = "cannot be updated as NanoCPUs has already been set"
    if new_nano > 0 and _int(cur, "CpuPeriod") > 0:
        raise Conflict(f"Conflicting options: CPU Period {already}")
    if new_nano > 0 and _int(cur, "CpuQuota") > 0:
        raise Conflict(f"Conflicting options: CPU Quota {already}")
    if new_period > 0 and _int(cur, "NanoCpus") > 0:
        raise Conflict(f"Conflicting options: CPU Period {already}")
    if new_quota > 0 and _int(cur, "NanoCpus") > 0:
        raise Conflict(f"Conflicting options: CPU Quota {already}")
    for key in _UPDATABLE:
        if update.get(key):
            cur[key] = update[key]
    memory, swap = _int(update, "Memory"), _int(update, "MemorySwap")
    if memory != 0:
        cur_swap = _int(cur, "MemorySwap")
        if cur_swap > 0 and memory > cur_swap and swap == 0:
            raise Conflict(
                "Memory limit should be smaller than already set memoryswap limit, "
                "update the memoryswap at the same time"
            )
        cur["Memory"] = memory
    if swap != 0:
        cur["MemorySwap"] = swap
    if update.get("PidsLimit") is not None:
        cur["PidsLimit"] = update["PidsLimit"]
    return cur
