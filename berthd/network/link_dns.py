"""Link aliases in DNS for one container (``--link other:alias`` on a user network).

dockerd's embedded resolver answers a link's alias for the container that has the
link, and for no other. aardvark-dns only knows network-wide names, so a container
with links gets a small resolver of its own in the daemon: a UDP socket on its
network's gateway that answers A queries for its link names and relays every other
query, unchanged, to aardvark on the same gateway (port 53). The container's
127.0.0.11 is redirected to it instead of to aardvark (``embedded_dns``); TCP queries
still go to aardvark. The port is recorded, so a daemon restarted under a running
container listens there again.

A link maps its alias to the *target's name*, not to an address: the address is looked
up (``Address``) at each query, as libnetwork's resolver does, so a target that starts,
restarts or joins after the linking container is found, and one that is not running is
not (the query goes on to aardvark, which answers NXDOMAIN).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

from berthd.errdefs import System

__all__ = ["Address", "LinkResolver", "LinkResolvers", "answer", "query_name"]

log = logging.getLogger("berthd.network")

_TYPE_A = 1
_TYPE_AAAA = 28
_CLASS_IN = 1
_TTL = 600  # dockerd's embedded DNS TTL
_RELAY_TIMEOUT = 5.0

# a link target's name → its IPv4 address now, or None (not running, not on the network)
Address = Callable[[str], Awaitable[str | None]]


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


def query_name(query: bytes) -> str | None:
    """The name a query asks about (lower case, no final dot), or None if not a query."""
    q = _question(query)
    return q[0] if q is not None else None


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


def _normal(links: Mapping[str, str]) -> dict[str, str]:
    return {k.lower().rstrip("."): v for k, v in links.items()}


class LinkResolver(asyncio.DatagramProtocol):
    """``links``: alias → target name; ``address`` finds the target's address."""

    def __init__(self, gateway: str, links: Mapping[str, str], address: Address) -> None:
        self.gateway = gateway
        self.links = _normal(links)
        self.address = address
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

    def set_links(self, links: Mapping[str, str]) -> None:
        self.links = _normal(links)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.create_task(self._serve(data, (addr[0], addr[1])))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, data: bytes, client: tuple[str, int]) -> None:
        name = query_name(data)
        target = self.links.get(name) if name is not None else None
        if name is not None and target is not None:
            try:
                ip = await self.address(target)
            except Exception as e:  # a failed lookup is a name not found, never a crash
                log.warning("link DNS: looking up %s: %s", target, e)
                ip = None
            if ip:
                reply = answer(data, {name: ip})
                if reply is not None and self.transport is not None:
                    self.transport.sendto(reply, client)
                return
        await self._relay(data, client)

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

    async def start(
        self,
        cid: str,
        gateway: str,
        links: Mapping[str, str],
        address: Address,
        port: int = 0,
    ) -> int:
        self.stop(cid)
        r = LinkResolver(gateway, links, address)
        got = await r.start(port)
        self._by_container[cid] = r
        return got

    def get(self, cid: str) -> LinkResolver | None:
        return self._by_container.get(cid)

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
