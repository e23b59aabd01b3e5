"""Attach protocol against a fake conmon: stream ids, 32 KiB stdin messages, EOF."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.runtime.attach import STDIN_CHUNK, connect, resize


def _server(path: Path) -> socket.socket:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(str(path))
    srv.listen(4)
    srv.setblocking(False)
    return srv


async def test_stream_mapping_and_stdin_chunks(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    srv = _server(tmp_path / "attach")
    session = await connect(tmp_path / "attach", "c1")
    conn, _ = await loop.sock_accept(srv)
    await loop.sock_sendall(conn, b"\x02hello")
    await loop.sock_sendall(conn, b"\x03oops")
    await loop.sock_sendall(conn, b"\x01ignored-stdin-echo")
    await loop.sock_sendall(conn, b"\x02")  # empty payload is skipped
    await loop.sock_sendall(conn, b"\x02end")
    assert await session.recv() == (1, b"hello")
    assert await session.recv() == (2, b"oops")
    assert await session.recv() == (1, b"end")

    await session.send(b"x" * (STDIN_CHUNK * 2 + 5))
    sizes = [len(await loop.sock_recv(conn, 1 << 20)) for _ in range(3)]
    assert sizes == [STDIN_CHUNK, STDIN_CHUNK, 5]

    session.close_stdin()
    assert await loop.sock_recv(conn, 100) == b""  # conmon sees EOF on stdin
    conn.close()
    assert await session.recv() is None
    session.close()
    srv.close()


async def test_connect_long_path(tmp_path: Path) -> None:
    d = tmp_path / ("x" * 80) / ("y" * 40)
    d.mkdir(parents=True)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = os.open(d, os.O_PATH)
    srv.bind(f"/proc/self/fd/{fd}/attach")
    os.close(fd)
    srv.listen(1)
    assert len(str(d / "attach")) > 108
    session = await connect(d / "attach", "c1")
    session.close()
    srv.close()


async def test_connect_missing_socket_conflicts(tmp_path: Path) -> None:
    with pytest.raises(errdefs.Conflict, match="container c9 is not running"):
        await connect(tmp_path / "attach", "c9")


def test_resize_writes_ctl_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "ctl"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        resize(fifo, 40, 132, "c1")
        assert os.read(reader, 100) == b"1 40 132\n"
    finally:
        os.close(reader)


def test_resize_without_reader_conflicts(tmp_path: Path) -> None:
    fifo = tmp_path / "ctl"
    os.mkfifo(fifo)
    with pytest.raises(errdefs.Conflict):
        resize(fifo, 1, 1, "c1")
    with pytest.raises(errdefs.Conflict):
        resize(tmp_path / "gone", 1, 1, "c1")
    with pytest.raises(errdefs.InvalidParameter):
        resize(fifo, -1, 1, "c1")
