"""Exec sessions through ``conmon -e``: stdio, exit code, tty, detach, errors."""

from __future__ import annotations

import asyncio
import signal

import pytest

from berthd import errdefs
from berthd.runtime.errors import RuntimeStartError
from tests.integration.runtime.bundle import process_spec
from tests.integration.runtime.conftest import Env, collect, poke_until, read_text

pytestmark = pytest.mark.integration


async def test_exec_stdio_and_exit_code(env: Env) -> None:
    cid = await env.run(["sleep", "1000"])
    proc = process_spec(["sh", "-c", "cat; echo to-err >&2; hostname; exit 4"])
    ex = await env.sup.exec(cid, "e1", proc, stdin=True)
    assert ex.pid > 0 and ex.attach is not None
    await ex.attach.send(b"line-a\nline-b\n")
    ex.attach.close_stdin()
    out = await asyncio.wait_for(collect(ex.attach), 10)
    assert out[1] == b"line-a\nline-b\nberthd-test\n"
    assert out[2] == b"to-err\n"
    assert await asyncio.wait_for(ex.wait(), 10) == 4
    assert not ex.running
    await ex.close()
    assert not (env.root / "run" / "exec" / "e1").exists()
    await env.sup.signal(cid, signal.SIGKILL)


async def test_exec_tty_resize(env: Env) -> None:
    cid = await env.run(["sleep", "1000"])
    proc = process_spec(["sh", "-c", "while read l; do stty size; done; exit 5"], terminal=True)
    ex = await env.sup.exec(cid, "e2", proc, stdin=True)
    assert ex.attach is not None
    ex.resize(33, 99)
    assert b"33 99\r\n" in await poke_until(ex.attach, b"33 99")
    ex.resize(20, 70)
    assert b"20 70\r\n" in await poke_until(ex.attach, b"20 70")
    await ex.attach.send(b"\x04")  # ^D on the tty: read gets EOF
    assert await asyncio.wait_for(ex.wait(), 10) == 5
    await ex.close()
    await env.sup.delete(cid)


async def test_exec_detached(env: Env) -> None:
    cid = await env.run(["sleep", "1000"])
    ex = await env.sup.exec(
        cid, "e3", process_spec(["sh", "-c", "echo hi > /tmp/mark"]), detach=True
    )
    assert ex.attach is None
    assert await asyncio.wait_for(ex.wait(), 10) == 0
    await ex.close()
    rootfs_mark = env.rootfs / "tmp" / "mark"
    assert read_text(rootfs_mark) == "hi\n"
    rootfs_mark.unlink()
    await env.sup.delete(cid)


async def test_exec_missing_executable(env: Env) -> None:
    cid = await env.run(["sleep", "1000"])
    with pytest.raises(RuntimeStartError) as ei:
        await env.sup.exec(cid, "e4", process_spec(["nosuchcmd"]))
    assert ei.value.exit_code == 127
    assert "nosuchcmd" in str(ei.value)
    assert not (env.root / "run" / "exec" / "e4").exists()
    await env.sup.delete(cid)


async def test_exec_in_stopped_container(env: Env) -> None:
    cid = await env.run(["true"])
    await asyncio.wait_for(env.sup.wait(cid), 10)
    with pytest.raises(errdefs.Conflict, match=f"container {cid} is not running"):
        await env.sup.exec(cid, "e5", process_spec(["true"]))
