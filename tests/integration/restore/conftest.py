"""Fixtures for the restore tests: a factory of berthds that the test kills and restarts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.restore.harness import Env

pytestmark = pytest.mark.integration

MakeEnv = Callable[..., Env]


@pytest.fixture
def make_env(request: pytest.FixtureRequest) -> Iterator[MakeEnv]:
    """``make_env(*args, images=…)``: a started berthd with those extra flags.

    Teardown cleans everything and fails the test if something had to be
    cleaned by force (a leaked conmon, mount or cgroup), unless the test is an
    expected failure (the leak is then part of the bug it documents).
    """
    envs: list[Env] = []

    def make(*args: str, images: dict[str, Any] | None = None, start: bool = True) -> Env:
        e = Env(tuple(args), images)
        envs.append(e)
        if start:
            e.start()
        return e

    yield make
    leaks: list[str] = []
    for e in envs:
        leaks += e.cleanup()
    if leaks and request.node.get_closest_marker("xfail") is None:
        pytest.fail(f"left behind after the test: {leaks}")
