"""Start a real berthd as a subprocess on paths of its own, for integration tests.

Each instance gets its own socket, data-root, exec-root, pid file and config
file under a temporary directory, so a test never touches a berthd or dockerd
running on the machine. Stopped by PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# free_port is imported from here by many tests; it lives in tests/helpers/ports.py
from tests.helpers.ports import free_port
from tests.integration.host_state import cgroup_dirs, rmdir_tree

__all__ = [
    "BERTHD",
    "NO_NETWORK_PROXY",
    "BerthdProcess",
    "DaemonProcess",
    "free_port",
    "ping_unix",
    "remove_cgroups",
    "run_berthd",
]

BERTHD = [sys.executable, "-m", "berthd"]


NO_NETWORK_PROXY = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost,::1",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "no_proxy": "127.0.0.1,localhost,::1",
}


def ping_unix(path: str, timeout: float = 0.5) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.0 200") or True
    except OSError:
        return False


class DaemonProcess:
    """A daemon subprocess on paths of its own under ``root`` (a new temporary directory
    by default), logging to a file: what ``BerthdProcess`` and ``DockerdProcess``
    (``dockerd_process.py``) share."""

    name = "daemon"

    def __init__(self, root: Path | None, sock_name: str) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix=f"{self.name}-it-", dir="/tmp"))
        self.sock = str(self.root / sock_name)
        self.data_root = str(self.root / "data")
        self.exec_root = str(self.root / "exec")
        self.pidfile = str(self.root / f"{self.name}.pid")
        self.config_file = str(self.root / "daemon.json")
        self.log_path = self.root / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return "unix://" + self.sock

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until it holds; raise if the daemon exits or time runs out."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} did not come up:\n{self.logs()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the daemon and wait for it (SIGKILL after ``timeout``); its exit code."""
        rc = 0
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc is not None:
            rc = self.proc.returncode
        return rc


class BerthdProcess(DaemonProcess):
    name = "berthd"

    def __init__(
        self,
        root: Path | None = None,
        args: Sequence[str] = (),
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        unix: bool = True,
    ) -> None:
        super().__init__(root, "berthd.sock")
        self.extra_args = list(args)
        # containers of this daemon go under a cgroup of its own, removed at cleanup
        if "--cgroup-parent" not in self.extra_args:
            self.cgroup_parent = f"/berthd-test-{os.urandom(4).hex()}"
            self.extra_args += ["--cgroup-parent", self.cgroup_parent]
        else:
            self.cgroup_parent = self.extra_args[self.extra_args.index("--cgroup-parent") + 1]
        # networks of their own: a bridge device, subnets in 172.31.0.0/16, no host
        # forwarding and a loopback resolver, so no test touches the host's networks
        if "--bridge" not in self.extra_args and "bridge" not in (config or {}):
            tag = os.urandom(3).hex()
            self.bridge = f"bt-{tag}"
            self.extra_args += [
                "--bridge",
                self.bridge,
                "--bip",
                f"172.31.{int(tag[:2], 16) % 128}.1/24",
                "--default-address-pool",
                "base=172.31.128.0/17,size=24",
                "--ip-forward=false",
                "--dns",
                "127.0.0.1",
            ]
        self.env = env
        self.unix = unix
        self.write_config(config or {})

    def write_config(self, config: dict[str, Any]) -> None:
        Path(self.config_file).write_text(json.dumps(config))

    def argv(self) -> list[str]:
        argv = [*BERTHD]
        if self.unix:
            argv += ["-H", "unix://" + self.sock]
        argv += [
            "--data-root",
            self.data_root,
            "--exec-root",
            self.exec_root,
            "--pidfile",
            self.pidfile,
            "--config-file",
            self.config_file,
            *self.extra_args,
        ]
        return argv

    def start(self, wait: bool = True, **popen: Any) -> BerthdProcess:
        env = dict(os.environ)
        # pulls of images that are not here (docker.io) must not leave the machine: any
        # registry that is not on loopback is reached through a proxy that is not there
        env.update(NO_NETWORK_PROXY)
        env.update(self.env or {})
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_offset = self.log.tell()
        self.proc = subprocess.Popen(
            self.argv(), stdout=self.log, stderr=subprocess.STDOUT, env=env, **popen
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        offset = getattr(self, "_log_offset", 0)
        self.wait_until(lambda: b"is up" in self.log_path.read_bytes()[offset:], timeout)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        rc = super().stop(timeout)
        if hasattr(self, "log"):
            self.log.close()
        return rc

    def cleanup(self) -> None:
        self.stop()
        remove_cgroups(self.cgroup_parent)
        shutil.rmtree(self.root, ignore_errors=True)


def remove_cgroups(parent: str, wait: float = 5.0) -> None:
    """rmdir the (empty) cgroup tree ``parent`` in every hierarchy, leaves first; a v1
    memory cgroup whose last process just exited may stay busy for a moment."""
    deadline = time.monotonic() + wait
    while True:
        left = cgroup_dirs(parent)
        for top in left:
            rmdir_tree(top)
        if not any(d.exists() for d in left) or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def run_berthd(args: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run berthd to completion (for start-up failures and --validate)."""
    return subprocess.run([*BERTHD, *args], capture_output=True, text=True, timeout=timeout)
