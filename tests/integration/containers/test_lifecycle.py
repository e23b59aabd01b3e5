"""create/start/stop/kill/restart/wait/rm/rename/pause/unpause, ps, inspect, names, IDs."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.helpers.wait import wait_for
from tests.integration.containers.conftest import Env, uniq

# PID 1 with a TERM handler: stops at once with exit 0 on SIGTERM, 10 on SIGUSR1
TRAPPER = "trap 'exit 0' TERM; trap 'exit 10' USR1; while :; do sleep 0.05; done"
ZERO_TIME = "0001-01-01T00:00:00Z"


def running(env: Env, *flags: str) -> str:
    return env.ok("run", "-d", "--network", "none", *flags, "busybox", "sh", "-c", TRAPPER).strip()


def state(env: Env, ref: str) -> dict:
    return env.inspect(ref)["State"]


# -- create / start ----------------------------------------------------------------------------


def test_create_then_start(env: Env) -> None:
    name = uniq("cs")
    cid = env.ok("create", "--name", name, "busybox", "sh", "-c", "exit 3").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    st = state(env, name)
    assert st["Status"] == "created" and st["Running"] is False and st["Pid"] == 0
    assert st["StartedAt"] == ZERO_TIME and st["FinishedAt"] == ZERO_TIME
    assert env.ok("start", name) == name + "\n"
    assert env.ok("wait", name) == "3\n"
    st = state(env, name)
    assert st["Status"] == "exited" and st["ExitCode"] == 3 and st["Pid"] == 0
    assert st["StartedAt"] != ZERO_TIME and st["FinishedAt"] >= st["StartedAt"]
    env.ok("rm", name)


def test_start_running_container_is_fine(env: Env) -> None:
    cid = running(env)
    r = env.run("start", cid)
    assert r.rc == 0, r.err
    env.ok("rm", "-f", cid)


def test_start_attach(env: Env) -> None:
    cid = env.ok("create", "busybox", "sh", "-c", "echo hi; echo err >&2; exit 4").strip()
    r = env.run("start", "-a", cid)
    assert (r.rc, r.out, r.err) == (4, "hi\n", "err\n")
    env.ok("rm", cid)


def test_start_attach_interactive(env: Env) -> None:
    cid = env.ok("create", "-i", "busybox", "cat").strip()
    r = env.run("start", "-ai", cid, stdin="through start\n", timeout=20)
    assert (r.rc, r.out) == (0, "through start\n"), r.err
    env.ok("rm", cid)


def test_start_no_such_container(env: Env) -> None:
    r = env.run("start", "berthd-test-nosuch")
    assert r.rc == 1
    assert "No such container: berthd-test-nosuch" in r.err


# -- stop / kill / restart -----------------------------------------------------------------------


def test_stop_with_handler_is_quick(env: Env) -> None:
    cid = running(env)
    t0 = time.monotonic()
    assert env.ok("stop", cid) == cid + "\n"
    assert time.monotonic() - t0 < 5
    st = state(env, cid)
    assert st["Status"] == "exited" and st["ExitCode"] == 0 and st["Running"] is False
    env.ok("rm", cid)


def test_stop_timeout_then_sigkill(env: Env) -> None:
    # busybox sleep as PID 1 has no handler, so SIGTERM is ignored
    cid = env.ok("run", "-d", "--network", "none", "busybox", "sleep", "300").strip()
    t0 = time.monotonic()
    env.ok("stop", "-t", "1", cid)
    took = time.monotonic() - t0
    assert 0.9 <= took < 6, took
    assert state(env, cid)["ExitCode"] == 137
    env.ok("rm", cid)


def test_stop_signal_flag(env: Env) -> None:
    cid = running(env)
    env.ok("stop", "--signal", "USR1", cid)
    assert state(env, cid)["ExitCode"] == 10
    env.ok("rm", cid)


def test_stop_signal_and_timeout_from_create(env: Env) -> None:
    cid = running(env, "--stop-signal", "SIGUSR1", "--stop-timeout", "1")
    cfg = env.inspect(cid)["Config"]
    assert cfg["StopSignal"] == "SIGUSR1" and cfg["StopTimeout"] == 1
    env.ok("stop", cid)
    assert state(env, cid)["ExitCode"] == 10
    cid2 = env.ok(
        "run", "-d", "--network", "none", "--stop-timeout", "1", "busybox", "sleep", "300"
    ).strip()
    t0 = time.monotonic()
    env.ok("stop", cid2)
    assert time.monotonic() - t0 < 6
    assert state(env, cid2)["ExitCode"] == 137
    env.ok("rm", cid, cid2)


def test_stop_stopped_container_is_fine(env: Env) -> None:
    cid = env.ok("create", "busybox", "true").strip()
    assert env.run("stop", cid).rc == 0
    env.ok("rm", cid)


def test_kill_default_and_signal(env: Env) -> None:
    cid = running(env)
    assert env.ok("kill", "-s", "USR1", cid) == cid + "\n"
    assert env.ok("wait", cid) == "10\n"
    cid2 = running(env)
    env.ok("kill", cid2)
    assert env.ok("wait", cid2) == "137\n"
    env.ok("rm", cid, cid2)


def test_kill_numeric_signal(env: Env) -> None:
    cid = running(env)
    env.ok("kill", "-s", "10", cid)
    assert env.ok("wait", cid) == "10\n"
    env.ok("rm", cid)


def test_kill_not_running(env: Env) -> None:
    cid = env.ok("create", "busybox", "true").strip()
    r = env.run("kill", cid)
    assert r.rc == 1
    assert re.search(rf"container {cid} is not running", r.err, re.I), r.err
    env.ok("rm", cid)


def test_kill_bad_signal(env: Env) -> None:
    cid = running(env)
    r = env.run("kill", "-s", "NOPE", cid)
    assert r.rc == 1
    assert "Invalid signal: NOPE" in r.err
    r = env.run("kill", "-s", "99", cid)  # a number that is no Linux signal
    assert r.rc == 1 and "the linux daemon does not support signal 99" in r.err
    assert env.inspect(cid)["State"]["Running"]
    env.ok("rm", "-f", cid)


def test_restart(env: Env) -> None:
    cid = running(env)
    before = state(env, cid)
    time.sleep(0.01)
    assert env.ok("restart", "-t", "1", cid) == cid + "\n"
    after = state(env, cid)
    assert after["Running"] is True and after["Pid"] != before["Pid"]
    assert after["StartedAt"] > before["StartedAt"]
    info = env.inspect(cid)
    assert info["RestartCount"] == 0  # only a restart policy counts
    env.ok("rm", "-f", cid)


def test_restart_stopped_container_starts_it(env: Env) -> None:
    cid = env.ok("create", "busybox", "sleep", "300").strip()
    env.ok("restart", "-t", "0", cid)
    assert state(env, cid)["Running"] is True
    env.ok("rm", "-f", cid)


# -- wait -------------------------------------------------------------------------------------------------


def test_wait_several(env: Env) -> None:
    a = env.ok("run", "-d", "busybox", "sh", "-c", "exit 1").strip()
    b = env.ok("run", "-d", "busybox", "sh", "-c", "sleep 0.2; exit 2").strip()
    assert env.ok("wait", a, b) == "1\n2\n"
    env.ok("rm", a, b)


def test_wait_no_such_container(env: Env) -> None:
    r = env.run("wait", "berthd-test-nosuch")
    assert r.rc == 1 and "No such container: berthd-test-nosuch" in r.err


# -- rm ---------------------------------------------------------------------------------------------------


def test_rm_running_needs_force(env: Env) -> None:
    name = uniq("rmr")
    running(env, "--name", name)
    r = env.run("rm", name)
    assert r.rc == 1
    assert (
        f'cannot remove container "/{name}": container is running: stop the container' in (r.err)
        or f'cannot remove container "{name}": container is running: stop the container' in r.err
    )
    assert "before removing or force remove" in r.err
    assert env.ok("rm", "-f", name) == name + "\n"
    assert env.run("inspect", name).rc == 1


def test_rm_no_such_container(env: Env) -> None:
    r = env.run("rm", "berthd-test-nosuch")
    assert r.rc == 1 and "No such container: berthd-test-nosuch" in r.err


def test_rm_force_no_such_container_is_fine(env: Env) -> None:
    assert env.run("rm", "-f", "berthd-test-nosuch").rc == 0


def test_rm_releases_the_name(env: Env) -> None:
    name = uniq("rel")
    env.ok("create", "--name", name, "busybox", "true")
    env.ok("rm", name)
    env.ok("create", "--name", name, "busybox", "true")
    env.ok("rm", name)


# -- names and IDs -----------------------------------------------------------------------------------------


def test_name_conflict(env: Env) -> None:
    name = uniq("dup")
    cid = env.ok("create", "--name", name, "busybox", "true").strip()
    r = env.run("create", "--name", name, "busybox", "true")
    assert r.rc == 1
    assert env.run("run", "--name", name, "busybox", "true").rc == 125
    assert (
        f'Conflict. The container name "/{name}" is already in use by container "{cid}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    ) in r.err
    env.ok("rm", name)


def test_invalid_name(env: Env) -> None:
    assert env.run("run", "--name", "bad name!", "busybox", "true").rc == 125
    r = env.run("create", "--name", "bad name!", "busybox", "true")
    assert r.rc == 1
    assert "Invalid container name (bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in r.err


def test_generated_name(env: Env) -> None:
    cid = env.ok("create", "busybox", "true").strip()
    name = env.inspect(cid)["Name"]
    assert re.fullmatch(r"/[a-z]+_[a-z]+\d*", name), name
    env.ok("rm", cid)


def test_id_prefix_resolves_and_ambiguous_prefix_fails(env: Env) -> None:
    ids: list[str] = []
    try:
        # create until two IDs share their first hex digit (at most 17)
        while True:
            ids.append(env.ok("create", "busybox", "true").strip())
            firsts = [i[0] for i in ids]
            dup = next((c for c in firsts if firsts.count(c) > 1), None)
            if dup:
                break
        unique = next(i for i in ids if sum(j.startswith(i[:4]) for j in ids) == 1)
        assert env.inspect(unique[:4])["Id"] == unique
        assert env.ok("inspect", "-f", "{{.Id}}", unique[:12]) == unique + "\n"
        r = env.run("inspect", "--type", "container", dup)
        assert r.rc == 1
        assert f"multiple IDs found with provided prefix: {dup}" in r.err
    finally:
        env.run("rm", *ids)


def test_name_wins_over_id_prefix(env: Env) -> None:
    a = env.ok("create", "busybox", "true").strip()
    b = env.ok("create", "--name", a[:6], "busybox", "true").strip()
    assert env.inspect(a[:6])["Id"] == b
    env.ok("rm", a, b)


# -- rename ------------------------------------------------------------------------------------------------


def test_rename(env: Env) -> None:
    old, new = uniq("old"), uniq("new")
    cid = running(env, "--name", old)
    env.ok("rename", old, new)
    assert env.inspect(cid)["Name"] == "/" + new
    assert env.run("inspect", old).rc == 1
    # the old name is free again
    env.ok("create", "--name", old, "busybox", "true")
    env.ok("rm", "-f", new, old)


def test_rename_conflict_and_same_name(env: Env) -> None:
    a, b = uniq("ra"), uniq("rb")
    env.ok("create", "--name", a, "busybox", "true")
    bid = env.ok("create", "--name", b, "busybox", "true").strip()
    r = env.run("rename", a, b)
    assert r.rc == 1
    assert f'The container name "/{b}" is already in use by container "{bid}"' in r.err
    r = env.run("rename", a, a)
    assert r.rc == 1
    assert "Renaming a container with the same name as its current name" in r.err
    env.ok("rm", a, b)


# -- pause / unpause ----------------------------------------------------------------------------------------


def test_pause_unpause(env: Env) -> None:
    cid = running(env)
    assert env.ok("pause", cid) == cid + "\n"
    st = state(env, cid)
    assert st["Status"] == "paused" and st["Paused"] is True and st["Running"] is True
    r = env.run("pause", cid)
    assert r.rc == 1 and re.search(rf"container {cid} is already paused", r.err, re.I)
    ps = env.ok("ps", "--filter", f"id={cid}", "--format", "{{.Status}}")
    assert ps.endswith("(Paused)\n"), ps
    assert env.ok("unpause", cid) == cid + "\n"
    st = state(env, cid)
    assert st["Status"] == "running" and st["Paused"] is False
    r = env.run("unpause", cid)
    assert r.rc == 1 and re.search(rf"container {cid} is not paused", r.err, re.I)
    env.ok("stop", cid)
    assert state(env, cid)["ExitCode"] == 0
    env.ok("rm", cid)


def test_pause_not_running(env: Env) -> None:
    cid = env.ok("create", "busybox", "true").strip()
    r = env.run("pause", cid)
    assert r.rc == 1 and re.search(rf"container {cid} is not running", r.err, re.I)
    env.ok("rm", cid)


def test_rm_force_paused(env: Env) -> None:
    cid = running(env)
    env.ok("pause", cid)
    r = env.run("rm", cid)
    assert r.rc == 1 and "paused" in r.err
    env.ok("rm", "-f", cid)
    assert env.run("inspect", cid).rc == 1


def test_kill_paused(env: Env) -> None:
    cid = running(env)
    env.ok("pause", cid)
    env.ok("kill", cid)
    assert env.ok("wait", cid) == "137\n"
    env.ok("rm", cid)


# -- ps ---------------------------------------------------------------------------------------------------------


def _ps(env: Env, *args: str) -> list[str]:
    return env.ok("ps", *args).split()


def test_ps_flags(env: Env) -> None:
    tag = uniq("ps")
    lbl = f"ps-test={tag}"
    a = env.ok("create", "-l", lbl, "--name", tag + "-a", "busybox", "true").strip()
    b = running(env, "-l", lbl, "--name", tag + "-b")
    c = env.ok("run", "-d", "-l", lbl, "--name", tag + "-c", "busybox", "sh", "-c", "exit 3")
    c = c.strip()
    env.ok("wait", c)
    f = ["--filter", f"label={lbl}"]
    assert _ps(env, "-q", *f) == [b[:12]]
    assert _ps(env, "-aq", *f) == [c[:12], b[:12], a[:12]]  # newest first
    assert _ps(env, "-aq", "--no-trunc", *f) == [c, b, a]
    assert _ps(env, "-q", "-n", "2", *f) == [c[:12], b[:12]]
    latest = _ps(env, "-q", "-l")
    assert latest == [c[:12]]
    out = env.ok("ps", "-a", *f, "--format", "{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}")
    rows = out.splitlines()
    assert rows[0] == f"{tag}-c|busybox|\"sh -c 'exit 3'\"|" + rows[0].split("|")[-1]
    assert rows[0].split("|")[-1].startswith("Exited (3) ")
    assert rows[1].split("|")[-1].startswith("Up ")
    assert rows[2].split("|")[-1] == "Created"
    assert rows[2].split("|")[2] == '"true"'
    out = env.ok("ps", "-a", *f, "--format", '{{.Labels}}|{{.Label "ps-test"}}')
    assert out.splitlines()[0] == f"{lbl}|{tag}"
    env.ok("rm", "-f", a, b, c)


def test_ps_no_trunc_command(env: Env) -> None:
    tag = uniq("cmd")
    long = "x" * 40
    cid = env.ok("create", "-l", f"t={tag}", "busybox", "echo", long).strip()
    full = env.ok(
        "ps", "-a", "--no-trunc", "--filter", f"label=t={tag}", "--format", "{{.Command}}"
    )
    assert full == f'"echo {long}"\n'
    short = env.ok("ps", "-a", "--filter", f"label=t={tag}", "--format", "{{.Command}}")
    assert short.strip().endswith('…"')
    env.ok("rm", cid)


def test_ps_filters(env: Env) -> None:
    tag = uniq("flt")
    lbl = f"flt={tag}"
    f = ["-a", "-q", "--no-trunc", "--filter", f"label={lbl}"]
    created = env.ok("create", "-l", lbl, "-l", "extra=1", "--name", tag + "-created", "busybox")
    created = created.strip()
    up = running(env, "-l", lbl, "--name", tag + "-up")
    ex3 = env.ok("run", "-d", "-l", lbl, "--name", tag + "-ex3", "busybox", "sh", "-c", "exit 3")
    ex3 = ex3.strip()
    env.ok("wait", ex3)
    paused = running(env, "-l", lbl, "--name", tag + "-paused")
    env.ok("pause", paused)
    try:
        assert _ps(env, *f, "--filter", f"id={up[:10]}") == [up]
        assert _ps(env, *f, "--filter", f"name={tag}-up") == [up]
        assert _ps(env, *f, "--filter", f"name=^/{tag}-ex") == [ex3]
        assert _ps(env, *f, "--filter", "label=extra") == [created]
        assert _ps(env, *f, "--filter", "label=extra=1") == [created]
        assert _ps(env, *f, "--filter", "status=created") == [created]
        assert _ps(env, *f, "--filter", "status=running") == [up]
        assert _ps(env, *f, "--filter", "status=paused") == [paused]
        assert _ps(env, *f, "--filter", "status=exited") == [ex3]
        assert _ps(env, *f, "--filter", "exited=3") == [ex3]
        assert set(_ps(env, *f, "--filter", "status=running", "--filter", "status=paused")) == {
            up,
            paused,
        }
        everyone = {created, up, ex3, paused}
        assert set(_ps(env, *f, "--filter", "ancestor=busybox")) == everyone
        assert set(_ps(env, *f, "--filter", "ancestor=busybox:latest")) == everyone
        assert set(_ps(env, *f, "--filter", f"ancestor={env.image_id}")) == everyone
        assert _ps(env, *f, "--filter", "ancestor=berthd-test/cfg") == []
        assert _ps(env, *f, "--filter", f"before={tag}-up") == [created]
        assert set(_ps(env, *f, "--filter", f"since={tag}-up")) == {ex3, paused}
        # without -a, only running (and paused) containers
        run_only = ["-q", "--no-trunc", "--filter", f"label={lbl}"]
        assert set(_ps(env, *run_only)) == {up, paused}
    finally:
        env.run("rm", "-f", created, up, ex3, paused)


def test_ps_bad_filter(env: Env) -> None:
    r = env.run("ps", "--filter", "nope=1")
    assert r.rc == 1 and "invalid filter 'nope'" in r.err
    r = env.run("ps", "--filter", "status=sleeping")
    assert r.rc == 1 and "invalid filter 'status=sleeping'" in r.err


# -- inspect ----------------------------------------------------------------------------------------------------


def test_inspect_shape(env: Env) -> None:
    name = uniq("insp")
    cid = env.ok(
        "run", "-d", "--name", name, "-e", "A=1", "-l", "k=v", "busybox", "sh", "-c", "exit 5"
    ).strip()
    env.ok("wait", cid)
    info = env.inspect(name)
    for key in (
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "Name",
        "RestartCount",
        "Driver",
        "Platform",
        "MountLabel",
        "ProcessLabel",
        "AppArmorProfile",
        "ExecIDs",
        "HostConfig",
        "GraphDriver",
        "Mounts",
        "Config",
        "NetworkSettings",
    ):
        assert key in info, key
    assert info["Id"] == cid and info["Name"] == "/" + name
    assert info["Path"] == "sh" and info["Args"] == ["-c", "exit 5"]
    assert info["Image"] == env.image_id and info["Platform"] == "linux"
    assert info["RestartCount"] == 0 and info["ExecIDs"] is None
    assert info["LogPath"].endswith(f"{cid}-json.log") or cid in info["LogPath"]
    assert cid in info["HostnamePath"] and cid in info["HostsPath"]
    st = info["State"]
    assert set(st) >= {
        "Status",
        "Running",
        "Paused",
        "Restarting",
        "OOMKilled",
        "Dead",
        "Pid",
        "ExitCode",
        "Error",
        "StartedAt",
        "FinishedAt",
    }
    assert st["Status"] == "exited" and st["ExitCode"] == 5 and st["OOMKilled"] is False
    assert st["Dead"] is False and st["Restarting"] is False and st["Error"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", st["StartedAt"]), st
    cfg = info["Config"]
    assert cfg["Image"] == "busybox" and cfg["Cmd"] == ["sh", "-c", "exit 5"]
    assert "A=1" in cfg["Env"] and cfg["Labels"] == {"k": "v"}
    assert cfg["Hostname"] == cid[:12] and cfg["Tty"] is False and cfg["OpenStdin"] is False
    hc = info["HostConfig"]
    assert hc["NetworkMode"] == "bridge" or hc["NetworkMode"] == "default"
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["AutoRemove"] is False and hc["Privileged"] is False
    assert hc["LogConfig"]["Type"] == "json-file"
    assert info["GraphDriver"]["Name"] == "overlay2"
    env.ok("rm", name)


def test_inspect_running_pid_and_format(env: Env) -> None:
    cid = running(env)
    pid = int(env.ok("inspect", "-f", "{{.State.Pid}}", cid))
    assert pid > 0 and Path(f"/proc/{pid}/cmdline").read_bytes()
    assert env.ok("inspect", "-f", "{{.State.Running}} {{.State.Status}}", cid) == "true running\n"
    env.ok("rm", "-f", cid)


def test_inspect_no_such(env: Env) -> None:
    r = env.run("inspect", "--type", "container", "berthd-test-nosuch")
    assert r.rc == 1 and "No such container: berthd-test-nosuch" in r.err


def test_auto_remove_in_inspect(env: Env) -> None:
    cid = env.ok("create", "--rm", "busybox", "sleep", "300").strip()
    assert env.inspect(cid)["HostConfig"]["AutoRemove"] is True
    env.ok("start", cid)
    env.ok("kill", cid)
    wait_for(lambda: env.run("inspect", cid).rc == 1, 10)
