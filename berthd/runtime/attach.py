"""Talking to conmon's attach socket and its control FIFO.

The attach socket is ``SOCK_SEQPACKET``. Every message from conmon is one byte of
pipe id (2 = stdout, 3 = stderr) followed by up to 8 KiB of data; we hand out
Docker's stream numbers (1, 2) instead. Every message *to* conmon is raw stdin and
must be at most 32 KiB, or conmon silently truncates it. ``shutdown(SHUT_WR)``
closes the container's stdin (unless conmon runs with ``--leave-stdin-open``).
Any number of clients may be attached at once; output produced while nobody is
attached is not replayed (that is what the log file is for).

The socket path can exceed ``sun_path`` (108 bytes), so — like conmon when it
binds — we connect through ``/proc/self/fd/<O_PATH fd of the directory>``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from pathlib import Path
from types import TracebackType

from berthd import errdefs

__all__ = ["STDIN_CHUNK", "AttachSession", "connect", "ctl_message", "resize"]

STDIN_CHUNK = 32768
_RECV_SIZE = 8192 + 1
_STREAMS = {2: 1, 3: 2}


def _connect_blocking(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    dirfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/{path.name}")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dirfd)
    sock.setblocking(False)
    return sock


async def connect(path: Path, container_id: str) -> AttachSession:
    """Open an attach session on conmon's socket at ``path``.

    A missing or refusing socket means conmon has gone, i.e. the container stopped.
    """
    try:
        sock = _connect_blocking(path)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        raise errdefs.Conflict(f"container {container_id} is not running") from e
    except OSError as e:
        raise errdefs.System(f"attach to {container_id}: {e.strerror}") from e
    return AttachSession(sock)


class AttachSession:
    """One attach client: read (stream, data) messages, write stdin, close stdin."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._write_lock = asyncio.Lock()

    async def recv(self) -> tuple[int, bytes] | None:
        """Next chunk of output as (1 = stdout | 2 = stderr, data); None at the end."""
        while True:
            try:
                msg = await self._loop.sock_recv(self._sock, _RECV_SIZE)
            except (ConnectionResetError, OSError) as e:
                if isinstance(e, OSError) and e.errno not in (errno.ECONNRESET, errno.EBADF):
                    raise
                return None
            if not msg:
                return None
            stream = _STREAMS.get(msg[0])
            if stream is not None and len(msg) > 1:
                return stream, msg[1:]

    async def send(self, data: bytes) -> None:
        """Write stdin, cut into messages conmon accepts whole (≤ 32 KiB)."""
        async with self._write_lock:
            view = memoryview(data)
            for i in range(0, len(view), STDIN_CHUNK):
                await self._loop.sock_sendall(self._sock, view[i : i + STDIN_CHUNK])

    def close_stdin(self) -> None:
        """Half-close: conmon closes the container's stdin (unless told to leave it)."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """Detach. The container keeps running."""
        self._sock.close()

    async def __aenter__(self) -> AttachSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def resize(ctl_path: Path, height: int, width: int, container_id: str) -> None:
    """Resize the container's terminal through conmon's ``ctl`` FIFO (``1 h w``)."""
    if height < 0 or width < 0:
        raise errdefs.InvalidParameter("invalid terminal size")
    ctl_message(ctl_path, f"1 {height} {width}\n", container_id)


def ctl_message(ctl_path: Path, message: str, container_id: str) -> None:
    """Write one message to conmon's ``ctl`` FIFO (``1 h w``: resize; ``2 0 0``:
    reopen the log file).

    Opened non-blocking: conmon keeps the FIFO open for reading while it lives, so
    ENXIO/ENOENT mean it is gone.
    """
    try:
        fd = os.open(ctl_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENXIO, errno.ENOENT):
            raise errdefs.Conflict(f"container {container_id} is not running") from e
        raise errdefs.System(f"conmon ctl of {container_id}: {e.strerror}") from e
    try:
        os.write(fd, message.encode())
    finally:
        os.close(fd)
