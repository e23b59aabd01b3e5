"""Healthchecks against a real berthd: healthy / unhealthy / starting in ps and inspect,
the ``health=`` filter, ``health_status`` events, timeouts that never pile up, image
HEALTHCHECK and ``--no-healthcheck``."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.helpers.wait import wait_for
from tests.integration.containers.conftest import Env, uniq

pytestmark = pytest.mark.integration

FAST = ["--health-interval", "300ms", "--health-timeout", "2s"]


def _health(env: Env, name: str) -> dict[str, Any]:
    return dict(env.inspect(name)["State"].get("Health") or {})


def _status_is(env: Env, name: str, status: str, timeout: float = 10) -> dict[str, Any]:
    return dict(wait_for(lambda: (h := _health(env, name)).get("Status") == status and h, timeout))


def _ps(env: Env, *filters: str) -> list[dict[str, Any]]:
    args = ["ps", "--format", "{{json .}}"]
    for f in filters:
        args += ["--filter", f]
    return [json.loads(line) for line in env.ok(*args).splitlines() if line]


def test_healthy(env: Env) -> None:
    since = time.time()
    name = uniq("hok")
    env.ok("run", "-d", "--name", name, *FAST, "--health-cmd", "echo fine",
           "busybox", "sleep", "100")  # fmt: skip
    h = _status_is(env, name, "healthy")
    assert h["FailingStreak"] == 0
    entry = h["Log"][-1]
    assert entry["ExitCode"] == 0 and entry["Output"] == "fine\n"
    assert entry["Start"] <= entry["End"]
    row = next(r for r in _ps(env) if r["Names"] == name)
    assert row["Status"].endswith("(healthy)")
    assert [r["Names"] for r in _ps(env, "health=healthy", f"name={name}")] == [name]
    assert _ps(env, "health=unhealthy", f"name={name}") == []
    events = env.ok(
        "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
        "--filter", f"container={name}", "--filter", "event=health_status",
        "--format", "{{.Action}}",
    )  # fmt: skip
    assert events.splitlines() == ["health_status: healthy"]
    wait_for(lambda: len(_health(env, name)["Log"]) >= 5, 10)
    time.sleep(0.8)
    assert len(_health(env, name)["Log"]) == 5  # the last five only
    env.ok("stop", "-t", "0", name)
    assert _health(env, name)["Status"] == "healthy"
    n = len(_health(env, name)["Log"])
    time.sleep(0.7)
    assert len(_health(env, name)["Log"]) == n  # no probes once stopped
    env.ok("rm", name)


def test_unhealthy(env: Env) -> None:
    name = uniq("hbad")
    env.ok("run", "-d", "--name", name, *FAST, "--health-retries", "2",
           "--health-cmd", "echo bad; exit 3", "busybox", "sleep", "100")  # fmt: skip
    h = _status_is(env, name, "unhealthy")
    assert h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] == 3
    assert h["Log"][-1]["Output"] == "bad\n"
    assert "(unhealthy)" in next(r["Status"] for r in _ps(env) if r["Names"] == name)
    assert [r["Names"] for r in _ps(env, "health=unhealthy", f"name={name}")] == [name]
    env.ok("rm", "-f", name)


def test_starting_and_none(env: Env) -> None:
    name = uniq("hst")
    env.ok("run", "-d", "--name", name, "--health-cmd", "true", "--health-interval", "60s",
           "busybox", "sleep", "100")  # fmt: skip
    assert _health(env, name)["Status"] == "starting"
    assert "(health: starting)" in next(r["Status"] for r in _ps(env) if r["Names"] == name)
    assert [r["Names"] for r in _ps(env, "health=starting", f"name={name}")] == [name]
    plain = uniq("hno")
    env.ok("run", "-d", "--name", plain, "busybox", "sleep", "100")
    assert _health(env, plain) == {}
    assert [r["Names"] for r in _ps(env, "health=none", f"name={plain}")] == [plain]
    env.ok("rm", "-f", name, plain)


def test_hanging_probe_times_out_and_never_piles_up(env: Env) -> None:
    name = uniq("hto")
    env.ok("run", "-d", "--name", name, "--health-interval", "100ms", "--health-timeout",
           "300ms", "--health-retries", "1", "--health-cmd", "sleep 7",
           "busybox", "sleep", "100")  # fmt: skip
    h = _status_is(env, name, "unhealthy")
    assert h["Log"][-1]["ExitCode"] == -1
    assert h["Log"][-1]["Output"] == "Health check exceeded timeout (300ms)"
    for _ in range(5):
        procs = env.ok("exec", name, "ps", "-o", "args")
        assert procs.count("sleep 7") <= 1, procs
        time.sleep(0.2)
    env.ok("rm", "-f", name)


def test_image_healthcheck_and_no_healthcheck(env: Env) -> None:
    base = uniq("hbase")
    env.ok("create", "--name", base, "busybox", "sleep", "100")
    image = f"berthd-test/{base}:hc"
    env.ok("commit", "-c", "HEALTHCHECK --interval=300ms --retries=1 CMD test -e /bin/sh",
           base, image)  # fmt: skip
    name = uniq("himg")
    env.ok("run", "-d", "--name", name, image)
    assert env.inspect(name)["Config"]["Healthcheck"]["Test"][0] == "CMD-SHELL"
    _status_is(env, name, "healthy")
    off = uniq("hoff")
    env.ok("run", "-d", "--name", off, "--no-healthcheck", image)
    time.sleep(0.8)
    assert _health(env, off) == {}
    env.ok("rm", "-f", base, name, off)
