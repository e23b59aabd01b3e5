"""The connection hijack of attach and exec: ``101 UPGRADED`` then raw bytes.

dockerd answers ``POST /containers/{id}/attach`` and ``/exec/{id}/start`` with
``101 UPGRADED`` and then treats the TCP (or unix, or TLS) connection as a raw
pipe both ways. aiohttp has no such mode, so the handler prepares a 101
response (aiohttp sends the headers at once) and takes the transport over by
installing its own ``asyncio.Protocol``.

Half-close matters: ``echo x | docker exec -i c cat`` sends its stdin and then
closes its write side; the output must still flow back. ``eof_received``
returning True keeps our side open. Under TLS, CPython's SSL protocol shuts
the whole connection down on the peer's close_notify; ``_keep_tls_half_open``
stops that (measured in the spikes; guarded by a test).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

__all__ = ["HijackedConnection", "hijack"]

log = logging.getLogger("berthd.api")

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


class _RawProtocol(asyncio.Protocol):
    def __init__(self, previous: asyncio.BaseProtocol) -> None:
        self._previous = previous
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    def eof_received(self) -> bool:
        self.queue.put_nowait(b"")
        return True  # keep our write side open (half-close)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.queue.put_nowait(None)
        self._can_write.set()
        with contextlib.suppress(Exception):
            self._previous.connection_lost(exc)

    async def writable(self) -> None:
        await self._can_write.wait()


class HijackedConnection:
    """The client's raw connection after the 101."""

    def __init__(self, transport: asyncio.Transport, protocol: _RawProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._eof = False

    @property
    def closed(self) -> bool:
        return self._protocol.lost or self._transport.is_closing()

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it closed its write side or left."""
        if self._eof:
            return b""
        data = await self._protocol.queue.get()
        if not data:
            self._eof = True
            return b""
        return data

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the client went away")
        self._transport.write(data)
        await self._protocol.writable()

    async def wait_closed(self) -> None:
        """Return once the client has disconnected (or closed its write side)."""
        while not self._eof and not self.closed:
            if not await self.read():
                return

    def close(self) -> None:
        restore = getattr(self._transport, "_berthd_restore_shutdown", None)
        if restore is not None:
            restore()
        if not self._transport.is_closing():
            with contextlib.suppress(Exception):
                if self._transport.can_write_eof():
                    self._transport.write_eof()
            self._transport.close()


def _keep_tls_half_open(transport: Any) -> None:
    """Make an asyncio TLS transport survive the peer's close_notify.

    CPython's ``SSLProtocol`` answers close_notify by calling
    ``eof_received`` and then ``_start_shutdown`` unconditionally, which
    drops everything we still had to send. Defer that shutdown until we close.
    """
    ssl_protocol = getattr(transport, "_ssl_protocol", None)
    original = getattr(ssl_protocol, "_start_shutdown", None)
    if ssl_protocol is None or original is None:
        return
    state = {"closing": False}

    def deferred() -> None:
        if state["closing"]:
            original()

    def restore() -> None:
        state["closing"] = True

    ssl_protocol._start_shutdown = deferred
    transport._berthd_restore_shutdown = restore


async def hijack(
    request: web.Request, multiplexed: bool
) -> tuple[web.StreamResponse, HijackedConnection]:
    """Answer 101 and take the connection over.

    The returned response must be returned by the handler (aiohttp writes
    nothing more to the connection: it is closed by then).
    """
    resp = web.StreamResponse(status=101, reason="UPGRADED")
    resp.headers["Content-Type"] = MULTIPLEXED if multiplexed else RAW
    resp.headers["Connection"] = "Upgrade"
    resp.headers["Upgrade"] = "tcp"
    resp.force_close()
    await resp.prepare(request)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away")
    raw = _RawProtocol(request.protocol)
    # bytes the client sent right after its request (stdin) are still in
    # aiohttp's parser buffer: hand them over first
    pending = request.content.read_nowait(-1) if not request.content.at_eof() else b""
    if pending:
        raw.queue.put_nowait(pending)
    if transport.get_extra_info("sslcontext") is not None:
        _keep_tls_half_open(transport)
    transport.set_protocol(raw)
    return resp, HijackedConnection(transport, raw)
