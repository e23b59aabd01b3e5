"""Exit watching through a pidfd, exit/oom files, and conmon identification."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from berthd.runtime.monitor import UNKNOWN_EXIT, ExitWatcher, find_conmon, read_exit_status


def test_read_exit_status(tmp_path: Path) -> None:
    (tmp_path / "exit").write_text("137")
    st = read_exit_status(tmp_path / "exit", tmp_path / "oom")
    assert st.exit_code == 137 and not st.oom_killed
    (tmp_path / "oom").touch()
    assert read_exit_status(tmp_path / "exit", tmp_path / "oom").oom_killed
    assert read_exit_status(tmp_path / "nope", None).exit_code == UNKNOWN_EXIT


async def test_watcher_fires_when_process_exits(tmp_path: Path) -> None:
    # a child of ours works as well as conmon: pidfds do not care who the parent is
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(0.3)"
    )
    exit_file = tmp_path / "exit"
    watcher = ExitWatcher(proc.pid, exit_file, tmp_path / "oom")
    assert not watcher.exited
    waiter = asyncio.create_task(watcher.wait())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    exit_file.write_text("42")
    status = await asyncio.wait_for(waiter, 5)
    await proc.wait()
    assert status.exit_code == 42 and watcher.exited
    assert (await watcher.wait()) is status  # every waiter gets the same result


async def test_watcher_for_gone_process(tmp_path: Path) -> None:
    (tmp_path / "exit").write_text("0")
    watcher = ExitWatcher(None, tmp_path / "exit", None)
    assert (await watcher.wait()).exit_code == 0


async def test_close_does_not_block(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec("sleep", "5")
    try:
        watcher = ExitWatcher(proc.pid, tmp_path / "exit", None)
        watcher.close()
        assert not watcher.exited
    finally:
        proc.kill()
        await proc.wait()


def test_find_conmon_rejects_other_processes(tmp_path: Path) -> None:
    pidfile = tmp_path / "conmon.pid"
    pidfile.write_text(str(os.getpid()))
    assert find_conmon(pidfile, "cid") is None  # python is not conmon
    pidfile.write_text("garbage")
    assert find_conmon(pidfile, "cid") is None
    assert find_conmon(tmp_path / "missing", "cid") is None
