"""A real berthd that a test may kill (SIGKILL), stop (SIGTERM) and start again.

Shared by ``tests/integration/restore`` and ``tests/integration/volumes_in_containers``.
Each ``Env`` has its own data root, exec root and cgroup parent
(``/berthd-test-<random>``). ``cleanup()`` leaves nothing behind: it removes
every container through the daemon (starting it again if a test left it dead),
stops berthd by PID, kills by PID whatever is still in the test's cgroups and
any conmon whose argv mentions the test's paths, unmounts what is left under
the temporary directory and removes the empty cgroup directories.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.helpers.cli import DOCKER, DaemonCLI
from tests.integration.daemon_process import BerthdProcess
from tests.integration.host_state import (
    force_clean,
    mounts_under,
    pids_of,
    proc_argv,
)
from tests.integration.seed_image import seed_busybox


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("these integration tests need root")
    for b in (DOCKER, "/usr/bin/conmon", "/usr/bin/busybox"):
        if not os.path.exists(b):
            pytest.skip(f"{b} missing")


def uniq(prefix: str = "c") -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def conmon_pids(*needles: str) -> dict[int, list[str]]:
    """conmon processes whose argv mentions one of ``needles``: PID → argv."""
    return {pid: proc_argv(pid) for pid in pids_of(("conmon",), *needles)}


def conmon_container_id(argv: list[str]) -> str:
    for flag in ("-c", "--cid"):
        if flag in argv:
            return argv[argv.index(flag) + 1]
    return ""


class Env(DaemonCLI):
    """One berthd with its CLI and SDK client; it can be killed and started again."""

    def __init__(
        self,
        args: tuple[str, ...] = (),
        images: dict[str, dict[str, Any] | None] | None = None,
    ) -> None:
        require_root()
        self.cgroup_parent = f"/berthd-test-{secrets.token_hex(4)}"
        self.d = BerthdProcess(args=["--cgroup-parent", self.cgroup_parent, *args])
        self.image_id = seed_busybox(self.d.data_root)
        for tag, cfg in (images or {}).items():
            seed_busybox(self.d.data_root, tag=tag, config=cfg)
        self.cfg_dir = self.d.root / "dockercfg"
        self.cfg_dir.mkdir()
        self._client: docker.DockerClient | None = None
        self.leaks: list[str] = []

    # -- the daemon --------------------------------------------------------------------
    @property
    def root(self) -> str:
        return str(self.d.root)

    @property
    def data_root(self) -> str:
        return self.d.data_root

    @property
    def exec_root(self) -> str:
        return self.d.exec_root

    @property
    def pid(self) -> int:
        assert self.d.proc is not None
        return self.d.proc.pid

    def alive(self) -> bool:
        return self.d.proc is not None and self.d.proc.poll() is None

    def start(self, args: tuple[str, ...] | None = None) -> Env:
        if args is not None:
            self.d.extra_args = ["--cgroup-parent", self.cgroup_parent, *args]
        self._close_client()
        self.d.start()
        return self

    def kill9(self) -> None:
        """SIGKILL berthd (conmon and the containers are not touched)."""
        assert self.d.proc is not None
        self._close_client()
        self.d.proc.kill()
        self.d.proc.wait()
        with contextlib.suppress(Exception):
            self.d.log.close()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM berthd and wait for it."""
        self._close_client()
        return self.d.stop(timeout)

    def restart(self, kill: bool = False, args: tuple[str, ...] | None = None) -> None:
        if kill:
            self.kill9()
        else:
            self.stop()
        self.start(args)

    def logs(self) -> str:
        return self.d.logs()

    # -- clients -------------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.d.base_url, timeout=60)
        return self._client

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    def _close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None

    def inspect(self, ref: str) -> dict[str, Any]:
        return dict(self.api.inspect_container(ref))

    def state(self, ref: str) -> dict[str, Any]:
        return dict(self.inspect(ref)["State"])

    def ps_names(self, all_: bool = True) -> list[str]:
        return [str(c["Names"][0]).lstrip("/") for c in self.api.containers(all=all_)]

    # -- what is on the host -----------------------------------------------------------
    def conmons(self) -> dict[int, list[str]]:
        return conmon_pids(self.data_root, self.exec_root)

    def mounts(self) -> list[tuple[str, str]]:
        return mounts_under(self.root)

    def container_dirs(self) -> set[str]:
        d = Path(self.data_root, "containers")
        return {p.name for p in d.iterdir()} if d.is_dir() else set()

    def edit_config(self, cid: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """Change a container's config.v2.json while berthd is down (fault injection)."""
        assert not self.alive()
        path = Path(self.data_root, "containers", cid, "config.v2.json")
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))

    # -- teardown ------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Leave nothing behind; return what had to be cleaned by force."""
        leaks: list[str] = []
        if not self.alive():
            with contextlib.suppress(Exception):
                self.start()
        if self.alive():
            with contextlib.suppress(Exception):
                ids = self.ok("ps", "-aq", "--no-trunc", timeout=30).split()
                if ids:
                    self.run("rm", "-f", "-v", *ids, timeout=120)
            with contextlib.suppress(Exception):
                self.stop(timeout=60)
        self._close_client()
        leaks += force_clean(self.d.root, self.cgroup_parent, self.conmons())
        return leaks


@contextlib.contextmanager
def running_env(
    args: tuple[str, ...] = (), images: dict[str, dict[str, Any] | None] | None = None
) -> Iterator[Env]:
    e = Env(args, images)
    try:
        e.start()
        yield e
    finally:
        e.leaks = e.cleanup()
