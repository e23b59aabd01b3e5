"""Restart policies: on exit (with dockerd's backoff) and at daemon start-up.

dockerd (restartmanager + daemon.restore):
- on exit: ``no`` never; ``always`` and ``unless-stopped`` always unless the
  user stopped the container; ``on-failure[:N]`` after a non-zero exit, at
  most N times; the delay starts at 100 ms and doubles; RestartCount counts.
- at start-up (no live-restore): a container that is not running is started
  again if its policy says so: ``always`` (even when it had been stopped by
  hand: "If it is manually stopped, it is restarted only when Docker daemon
  restarts"), ``unless-stopped`` unless it had been stopped by hand.
- containers still running when the daemon went down without live-restore
  (``kill -9``: conmon survives) are shut down at start-up, then the
  policies apply; ``--rm`` ones are removed.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers.wait import wait_for
from tests.integration.restore.conftest import MakeEnv
from tests.integration.restore.harness import Env, uniq

pytestmark = pytest.mark.integration


def settled(e: Env, name: str, quiet: float = 1.0, timeout: float = 20.0) -> dict[str, object]:
    """Inspect once the container has stayed exited (not restarting) for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    since: float | None = None
    while time.monotonic() < deadline:
        doc = e.inspect(name)
        st = doc["State"]
        if not st["Running"] and not st["Restarting"]:
            since = since or time.monotonic()
            if time.monotonic() - since >= quiet:
                return doc
        else:
            since = None
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not settle: {e.inspect(name)['State']}")


def events(e: Env, name: str, since: float) -> list[str]:
    out = e.ok(
        "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
        "--filter", f"container={name}", "--format", "{{.Action}}",
    )  # fmt: skip
    return out.split()


def test_on_failure_crash_loop_stops_after_max(make_env: MakeEnv) -> None:
    e = make_env()
    name = uniq("crash")
    t0 = time.time()
    e.ok("run", "-d", "--restart", "on-failure:3", "--name", name, "busybox", "sh", "-c", "exit 3")
    doc = settled(e, name)
    assert doc["RestartCount"] == 3
    st = doc["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 3  # type: ignore[index]
    # backoff 0.1 + 0.2 + 0.4 s: the loop took at least 0.7 s
    assert time.time() - t0 >= 0.7
    acts = events(e, name, t0)
    assert acts.count("start") == 4 and acts.count("die") == 4
    assert acts.count("restart") == 0, acts  # dockerd logs `restart` for a user's only


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("no", 1, False),
        ("on-failure", 0, False),
        ("on-failure", 1, True),
        ("always", 0, True),
        ("unless-stopped", 0, True),
    ],
)
def test_policy_on_exit(make_env: MakeEnv, policy: str, code: int, restarts: bool) -> None:
    e = make_env()
    name = uniq(policy)
    e.ok(
        "run", "-d", "--restart", policy, "--name", name,
        "busybox", "sh", "-c", f"sleep 0.2; exit {code}",
    )  # fmt: skip
    if restarts:
        t0 = time.time()
        wait_for(lambda: e.inspect(name)["RestartCount"] >= 2, 10)
        # every restart RestartCount counts is a `start` (and no `restart` event)
        wait_for(lambda: events(e, name, t0 - 1).count("start") >= 3, 10)
        e.ok("rm", "-f", name)
        assert name not in e.ps_names()
        wait_for(lambda: not e.conmons(), 5)
    else:
        doc = settled(e, name)
        assert doc["RestartCount"] == 0
        assert doc["State"]["ExitCode"] == code  # type: ignore[index]


def test_stop_ends_restart_loop(make_env: MakeEnv) -> None:
    """dockerd: a user's stop cancels the restart manager; the container stays exited."""
    e = make_env()
    bad = []
    for i in range(3):
        name = uniq(f"loop{i}")
        e.ok(
            "run", "-d", "--restart", "unless-stopped", "--name", name,
            "busybox", "sh", "-c", "sleep 0.2; exit 0",
        )  # fmt: skip
        wait_for(lambda n=name: e.inspect(n)["RestartCount"] >= 2, 10)  # type: ignore[misc]
        e.ok("stop", "-t", "1", name)
        try:
            settled(e, name, quiet=1.0, timeout=5)
        except TimeoutError as err:
            bad.append(str(err))
        e.run("rm", "-f", name)
    assert not bad, bad


def test_kill_ends_restart_loop(make_env: MakeEnv) -> None:
    """dockerd: a user's kill counts as a manual stop (HasBeenManuallyStopped)."""
    e = make_env()
    name = uniq("killed")
    e.ok("run", "-d", "--restart", "always", "--name", name, "busybox", "sleep", "1000")
    e.ok("kill", name)
    doc = settled(e, name)
    assert doc["RestartCount"] == 0
    assert doc["State"]["ExitCode"] == 137  # type: ignore[index]
    # but the daemon's next start-up starts an `always` container again
    e.restart()
    assert e.state(name)["Running"] is True


