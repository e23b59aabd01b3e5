"""The daemon's handle on running containers: dockerd's libcontainerd client, on conmon.

One conmon per container and per exec session; the OCI runtime (runc or crun)
behind one adapter. The supervisor keeps, per container, a small JSON record in
``<exec-root>/supervisor/<id>.json`` (runtime, bundle, persist dir, conmon PID)
so that a restarted daemon can find conmon again (``restore``) — everything else
(exit code, OOM, logs) conmon keeps writing while the daemon is away.

Ownership: the supervisor owns one ``ExitWatcher`` per known container and the
``ConmonSpawner`` thread; nothing else runs in the background. ``close()``
releases them without touching any container (live-restore).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal as signal_mod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from berthd import errdefs
from berthd.runtime import attach as attach_mod
from berthd.runtime.cgroups import is_frozen
from berthd.runtime.conmon import ConmonSettings, CreateOptions, container_argv, read_sync, spawn
from berthd.runtime.exec import ExecSession, start_exec
from berthd.runtime.monitor import ExitStatus, ExitWatcher, find_conmon
from berthd.runtime.oci_runtime import OCIRuntime
from berthd.runtime.spawner import ConmonSpawner
from berthd.runtime.stats import cgroup_paths, read_networks, read_stats

__all__ = ["ContainerRecord", "Restored", "Supervisor"]

_CONMON_FILES = ("attach", "ctl", "winsz", "pidfile", "conmon.pid", "conmon.err", "oom")
_DELETE_GRACE = 5.0


def _remove_files(files: list[Path]) -> None:
    for f in files:
        f.unlink(missing_ok=True)


@dataclass(frozen=True)
class ContainerRecord:
    """What a later daemon needs to find a container's conmon and files again."""

    id: str
    runtime: str
    bundle: str
    persist_dir: str
    cgroups_path: str
    conmon_pid: int
    pid: int
    terminal: bool


@dataclass(frozen=True)
class Restored:
    """Result of ``restore``: running (with pid) or already exited (with status)."""

    running: bool
    pid: int
    exit_status: ExitStatus | None


