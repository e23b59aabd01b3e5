"""A throwaway dockerd (Debian's docker.io) on paths of its own, for side-by-side checks.

Used by the dockerd-parity tests and by ``bench/sidebyside.py``. Each instance has its
own socket, data-root, exec-root, pid file, config file (its identity key kept beside
it, not in /etc/docker) and cgroup parent under a temporary directory; it never touches
``/run/docker.sock``, ``/var/lib/docker`` or the host's network: ``--bridge=none`` (or a
bridge the caller made), ``--iptables=false --ip-forward=false --ip-masq=false
--userland-proxy=false``. dockerd starts its own managed containerd under the exec-root.

``cleanup()`` stops dockerd by PID (SIGTERM, then SIGKILL), then removes by PID whatever
it left (its containerd, shims, container processes), unmounts what is left under the
directory, removes the cgroup tree and the directory, and removes the empty
directories that dockerd and containerd make at fixed paths no option moves
(``/run/docker/plugins``, ``/run/containerd/s``, ``/opt/containerd``) when they did
not exist before the first dockerd of this process started. It returns what had to be
removed by force, so a caller can insist that it is nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.integration.daemon_process import DaemonProcess, ping_unix
from tests.integration.host_state import force_clean, pids_of, proc_argv

DOCKERD = shutil.which("dockerd")

# made by dockerd (plugin discovery), containerd's shims (their sockets) and containerd's
# "opt" plugin at fixed paths; children before parents
FIXED_DIRS = (
    "/run/docker/plugins",
    "/run/docker",
    "/run/containerd/s",
    "/run/containerd",
    "/opt/containerd/bin",
    "/opt/containerd/lib",
    "/opt/containerd",
)
# the processes a dockerd leaves behind when it is not stopped cleanly
HELPERS = ("containerd", "docker-proxy", "runc")

_fixed_existed: dict[str, bool] | None = None
_live: set[DockerdProcess] = set()


def dockerd_available() -> bool:
    return DOCKERD is not None and os.geteuid() == 0


def dockerd_version() -> str:
    if DOCKERD is None:
        return "dockerd: not installed"
    r = subprocess.run([DOCKERD, "--version"], capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


class DockerdProcess(DaemonProcess):
    name = "dockerd"

    def __init__(
        self,
        root: Path | None = None,
        args: Sequence[str] = (),
        config: dict[str, Any] | None = None,
        cgroup_parent: str | None = None,
        bridge: str = "none",
        live_restore: bool = False,
    ) -> None:
        if DOCKERD is None:
            raise RuntimeError("dockerd (Debian docker.io) is not installed")
        super().__init__(root, "docker.sock")
        self.root.mkdir(parents=True, exist_ok=True)
        self.cgroup_parent = cgroup_parent or f"/dockerd-test-{secrets.token_hex(4)}"
        self.bridge = bridge
        self.live_restore = live_restore
        self.extra_args = list(args)
        self.leaks: list[str] = []
        # the identity key beside the rest, not /etc/docker/key.json
        cfg = {"deprecated-key-path": str(self.root / "key.json"), **(config or {})}
        Path(self.config_file).write_text(json.dumps(cfg))

    def argv(self) -> list[str]:
        assert DOCKERD is not None
        return [
            DOCKERD,
            "-H", self.base_url,
            "--data-root", self.data_root,
            "--exec-root", self.exec_root,
            "--pidfile", self.pidfile,
            "--config-file", self.config_file,
            "--cgroup-parent", self.cgroup_parent,
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--userland-proxy=false",
            *(["--live-restore"] if self.live_restore else []),
            *self.extra_args,
        ]  # fmt: skip

    def start(self, wait: bool = True, timeout: float = 60.0) -> DockerdProcess:
        global _fixed_existed
        if _fixed_existed is None:
            _fixed_existed = {p: os.path.exists(p) for p in FIXED_DIRS}
        _live.add(self)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        if wait:
            self.wait_until(lambda: ping_unix(self.sock), timeout)
        return self

    def helpers(self) -> list[int]:
        """containerd, its shims and whatever else of this dockerd runs (not dockerd)."""
        own = {self.proc.pid} if self.alive() and self.proc is not None else set()
        return [p for p in pids_of(HELPERS, str(self.root)) if p not in own]

    def containerd(self) -> list[int]:
        """The managed containerd (not its shims)."""
        return [
            p for p in self.helpers() if os.path.basename((proc_argv(p) or [""])[0]) == "containerd"
        ]

    def cleanup(self, timeout: float = 90.0) -> list[str]:
        """Stop dockerd and leave nothing behind; return what had to be removed by force."""
        if self.alive() and self.stop(timeout) == -signal.SIGKILL:
            self.leaks.append("dockerd needed SIGKILL")
        # the managed containerd exits after dockerd; give it a moment before forcing it
        deadline = time.monotonic() + 15
        while self.containerd() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.live_restore and not self.alive():
            # with --live-restore dockerd 20.10 leaves the bind mount of its data root
            # (made at start-up) at shutdown, even with no container left: by design,
            # not a leak
            subprocess.run(["umount", self.data_root], capture_output=True, check=False)
        self.leaks += force_clean(self.root, self.cgroup_parent, self.helpers())
        _live.discard(self)
        if not _live and _fixed_existed is not None:
            for path in FIXED_DIRS:  # only empty ones that dockerd made here
                if not _fixed_existed[path]:
                    with contextlib.suppress(OSError):
                        os.rmdir(path)
        return self.leaks


@contextlib.contextmanager
def running_dockerd(**kw: Any) -> Iterator[DockerdProcess]:
    """A started dockerd, cleaned up on exit; what cleanup had to force is in ``.leaks``."""
    d = DockerdProcess(**kw)
    try:
        d.start()
        yield d
    finally:
        d.cleanup()
