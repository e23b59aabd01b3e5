"""One adapter for every OCI runtime CLI (runc, crun, anything `--add-runtime` names).

Both runtimes share the verbs we need (create/start/state/kill/delete/exec/update/
pause/resume/ps) and both keep their state under ``--root``; we give each runtime
its own ``<exec-root>/runtime-<name>`` so two runtimes never see each other's
containers. Everything runs through asyncio subprocesses: a runtime call takes
5–30 ms and the daemon must keep serving meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berthd import errdefs
from berthd.runtime.errors import RuntimeStartError, classify, clean_message

__all__ = ["OCIRuntime", "ProbeResult", "choose_default"]


@dataclass(frozen=True)
class ProbeResult:
    """Whether a runtime can run containers on this host, and if not, why."""

    name: str
    ok: bool
    version: str
    reason: str = ""


@dataclass(frozen=True)
class OCIRuntime:
    """A runtime binary plus the arguments the daemon always passes to it.

    ``root`` is the runtime's state directory; ``args`` are the extra global
    arguments from ``--add-runtime``/daemon.json ``runtimeArgs``.
    """

    name: str
    path: str
    root: Path
    args: tuple[str, ...] = field(default=())

    @classmethod
    def for_exec_root(
        cls, name: str, path: str, exec_root: Path, args: tuple[str, ...] = ()
    ) -> OCIRuntime:
        """The runtime as the daemon configures it: state under ``<exec-root>/runtime-<name>``."""
        return cls(name=name, path=path, root=exec_root / f"runtime-{name}", args=args)

    def global_args(self) -> list[str]:
        """Arguments that go before the verb: ``--root <dir>`` and the extra args."""
        return ["--root", str(self.root), *self.args]

    def conmon_args(self) -> list[str]:
        """The same global arguments, spelled as conmon ``--runtime-arg`` pairs."""
        out: list[str] = []
        for a in self.global_args():
            out += ["--runtime-arg", a]
        return out

    async def run(
        self, verb: str, *argv: str, container_id: str = "", stdin: bytes | None = None
    ) -> bytes:
        """Run ``<runtime> <global args> <verb> <argv…>``; return stdout or raise a kind."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            proc = await asyncio.create_subprocess_exec(
                self.path,
                *self.global_args(),
                verb,
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise errdefs.System(f"OCI runtime {self.name} ({self.path}): {e.strerror}") from e
        out, err = await proc.communicate(stdin)
        if proc.returncode != 0:
            raise classify(verb, clean_message(err.decode(errors="replace")), container_id)
        return out

    async def version(self) -> str:
        """First line of ``<runtime> --version`` (e.g. ``runc version 1.1.5``)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self.path,
                "--version",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as e:
            raise errdefs.System(f"OCI runtime {self.name} ({self.path}): {e.strerror}") from e
        out, _ = await proc.communicate()
        return out.decode(errors="replace").splitlines()[0] if out else ""

    async def create(
        self, container_id: str, bundle: Path, pid_file: Path, console_socket: Path | None = None
    ) -> None:
        """``create`` without conmon (conmon normally does this for us)."""
        argv = ["--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            argv += ["--console-socket", str(console_socket)]
        await self.run("create", *argv, container_id, container_id=container_id)

    async def start(self, container_id: str) -> None:
        """Run the user process of a created container."""
        await self.run("start", container_id, container_id=container_id)

    async def state(self, container_id: str) -> dict[str, Any]:
        """The runtime's view: ``{"status": "running"|"paused"|"stopped"|"created", "pid": …}``."""
        out = await self.run("state", container_id, container_id=container_id)
        state: dict[str, Any] = json.loads(out)
        return state

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        """Send ``signal`` to the container's init (or to every process with ``--all``)."""
        argv = ["--all"] if all_processes else []
        await self.run("kill", *argv, container_id, str(signal), container_id=container_id)

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove the runtime's state (and, with force, kill what is left)."""
        argv = ["--force"] if force else []
        await self.run("delete", *argv, container_id, container_id=container_id)

    async def exec(
        self, container_id: str, process_json: Path, pid_file: Path, *, detach: bool = True
    ) -> None:
        """``exec --process`` without conmon (conmon's ``-e`` mode normally does it)."""
        argv = ["--process", str(process_json), "--pid-file", str(pid_file)]
        if detach:
            argv.append("--detach")
        await self.run("exec", *argv, container_id, container_id=container_id)

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Apply OCI ``linux.resources`` to a live container (``update -r <file>``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="update-", suffix=".json", dir=self.root)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(resources, f)
            await self.run("update", "-r", tmp, container_id, container_id=container_id)
        finally:
            os.unlink(tmp)

    async def pause(self, container_id: str) -> None:
        """Freeze every process of the container (cgroup freezer)."""
        await self.run("pause", container_id, container_id=container_id)

    async def resume(self, container_id: str) -> None:
        """Thaw a paused container."""
        await self.run("resume", container_id, container_id=container_id)

    async def ps(self, container_id: str) -> list[int]:
        """Host PIDs of every process in the container."""
        out = await self.run("ps", "--format", "json", container_id, container_id=container_id)
        pids = json.loads(out or b"[]")
        return [int(p) for p in pids or []]

    async def probe(self, scratch: Path, cgroup_parent: str) -> ProbeResult:
        """Tell whether this runtime can run a container here, without a real image.

        We ask it to ``run`` a process that does not exist in an empty rootfs: a
        runtime that gets as far as exec fails with "no such file / not found"
        (works), while one that cannot set up a container (crun 1.8.1 on a cgroup
        hybrid host: "cgroups in hybrid mode not supported") fails earlier with
        its own reason. The cgroup goes under ``cgroup_parent`` and is removed.
        """
        try:
            version = await self.version()
        except errdefs.System as e:
            return ProbeResult(self.name, False, "", str(e))
        cid = f"berthd-probe-{secrets.token_hex(6)}"
        bundle = Path(tempfile.mkdtemp(prefix="probe-", dir=scratch))
        try:
            (bundle / "rootfs").mkdir()
            config = {
                "ociVersion": "1.0.2",
                "process": {
                    "user": {"uid": 0, "gid": 0},
                    "args": ["/berthd-probe-missing"],
                    "env": ["PATH=/"],
                    "cwd": "/",
                },
                "root": {"path": str(bundle / "rootfs")},
                "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
                "linux": {
                    "cgroupsPath": f"{cgroup_parent.rstrip('/')}/{cid}",
                    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}],
                },
            }
            (bundle / "config.json").write_text(json.dumps(config))
            try:
                await self.run("run", "--bundle", str(bundle), cid, container_id=cid)
            except RuntimeStartError as e:
                if "berthd-probe-missing" in str(e):
                    return ProbeResult(self.name, True, version)
                return ProbeResult(self.name, False, version, str(e))
            except errdefs.BerthdError as e:
                return ProbeResult(self.name, False, version, str(e))
            return ProbeResult(self.name, True, version)
        finally:
            try:
                await self.delete(cid, force=True)
            except errdefs.BerthdError:
                pass
            shutil.rmtree(bundle, ignore_errors=True)


def choose_default(
    results: list[ProbeResult], preference: tuple[str, ...] = ("runc", "crun")
) -> str:
    """The runtime the daemon should default to: the first working one in
    ``preference`` order, else any working one. ``docker info`` reports it.

    Raises ``System`` with every runtime's reason when none works.
    """
    working = {r.name for r in results if r.ok}
    for name in preference:
        if name in working:
            return name
    for r in results:
        if r.ok:
            return r.name
    reasons = "; ".join(f"{r.name}: {r.reason}" for r in results) or "no runtime configured"
    raise errdefs.System(f"no usable OCI runtime on this host ({reasons})")
