"""Knowing when a container exited, although conmon is not our child.

conmon double-forks and belongs to PID 1, so there is no SIGCHLD for us. A pidfd
(``os.pidfd_open``) works on any process: it becomes readable when the process
exits, and asyncio can watch it with ``add_reader`` — no thread, no polling. When
conmon is gone we read what it left behind: the exit code as text in the exit
file, and an ``oom`` file when the kernel OOM-killed something in the container.
After a daemon restart we find conmon again through its pid file, after checking
``/proc/<pid>/cmdline`` so that a recycled PID is never mistaken for it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["ExitStatus", "ExitWatcher", "find_conmon", "read_exit_status"]

UNKNOWN_EXIT = 255


@dataclass(frozen=True)
class ExitStatus:
    """How a container (or exec session) ended."""

    exit_code: int
    oom_killed: bool
    finished_at: datetime


def read_exit_status(exit_file: Path, oom_file: Path | None) -> ExitStatus:
    """Read conmon's exit file (text exit code; its mtime is the finish time).

    A missing or unreadable file means conmon itself died (e.g. SIGKILL); we then
    report 255 with the current time, as dockerd does for a lost shim.
    """
    oom = oom_file is not None and oom_file.exists()
    try:
        text = exit_file.read_text().strip()
        finished = datetime.fromtimestamp(exit_file.stat().st_mtime, UTC)
        return ExitStatus(int(text), oom, finished)
    except (OSError, ValueError):
        return ExitStatus(UNKNOWN_EXIT, oom, datetime.now(UTC))


def find_conmon(pidfile: Path, container_id: str) -> int | None:
    """The live conmon PID for ``container_id`` from its pid file, or None.

    The PID is trusted only if ``/proc/<pid>/cmdline`` is a conmon whose ``-c``
    argument is this container (PIDs get reused after a reboot or a long time).
    """
    try:
        pid = int(pidfile.read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    if not argv or not os.path.basename(argv[0]).startswith(b"conmon"):
        return None
    # a zombie conmon has already written its exit file
    if stat.rpartition(")")[2].split()[0] == "Z":
        return None
    cid = container_id.encode()
    for flag, value in itertools.pairwise(argv):
        if flag in (b"-c", b"--cid") and value == cid:
            return pid
    return None


class ExitWatcher:
    """Resolves once a given conmon exits, with the exit status it recorded.

    The watcher owns its pidfd and the reader registered on the loop; ``close()``
    releases both (the daemon calls it on shutdown without touching conmon).
    Any number of coroutines may ``await wait()``.
    """

    def __init__(self, conmon_pid: int | None, exit_file: Path, oom_file: Path | None) -> None:
        self._exit_file = exit_file
        self._oom_file = oom_file
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._pidfd: int | None = None
        if conmon_pid is not None:
            try:
                self._pidfd = os.pidfd_open(conmon_pid)
            except ProcessLookupError:
                self._pidfd = None
        if self._pidfd is None:
            self._done.set_result(None)
        else:
            self._loop.add_reader(self._pidfd, self._on_exit)
        self._status: ExitStatus | None = None

    def _on_exit(self) -> None:
        self._release()
        if not self._done.done():
            self._done.set_result(None)

    def _release(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    @property
    def exited(self) -> bool:
        """True once conmon is gone."""
        return self._done.done() and not self._done.cancelled()

    async def wait(self) -> ExitStatus:
        """Wait for conmon to exit; return the container's exit status."""
        await asyncio.shield(self._done)
        if self._status is None:
            self._status = await asyncio.to_thread(
                read_exit_status, self._exit_file, self._oom_file
            )
        return self._status

    def close(self) -> None:
        """Stop watching (conmon and the container keep running); waiters get cancelled."""
        self._release()
        if not self._done.done():
            self._done.cancel()
