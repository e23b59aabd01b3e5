"""--live-restore: containers outlive a berthd that stops (SIGTERM) or dies (SIGKILL).

dockerd's behaviour: the containers keep running while the daemon is away and
are running in ``docker ps`` when it is back, with the same PID; their output
keeps being logged; exec, attach, stats and stop work on them; one that exited
while the daemon was away shows its real exit code and FinishedAt.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers.wait import wait_for
from tests.integration.restore.conftest import MakeEnv
from tests.integration.restore.harness import Env, uniq

pytestmark = pytest.mark.integration

TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"


def parse_ts(ts: str) -> float:
    """RFC 3339 with nanoseconds → epoch seconds."""
    head, _, frac = ts.rstrip("Z").partition(".")
    base = datetime.fromisoformat(head + "+00:00").timestamp()
    return base + (float("0." + frac) if frac else 0.0)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().split("State:")[1][:20]
    except OSError:
        return False


def ticks(text: str) -> list[int]:
    return [int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("tick ")]


def log_lines(path: str) -> int:
    try:
        return Path(path).read_bytes().count(b"\n")
    except OSError:
        return 0


def read_line(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 10.0) -> bytes:
    assert proc.stdout is not None
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{needle!r} not seen in {buf!r}")
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise EOFError(f"stream ended before {needle!r}: {buf!r}")
            buf += chunk
    return buf


def take_down(e: Env, how: str) -> None:
    if how == "kill":
        e.kill9()
    else:
        assert e.stop() == 0
    assert not e.alive()


@pytest.mark.parametrize("how", ["kill", "term"])
def test_running_container_survives_and_is_usable(make_env: MakeEnv, how: str) -> None:
    e = make_env("--live-restore")
    name = uniq("tick")
    e.ok("run", "-d", "--name", name, "busybox", "sh", "-c", TICKER)
    wait_for(lambda: ticks(e.ok("logs", name)))
    before = e.inspect(name)
    pid = before["State"]["Pid"]
    log_path = before["LogPath"]
    assert pid > 0 and log_path

    take_down(e, how)
    down_at = log_lines(log_path)
    time.sleep(1.0)
    # nobody collects the output but conmon, which is still writing the log
    assert alive(pid), "the container died with berthd"
    assert log_lines(log_path) >= down_at + 5, "conmon stopped logging while berthd was down"
    assert e.conmons(), "conmon died with berthd"
    e.start()

    ps = e.ps_names(all_=False)
    assert name in ps
    after = e.inspect(name)
    assert after["State"]["Running"] is True and after["State"]["Status"] == "running"
    assert after["State"]["Pid"] == pid
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert after["RestartCount"] == 0

    # the log has every line, those printed while berthd was down included
    seen = ticks(e.ok("logs", name))
    assert seen == list(range(len(seen))), "lines are missing from the log"
    assert len(seen) >= down_at + 5
    wait_for(lambda: len(ticks(e.ok("logs", name))) > len(seen) + 3)

    # exec, attach, stats and top on the restored container
    assert e.ok("exec", name, "echo", "hi").strip() == "hi"
    assert e.run("exec", name, "sh", "-c", "exit 3").rc == 3
    att = e.popen(
        "attach", "--no-stdin", "--sig-proxy=false", name,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        read_line(att, b"tick ")
    finally:
        att.kill()
        att.wait()
    stats = e.api.stats(name, stream=False)
    assert stats["memory_stats"], stats
    assert e.ok("top", name).strip()

    # stop: sh as PID 1 ignores SIGTERM, so it is killed after the timeout
    t0 = time.monotonic()
    e.ok("stop", "-t", "1", name)
    assert time.monotonic() - t0 < 15
    st = e.state(name)
    assert st["Running"] is False and st["ExitCode"] == 137
    assert parse_ts(st["FinishedAt"]) > parse_ts(st["StartedAt"])
    assert not alive(pid)
    wait_for(lambda: not any(name in " ".join(a) for a in e.conmons().values()), 5)
    e.ok("rm", name)


@pytest.mark.parametrize("how", ["kill", "term"])
def test_container_that_exited_while_down_has_real_status(make_env: MakeEnv, how: str) -> None:
    e = make_env("--live-restore")
    name = uniq("brief")
    e.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1.5; echo bye; exit 7")
    st = e.state(name)
    pid = st["Pid"]
    started = parse_ts(st["StartedAt"])
    take_down(e, how)
    wait_for(lambda: not alive(pid), 10)
    exited_by = time.time()
    time.sleep(0.3)
    restart_at = time.time()
    e.start()

    st = e.state(name)
    assert st["Running"] is False and st["Status"] == "exited"
    assert st["ExitCode"] == 7
    finished = parse_ts(st["FinishedAt"])
    # the exit time is conmon's, not the time berthd noticed it
    assert started + 1.0 < finished <= exited_by + 0.2, (st, exited_by)
    assert finished < restart_at
    assert name not in e.ps_names(all_=False)
    assert e.ok("wait", name).strip() == "7"
    assert e.ok("logs", name).strip() == "bye"
    # nothing of the run is left: no conmon, the rootfs is unmounted
    assert not e.conmons()
    merged = e.inspect(name)["GraphDriver"]["Data"].get("MergedDir", "")
    assert merged not in [m for m, _ in e.mounts()]
    # and it starts again
    e.ok("start", name)
    assert e.ok("wait", name).strip() == "7"


def test_restart_policy_still_applies_after_restore(make_env: MakeEnv) -> None:
    """A restored ``always`` container is watched again: its next exit restarts it."""
    e = make_env("--live-restore")
    name = uniq("pol")
    e.ok("run", "-d", "--restart", "always", "--name", name, "busybox", "sleep", "1000")
    pid = e.state(name)["Pid"]
    e.kill9()
    e.start()
    st = e.state(name)
    assert st["Running"] and st["Pid"] == pid, "live-restore restarted the container"
    assert e.inspect(name)["RestartCount"] == 0
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: e.inspect(name)["RestartCount"] == 1 and e.state(name)["Running"], 10)
    assert e.state(name)["Pid"] != pid
    e.ok("rm", "-f", name)


def test_autoremove_container_kept_running_then_removed_on_exit(make_env: MakeEnv) -> None:
    """With live-restore a running ``--rm`` container is not removed at start-up."""
    e = make_env("--live-restore")
    name = uniq("rm")
    e.ok("run", "-d", "--rm", "--name", name, "busybox", "sleep", "1000")
    e.kill9()
    e.start()
    assert name in e.ps_names(all_=False)
    e.ok("stop", "-t", "0", name)
    wait_for(lambda: name not in e.ps_names(), 10)
    assert not e.conmons()


def test_live_restore_enabled_by_sighup(make_env: MakeEnv) -> None:
    """``live-restore`` is reloadable: after SIGHUP a SIGTERM leaves containers running."""
    e = make_env()
    name = uniq("hup")
    e.ok("run", "-d", "--name", name, "busybox", "sleep", "1000")
    pid = e.state(name)["Pid"]
    e.d.write_config({"live-restore": True})
    e.d.signal(signal.SIGHUP)
    wait_for(lambda: e.api.info()["LiveRestoreEnabled"] is True, 10)
    assert e.stop() == 0
    assert alive(pid)
    e.start()
    st = e.state(name)
    assert st["Running"] and st["Pid"] == pid
    e.ok("rm", "-f", name)
