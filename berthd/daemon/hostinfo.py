"""Facts about the host for /info and /version, read once at start-up.

Everything here comes from /proc, /sys and /etc; nothing is made up. The
cgroup checks look for the files the runtime will write to, so that
``docker info`` warns exactly when a limit cannot be enforced.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass

__all__ = ["HostInfo", "read_host_info"]


@dataclass(frozen=True)
class HostInfo:
    hostname: str
    kernel_version: str
    operating_system: str
    os_version: str
    architecture: str
    ncpu: int
    mem_total: int
    cgroup_version: str  # "1" or "2"
    memory_limit: bool
    swap_limit: bool
    cpu_cfs_period: bool
    cpu_cfs_quota: bool
    cpu_shares: bool
    cpuset: bool
    pids_limit: bool
    oom_kill_disable: bool
    ipv4_forwarding: bool
    bridge_nf_iptables: bool
    bridge_nf_ip6tables: bool
    overlay_supported: bool


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _os_release() -> tuple[str, str]:
    fields: dict[str, str] = {}
    for line in (_read("/etc/os-release") or _read("/usr/lib/os-release")).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields.get("PRETTY_NAME", "Linux"), fields.get("VERSION_ID", "")


def _mem_total() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _exists(*parts: str) -> bool:
    return os.path.exists(os.path.join(*parts))


def read_host_info() -> HostInfo:
    """Blocking: call through ``asyncio.to_thread``."""
    pretty, version_id = _os_release()
    unified = _exists("/sys/fs/cgroup/cgroup.controllers")
    if unified:
        controllers = _read("/sys/fs/cgroup/cgroup.controllers").split()
        memory = "memory" in controllers
        cpu = "cpu" in controllers
        cpuset = "cpuset" in controllers
        pids = "pids" in controllers
        swap = (memory and _exists("/sys/fs/cgroup/init.scope/memory.swap.max")) or memory
        oom_disable = False
    else:
        root = "/sys/fs/cgroup"
        memory = _exists(root, "memory", "memory.limit_in_bytes")
        swap = _exists(root, "memory", "memory.memsw.limit_in_bytes")
        cpu = _exists(root, "cpu", "cpu.cfs_quota_us")
        cpuset = _exists(root, "cpuset", "cpuset.cpus")
        pids = _exists(root, "pids")
        oom_disable = _exists(root, "memory", "memory.oom_control")
    return HostInfo(
        hostname=socket.gethostname(),
        kernel_version=platform.release(),
        operating_system=pretty,
        os_version=version_id,
        architecture=platform.machine(),
        ncpu=len(os.sched_getaffinity(0)) or os.cpu_count() or 1,
        mem_total=_mem_total(),
        cgroup_version="2" if unified else "1",
        memory_limit=memory,
        swap_limit=swap,
        cpu_cfs_period=cpu,
        cpu_cfs_quota=cpu,
        cpu_shares=cpu or _exists("/sys/fs/cgroup/cpu/cpu.shares"),
        cpuset=cpuset,
        pids_limit=pids,
        oom_kill_disable=oom_disable,
        ipv4_forwarding=_read("/proc/sys/net/ipv4/ip_forward").strip() == "1",
        bridge_nf_iptables=_read("/proc/sys/net/bridge/bridge-nf-call-iptables").strip() == "1",
        bridge_nf_ip6tables=_read("/proc/sys/net/bridge/bridge-nf-call-ip6tables").strip() == "1",
        overlay_supported="overlay" in _read("/proc/filesystems"),
    )
