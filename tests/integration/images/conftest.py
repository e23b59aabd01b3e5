from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.dockerd_process import DockerdProcess

Docker = Callable[..., subprocess.CompletedProcess[str]]


def make_cli(cli: str, d: BerthdProcess | DockerdProcess) -> Docker:
    def run(*args: str, check: bool = True, stdin: bytes | None = None) -> Any:
        env = {**os.environ, "DOCKER_HOST": d.base_url, "DOCKER_CONFIG": str(d.root / "cfg")}
        proc = subprocess.run([cli, *args], input=stdin, capture_output=True, env=env, timeout=120)
        out = subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode(errors="surrogateescape"),
            proc.stderr.decode(errors="replace"),
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {out.stderr}")
        return out

    return run


@pytest.fixture
def cli(docker_cli: str, berthd: BerthdProcess) -> Docker:
    return make_cli(docker_cli, berthd)


@pytest.fixture
def sdk(berthd: BerthdProcess) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=berthd.base_url, timeout=120)
    yield client
    client.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
