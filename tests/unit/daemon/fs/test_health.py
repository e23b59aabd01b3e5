"""The health state machine (dockerd's handleProbeResult and monitor) with a fake prober."""

from __future__ import annotations

import asyncio
from typing import Any

from berthd.container import Container
from berthd.daemon.containers.health import (
    DEFAULT_START_INTERVAL,
    SECOND,
    HealthMonitor,
    ProbeResult,
    apply_result,
    next_interval,
    probe_command,
)


def _container(hc: dict[str, Any] | None, **cfg: Any) -> Container:
    config: dict[str, Any] = {"Image": "busybox", **cfg}
    if hc is not None:
        config["Healthcheck"] = hc
    c = Container(
        id="a" * 64,
        name="/h",
        created=0,
        path="sh",
        args=[],
        config=config,
        host_config={},
        image_id="sha256:" + "b" * 64,
        driver="overlay2",
    )
    c.state.set_running(1, 1, started_at=1_000 * SECOND)
    return c


def test_probe_command_forms() -> None:
    assert probe_command(_container({"Test": ["CMD", "true", "x"]})) == ["true", "x"]
    assert probe_command(_container({"Test": ["CMD-SHELL", "exit 1"]})) == [
        "/bin/sh",
        "-c",
        "exit 1",
    ]
    shell = _container({"Test": ["CMD-SHELL", "x"]}, Shell=["/bin/bash", "-e", "-c"])
    assert probe_command(shell) == ["/bin/bash", "-e", "-c", "x"]
    assert probe_command(_container({"Test": ["NONE"]})) is None
    assert probe_command(_container(None)) is None
    assert probe_command(_container({"Test": ["BOGUS", "x"]})) is None


def _r(code: int, start: int = 2_000 * SECOND) -> ProbeResult:
    return ProbeResult(code, f"out{code}", start, start + 1)


def test_success_is_healthy_and_resets_streak() -> None:
    h = apply_result({"Status": "unhealthy", "FailingStreak": 5, "Log": []}, _r(0), 3, 0, 0)
    assert h["Status"] == "healthy" and h["FailingStreak"] == 0
    assert h["Log"][0]["ExitCode"] == 0 and h["Log"][0]["Output"] == "out0"


def test_failures_become_unhealthy_after_retries() -> None:
    h: dict[str, Any] | None = {"Status": "starting", "FailingStreak": 0, "Log": []}
    seen = []
    for _ in range(3):
        h = apply_result(h, _r(1), 3, 0, 0)
        seen.append((h["Status"], h["FailingStreak"]))
    assert seen == [("starting", 1), ("starting", 2), ("unhealthy", 3)]


def test_start_period_failures_do_not_count() -> None:
    h = apply_result(None, _r(1, start=5 * SECOND), 1, 10 * SECOND, 0)
    assert h == {**h, "Status": "starting", "FailingStreak": 0}
    h = apply_result(h, _r(1, start=11 * SECOND), 1, 10 * SECOND, 0)
    assert h["Status"] == "unhealthy"


def test_healthy_then_failing_counts_even_in_start_period() -> None:
    h = apply_result(None, _r(0, start=1), 3, 100 * SECOND, 0)
    h = apply_result(h, _r(1, start=2), 1, 100 * SECOND, 0)
    assert h["Status"] == "unhealthy"


def test_log_keeps_last_five() -> None:
    h: dict[str, Any] | None = None
    for i in range(7):
        h = apply_result(h, _r(i % 2), 3, 0, 0)
    assert h is not None and len(h["Log"]) == 5
    assert [e["ExitCode"] for e in h["Log"]] == [0, 1, 0, 1, 0]


def test_next_interval() -> None:
    c = _container({"Test": ["CMD", "x"], "Interval": 60 * SECOND, "StartPeriod": 120 * SECOND})
    c.state.health = {"Status": "starting"}
    assert next_interval(c, c.state.started_at + 90 * SECOND) == 30 * SECOND  # rest of period
    t0 = c.state.started_at
    assert next_interval(c, t0) == DEFAULT_START_INTERVAL
    assert next_interval(c, t0 + 118 * SECOND) == 2 * SECOND
    assert next_interval(c, t0 + 121 * SECOND) == 60 * SECOND
    plain = _container({"Test": ["CMD", "x"]})
    assert next_interval(plain, plain.state.started_at) == 30 * SECOND


class FakeProber:
    def __init__(self, codes: list[int], hang: bool = False) -> None:
        self.codes = codes
        self.hang = hang
        self.running = 0
        self.max_running = 0
        self.calls = 0

    async def run(self, c: Container, cmd: list[str], timeout: float) -> ProbeResult:
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.hang:
                await asyncio.sleep(timeout)
                return ProbeResult(-1, "Health check exceeded timeout")
            code = self.codes[min(self.calls - 1, len(self.codes) - 1)]
            return ProbeResult(code, "")
        finally:
            self.running -= 1


def test_monitor_events_and_stop() -> None:
    async def main() -> None:
        c = _container({"Test": ["CMD", "x"], "Interval": SECOND // 100, "Retries": 2})
        c.state.started_at = 0
        events: list[str] = []
        saved: list[str] = []
        prober = FakeProber([0, 1, 1])
        mon = HealthMonitor(
            prober, lambda c, a: events.append(a), lambda c: saved.append(c.state.health_status())
        )
        mon.started(c)
        assert c.state.health_status() == "starting"
        for _ in range(200):
            await asyncio.sleep(0.01)
            if "health_status: unhealthy" in events:
                break
        assert events[:2] == ["health_status: healthy", "health_status: unhealthy"]
        assert saved and mon.monitoring(c.id)
        mon.stopped(c)
        await asyncio.sleep(0.03)
        assert not mon.monitoring(c.id)
        calls = prober.calls
        await asyncio.sleep(0.05)
        assert prober.calls == calls  # no probe after stop
        assert c.state.health_status() == "unhealthy"  # status kept after stop

    asyncio.run(main())


def test_hanging_probes_never_pile_up() -> None:
    async def main() -> None:
        c = _container({"Test": ["CMD", "x"], "Interval": SECOND // 1000, "Timeout": SECOND // 50})
        c.state.started_at = 0
        prober = FakeProber([], hang=True)
        mon = HealthMonitor(prober, lambda c, a: None, lambda c: None)
        mon.started(c)
        await asyncio.sleep(0.2)
        await mon.close()
        assert prober.calls >= 2
        assert prober.max_running == 1

    asyncio.run(main())
