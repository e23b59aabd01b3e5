"""Daemon restart: a brand-new Supervisor finds running and exited containers."""

from __future__ import annotations

import asyncio
import gc
import signal

import pytest

from berthd import errdefs
from tests.integration.runtime.conftest import Env, collect

pytestmark = pytest.mark.integration


async def test_restore_running_container_then_attach_and_stop(env: Env) -> None:
    cid = await env.run(
        ["sh", "-c", "while read l; do echo got:$l; done"], stdin=True, stdin_once=False
    )
    pid = (await env.sup.state(cid))["pid"]
    await env.sup.close()
    gc.collect()

    sup = env.new_supervisor()
    assert cid in sup.known()
    restored = await sup.restore(cid)
    assert restored.running and restored.exit_status is None
    assert restored.pid == pid
    assert not sup.exited(cid)
    async with await sup.attach(cid) as session:
        await session.send(b"hello\n")
        out = await asyncio.wait_for(collect(session, until=b"got:hello\n"), 10)
    assert out[1] == b"got:hello\n"
    await sup.signal(cid, signal.SIGKILL)
    status = await asyncio.wait_for(sup.wait(cid), 10)
    assert status.exit_code == 137
    await sup.delete(cid)
    assert cid not in sup.known()


async def test_restore_container_that_exited_while_away(env: Env) -> None:
    cid = await env.run(["sh", "-c", "sleep 0.3; exit 7"])
    await env.sup.close()
    await asyncio.sleep(1.0)

    sup = env.new_supervisor()
    restored = await sup.restore(cid)
    assert not restored.running
    assert restored.exit_status is not None and restored.exit_status.exit_code == 7
    assert sup.exited(cid)
    await sup.delete(cid)


async def test_restore_unknown_container(env: Env) -> None:
    with pytest.raises(errdefs.NotFound):
        await env.sup.restore("nosuch")
