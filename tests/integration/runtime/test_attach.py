"""Attach sessions over conmon's socket: stdin, EOF, several clients, tty, resize."""

from __future__ import annotations

import asyncio
import signal

import pytest

from berthd import errdefs
from tests.integration.runtime.conftest import Env, collect, poke_until

pytestmark = pytest.mark.integration


async def test_attach_stdin_eof_ends_container(env: Env) -> None:
    cid = await env.create(["cat"], stdin=True, stdin_once=True)
    session = await env.sup.attach(cid)
    await env.sup.start(cid)
    await session.send(b"x\n")
    session.close_stdin()
    out = await asyncio.wait_for(collect(session), 10)
    session.close()
    assert out[1] == b"x\n"
    assert (await asyncio.wait_for(env.sup.wait(cid), 10)).exit_code == 0


async def test_large_stdin_is_chunked(env: Env) -> None:
    cid = await env.create(["wc", "-c"], stdin=True, stdin_once=True)
    async with await env.sup.attach(cid) as session:
        await env.sup.start(cid)
        await session.send(b"a" * 300_000)
        session.close_stdin()
        out = await asyncio.wait_for(collect(session), 10)
    assert out[1].strip() == b"300000"


async def test_two_sessions_see_the_same_output(env: Env) -> None:
    script = "read l; echo out-$l; echo err-$l >&2; sleep 1000"
    cid = await env.create(["sh", "-c", script], stdin=True, stdin_once=False)
    a = await env.sup.attach(cid)
    b = await env.sup.attach(cid)
    await env.sup.start(cid)
    await a.send(b"one\n")
    out_a = await asyncio.wait_for(collect(a, until=b"err-one"), 10)
    out_b = await asyncio.wait_for(collect(b, until=b"err-one"), 10)
    for out in (out_a, out_b):
        assert out[1] == b"out-one\n"
        assert out[2] == b"err-one\n"
    # --leave-stdin-open: a client that half-closes does not close the container's stdin
    a.close_stdin()
    a.close()
    b.close()
    await env.sup.signal(cid, signal.SIGKILL)
    assert (await asyncio.wait_for(env.sup.wait(cid), 10)).exit_code == 137


async def test_tty_and_resize(env: Env) -> None:
    cid = await env.create(
        ["sh", "-c", "while read l; do stty size; done; exit 6"], terminal=True, stdin=True
    )
    env.sup.resize(cid, 40, 132)  # before start: applied when conmon gets the pty
    session = await env.sup.attach(cid)
    await env.sup.start(cid)
    assert b"40 132\r\n" in await poke_until(session, b"40 132")
    env.sup.resize(cid, 50, 120)
    assert b"50 120\r\n" in await poke_until(session, b"50 120")
    await session.send(b"\x04")  # ^D: EOF for the shell's read
    assert (await asyncio.wait_for(env.sup.wait(cid), 10)).exit_code == 6
    session.close()
    with pytest.raises(errdefs.Conflict):
        env.sup.resize(cid, 10, 10)


async def test_resize_without_tty_conflicts(env: Env) -> None:
    cid = await env.create(["true"])
    with pytest.raises(errdefs.Conflict, match="does not have a terminal"):
        env.sup.resize(cid, 10, 10)


async def test_attach_after_exit_conflicts(env: Env) -> None:
    cid = await env.run(["true"])
    await asyncio.wait_for(env.sup.wait(cid), 10)
    with pytest.raises(errdefs.Conflict, match="is not running"):
        await env.sup.attach(cid)


async def test_attach_socket_path_longer_than_sun_path(env: Env) -> None:
    deep = "d" * 60 + "/" + "e" * 60
    cid = f"c{'f' * 20}"
    env.ids.append(cid)
    bundle = env.bundle(f"{deep}/{cid}", ["cat"])
    assert len(str(bundle / "attach")) > 108
    from berthd.runtime.conmon import CreateOptions

    opts = CreateOptions(bundle=bundle, persist_dir=bundle, stdin=True, stdin_once=True)
    await env.sup.create(cid, opts)
    async with await env.sup.attach(cid) as session:
        await env.sup.start(cid)
        await session.send(b"long\n")
        session.close_stdin()
        out = await asyncio.wait_for(collect(session), 10)
    assert out[1] == b"long\n"
    await env.sup.delete(cid)
