"""Running the docker CLI against a test daemon, never the machine's."""

from __future__ import annotations

import os
import subprocess

__all__ = ["DOCKER_CONFIG", "cli", "cli_env"]

# a config directory of the tests' own (no credentials or contexts of the machine)
DOCKER_CONFIG = "/tmp/berthd-it-docker-config"


def cli_env(config: str = DOCKER_CONFIG, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its ``DOCKER_*`` variables, with
    ``DOCKER_CONFIG`` set to ``config`` and then ``extra`` added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = config
    env.update(extra or {})
    return env


def cli(
    docker_cli: str,
    host: str,
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``docker -H host args…`` to completion, its output as text."""
    return subprocess.run(
        [docker_cli, "-H", host, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(extra=env),
        check=check,
    )
