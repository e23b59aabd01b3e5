"""Fixtures for container integration tests: one real berthd per test module.

The data root is seeded with a busybox image (``busybox:latest``) before the
daemon starts. Every container lives under a test-only cgroup parent
(``/berthd-test-<random>``). Teardown removes every container (``docker rm
-f``), stops berthd by PID, kills any conmon of this data root that is left
(by PID, after checking its cmdline), unmounts what is left under the root and
removes the cgroup directories the module caused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import secrets
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from berthd.runtime.cgroups import hierarchies
from tests.helpers.cli import DOCKER, DaemonCLI
from tests.integration.daemon_process import BerthdProcess
from tests.integration.seed_image import seed_busybox

pytestmark = pytest.mark.integration

# a second image whose config sets everything ``docker run`` inherits
CFG_IMAGE = "berthd-test/cfg:latest"
CFG_IMAGE_CONFIG: dict[str, object] = {
    "Entrypoint": ["echo", "ep"],
    "Cmd": ["dflt"],
    "Env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "FOO=img",
        "BAR=img",
    ],
    "WorkingDir": "/home/app",
    "User": "app",
    "Labels": {"img.label": "from-image", "both": "image"},
    "StopSignal": "SIGUSR1",
}


@dataclass
class Env(DaemonCLI):
    """A module's daemon, its CLI runner and its SDK client."""

    cli_timeout = 30

    d: BerthdProcess
    cgroup_parent: str
    cfg_dir: str
    image_id: str
    client: docker.DockerClient

    def inspect(self, ref: str) -> dict[str, Any]:
        return dict(self.client.api.inspect_container(ref))


def _conmons(data_root: str, exec_root: str) -> list[int]:
    """PIDs of conmon processes whose argv mentions this daemon's paths."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not os.path.basename(argv[0]).startswith(b"conmon"):
            continue
        joined = b" ".join(argv)
        if data_root.encode() in joined or exec_root.encode() in joined:
            pids.append(int(p.name))
    return pids


def _mounts_under(root: str) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = line.split()[4]
        if mnt.startswith(root):
            out.append(mnt)
    return out


def _cgroup_dirs(parent: str) -> list[Path]:
    return [h.path(parent) for h in hierarchies() if h.path(parent).exists()]


def _rmdir_tree(top: Path) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


def _teardown(e: Env) -> list[str]:
    """Leave nothing behind; return what had to be cleaned by force."""
    leaks: list[str] = []
    with contextlib.suppress(Exception):
        ids = e.run("ps", "-aq", "--no-trunc", timeout=20).out.split()
        if ids:
            e.run("rm", "-f", *ids, timeout=60)
    with contextlib.suppress(Exception):
        e.client.close()
    e.d.stop(timeout=30)
    for pid in _conmons(e.d.data_root, e.d.exec_root):
        leaks.append(f"conmon {pid}")
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.05)
    for mnt in sorted(_mounts_under(str(e.d.root)), key=len, reverse=True):
        leaks.append(f"mount {mnt}")
        subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)
    for d in _cgroup_dirs(e.cgroup_parent):
        _rmdir_tree(d)
        if d.exists():
            leaks.append(f"cgroup {d}")
    shutil.rmtree(e.d.root, ignore_errors=True)
    return leaks


def _start(args: tuple[str, ...] = ()) -> Env:
    if os.geteuid() != 0:
        pytest.skip("container integration tests need root")
    for b in (DOCKER, "/usr/bin/conmon", "/usr/bin/busybox"):
        if not os.path.exists(b):
            pytest.skip(f"{b} missing")
    parent = f"/berthd-test-{secrets.token_hex(4)}"
    d = BerthdProcess(args=["--cgroup-parent", parent, *args])
    image_id = seed_busybox(d.data_root)
    seed_busybox(d.data_root, tag=CFG_IMAGE, config=CFG_IMAGE_CONFIG)
    cfg = d.root / "dockercfg"
    cfg.mkdir()
    d.start()
    client = docker.DockerClient(base_url=d.base_url, timeout=60)
    return Env(d, parent, str(cfg), image_id, client)


@contextlib.contextmanager
def seeded_env() -> Iterator[Env]:
    """A seeded daemon, torn down afterwards; what had to be removed by force fails."""
    e = _start()
    leaks: list[str] = []
    try:
        yield e
    finally:
        leaks = _teardown(e)
    assert not leaks, f"left behind: {leaks}"


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with seeded_env() as e:
        yield e


def uniq(prefix: str = "c") -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


class Pty:
    """A docker CLI process on a real pseudo-terminal (its controlling tty)."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: the slave is fd 0/1/2 and the controlling terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.buf = b""
        self.rc: int | None = None

    def _read(self, timeout: float) -> bool:
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def expect(self, needle: bytes, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read(min(left, 0.2)) and needle not in self.buf):
                raise TimeoutError(f"{needle!r} not seen; got {self.buf!r}")
        return self.buf

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while self.rc is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.rc = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise TimeoutError(f"the docker CLI did not exit; output {self.buf!r}")
            self._read(0.05)
        while self._read(0.01) and select.select([self.fd], [], [], 0)[0]:
            pass
        os.close(self.fd)
        return self.rc

    def close(self) -> None:
        if self.rc is None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.rc = -9
            with contextlib.suppress(OSError):
                os.close(self.fd)


def pty_cli(e: Env, *args: str, rows: int = 30, cols: int = 100) -> Pty:
    return Pty(e.argv(*args), e.env, rows, cols)
