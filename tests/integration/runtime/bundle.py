"""Build throwaway OCI bundles from the host's static busybox.

The integration tests drive a real runtime, so they need a real rootfs; a static
busybox plus applet symlinks is enough for sh, cat, stty, sleep and dd and costs a
few milliseconds per bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from berthd.oci.defaults import DEFAULT_CAPABILITIES

BUSYBOX = "/usr/bin/busybox"


def make_rootfs(root: Path) -> Path:
    """Create ``root`` with busybox at /bin/busybox and its applets as symlinks."""
    bindir = root / "bin"
    bindir.mkdir(parents=True)
    shutil.copy2(BUSYBOX, bindir / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", bindir / applet)
    for d in ("proc", "dev", "sys", "tmp", "etc", "root"):
        (root / d).mkdir(exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    return root


CAPS = list(DEFAULT_CAPABILITIES)


def process_spec(args: list[str], *, terminal: bool = False) -> dict[str, Any]:
    """An OCI ``process`` object as dockerd would build it for ``args``."""
    return {
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/bin", "HOME=/root", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {k: CAPS for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": True,
    }


def make_config(
    rootfs: Path,
    args: list[str],
    cgroups_path: str,
    *,
    terminal: bool = False,
    resources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal runc-spec-style config.json (no rlimits: the host's hard limits are low)."""
    return {
        "ociVersion": "1.0.2",
        "process": process_spec(args, terminal=terminal),
        "root": {"path": str(rootfs), "readonly": False},
        "hostname": "berthd-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
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
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": resources or {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def make_bundle(
    bundle: Path,
    rootfs: Path,
    args: list[str],
    cgroups_path: str,
    *,
    terminal: bool = False,
    resources: dict[str, Any] | None = None,
) -> Path:
    """Write ``bundle/config.json`` for ``args`` over a shared ``rootfs``."""
    bundle.mkdir(parents=True, exist_ok=True)
    cfg = make_config(rootfs, args, cgroups_path, terminal=terminal, resources=resources)
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle
