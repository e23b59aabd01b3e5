"""kill -9 of berthd at random instants of create/start/stop/rm/rename; interrupted removals.

After every restart the state must be consistent (dockerd's restore): no
duplicate names, no ghost containers, no leftover container directories or
rw layers, no overlay mounts or conmon processes of containers that are gone,
and every name that is not listed can be taken again.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.helpers.wait import wait_for
from tests.integration.restore.conftest import MakeEnv
from tests.integration.restore.harness import Env, conmon_container_id, uniq

pytestmark = pytest.mark.integration

POOL = [f"crash{i}" for i in range(6)]
ITERATIONS = 20


def layer_mount_ids(e: Env) -> set[str]:
    """Container IDs that have an rw layer record in the layer store."""
    out: set[str] = set()
    for d in Path(e.data_root, "image").glob("*/layerdb/mounts"):
        out |= {p.name for p in d.iterdir()}
    return out


def check_invariants(e: Env, strays: list[str] | None = None) -> list[str]:
    """What is inconsistent after a restart. A conmon of a container that is not
    running is a problem, or, with ``strays`` given, recorded there and killed
    (the deterministic test of that bug is ``test_kill_during_start``)."""
    problems: list[str] = []
    rows = e.api.containers(all=True)
    ids = [r["Id"] for r in rows]
    names = [str(r["Names"][0]).lstrip("/") for r in rows]
    if len(set(names)) != len(names):
        problems.append(f"duplicate names: {sorted(names)}")
    if len(set(ids)) != len(ids):
        problems.append("duplicate IDs")
    merged: dict[str, str] = {}
    running: set[str] = set()
    for cid in ids:
        try:
            doc = e.inspect(cid)
        except docker.errors.APIError as err:
            problems.append(f"ghost {cid[:12]}: listed but inspect fails: {err}")
            continue
        if doc["State"]["Running"] and not doc["State"]["Restarting"]:
            running.add(cid)
            pid = doc["State"]["Pid"]
            if not pid or not Path(f"/proc/{pid}").exists():
                problems.append(f"{cid[:12]} is running with a dead pid {pid}")
        md = doc.get("GraphDriver", {}).get("Data", {}).get("MergedDir")
        if md:
            merged[md] = cid
    dirs = e.container_dirs()
    if dirs - set(ids):
        problems.append(f"container dirs of unlisted containers: {sorted(dirs - set(ids))}")
    if set(ids) - dirs:
        problems.append(f"listed containers without a dir: {sorted(set(ids) - dirs)}")
    layers = layer_mount_ids(e)
    if layers - set(ids):
        problems.append(f"rw layers of unlisted containers: {sorted(layers - set(ids))}")
    for mnt, fstype in e.mounts():
        if fstype == "overlay" and mnt not in merged:
            problems.append(f"overlay mount of no listed container: {mnt}")
    for mnt, fstype in e.mounts():
        if fstype == "nsfs" and "/netns/" in mnt and Path(mnt).name not in running:
            msg = f"netns of {Path(mnt).name[:12]}, which is not a running container"
            if strays is None:
                problems.append(msg)
            else:
                strays.append(msg)
                subprocess.run(["umount", mnt], capture_output=True, check=False)
                Path(mnt).unlink(missing_ok=True)
    for pid, argv in e.conmons().items():
        cid = conmon_container_id(argv)
        if cid not in running:
            msg = f"conmon {pid} for {cid[:12]}, which is not a running container"
            if strays is None:
                problems.append(msg)
            else:
                strays.append(msg)
                kill_stray(e, pid, cid)
    # every name that is not listed can be taken (no leaked reservations)
    for name in POOL:
        if name in names:
            continue
        try:
            e.api.create_container("busybox", ["true"], name=name)
        except docker.errors.APIError as err:
            problems.append(f"name {name} is not listed but cannot be taken: {err}")
        else:
            e.api.remove_container(name, force=True)
    return problems


def kill_stray(e: Env, conmon_pid: int, cid: str) -> None:
    """Kill a stray conmon and the container process it supervises (by PID)."""
    state = Path(e.exec_root, "runtime-runc", cid, "state.json")
    with contextlib.suppress(OSError, ValueError):
        init = json.loads(state.read_text())["init_process_pid"]
        os.kill(int(init), signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(conmon_pid, signal.SIGKILL)


def churn(api: docker.APIClient, rng: random.Random, stop: threading.Event) -> None:
    """Random verbs on a small pool of names until the daemon dies."""
    while not stop.is_set():
        name = rng.choice(POOL)
        op = rng.choice(["create", "create", "start", "stop", "rm", "rename", "run"])
        try:
            if op == "create":
                api.create_container("busybox", ["sleep", "1000"], name=name)
            elif op == "run":
                c = api.create_container("busybox", ["sleep", "1000"], name=name)
                api.start(c["Id"])
            elif op == "start":
                api.start(name)
            elif op == "stop":
                api.stop(name, timeout=0)
            elif op == "rm":
                api.remove_container(name, force=True, v=True)
            else:
                api.rename(name, rng.choice(POOL))
        except docker.errors.APIError:
            pass
        except Exception:  # the daemon is gone
            if stop.is_set():
                return
            time.sleep(0.01)


def test_random_kills_leave_consistent_state(make_env: MakeEnv) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    e = make_env()
    history: list[str] = []
    strays: list[str] = []
    for i in range(ITERATIONS):
        live = i % 2 == 1
        stop = threading.Event()
        api = docker.APIClient(base_url=e.d.base_url, timeout=10)
        worker = threading.Thread(target=churn, args=(api, random.Random(rng.random()), stop))
        worker.start()
        delay = rng.uniform(0.05, 0.8)
        time.sleep(delay)
        e.kill9()
        stop.set()
        worker.join(30)
        api.close()
        assert not worker.is_alive()
        e.start(("--live-restore",) if live else ())
        problems = check_invariants(e, strays)
        history.append(f"iteration {i}: killed after {delay:.2f}s, live-restore={live}")
        assert not problems, f"seed {seed}, {history[-1]}: {problems}\n{e.logs()[-4000:]}"
    if strays:
        print(f"strays (berthd bug, see test_kill_during_start): {strays}")
    # and the daemon is usable at the end: everything can be removed
    ids = e.ok("ps", "-aq").split()
    if ids:
        e.ok("rm", "-f", *ids)
    assert not e.container_dirs()
    assert not layer_mount_ids(e)


def test_interrupted_removal_marks_container_dead(make_env: MakeEnv) -> None:
    """A container whose removal was in progress at the crash is Dead; `docker rm` removes it."""
    e = make_env()
    name = uniq("dead")
    cid = e.ok("create", "--name", name, "-v", "deadvol:/data", "busybox", "true").strip()
    e.ok("start", name)
    assert e.ok("wait", name).strip() == "0"
    assert e.state(name)["Running"] is False
    e.stop()

    def interrupted(doc: dict[str, Any]) -> None:
        assert doc["State"]["Running"] is False, f"the exit is not on disk: {doc['State']}"
        doc["State"]["RemovalInProgress"] = True

    e.edit_config(cid, interrupted)
    e.start()
    st = e.state(name)
    assert st["Dead"] is True and st["Status"] == "dead"
    assert st["Running"] is False
    ps = e.ok("ps", "-a", "--filter", "status=dead", "--format", "{{.Names}} {{.Status}}")
    assert ps.split() == [name, "Dead"]
    r = e.run("start", name)
    assert r.rc != 0 and "marked for removal" in r.err
    # the volume is still referenced by the dead container
    assert e.run("volume", "rm", "deadvol").rc != 0
    e.ok("rm", name)
    assert name not in e.ps_names()
    assert cid not in e.container_dirs()
    assert cid not in layer_mount_ids(e)
    e.ok("volume", "rm", "deadvol")
    # and it stays removed
    e.restart()
    assert name not in e.ps_names()


def test_kill_during_rm_of_big_container(make_env: MakeEnv) -> None:
    """Removal of a big rw layer cut by kill -9: gone, or Dead and removable; never a ghost."""
    e = make_env()
    outcomes = []
    for _ in range(3):
        name = uniq("big")
        e.ok(
            "run", "--name", name, "busybox", "sh", "-c",
            "mkdir /big && cd /big && for i in $(seq 4000); do echo $i > f$i; done",
        )  # fmt: skip
        rm = e.popen("rm", name)
        time.sleep(random.uniform(0.0, 0.15))
        e.kill9()
        rm.wait(10)
        e.start()
        names = e.ps_names()
        if name in names:
            st = e.state(name)
            outcomes.append("dead" if st["Dead"] else "kept")
            e.ok("rm", name)
        else:
            outcomes.append("gone")
        assert name not in e.ps_names()
        assert not check_invariants(e)
    assert set(outcomes) <= {"dead", "kept", "gone"}, outcomes


def test_no_leaks_after_kill_with_running_containers(make_env: MakeEnv) -> None:
    """kill -9 with running containers, restart, rm -f: no conmon, mount or dir is left."""
    e = make_env("--live-restore")
    for i in range(3):
        e.ok("run", "-d", "--name", f"leak{i}", "busybox", "sleep", "1000")
    e.kill9()
    e.start()
    e.ok("rm", "-f", "leak0", "leak1", "leak2")
    wait_for(lambda: not e.conmons(), 10)
    assert not [m for m, t in e.mounts() if t == "overlay"]
    assert not e.container_dirs()
    with contextlib.suppress(Exception):
        e.api.close()


SLOW_RUNC = """#!/bin/sh
# runc, but `start` takes 3 s: a window to kill berthd in the middle of `docker start`
for a in "$@"; do [ "$a" = start ] && sleep 3 && break; done
exec /usr/bin/runc "$@"
"""


def test_kill_during_start(make_env: MakeEnv) -> None:
    """dockerd: what is alive for a container that is not running is shut down at start-up."""
    e = make_env(start=False)
    slow = Path(e.root, "slowrunc")
    slow.write_text(SLOW_RUNC)
    slow.chmod(0o755)
    e.d.write_config({"runtimes": {"slow": {"path": str(slow)}}})
    e.start()
    name = uniq("slow")
    cid = e.ok("create", "--runtime", "slow", "--name", name, "busybox", "sleep", "1000").strip()
    starter = e.popen("start", name)
    wait_for(lambda: e.conmons(), 5)
    time.sleep(0.5)
    e.kill9()
    starter.wait(10)
    time.sleep(3)  # the runtime's `start` has now run the process
    e.start()
    st = e.state(name)
    strays = [p for p, argv in e.conmons().items() if conmon_container_id(argv) == cid]
    if st["Running"]:
        assert Path(f"/proc/{st['Pid']}").exists()
    else:
        assert not strays, f"{name} is {st['Status']} but its conmon {strays} is alive"
    e.ok("rm", "-f", name)
    assert not e.conmons()
