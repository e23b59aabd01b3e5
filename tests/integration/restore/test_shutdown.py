"""Orderly shutdown without live-restore: every container is stopped, all in parallel.

dockerd: on SIGTERM each running container gets its stop signal and, after its
own stop timeout, SIGKILL; the containers are stopped concurrently, so three
containers that ignore SIGTERM with ``--stop-timeout 4`` take about 4 s in all,
not 12 s. Nothing of them is left (conmon, mounts) and they are exited
(137) when the daemon comes back.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.restore.conftest import MakeEnv

pytestmark = pytest.mark.integration


def test_sigterm_stops_containers_in_parallel(make_env: MakeEnv) -> None:
    e = make_env()
    names = [f"stubborn{i}" for i in range(3)]
    for n in names:
        # busybox sleep as PID 1 ignores SIGTERM: only SIGKILL after the timeout ends it
        e.ok("run", "-d", "--stop-timeout", "4", "--name", n, "busybox", "sleep", "1000")
    e.ok(
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 0.1; done",
    )
    t0 = time.monotonic()
    assert e.stop() == 0
    took = time.monotonic() - t0
    assert 3.5 < took < 10, f"shutdown took {took:.1f}s (parallel: ~4 s; one by one: ~12 s)"
    assert not e.conmons()
    assert not [m for m, t in e.mounts() if t == "overlay"]
    e.start()
    assert e.ps_names(all_=False) == []
    for n in names:
        st = e.state(n)
        assert st["Status"] == "exited" and st["ExitCode"] == 137
    assert e.state("polite")["ExitCode"] == 0
    # a daemon shutdown is not a user's stop: `unless-stopped` would start again
    assert e.inspect("polite")["State"]["Error"] == ""


def test_sigterm_with_live_restore_leaves_containers(make_env: MakeEnv) -> None:
    e = make_env("--live-restore")
    e.ok("run", "-d", "--stop-timeout", "30", "--name", "keep", "busybox", "sleep", "1000")
    t0 = time.monotonic()
    assert e.stop() == 0
    assert time.monotonic() - t0 < 10
    assert len(e.conmons()) == 1
    e.start()
    assert e.ps_names(all_=False) == ["keep"]
