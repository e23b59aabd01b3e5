"""Forking conmon from a thread that already lives in conmon's cgroup.

conmon must leave the daemon's cgroup before it forks the container. Moving each
new conmon costs a cgroup migration, and on this host a v1 memory-controller
migration takes 10–15 ms (an RCU grace period) — a fifth of a whole ``docker
run``. cgroup v1 lets a single *thread* sit in another cgroup (``tasks``), and a
child inherits the cgroup of the thread that forked it. So the spawner parks one
thread in ``<conmon cgroup>`` once and forks every conmon from it: no migration
per container. Hierarchies where a thread cannot go (cgroup v2) or that refused
it get the per-process move as before.

The spawner owns its thread; ``close()`` shuts it down. The first conmon process
is reaped here (via a pidfd, then ``Popen.wait``), not by asyncio's child
watcher, so the daemon must not install a ``waitpid(-1)`` watcher.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from berthd.runtime.cgroups import (
    Hierarchy,
    hierarchies,
    join_cgroup,
    needs_move,
    process_cgroups,
)

__all__ = ["ConmonSpawner"]


class ConmonSpawner:
    """Starts conmon processes already placed in ``cgroup`` (``None``: stay put)."""

    def __init__(self, cgroup: str | None, *, move_all: bool = False) -> None:
        self.cgroup = cgroup
        self._move_all = move_all
        self._per_process: list[Hierarchy] = []
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="conmon-spawner", initializer=self._park
        )

    def _park(self) -> None:
        """Runs once in the spawner thread: join the conmon cgroup where we may."""
        if self.cgroup is None:
            return
        away = None if self._move_all else process_cgroups()
        tid = threading.get_native_id()
        for h in hierarchies():
            if needs_move(h, away) and not join_cgroup(h, self.cgroup, tid, thread=True):
                self._per_process.append(h)

    def _popen(
        self, argv: list[str], env: dict[str, str], fds: list[int], err_fd: int, cwd: Path
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_fd,
            env=env,
            pass_fds=fds,
            start_new_session=True,
            cwd=cwd,
        )
        if self.cgroup is not None:
            for h in self._per_process:
                join_cgroup(h, self.cgroup, proc.pid)
        return proc

    async def launch(
        self, argv: list[str], *, env: dict[str, str], fds: list[int], err_fd: int, cwd: Path
    ) -> subprocess.Popen[bytes]:
        """Fork+exec conmon from the parked thread; it starts inside the conmon cgroup."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self._popen, argv, env, fds, err_fd, cwd)
        return await loop.run_in_executor(self._executor, call)

    @staticmethod
    async def wait(proc: subprocess.Popen[bytes]) -> int:
        """Wait for a process we forked to exit, without blocking, and reap it."""
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:
            return proc.wait()
        done: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(pidfd, ready)
        try:
            await done
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        return proc.wait()

    async def close(self) -> None:
        """Stop the spawner thread (running conmons are not affected).

        Waits for the thread to end: while it lives, the conmon cgroup is busy and
        cannot be removed.
        """
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
