"""SIGUSR1: write every task's and thread's stack to a file under exec-root.

dockerd writes its goroutine stacks; berthd writes the stacks of its asyncio
tasks and of its threads, and logs the file's path.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
import time
import traceback

__all__ = ["dump_stacks"]


def dump_stacks(directory: str) -> str:
    out = io.StringIO()
    out.write(f"berthd stack dump, pid {os.getpid()}, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n")
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:
        tasks = set()
    out.write(f"=== {len(tasks)} asyncio tasks ===\n")
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.write(f"\n--- task {task.get_name()} ({task.get_coro()!r})\n")
        task.print_stack(file=out)
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = sys._current_frames()
    out.write(f"\n=== {len(frames)} threads ===\n")
    for ident, frame in frames.items():
        out.write(f"\n--- thread {names.get(ident, '?')} ({ident})\n")
        out.write("".join(traceback.format_stack(frame)))
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"goroutine-stacks-{time.strftime('%Y-%m-%dT%H%M%S%z')}.log")
    with open(path, "w") as f:
        f.write(out.getvalue())
    return path
