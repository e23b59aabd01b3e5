"""One seeded berthd for the whole directory (cp, commit, health, prune, df).

Reuses the container tests' daemon set-up and teardown (test cgroup parent,
every container, mount and cgroup removed afterwards, leaks reported).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.containers.conftest import Env, seeded_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="package")
def env() -> Iterator[Env]:
    with seeded_env() as e:
        yield e
