"""One real berthd per module for the volume tests, with images that declare VOLUMEs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.restore.harness import Env

pytestmark = pytest.mark.integration

VOL_IMAGE = "berthd-test/vol:latest"  # VOLUME /data (no /data in the layer)
ETC_IMAGE = "berthd-test/voletc:latest"  # VOLUME /etc (the layer has /etc/passwd and group)
IMAGES: dict[str, dict[str, object] | None] = {
    VOL_IMAGE: {"Volumes": {"/data": {}}},
    ETC_IMAGE: {"Volumes": {"/etc": {}}},
}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    e = Env(images=IMAGES)
    leaks: list[str] = []
    try:
        e.start()
        yield e
    finally:
        leaks = e.cleanup()
    assert not leaks, f"left behind after the module: {leaks}"
