"""A spec from build_spec really runs under runc on this host.

Skips cleanly without runc, root or a static busybox. Each run uses its own runc
state dir and cgroup parent, and removes the container and the parent cgroups
it leaves behind (runc removes only the container's own cgroups).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berthd.oci.caps import CAPABILITY_NAMES, all_capabilities
from berthd.oci.defaults import DEFAULT_CAPABILITIES
from berthd.oci.seccomp import DEFAULT_PROFILE_PATH
from berthd.oci.spec import SpecOptions, build_spec

RUNC = shutil.which("runc")
BUSYBOX = "/usr/bin/busybox"

pytestmark = [
    pytest.mark.skipif(RUNC is None, reason="runc is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="runc needs root"),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static is not installed"),
    pytest.mark.skipif(
        not os.path.exists(DEFAULT_PROFILE_PATH), reason="no containers-common seccomp profile"
    ),
    pytest.mark.timeout(60),
]


def _cap_mask(names: list[str]) -> str:
    mask = 0
    for n in names:
        mask |= 1 << CAPABILITY_NAMES.index(n)
    return f"{mask:016x}"


@pytest.fixture
def bundle(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    rootfs = tmp_path / "rootfs"
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin/busybox")
    os.symlink("busybox", rootfs / "bin/sh")
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/:/bin/sh\n")
    (rootfs / "etc/group").write_text("root:x:0:\nu:x:1000:\n")
    parent = f"/berthd-test-{uuid.uuid4().hex[:12]}"
    yield tmp_path, parent
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        d = ctrl / parent.lstrip("/")
        if d.is_dir() and not d.is_symlink():
            try:
                d.rmdir()
            except OSError:
                pass


def _run(bundle: tuple[Path, str], config: dict[str, Any], hc: dict[str, Any]) -> str:
    path, parent = bundle
    cid = "t" + uuid.uuid4().hex[:12]
    cfg = {"Hostname": cid, **config}
    spec = build_spec(cid, cfg, hc, str(path / "rootfs"), SpecOptions(cgroup_parent=parent))
    (path / "config.json").write_text(json.dumps(spec))
    state = path / "state"
    assert RUNC is not None
    try:
        proc = subprocess.run(
            [RUNC, "--root", str(state), "run", "--bundle", str(path), cid],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    finally:
        subprocess.run(
            [RUNC, "--root", str(state), "delete", "--force", cid],
            capture_output=True,
            timeout=30,
        )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _status(out: str) -> dict[str, str]:
    fields = {}
    for line in out.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            fields[k.strip()] = v.strip()
    return fields


def test_default_spec_runs_with_dockers_caps_and_seccomp(bundle: tuple[Path, str]) -> None:
    out = _run(bundle, {"Cmd": ["/bin/busybox", "cat", "/proc/self/status"]}, {})
    st = _status(out)
    assert st["CapEff"] == _cap_mask(list(DEFAULT_CAPABILITIES)) == "00000000a80425fb"
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "0"


def test_limits_user_and_init_apply(bundle: tuple[Path, str]) -> None:
    script = (
        "grep -E '^(CapEff|Seccomp|NoNewPrivs)' /proc/self/status;"
        "echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes);"
        "echo pids=$(cat /sys/fs/cgroup/pids/pids.max);"
        "echo nofile=$(ulimit -n):$(ulimit -Hn);"
        "echo pid1=$(cat /proc/1/cmdline | tr '\\0' ' ');"
        "echo uid=$(id -u)"
    )
    out = _run(
        bundle,
        {"Cmd": ["/bin/sh", "-c", script], "User": "u"},
        {
            "Memory": 64 << 20,
            "PidsLimit": 50,
            "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}],
            "SecurityOpt": ["no-new-privileges"],
            "Init": True,
        },
    )
    st = _status(out)
    assert st["CapEff"] == "0000000000000000"  # non-root: bounding set only
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert kv["mem"] == str(64 << 20)
    assert kv["pids"] == "50"
    assert kv["nofile"] == "100:200"
    assert kv["pid1"].startswith("/sbin/docker-init -- /bin/sh")
    assert kv["uid"] == "1000"


def test_privileged_runs_unconfined(bundle: tuple[Path, str]) -> None:
    out = _run(bundle, {"Cmd": ["/bin/busybox", "cat", "/proc/self/status"]}, {"Privileged": True})
    st = _status(out)
    # every capability the kernel has and this (possibly sandboxed) daemon holds
    assert st["CapEff"] == _cap_mask(all_capabilities())
    assert st["Seccomp"] == "0"


def test_custom_seccomp_errno_and_mounts_apply(bundle: tuple[Path, str], tmp_path: Path) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": [
            # EACCES for mkdir, but only for containers without CAP_SYS_ADMIN
            {
                "names": ["mkdir", "mkdirat"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 13,
                "excludes": {"caps": ["CAP_SYS_ADMIN"]},
            }
        ],
    }
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("from the host\n")
    script = (
        "mkdir /tmp/x 2>&1; echo mkdir=$?;"
        "touch /rootfile 2>&1; echo rootfile=$?;"
        "cat /data/hello; touch /data/new 2>&1; echo data=$?;"
        "touch /scratch/f && echo scratch=ok;"
        "grep ' /scratch ' /proc/mounts"
    )
    out = _run(
        bundle,
        {"Cmd": ["/bin/sh", "-c", script]},
        {
            "SecurityOpt": ["seccomp=" + json.dumps(profile)],
            "ReadonlyRootfs": True,
            "Binds": [f"{shared}:/data:ro"],
            "Tmpfs": {"/scratch": "size=1m"},
        },
    )
    assert "Permission denied" in out and "mkdir=1" in out
    assert "Read-only file system" in out and "rootfile=1" in out
    assert "from the host" in out and "data=1" in out
    assert "scratch=ok" in out
    assert "size=1024k" in out and "noexec" in out