class Supervisor:
    """Create, start, watch, signal, attach, exec and delete containers via conmon."""

    def __init__(
        self,
        exec_root: Path,
        runtimes: dict[str, OCIRuntime],
        default_runtime: str,
        conmon: ConmonSettings | None = None,
    ) -> None:
        if default_runtime not in runtimes:
            raise errdefs.InvalidParameter(f"unknown runtime specified {default_runtime}")
        self.exec_root = exec_root
        self.runtimes = runtimes
        self.default_runtime = default_runtime
        self.conmon = conmon or ConmonSettings()
        self._spawner = ConmonSpawner(self.conmon.cgroup, move_all=self.conmon.move_all_hierarchies)
        self._records: dict[str, ContainerRecord] = {}
        self._watchers: dict[str, ExitWatcher] = {}

    # --- paths -------------------------------------------------------------------
    def _record_path(self, cid: str) -> Path:
        return self.exec_root / "supervisor" / f"{cid}.json"

    @property
    def exit_dir(self) -> Path:
        """conmon's ``--exit-dir``: one file per container named by its ID."""
        return self.exec_root / "exits"

    def _exec_dir(self, exec_id: str) -> Path:
        return self.exec_root / "exec" / exec_id

    def _conmon_files(self, bundle: Path, cid: str) -> list[Path]:
        return [bundle / n for n in _CONMON_FILES] + [self.exit_dir / cid]

    def _record(self, cid: str) -> ContainerRecord:
        rec = self._records.get(cid)
        if rec is None:
            raise errdefs.NotFound(f"No such container: {cid}")
        return rec

    def _runtime(self, rec: ContainerRecord) -> OCIRuntime:
        rt = self.runtimes.get(rec.runtime)
        if rt is None:
            raise errdefs.System(f"unknown runtime {rec.runtime} for container {rec.id}")
        return rt

    def _save(self, rec: ContainerRecord) -> None:
        path = self._record_path(rec.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec)))
        os.replace(tmp, path)

    # --- lifecycle ---------------------------------------------------------------
    async def create(
        self, container_id: str, opts: CreateOptions, runtime: str | None = None
    ) -> int:
        """Start conmon, which runs ``runtime create``; return the container's PID.

        On failure the runtime's message is raised as an error kind; a bad command
        raises ``RuntimeStartError`` carrying the 126/127 exit code for the record.
        """
        if container_id in self._records:
            raise errdefs.Conflict(f"container {container_id} already exists")
        name = runtime or self.default_runtime
        rt = self.runtimes.get(name)
        if rt is None:
            raise errdefs.InvalidParameter(f"unknown runtime specified {name}")
        config = await asyncio.to_thread(self._prepare, opts)
        cgroups_path = str(config.get("linux", {}).get("cgroupsPath", ""))
        terminal = bool(config.get("process", {}).get("terminal", False))
        if terminal != opts.terminal:
            raise errdefs.InvalidParameter("process.terminal and the tty option disagree")
        conmon_pidfile = opts.bundle / "conmon.pid"
        argv = container_argv(self.conmon, rt, container_id, opts, self.exit_dir, conmon_pidfile)
        handle = await spawn(
            self._spawner,
            argv,
            attach_pipe=False,
            stderr_path=opts.bundle / "conmon.err",
            cwd=opts.bundle,
        )
        try:
            pid = await read_sync(handle.sync, "create", container_id)
        except BaseException:
            # the runtime cleaned up after itself; conmon exits — remove its files
            conmon_pid = find_conmon(conmon_pidfile, container_id)
            if conmon_pid is not None:
                os.kill(conmon_pid, signal_mod.SIGKILL)
            await asyncio.to_thread(_remove_files, self._conmon_files(opts.bundle, container_id))
            raise
        finally:
            handle.close()
        conmon_pid = find_conmon(conmon_pidfile, container_id) or 0
        rec = ContainerRecord(
            id=container_id,
            runtime=name,
            bundle=str(opts.bundle),
            persist_dir=str(opts.persist_dir),
            cgroups_path=cgroups_path,
            conmon_pid=conmon_pid,
            pid=pid,
            terminal=terminal,
        )
        await asyncio.to_thread(self._save, rec)
        self._track(rec)
        return pid

    def _prepare(self, opts: CreateOptions) -> dict[str, Any]:
        """Make conmon's directories, drop a previous run's exit files, read the config."""
        self.exit_dir.mkdir(parents=True, exist_ok=True)
        opts.persist_dir.mkdir(parents=True, exist_ok=True)
        for stale in (opts.persist_dir / "exit", opts.persist_dir / "oom"):
            stale.unlink(missing_ok=True)
        try:
            config: dict[str, Any] = json.loads((opts.bundle / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise errdefs.InvalidParameter(
                f"cannot read OCI config of bundle {opts.bundle}: {e}"
            ) from e
        return config

    def _track(self, rec: ContainerRecord) -> None:
        persist = Path(rec.persist_dir)
        self._records[rec.id] = rec
        self._watchers[rec.id] = ExitWatcher(
            rec.conmon_pid or None, persist / "exit", persist / "oom"
        )

    async def start(self, container_id: str) -> None:
        """Run the container's process (``runtime start``)."""
        rec = self._record(container_id)
        await self._runtime(rec).start(container_id)

    async def wait(self, container_id: str) -> ExitStatus:
        """Wait until the container has exited; its code, OOM flag and finish time."""
        self._record(container_id)
        return await self._watchers[container_id].wait()

    def conmon_pid(self, container_id: str) -> int:
        """conmon's PID for a supervised container (0 if it could not be found)."""
        return self._record(container_id).conmon_pid

    def exited(self, container_id: str) -> bool:
        """True once conmon has gone (the exit status is then final)."""
        self._record(container_id)
        return self._watchers[container_id].exited

    async def signal(
        self, container_id: str, sig: int = signal_mod.SIGTERM, *, all_processes: bool = False
    ) -> None:
        """Send a signal to the container's init process (``runtime kill``)."""
        rec = self._record(container_id)
        if self._watchers[container_id].exited:
            raise errdefs.Conflict(f"container {container_id} is not running")
        await self._runtime(rec).kill(container_id, sig, all_processes=all_processes)

    async def state(self, container_id: str) -> dict[str, Any]:
        """The runtime's state of the container (status, pid, bundle…)."""
        rec = self._record(container_id)
        return await self._runtime(rec).state(container_id)

    async def pause(self, container_id: str) -> None:
        """Freeze the container (cgroup freezer, via ``runtime pause``)."""
        rec = self._record(container_id)
        await self._runtime(rec).pause(container_id)

    async def resume(self, container_id: str) -> None:
        """Thaw a paused container."""
        rec = self._record(container_id)
        await self._runtime(rec).resume(container_id)

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Change OCI ``linux.resources`` of a live container (``docker update``)."""
        rec = self._record(container_id)
        await self._runtime(rec).update(container_id, resources)

    async def pids(self, container_id: str) -> list[int]:
        """Host PIDs of the container's processes (``docker top``)."""
        rec = self._record(container_id)
        return await self._runtime(rec).ps(container_id)

    async def stats(self, container_id: str) -> dict[str, Any]:
        """Stats pieces for ``docker stats``: cpu, memory, pids and blkio from the
        cgroups, ``networks`` from the interfaces of the container's netns."""
        rec = self._record(container_id)

        def collect() -> dict[str, Any]:
            out = read_stats(cgroup_paths(rec.pid), rec.cgroups_path)
            networks = read_networks(rec.pid)
            if networks:
                out["networks"] = networks
            return out

        return await asyncio.to_thread(collect)

    # --- stdio -------------------------------------------------------------------
    async def attach(self, container_id: str) -> attach_mod.AttachSession:
        """A new attach session on the container's stdio (several may coexist)."""
        rec = self._record(container_id)
        return await attach_mod.connect(Path(rec.bundle) / "attach", container_id)

    def resize(self, container_id: str, height: int, width: int) -> None:
        """Resize the container's terminal (``-t`` containers)."""
        rec = self._record(container_id)
        if not rec.terminal:
            raise errdefs.Conflict(f"container {container_id} does not have a terminal")
        attach_mod.resize(Path(rec.bundle) / "ctl", height, width, container_id)

    def reopen_log(self, container_id: str) -> None:
        """Make conmon reopen the container's log file (after it was rotated)."""
        rec = self._record(container_id)
        attach_mod.ctl_message(Path(rec.bundle) / "ctl", "2 0 0\n", container_id)

    async def exec(
        self,
        container_id: str,
        exec_id: str,
        process: dict[str, Any],
        *,
        stdin: bool = False,
        detach: bool = False,
    ) -> ExecSession:
        """Start an exec session (``docker exec``) in a running container."""
        rec = self._record(container_id)
        rt = self._runtime(rec)
        # conmon alive = the container's init is alive; the freezer file tells paused.
        # (No ``runtime state`` here: it is a 7–12 ms process on every exec.)
        if self._watchers[container_id].exited:
            raise errdefs.Conflict(f"container {container_id} is not running")
        frozen = bool(rec.cgroups_path) and await asyncio.to_thread(is_frozen, rec.cgroups_path)
        if frozen:
            raise errdefs.Conflict(
                f"container {container_id} is paused, unpause the container before exec"
            )
        exec_dir = self._exec_dir(exec_id)
        if exec_dir.exists():
            raise errdefs.Conflict(f"exec {exec_id} already exists")
        return await start_exec(
            self.conmon,
            self._spawner,
            rt,
            container_id,
            exec_id,
            exec_dir,
            process,
            stdin=stdin,
            detach=detach,
        )

    # --- restart -----------------------------------------------------------------
    def known(self) -> list[str]:
        """IDs of every container with a record on disk (what a new daemon may restore)."""
        d = self.exec_root / "supervisor"
        return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []

    async def restore(self, container_id: str) -> Restored:
        """Re-attach to a container created by an earlier daemon process.

        A live conmon (checked through ``/proc/<pid>/cmdline``) is watched again;
        if it is gone, the exit status it left in the persist dir is returned.
        """
        if container_id in self._records:
            raise errdefs.Conflict(f"container {container_id} is already being supervised")
        try:
            raw = await asyncio.to_thread(self._record_path(container_id).read_text)
            rec = ContainerRecord(**json.loads(raw))
        except FileNotFoundError as e:
            raise errdefs.NotFound(f"No such container: {container_id}") from e
        except (ValueError, TypeError) as e:
            raise errdefs.DataLoss(f"corrupt runtime record for {container_id}") from e
        live = find_conmon(Path(rec.bundle) / "conmon.pid", container_id)
        if live is None:
            rec = ContainerRecord(**{**asdict(rec), "conmon_pid": 0})
        self._track(rec)
        if live is not None:
            return Restored(True, rec.pid, None)
        return Restored(False, rec.pid, await self._watchers[container_id].wait())

    # --- teardown ----------------------------------------------------------------
    async def delete(self, container_id: str) -> None:
        """Kill what is left (``runtime delete --force``), forget the container and
        remove conmon's files. The bundle and the log stay: they are the daemon's."""
        rec = self._record(container_id)
        rt = self._runtime(rec)
        try:
            await rt.delete(container_id, force=True)
        except errdefs.NotFound:
            pass
        watcher = self._watchers.pop(container_id)
        try:
            async with asyncio.timeout(_DELETE_GRACE):
                await watcher.wait()
        except TimeoutError:
            if rec.conmon_pid and find_conmon(Path(rec.bundle) / "conmon.pid", container_id):
                os.kill(rec.conmon_pid, signal_mod.SIGKILL)
        finally:
            watcher.close()
        del self._records[container_id]
        persist = Path(rec.persist_dir)
        files = self._conmon_files(Path(rec.bundle), container_id)
        files += [persist / "exit", persist / "oom", self._record_path(container_id)]
        await asyncio.to_thread(_remove_files, files)

    async def close(self) -> None:
        """Stop watching every container; containers and conmons keep running."""
        await self._spawner.close()
        for w in self._watchers.values():
            w.close()
        self._watchers.clear()
        self._records.clear()
