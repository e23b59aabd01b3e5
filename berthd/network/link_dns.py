"""Link aliases in DNS for one container (``--link other:alias`` on a user network).

dockerd's embedded resolver answers a link's alias for the container that has the
link, and for no other. aardvark-dns only knows network-wide names, so a container
with links gets a small resolver of its own in the daemon: a UDP socket on its
network's gateway that answers A queries for its link names and relays every other
query, unchanged, to aardvark on the same gateway (port 53). The container's
127.0.0.11 is redirected to it instead of to aardvark (``embedded_dns``); TCP queries
still go to aardvark. The port is recorded, so a daemon restarted under a running
container listens there again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Mapping
from typing import cast

from berthd.errdefs import System

__all__ = ["LinkResolver", "LinkResolvers", "answer"]

log = logging.getLogger("berthd.network")

_TYPE_A = 1
_TYPE_AAAA = 28
_CLASS_IN = 1
_TTL = 600  # dockerd's embedded DNS TTL
_RELAY_TIMEOUT = 5.0


def _question(msg: bytes) -> tuple[str, int, int] | None:
    """(lower-case name without the final dot, type, end of the question) of a query."""
    if len(msg) < 12:
        return None
    flags, qdcount = struct.unpack("!2xHH", msg[:6])
    if flags & 0x8000 or qdcount != 1:
        return None  # a response, or not one question
    labels: list[str] = []
    i = 12
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1 : i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    if i + 4 > len(msg):
        return None
    qtype, _qclass = struct.unpack("!HH", msg[i : i + 4])
    return ".".join(labels), qtype, i + 4


def answer(query: bytes, names: Mapping[str, str]) -> bytes | None:
    """The reply to ``query`` if it asks about one of ``names`` (name → IPv4), else None.

    A queries get the address; other types of such a name get an empty NOERROR reply
    (the name exists), as dockerd's resolver answers AAAA for an IPv4-only container."""
    q = _question(query)
    if q is None:
        return None
    name, qtype, end = q
    ip = names.get(name)
    if ip is None:
        return None
    (qid, flags) = struct.unpack("!HH", query[:4])
    records = b""
    count = 0
    if qtype == _TYPE_A:
        rdata = ipaddress.IPv4Address(ip).packed
        records = struct.pack("!HHHIH", 0xC00C, _TYPE_A, _CLASS_IN, _TTL, len(rdata)) + rdata
        count = 1
    # QR, opcode and RD from the query, RA set, NOERROR
    out_flags = 0x8000 | (flags & 0x7900) | 0x0080
    header = struct.pack("!HHHHHH", qid, out_flags, 1, count, 0, 0)
    return header + query[12:end] + records


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, server: LinkResolver, client: tuple[str, int]) -> None:
        self.server = server
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.server.transport is not None:
            self.server.transport.sendto(data, self.client)
        if not self.done.done():
            self.done.set_result(None)


class LinkResolver(asyncio.DatagramProtocol):
    def __init__(self, gateway: str, names: Mapping[str, str]) -> None:
        self.gateway = gateway
        self.names = {k.lower().rstrip("."): v for k, v in names.items()}
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((self.gateway, port))
        except OSError as e:
            s.close()
            raise System(f"link DNS on {self.gateway}:{port}: {e.strerror or e}") from None
        s.setblocking(False)
        self.port = int(s.getsockname()[1])
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=s)
        return self.port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = answer(data, self.names)
        if reply is not None:
            if self.transport is not None:
                self.transport.sendto(reply, addr)
            return
        task = asyncio.create_task(self._relay(data, (addr[0], addr[1])))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, data: bytes, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            transport, relay = await loop.create_datagram_endpoint(
                lambda: _Relay(self, client), remote_addr=(self.gateway, 53)
            )
            try:
                transport.sendto(data)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(relay.done, _RELAY_TIMEOUT)
            finally:
                transport.close()

    def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self.transport is not None:
            self.transport.close()

    async def wait_stopped(self) -> None:
        """Wait for the relays ``stop`` cancelled to end."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))


class LinkResolvers:
    """The running containers' link resolvers, by container ID."""

    def __init__(self) -> None:
        self._by_container: dict[str, LinkResolver] = {}
        self._stopping: set[LinkResolver] = set()  # relays cancelled, not yet ended

    async def start(self, cid: str, gateway: str, names: Mapping[str, str], port: int = 0) -> int:
        self.stop(cid)
        r = LinkResolver(gateway, names)
        got = await r.start(port)
        self._by_container[cid] = r
        return got

    def stop(self, cid: str) -> None:
        r = self._by_container.pop(cid, None)
        if r is not None:
            r.stop()
            self._stopping.add(r)

    async def stop_all(self) -> None:
        """Stop every resolver and await the relay tasks of all that were stopped."""
        for cid in list(self._by_container):
            self.stop(cid)
        stopping, self._stopping = self._stopping, set()
        for r in stopping:
            await r.wait_stopped()
