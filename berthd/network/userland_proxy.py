"""Published ports on IPv6 host addresses, forwarded by berthd itself (dockerd's
userland proxy, docker-proxy).

netavark's IPv6 DNAT cannot serve ``[::1]`` (IPv6 has no ``route_localnet``: a
packet from ::1 never leaves the loopback device), and dockerd also answers on
``[::]`` for a container without IPv6 by proxying to its IPv4 address. So every
binding on an IPv6 host address (``-p [::1]:P:80``, and the ``[::]`` half of a
default ``-p P:80``) is a listening socket in the daemon (IPv6-only, so the IPv4
half stays netavark's DNAT) that copies each connection (TCP) or datagram flow
(UDP) to the container's address. They are per container: started after
netavark's setup, stopped at teardown, started again for running containers when
the daemon starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from typing import cast

from berthd.errdefs import System

__all__ = ["ProxyBinding", "UserlandProxies", "ipv6_listenable"]

log = logging.getLogger("berthd.network")

_UDP_IDLE = 30.0  # seconds a UDP flow is kept without traffic (docker-proxy's timeout)


@dataclass(frozen=True)
class ProxyBinding:
    host_ip: str  # an IPv6 address ("::" for all)
    host_port: int
    target_ip: str  # the container's address
    target_port: int
    protocol: str  # tcp | udp


def ipv6_listenable() -> bool:
    """dockerd's IsV6Listenable: the kernel has IPv6 (not booted with ipv6.disable=1)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _listen_socket(b: ProxyBinding) -> socket.socket:
    kind = socket.SOCK_DGRAM if b.protocol == "udp" else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET6, kind)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((b.host_ip, b.host_port))
        if kind == socket.SOCK_STREAM:
            s.listen(128)
        s.setblocking(False)
    except OSError as e:
        s.close()
        family = "udp6" if b.protocol == "udp" else "tcp6"
        raise System(
            f"Error starting userland proxy: listen {family} [{b.host_ip}]:{b.host_port}: "
            f"bind: {e.strerror.lower() if e.strerror else e}"
        ) from None
    return s


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class _TCPProxy:
    def __init__(self, b: ProxyBinding) -> None:
        self.b = b
        self.server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        sock = _listen_socket(self.b)
        self.server = await asyncio.start_server(self._client, sock=sock)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            try:
                up_r, up_w = await asyncio.open_connection(self.b.target_ip, self.b.target_port)
            except OSError:
                return
            try:
                await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
            finally:
                up_w.close()
        finally:
            writer.close()
            if task is not None:
                self._conns.discard(task)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for t in list(self._conns):
            t.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns))


class _UDPFlow(asyncio.DatagramProtocol):
    def __init__(self, proxy: _UDPProxy, client: tuple[str, int]) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.last = asyncio.get_running_loop().time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = asyncio.get_running_loop().time()
        if self.proxy.transport is not None:
            self.proxy.transport.sendto(data, self.client)


class _UDPProxy(asyncio.DatagramProtocol):
    def __init__(self, b: ProxyBinding) -> None:
        self.b = b
        self.transport: asyncio.DatagramTransport | None = None
        self._flows: dict[tuple[str, int], _UDPFlow] = {}
        self._opening: dict[tuple[str, int], list[bytes]] = {}  # datagrams waiting
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = _listen_socket(self.b)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self._reaper = asyncio.create_task(self._reap())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        client = (addr[0], addr[1])
        flow = self._flows.get(client)
        if flow is not None and flow.transport is not None:
            flow.last = asyncio.get_running_loop().time()
            flow.transport.sendto(data)
            return
        if client in self._opening:
            self._opening[client].append(data)
            return
        self._opening[client] = [data]
        task = asyncio.create_task(self._open(client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, flow = await loop.create_datagram_endpoint(
                lambda: _UDPFlow(self, client), remote_addr=(self.b.target_ip, self.b.target_port)
            )
        except OSError:
            self._opening.pop(client, None)
            return
        self._flows[client] = flow
        for data in self._opening.pop(client, []):
            if flow.transport is not None:
                flow.transport.sendto(data)

    async def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_UDP_IDLE / 3)
            now = loop.time()
            for client, flow in list(self._flows.items()):
                if now - flow.last > _UDP_IDLE:
                    self._drop(client)

    def _drop(self, client: tuple[str, int]) -> None:
        flow = self._flows.pop(client, None)
        if flow is not None and flow.transport is not None:
            flow.transport.close()

    async def stop(self) -> None:
        owned = [*self._tasks, *([self._reaper] if self._reaper is not None else [])]
        for task in owned:
            task.cancel()
        for client in list(self._flows):
            self._drop(client)
        if self.transport is not None:
            self.transport.close()
        if owned:
            await asyncio.wait(owned)


class UserlandProxies:
    """Every container's IPv6 port proxies, by container ID."""

    def __init__(self) -> None:
        self._by_container: dict[str, list[_TCPProxy | _UDPProxy]] = {}

    async def start(self, cid: str, bindings: list[ProxyBinding]) -> None:
        """Start them all or none (the first failure stops those started)."""
        await self.stop(cid)
        started: list[_TCPProxy | _UDPProxy] = []
        try:
            for b in bindings:
                p: _TCPProxy | _UDPProxy = _UDPProxy(b) if b.protocol == "udp" else _TCPProxy(b)
                await p.start()
                started.append(p)
        except BaseException:
            for p in started:
                await p.stop()
            raise
        if started:
            self._by_container[cid] = started

    async def stop(self, cid: str) -> None:
        for p in self._by_container.pop(cid, []):
            try:
                await p.stop()
            except Exception:
                log.exception("stopping a port proxy of %s", cid[:12])

    async def stop_all(self) -> None:
        for cid in list(self._by_container):
            await self.stop(cid)
