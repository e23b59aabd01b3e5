"""dockerd's default Linux spec (moby ``oci/defaults.go``), as a fresh dict.

The values are dockerd's, not runc's ``runc spec`` template: the two differ in
the mount options, the masked paths and the device allowlist, and clients (and
tests written against dockerd) see those differences from inside a container.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_PATH_ENV",
    "DEFAULT_SHM_SIZE",
    "MASKED_PATHS",
    "OCI_VERSION",
    "READONLY_PATHS",
    "default_device_rules",
    "default_mounts",
    "default_spec",
]

# runc 1.1.x accepts any 1.0.x spec; dockerd's vendored runtime-spec says the same.
OCI_VERSION = "1.0.2-dev"

DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# dockerd's config.DefaultShmSize: 64 MiB.
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

# oci.DefaultCapabilities(), in dockerd's order (the order shows in `docker inspect`
# of the spec and in /proc/self/status only as a bit mask, but keep it anyway).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

_DEFAULT_MOUNTS: tuple[dict[str, Any], ...] = (
    {
        "destination": "/proc",
        "type": "proc",
        "source": "proc",
        "options": ["nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
        "destination": "/sys",
        "type": "sysfs",
        "source": "sysfs",
        "options": ["nosuid", "noexec", "nodev", "ro"],
    },
    {
        "destination": "/sys/fs/cgroup",
        "type": "cgroup",
        "source": "cgroup",
        "options": ["ro", "nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/dev/mqueue",
        "type": "mqueue",
        "source": "mqueue",
        "options": ["nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": ["nosuid", "noexec", "nodev", "mode=1777"],
    },
)


def _rule(allow: bool, kind: str | None, major: int | None, minor: int | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": allow, "access": "rwm"}
    if kind is not None:
        rule["type"] = kind
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    return rule


def default_device_rules() -> list[dict[str, Any]]:
    """The cgroup device allowlist of oci.DefaultLinuxSpec.

    Deny everything, then allow null, zero, full, urandom, random, tty, console and
    ptmx (the devices runc creates in every container), and deny /dev/fuse
    (10:229) explicitly.
    """
    return [
        _rule(False, None, None, None),
        _rule(True, "c", 1, 5),
        _rule(True, "c", 1, 3),
        _rule(True, "c", 1, 9),
        _rule(True, "c", 1, 8),
        _rule(True, "c", 5, 0),
        _rule(True, "c", 5, 1),
        _rule(False, "c", 10, 229),
    ]


def default_mounts() -> list[dict[str, Any]]:
    """dockerd's default mounts; /dev/shm gets its size later from ShmSize."""
    return copy.deepcopy(list(_DEFAULT_MOUNTS))


def default_spec() -> dict[str, Any]:
    """A fresh copy of dockerd's default Linux spec.

    Namespaces are mount, network, uts, pid and ipc. No cgroup namespace: dockerd's
    default CgroupnsMode is "host" on cgroup v1 (and hybrid) hosts, "private" only on
    unified v2 hosts. No rlimits: dockerd sets none unless --ulimit or
    --default-ulimit asks.
    """
    caps = list(DEFAULT_CAPABILITIES)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": [],
            "env": [],
            "cwd": "/",
            "capabilities": {
                "bounding": list(caps),
                "effective": list(caps),
                "permitted": list(caps),
            },
        },
        "root": {"path": "rootfs", "readonly": False},
        "mounts": default_mounts(),
        "linux": {
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
            "namespaces": [
                {"type": "mount"},
                {"type": "network"},
                {"type": "uts"},
                {"type": "pid"},
                {"type": "ipc"},
            ],
            "devices": [],
            "resources": {"devices": default_device_rules()},
        },
    }
