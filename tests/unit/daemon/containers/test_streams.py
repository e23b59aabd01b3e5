from __future__ import annotations

import asyncio

import pytest

from berthd.daemon.containers.inspect_ops import parse_ps
from berthd.daemon.containers.streams import parse_detach_keys, pump
from berthd.errdefs import InvalidParameter


def test_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-[") == b"a\x1b"
    with pytest.raises(InvalidParameter, match="Invalid detach keys"):
        parse_detach_keys("ctrl-pp")


class FakeConn:
    def __init__(self, chunks: list[bytes]) -> None:
        self.incoming = list(chunks)
        self.out = bytearray()
        self._closed = False

    async def read(self) -> bytes:
        await asyncio.sleep(0)
        return self.incoming.pop(0) if self.incoming else b""

    async def write(self, data: bytes) -> None:
        self.out += data

    @property
    def closed(self) -> bool:
        return self._closed


class FakeSession:
    def __init__(self, output: list[tuple[int, bytes]]) -> None:
        self.output = list(output)
        self.stdin = bytearray()
        self.stdin_closed = False
        self.done = asyncio.Event()

    async def recv(self) -> tuple[int, bytes] | None:
        if self.output:
            return self.output.pop(0)
        await self.done.wait()
        return None

    async def send(self, data: bytes) -> None:
        self.stdin += data

    def close_stdin(self) -> None:
        self.stdin_closed = True
        self.done.set()


async def test_pump_frames_output_and_forwards_stdin() -> None:
    conn = FakeConn([b"hello", b" world"])
    sess = FakeSession([(1, b"out"), (2, b"err")])
    detached = await pump(
        conn,
        sess,
        tty=False,
        stdin=True,
        stdout=True,
        stderr=True,  # type: ignore[arg-type]
        detach_keys=None,
    )
    assert not detached
    assert bytes(sess.stdin) == b"hello world"
    assert sess.stdin_closed
    assert (
        bytes(conn.out) == b"\x01\x00\x00\x00\x00\x00\x00\x03out\x02\x00\x00\x00\x00\x00\x00\x03err"
    )


async def test_pump_detach_keys_split_across_reads() -> None:
    conn = FakeConn([b"ab\x10", b"\x11cd"])
    sess = FakeSession([])
    detached = await pump(
        conn,
        sess,
        tty=True,
        stdin=True,
        stdout=True,
        stderr=True,  # type: ignore[arg-type]
        detach_keys=b"\x10\x11",
    )
    assert detached
    assert bytes(sess.stdin) == b"ab"
    assert not sess.stdin_closed


async def test_pump_selects_streams() -> None:
    conn = FakeConn([])
    sess = FakeSession([(1, b"out"), (2, b"err")])
    sess.done.set()
    await pump(
        conn,
        sess,
        tty=True,
        stdin=False,
        stdout=False,
        stderr=True,  # type: ignore[arg-type]
        detach_keys=None,
    )
    assert bytes(conn.out) == b"err"


def test_parse_ps() -> None:
    out = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 10:00 ? 00:00:00 sleep 100\nroot 11 1 0 10:00 ? 00:00:00 other thing\n"
    doc = parse_ps(out, {10})
    assert doc["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert doc["Processes"] == [["root", "10", "1", "0", "10:00", "?", "00:00:00", "sleep 100"]]
