"""Create/start/wait/kill/pause/stats against real conmon + runc."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.runtime.cgroups import process_cgroups
from berthd.runtime.errors import RuntimeStartError
from berthd.runtime.oci_runtime import OCIRuntime
from tests.integration.runtime.conftest import RUNC, Env, exists, read_text

pytestmark = pytest.mark.integration


async def test_true_exits_zero(env: Env) -> None:
    cid = await env.run(["/bin/true"])
    status = await asyncio.wait_for(env.sup.wait(cid), 10)
    assert status.exit_code == 0
    assert not status.oom_killed
    assert env.sup.exited(cid)
    await env.sup.delete(cid)
    assert not (env.root / "run" / "exits" / cid).exists()
    assert not (env.root / "ctr" / cid / "attach").exists()
    with pytest.raises(errdefs.NotFound):
        await env.sup.wait(cid)


async def test_exit_code_and_k8s_log(env: Env) -> None:
    cid = await env.run(["sh", "-c", "echo hi; echo err >&2; printf part; exit 3"])
    status = await asyncio.wait_for(env.sup.wait(cid), 10)
    assert status.exit_code == 3
    log = read_text(env.root / "ctr" / cid / "ctr.log").splitlines()
    assert any(line.endswith(" stdout F hi") for line in log)
    assert any(line.endswith(" stderr F err") for line in log)
    assert any(line.endswith(" stdout P part") for line in log)


async def test_missing_executable_is_127(env: Env) -> None:
    with pytest.raises(RuntimeStartError) as ei:
        await env.create(["nosuchcmd"])
    assert ei.value.exit_code == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in str(ei.value)
    assert isinstance(ei.value, errdefs.InvalidParameter)
    bundle = env.root / "ctr" / env.ids[-1]
    assert sorted(p.name for p in bundle.iterdir()) == ["config.json", "ctr.log"]  # no conmon files


async def test_not_executable_is_126(env: Env) -> None:
    with pytest.raises(RuntimeStartError) as ei:
        await env.create(["/etc/passwd"])
    assert ei.value.exit_code == 126
    assert "permission denied" in str(ei.value)


async def test_kill_gives_137_and_second_signal_conflicts(env: Env) -> None:
    cid = await env.run(["sleep", "1000"])
    assert (await env.sup.state(cid))["status"] == "running"
    await env.sup.signal(cid, signal.SIGKILL)
    status = await asyncio.wait_for(env.sup.wait(cid), 10)
    assert status.exit_code == 137
    with pytest.raises(errdefs.Conflict):
        await env.sup.signal(cid, signal.SIGKILL)


async def test_conmon_runs_in_its_own_cgroup(env: Env) -> None:
    cid = await env.run(["sleep", "1000"])
    pid = int(read_text(env.root / "ctr" / cid / "conmon.pid"))
    cg = process_cgroups(pid)
    mine = process_cgroups()
    moved = [k for k, v in mine.items() if v != "/"]
    for key in moved:  # wherever the "daemon" has a cgroup of its own, conmon left it
        assert cg[key] == f"{env.cgroup_parent}/conmon", key
    for key in set(mine) - set(moved):
        assert cg[key] == "/", key
    assert os.getppid() != pid
    await env.sup.delete(cid)
    stat = read_text(f"/proc/{pid}/stat")
    assert not stat or ") Z " in stat


async def test_pause_resume(env: Env) -> None:
    cid = await env.run(["sleep", "1000"])
    await env.sup.pause(cid)
    assert (await env.sup.state(cid))["status"] == "paused"
    freezer = f"/sys/fs/cgroup/freezer{env.cgroup_parent}/{cid}/freezer.state"
    assert read_text(freezer).strip() == "FROZEN"
    with pytest.raises(errdefs.Conflict, match="is paused"):
        await env.sup.exec(cid, "e1", {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}})
    await env.sup.resume(cid)
    assert (await env.sup.state(cid))["status"] == "running"
    await env.sup.delete(cid)


async def test_stats_pids_update(env: Env) -> None:
    mib = 1024 * 1024
    resources = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 64 * mib},
        "pids": {"limit": 100},
    }
    cid = await env.run(
        [
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/shm/f bs=1M count=8 2>/dev/null; "
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 1000",
        ],
        resources=resources,
    )
    await asyncio.sleep(1.0)
    stats = await env.sup.stats(cid)
    assert stats["memory_stats"]["usage"] > 8 * mib
    assert stats["memory_stats"]["limit"] == 64 * mib
    assert "total_inactive_file" in stats["memory_stats"]["stats"]
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert stats["cpu_stats"]["system_cpu_usage"] > 0
    assert stats["cpu_stats"]["online_cpus"] >= 1
    assert stats["pids_stats"]["current"] >= 1
    assert stats["pids_stats"]["limit"] == 100
    assert "io_service_bytes_recursive" in stats["blkio_stats"]
    pids = await env.sup.pids(cid)
    state = await env.sup.state(cid)
    assert state["pid"] in pids
    await env.sup.update(cid, {"memory": {"limit": 128 * mib}, "pids": {"limit": 50}})
    stats = await env.sup.stats(cid)
    assert stats["memory_stats"]["limit"] == 128 * mib
    assert stats["pids_stats"]["limit"] == 50
    await env.sup.delete(cid)


async def test_probe(tmp_path: Path, env: Env) -> None:
    good = OCIRuntime.for_exec_root("runc", RUNC, tmp_path)
    result = await good.probe(tmp_path, env.cgroup_parent)
    assert result.ok, result.reason
    assert "runc" in result.version
    missing = OCIRuntime.for_exec_root("nope", str(tmp_path / "nope"), tmp_path)
    result = await missing.probe(tmp_path, env.cgroup_parent)
    assert not result.ok


@pytest.mark.skipif(not Path("/usr/bin/crun").exists(), reason="no crun")
async def test_probe_crun_reports_its_reason(tmp_path: Path, env: Env) -> None:
    crun = OCIRuntime.for_exec_root("crun", "/usr/bin/crun", tmp_path)
    result = await crun.probe(tmp_path, env.cgroup_parent)
    if read_text("/sys/fs/cgroup/unified/cgroup.controllers").strip():
        assert not result.ok
        assert "hybrid" in result.reason
    else:
        assert result.ok, result.reason


async def test_oom_kill_is_reported(env: Env) -> None:
    mib = 1024 * 1024
    resources = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 32 * mib, "swap": 32 * mib},
    }
    # dd into tmpfs is charged to the cgroup; the kernel kills dd, the shell survives
    cid = await env.run(
        ["sh", "-c", "dd if=/dev/zero of=/dev/shm/f bs=1M count=60 2>/dev/null; exit 0"],
        resources=resources,
    )
    status = await asyncio.wait_for(env.sup.wait(cid), 20)
    assert status.exit_code == 0
    assert status.oom_killed
    assert not exists("oom")  # conmon must not drop files in the daemon's cwd
    await env.sup.delete(cid)
    assert not exists(env.root / "ctr" / cid / "oom")
