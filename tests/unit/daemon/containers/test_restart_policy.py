from __future__ import annotations

from berthd.daemon.containers.restart_policy import (
    BACKOFF_MAX,
    BACKOFF_START,
    next_delay,
    should_restart,
)


def test_policies() -> None:
    assert not should_restart({"Name": "no"}, 1, False, 0)
    assert should_restart({"Name": "always"}, 0, False, 5)
    # at daemon start-up `always` restarts even a container stopped by hand
    assert should_restart({"Name": "always"}, 0, True, 0)
    assert should_restart({"Name": "unless-stopped"}, 0, False, 0)
    assert not should_restart({"Name": "unless-stopped"}, 0, True, 0)
    assert not should_restart({"Name": "on-failure"}, 0, False, 0)
    assert should_restart({"Name": "on-failure"}, 2, False, 100)
    assert should_restart({"Name": "on-failure", "MaximumRetryCount": 3}, 1, False, 2)
    assert not should_restart({"Name": "on-failure", "MaximumRetryCount": 3}, 1, False, 3)


def test_backoff_doubles_caps_and_resets() -> None:
    d = next_delay(0.0, 0.5)
    assert d == BACKOFF_START
    d = next_delay(d, 0.5)
    assert d == 2 * BACKOFF_START
    for _ in range(20):
        d = next_delay(d, 0.1)
    assert d == BACKOFF_MAX
    assert next_delay(d, 10.0) == BACKOFF_START
