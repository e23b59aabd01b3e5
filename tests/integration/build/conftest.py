"""One berthd for the build tests (busybox from images_build loaded as the base),
and helpers to send build contexts: the docker CLI, the SDK, and raw HTTP for
byte-exact stream checks."""

from __future__ import annotations

import http.client
import io
import os
import shutil
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import docker
import pytest

from tests.helpers.cli import cli_env
from tests.integration.daemon_process import BerthdProcess
from tests.integration.host_state import remove_all_objects
from tests.integration.images_build import build_busybox_archive

pytestmark = pytest.mark.integration


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=120)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def context_tar(files: dict[str, str | bytes], mode: str = "w", owner: str = "") -> bytes:
    """A context tar; ``owner`` fills uname/gname as Python's tarfile (docker-py) does."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mode = 0o644
            info.uname = info.gname = owner
            tf.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


@dataclass
class BuildEnv:
    daemon: BerthdProcess
    client: docker.DockerClient
    cli: str | None

    def raw_build(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        api: str = "1.45",
        **query: str | list[str],
    ) -> tuple[int, bytes]:
        conn = _UnixHTTP(self.daemon.sock)
        try:
            conn.request(
                "POST",
                f"/v{api}/build?" + urlencode(query, doseq=True),
                body=body,
                headers={"Content-Type": "application/x-tar", **(headers or {})},
            )
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def docker(
        self,
        *args: str,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if self.cli is None:
            pytest.skip("the docker CLI is not installed")
        full = cli_env(str(self.daemon.root / "cfg"), {"DOCKER_HOST": self.daemon.base_url})
        full.update(env or {})
        r = subprocess.run(
            [self.cli, *args],
            cwd=cwd,
            env=full,
            capture_output=True,
            text=True,
            timeout=120,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.fixture(scope="module")
def build_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildEnv]:
    if os.geteuid() != 0:
        pytest.skip("build tests need root")
    d = BerthdProcess().start()
    client = docker.DockerClient(base_url=d.base_url, timeout=120)
    try:
        archive = tmp_path_factory.mktemp("base") / "busybox.tar"
        build_busybox_archive(archive)
        client.images.load(archive.read_bytes())
        yield BuildEnv(d, client, shutil.which("docker"))
    finally:
        remove_all_objects(client, volumes=True)
        client.close()
        d.cleanup()
