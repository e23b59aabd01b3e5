"""The pid file: one daemon per pid file, a stale one is taken over.

The file holds the pid in decimal. If that process is alive and is a berthd
(its cmdline says so), start-up is refused; otherwise the file is stale and
replaced. The file is removed at exit.
"""

from __future__ import annotations

import os

from berthd.errdefs import Conflict
from berthd.lib.atomicfile import write_atomic

__all__ = ["PidFile"]


def _is_live_daemon(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return b"berthd" in cmdline


class PidFile:
    def __init__(self, path: str) -> None:
        self.path = path

    def acquire(self) -> None:
        try:
            with open(self.path) as f:
                content = f.read().strip()
        except FileNotFoundError:
            content = ""
        if content.isdigit() and _is_live_daemon(int(content)):
            raise Conflict(
                f"process with PID {content} is still running (pid file {self.path}); "
                "is another berthd using it?"
            )
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        write_atomic(self.path, f"{os.getpid()}".encode())

    def release(self) -> None:
        try:
            with open(self.path) as f:
                if f.read().strip() != str(os.getpid()):
                    return
            os.unlink(self.path)
        except FileNotFoundError:
            pass