def test_startup_starts_dependencies_first(make_env: MakeEnv) -> None:
    """dockerd: at start-up a container starts after those it links to or whose
    network it joins (else its start would fail: the child is not running)."""
    e = make_env()
    child, joiner, parent = uniq("child"), uniq("joiner"), uniq("parent")
    e.ok("run", "-d", "--restart", "always", "--name", child, "busybox", "sleep", "1000")
    e.ok(
        "run", "-d", "--restart", "always", "--name", joiner,
        "--network", f"container:{child}", "busybox", "sleep", "1000",
    )  # fmt: skip
    e.ok(
        "run", "-d", "--restart", "always", "--name", parent, "--link", f"{child}:db",
        "busybox", "sleep", "1000",
    )  # fmt: skip
    for _ in range(2):
        e.restart()
        for name in (child, joiner, parent):
            assert e.state(name)["Running"] is True, (name, e.state(name))
        hosts = e.ok("exec", parent, "cat", "/etc/hosts")
        ip = e.inspect(child)["NetworkSettings"]["IPAddress"]
        assert f"{ip}\tdb " in hosts


def test_update_restart_policy(make_env: MakeEnv) -> None:
    e = make_env()
    name = uniq("upd")
    e.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1; exit 2")
    e.ok("update", "--restart", "on-failure:2", name)
    pol = e.inspect(name)["HostConfig"]["RestartPolicy"]
    assert pol == {"Name": "on-failure", "MaximumRetryCount": 2}
    doc = settled(e, name, timeout=30)
    assert doc["RestartCount"] == 2 and doc["State"]["ExitCode"] == 2  # type: ignore[index]
    # the change is on disk
    e.restart()
    pol = e.inspect(name)["HostConfig"]["RestartPolicy"]
    assert pol == {"Name": "on-failure", "MaximumRetryCount": 2}
    r = e.run("update", "--restart", "bogus", name)
    assert r.rc != 0 and "invalid restart policy" in r.err.lower()


def _policy_containers(e: Env) -> dict[str, str]:
    names = {
        "no": uniq("no"),
        "always": uniq("always"),
        "unless": uniq("unless"),
        "unless_stopped": uniq("unless-st"),
        "onfail": uniq("onfail"),
    }
    e.ok("run", "-d", "--name", names["no"], "busybox", "sleep", "1000")
    e.ok("run", "-d", "--restart", "always", "--name", names["always"], "busybox", "sleep", "1000")
    for k in ("unless", "unless_stopped"):
        e.ok(
            "run",
            "-d",
            "--restart",
            "unless-stopped",
            "--name",
            names[k],
            "busybox",
            "sleep",
            "1000",
        )
    e.ok(
        "run",
        "-d",
        "--restart",
        "on-failure",
        "--name",
        names["onfail"],
        "busybox",
        "sleep",
        "1000",
    )
    e.ok("stop", "-t", "0", names["unless_stopped"])
    return names


def test_startup_after_orderly_shutdown(make_env: MakeEnv) -> None:
    """SIGTERM without live-restore stops everything; start-up applies the policies."""
    e = make_env()
    names = _policy_containers(e)
    assert e.stop() == 0
    assert not e.conmons()
    e.start()
    running = set(e.ps_names(all_=False))
    assert names["always"] in running
    assert names["unless"] in running
    assert names["unless_stopped"] not in running, "a stopped unless-stopped container started"
    assert names["no"] not in running
    # the daemon's shutdown stop is not a failure exit for on-failure (SIGKILL → 137 ≠ 0, but
    # dockerd's restore does not restart on-failure containers that the daemon stopped … it does:
    # ShouldRestart(137) is true) — dockerd restarts it
    assert names["onfail"] in running
    for k in ("always", "unless"):
        assert e.inspect(names[k])["State"]["Running"]


def test_startup_restarts_manually_stopped_always(make_env: MakeEnv) -> None:
    e = make_env()
    name = uniq("always")
    e.ok("run", "-d", "--restart", "always", "--name", name, "busybox", "sleep", "1000")
    e.ok("stop", "-t", "0", name)
    e.restart()
    assert e.state(name)["Running"] is True


def test_startup_after_kill_without_live_restore(make_env: MakeEnv) -> None:
    """dockerd shuts down what it finds alive, then applies the policies."""
    e = make_env()
    names = _policy_containers(e)
    before = {k: e.state(v) for k, v in names.items()}
    e.kill9()
    e.start()
    running = set(e.ps_names(all_=False))
    assert names["no"] not in running, "a `no` container was still running"
    assert names["unless_stopped"] not in running
    for k in ("always", "unless"):
        assert names[k] in running
        st = e.state(names[k])
        assert st["Pid"] != before[k]["Pid"], f"{k}: the old process was kept"
    assert not e.state(names["no"])["Running"]


def test_autoremove_running_at_kill_is_removed_at_startup(make_env: MakeEnv) -> None:
    e = make_env()
    name = uniq("rm")
    e.ok("run", "-d", "--rm", "--name", name, "busybox", "sleep", "1000")
    e.kill9()
    e.start()
    wait_for(lambda: name not in e.ps_names(), 15)
    assert not e.conmons()


def test_autoremove_exited_while_down_is_removed_at_startup(make_env: MakeEnv) -> None:
    e = make_env()
    name = uniq("rm")
    e.ok("run", "-d", "--rm", "--name", name, "busybox", "sh", "-c", "sleep 1")
    e.kill9()
    time.sleep(1.5)
    e.start()
    wait_for(lambda: name not in e.ps_names(), 15)
    assert not e.conmons()
    assert len(e.container_dirs()) == 0
