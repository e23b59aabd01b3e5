"""Running the docker CLI against a test daemon, never the machine's."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["DOCKER", "DOCKER_CONFIG", "CLIResult", "DaemonCLI", "cli", "cli_env"]

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"

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


@dataclass
class CLIResult:
    """A finished CLI run: exit code and decoded output."""

    rc: int
    out: str
    err: str

    @property
    def returncode(self) -> int:
        return self.rc


class _Daemon(Protocol):
    @property
    def base_url(self) -> str: ...


class DaemonCLI:
    """The docker CLI bound to a test daemon ``self.d`` and a config directory
    ``self.cfg_dir`` of its own (the class that derives from this sets both);
    ``cli_timeout`` is the default of ``run``."""

    d: _Daemon
    cfg_dir: str | Path
    cli_timeout: float = 60

    @property
    def env(self) -> dict[str, str]:
        return cli_env(str(self.cfg_dir), {"DOCKER_HOST": self.d.base_url})

    def argv(self, *args: str) -> list[str]:
        return [DOCKER, "-H", self.d.base_url, *args]

    def run(
        self,
        *args: str,
        check: bool = False,
        stdin: bytes | str | None = None,
        timeout: float | None = None,
    ) -> CLIResult:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            self.argv(*args),
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
            timeout=self.cli_timeout if timeout is None else timeout,
        )
        res = CLIResult(
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )
        if check and res.rc != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {res.rc}: {res.err}")
        return res

    def ok(self, *args: str, **kw: Any) -> str:
        """Run, require exit 0, return stdout."""
        return self.run(*args, check=True, **kw).out

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(*args), env=self.env, **kw)
