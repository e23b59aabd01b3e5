"""Fixtures for runtime integration tests: real conmon + runc, busybox rootfs.

Everything a test creates lives under one temp dir and one test-only cgroup
parent (``/berthd-test-<random>``); teardown deletes runtime state, kills any
conmon left (by PID, after checking its cmdline) and removes the cgroups in
every hierarchy.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from berthd.runtime.cgroups import remove_cgroup
from berthd.runtime.conmon import ConmonSettings, CreateOptions
from berthd.runtime.monitor import find_conmon
from berthd.runtime.oci_runtime import OCIRuntime
from berthd.runtime.supervisor import Supervisor
from tests.integration.runtime.bundle import make_bundle, make_rootfs

RUNC = shutil.which("runc") or "/usr/sbin/runc"
CONMON = shutil.which("conmon") or "/usr/bin/conmon"

pytestmark = pytest.mark.integration


def _requirements_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for b in (RUNC, CONMON, "/usr/bin/busybox"):
        if not os.path.exists(b):
            return f"{b} missing"
    return None


@pytest.fixture(scope="session")
def rootfs() -> Iterator[Path]:
    """One busybox rootfs shared (read-mostly) by every test of the session."""
    why = _requirements_missing()
    if why:
        pytest.skip(why)
    d = Path(tempfile.mkdtemp(prefix="berthd-rootfs-"))
    try:
        yield make_rootfs(d / "rootfs")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@dataclass
class Env:
    """A test's private world: temp dir, cgroup parent, runtime and supervisor."""

    root: Path
    rootfs: Path
    cgroup_parent: str
    runtime: OCIRuntime
    conmon: ConmonSettings
    sup: Supervisor
    ids: list[str] = field(default_factory=list)

    def new_supervisor(self) -> Supervisor:
        """A fresh supervisor over the same exec-root (a "restarted daemon")."""
        self.sup = Supervisor(self.root / "run", {"runc": self.runtime}, "runc", self.conmon)
        return self.sup

    def bundle(self, cid: str, args: list[str], *, terminal: bool = False, **kw: Any) -> Path:
        return make_bundle(
            self.root / "ctr" / cid,
            self.rootfs,
            args,
            f"{self.cgroup_parent}/{cid}",
            terminal=terminal,
            **kw,
        )

    async def create(
        self,
        args: list[str],
        *,
        terminal: bool = False,
        stdin: bool = False,
        stdin_once: bool = True,
        resources: dict[str, Any] | None = None,
        cid: str | None = None,
    ) -> str:
        cid = cid or f"c{secrets.token_hex(8)}"
        self.ids.append(cid)
        b = self.bundle(cid, args, terminal=terminal, resources=resources)
        opts = CreateOptions(
            bundle=b,
            persist_dir=b,
            log_path=b / "ctr.log",
            log_size_max=1 << 20,
            terminal=terminal,
            stdin=stdin,
            stdin_once=stdin_once,
        )
        await self.sup.create(cid, opts)
        return cid

    async def run(self, args: list[str], **kw: Any) -> str:
        cid = await self.create(args, **kw)
        await self.sup.start(cid)
        return cid


def _cleanup(env: Env) -> None:
    for cid in env.ids:
        subprocess.run(
            [RUNC, "--root", str(env.runtime.root), "delete", "-f", cid],
            capture_output=True,
            check=False,
        )
        pid = find_conmon(env.root / "ctr" / cid / "conmon.pid", cid)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
    exec_root = env.root / "run" / "exec"
    for d in exec_root.glob("*") if exec_root.exists() else []:
        for cid in env.ids:
            pid = find_conmon(d / "conmon.pid", cid)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
    remove_cgroup(env.cgroup_parent)
    shutil.rmtree(env.root, ignore_errors=True)


@pytest.fixture
async def env(rootfs: Path) -> AsyncIterator[Env]:
    root = Path(tempfile.mkdtemp(prefix="berthd-rt-"))
    parent = f"/berthd-test-{secrets.token_hex(4)}"
    runtime = OCIRuntime.for_exec_root("runc", RUNC, root / "run")
    conmon = ConmonSettings(path=CONMON, cgroup=f"{parent}/conmon", log_level="info")
    e = Env(
        root,
        rootfs,
        parent,
        runtime,
        conmon,
        Supervisor(root / "run", {"runc": runtime}, "runc", conmon),
    )
    try:
        yield e
    finally:
        await e.sup.close()
        _cleanup(e)


async def collect(session: Any, until: bytes | None = None) -> dict[int, bytes]:
    """Read an attach session until it ends (or ``until`` appears on any stream)."""
    out: dict[int, bytes] = {1: b"", 2: b""}
    while True:
        msg = await session.recv()
        if msg is None:
            return out
        out[msg[0]] += msg[1]
        if until is not None and any(until in v for v in out.values()):
            return out


def read_text(path: Path | str) -> str:
    """Small synchronous read for test assertions ("" when the file is absent)."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""


async def poke_until(session: Any, expected: bytes, tries: int = 50) -> bytes:
    """Send newlines to a ``while read l; do stty size; done`` loop until ``expected``
    shows up on stdout. conmon applies a resize (ctl FIFO) and stdin (attach socket)
    in whatever order its poll loop sees them, so one newline may beat the resize."""
    seen = b""
    for _ in range(tries):
        await session.send(b"\n")
        try:
            async with asyncio.timeout(0.2):
                while expected not in seen:
                    msg = await session.recv()
                    if msg is None:
                        return seen
                    seen += msg[1]
            return seen
        except TimeoutError:
            continue
    return seen


def exists(path: Path | str) -> bool:
    """Synchronous existence check for test assertions."""
    return os.path.exists(path)
