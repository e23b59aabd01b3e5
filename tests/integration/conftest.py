from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.integration.daemon_process import BerthdProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def berthd() -> Iterator[BerthdProcess]:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    d = BerthdProcess().start()
    try:
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def docker_cli() -> str:
    path = shutil.which("docker")
    if path is None:
        pytest.skip("the docker CLI is not installed")
    return path
