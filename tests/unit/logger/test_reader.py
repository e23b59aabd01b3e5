"""read_logs: dockerd's since/until/tail/stream semantics, partial lines, follow, rotation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.logger import LogMessage, format_k8s_line, parse_tail, read_logs
from berthd.logger.watch import FileWatcher

from .conftest import T0, full, lines

S = 1_000_000_000


async def collect(path: Path, **kw: object) -> list[LogMessage]:
    async with contextlib.aclosing(read_logs(str(path), **kw)) as it:  # type: ignore[arg-type]
        return [m async for m in it]


def texts(msgs: list[LogMessage]) -> list[bytes]:
    return [m.line for m in msgs]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    p = tmp_path / "ctr.log"
    p.write_bytes(
        lines(
            (0, "stdout", b"one", False),
            (1, "stderr", b"two", False),
            (2, "stdout", b"thr", True),
            (3, "stdout", b"ee", False),
            (4, "stderr", b"four", False),
        )
        + b"junk line\n"
        + lines((5, "stdout", b"five", False))
    )
    return p


async def test_all_with_joined_partials_and_skipped_junk(log: Path) -> None:
    msgs = await collect(log)
    assert texts(msgs) == [b"one\n", b"two\n", b"three\n", b"four\n", b"five\n"]
    assert msgs[2] == LogMessage("stdout", b"three\n", T0 + 2 * S)
    assert [m.stream for m in msgs] == ["stdout", "stderr", "stdout", "stderr", "stdout"]


async def test_stream_selection(log: Path) -> None:
    assert texts(await collect(log, stderr=False)) == [b"one\n", b"three\n", b"five\n"]
    assert texts(await collect(log, stdout=False)) == [b"two\n", b"four\n"]
    with pytest.raises(errdefs.InvalidParameter):
        await collect(log, stdout=False, stderr=False)


async def test_since_until(log: Path) -> None:
    assert texts(await collect(log, since_ns=T0 + 2 * S)) == [b"three\n", b"four\n", b"five\n"]
    assert texts(await collect(log, until_ns=T0 + 2 * S)) == [b"one\n", b"two\n", b"three\n"]
    assert texts(await collect(log, since_ns=T0 + S, until_ns=T0 + S)) == [b"two\n"]


async def test_tail_before_filters(log: Path) -> None:
    assert texts(await collect(log, tail=2)) == [b"four\n", b"five\n"]
    assert texts(await collect(log, tail=3)) == [b"three\n", b"four\n", b"five\n"]
    assert await collect(log, tail=0) == []
    # dockerd applies tail to all lines, then the stream selection.
    assert texts(await collect(log, tail=2, stdout=False)) == [b"four\n"]
    assert texts(await collect(log, tail=3, since_ns=T0 + 4 * S)) == [b"four\n", b"five\n"]


def test_parse_tail() -> None:
    assert parse_tail("10") == 10
    assert parse_tail("0") == 0
    for text in (None, "all", "", "-1", "x1"):
        assert parse_tail(text) is None


async def test_trailing_partial_shown_only_when_ended(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(lines(*full(2), (5, "stdout", b"no newline", True)))
    ended = asyncio.Event()
    ended.set()
    # A stopped container: the unterminated last line is shown as-is (dockerd: no "\n").
    assert texts(await collect(p, stopped=ended)) == [b"line0\n", b"line1\n", b"no newline"]
    assert texts(await collect(p, tail=1)) == [b"no newline"]
    # Still running: the line is unfinished, nothing of it yet.
    assert texts(await collect(p, stopped=asyncio.Event())) == [b"line0\n", b"line1\n"]
    assert texts(await collect(p, stopped=asyncio.Event(), tail=1)) == [b"line1\n"]


async def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert await collect(tmp_path / "nope.log") == []


async def test_tail_of_huge_file_reads_only_the_end(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(lines(*full(3)))
    os.truncate(p, 1 << 30)  # 1 GiB, sparse: reading it all would take seconds
    _append(p, b"\n" + lines(*full(20, start=100)))
    t = time.monotonic()
    msgs = await collect(p, tail=3)
    assert texts(msgs) == [b"line117\n", b"line118\n", b"line119\n"]
    assert time.monotonic() - t < 0.5


async def test_big_log_does_not_block_the_loop(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    one = format_k8s_line(T0, "stdout", b"x" * 100)
    p.write_bytes(one * 20_000)  # ~2.7 MB
    gaps: list[float] = []
    done = False

    async def heartbeat() -> None:
        last = time.monotonic()
        while not done:
            await asyncio.sleep(0)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    hb = asyncio.create_task(heartbeat())
    n = 0
    async with contextlib.aclosing(read_logs(str(p))) as it:
        async for _ in it:
            n += 1
    done = True
    await hb
    assert n == 20_000
    # the loop got control between steps and inside big batches, many times over (a count,
    # not a duration: timings on a shared machine say nothing)
    assert len(gaps) >= 50


def _append(p: Path, data: bytes) -> None:
    with open(p, "ab") as f:
        f.write(data)


async def _follow(
    p: Path, stopped: asyncio.Event | asyncio.Future[None], out: list[bytes], **kw: object
) -> None:
    async with contextlib.aclosing(
        read_logs(str(p), follow=True, stopped=stopped, **kw)  # type: ignore[arg-type]
    ) as it:
        async for m in it:
            out.append(m.line)


async def _until(cond: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_follow_appends_then_stop(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(lines(*full(2)))
    stopped = asyncio.Event()
    out: list[bytes] = []
    task = asyncio.create_task(_follow(p, stopped, out, tail=1))
    await _until(lambda: out == [b"line1\n"])
    _append(p, lines((10, "stdout", b"hel", True)))
    await asyncio.sleep(0.05)
    assert out == [b"line1\n"]  # a piece alone is not a line yet
    _append(p, lines((11, "stdout", b"lo", False), (12, "stderr", b"bye", True)))
    await _until(lambda: len(out) == 2)
    assert out[1] == b"hello\n"
    stopped.set()
    await asyncio.wait_for(task, 2)
    assert out == [b"line1\n", b"hello\n", b"bye"]  # drained, pending piece emitted


async def test_follow_stopped_container_is_a_plain_read(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(lines(*full(2)))
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    out: list[bytes] = []
    await asyncio.wait_for(_follow(p, fut, out), 1)
    assert out == [b"line0\n", b"line1\n"]


async def test_follow_tail0_with_future_signal(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(lines(*full(3), (5, "stdout", b"pend", True)))
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    out: list[bytes] = []
    task = asyncio.create_task(_follow(p, fut, out, tail=0))
    await asyncio.sleep(0.05)
    assert out == []
    _append(p, lines((6, "stdout", b"ing", False)))
    await _until(lambda: out == [b"pending\n"])  # joined with the piece written before
    fut.set_result(None)
    await asyncio.wait_for(task, 2)


async def test_follow_survives_truncation(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(lines(*full(50)))
    stopped = asyncio.Event()
    out: list[bytes] = []
    task = asyncio.create_task(_follow(p, stopped, out, tail=0))
    await asyncio.sleep(0.05)
    os.truncate(p, 0)
    _append(p, lines((100, "stdout", b"after truncate", False)))
    await _until(lambda: out == [b"after truncate\n"])
    stopped.set()
    await asyncio.wait_for(task, 2)


async def test_follow_survives_conmon_replacement(tmp_path: Path) -> None:
    """conmon --log-size-max: fsync+close old, open <log>.tmp with O_TRUNC, rename over <log>."""
    p = tmp_path / "ctr.log"
    p.write_bytes(lines(*full(2)))
    stopped = asyncio.Event()
    out: list[bytes] = []
    task = asyncio.create_task(_follow(p, stopped, out, tail=0))
    await asyncio.sleep(0.05)
    _append(p, lines((10, "stdout", b"last in old file, sp", True)))
    tmp = tmp_path / "ctr.log.tmp"
    tmp.write_bytes(lines((11, "stdout", b"lit", False), (12, "stdout", b"new file", False)))
    os.rename(tmp, p)
    await _until(lambda: len(out) == 2)
    assert out == [b"last in old file, split\n", b"new file\n"]
    _append(p, lines((13, "stderr", b"more", False)))
    await _until(lambda: len(out) == 3)
    stopped.set()
    await asyncio.wait_for(task, 2)


async def test_follow_waits_for_file_and_until_ends(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    out: list[bytes] = []
    now = time.time_ns()
    task = asyncio.create_task(_follow(p, asyncio.Event(), out, until_ns=now + 300_000_000))
    await asyncio.sleep(0.05)
    p.write_bytes(
        format_k8s_line(now, "stdout", b"in time")
        + format_k8s_line(now + 10 * S, "stdout", b"late")
    )
    await asyncio.wait_for(task, 2)  # ended by the first line after until
    assert out == [b"in time\n"]
    out.clear()
    p.write_bytes(format_k8s_line(now, "stdout", b"x"))
    await asyncio.wait_for(_follow(p, asyncio.Event(), out, until_ns=now + 200_000_000), 2)
    assert out == [b"x\n"]  # ended by the clock passing until


async def test_polling_watcher(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(b"")
    w = FileWatcher(str(p), poll_interval=0.01, use_inotify=False)
    try:
        assert not w.uses_inotify
        t = time.monotonic()
        await w.wait(0.05)
        assert time.monotonic() - t >= 0.04  # nothing changed: waits the timeout
        _append(p, b"x\n")
        t = time.monotonic()
        await w.wait(1.0)
        assert time.monotonic() - t < 0.5
    finally:
        w.close()


async def test_inotify_watcher_filters_other_files(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    p.write_bytes(b"")
    w = FileWatcher(str(p))
    try:
        assert w.uses_inotify
        (tmp_path / "config.v2.json").write_bytes(b"{}")
        t = time.monotonic()
        await w.wait(0.1)
        assert time.monotonic() - t >= 0.09
        _append(p, b"x\n")
        t = time.monotonic()
        await w.wait(1.0)
        assert time.monotonic() - t < 0.5
    finally:
        w.close()
