from __future__ import annotations

import asyncio
import socket
import struct

from berthd.network.link_dns import LinkResolver, answer
from berthd.network.userland_proxy import ProxyBinding, UserlandProxies


def _query(name: str, qtype: int, qid: int = 0x1234) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


def test_link_answers() -> None:
    names = {"db": "172.31.9.5"}
    reply = answer(_query("DB", 1), names)
    assert reply is not None
    qid, flags, qd, an = struct.unpack("!HHHH", reply[:8])
    assert (qid, flags & 0x8000, flags & 0x000F, qd, an) == (0x1234, 0x8000, 0, 1, 1)
    assert reply.endswith(socket.inet_aton("172.31.9.5"))
    aaaa = answer(_query("db", 28), names)
    assert aaaa is not None and struct.unpack("!H", aaaa[6:8])[0] == 0  # exists, no AAAA
    assert answer(_query("other", 1), names) is None  # relayed to aardvark


def test_link_resolver_looks_the_target_up_at_each_query() -> None:
    """An alias names its target; the target's address is asked for at each query."""
    where = {"up": "172.31.9.5"}

    async def address(target: str) -> str | None:
        return where.get(target)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        r = LinkResolver("127.0.0.1", {"Bar": "up"}, address)
        port = await r.start()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                replies.put_nowait(data)

        t, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
        try:
            t.sendto(_query("bar", 1))
            assert (await asyncio.wait_for(replies.get(), 5)).endswith(
                socket.inet_aton("172.31.9.5")
            )
            where["up"] = "172.31.9.7"  # the target restarted elsewhere
            t.sendto(_query("bar", 1))
            assert (await asyncio.wait_for(replies.get(), 5)).endswith(
                socket.inet_aton("172.31.9.7")
            )
            r.set_links({"baz": "up"})
            t.sendto(_query("baz", 1))
            assert (await asyncio.wait_for(replies.get(), 5)).endswith(
                socket.inet_aton("172.31.9.7")
            )
        finally:
            t.close()
            r.stop()
            await r.wait_stopped()

    asyncio.run(main())


def test_udp_and_tcp_proxies_on_ipv6_loopback() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, t: asyncio.BaseTransport) -> None:
                self.t = t

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.t.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]

        udp, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        uport = udp.get_extra_info("sockname")[1]

        async def tcp_echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"tcp:" + await r.read(100))
            await w.drain()
            w.close()

        srv = await asyncio.start_server(tcp_echo, "127.0.0.1", 0)
        tport = srv.sockets[0].getsockname()[1]
        proxies = UserlandProxies()
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            free = s.getsockname()[1]
        await proxies.start(
            "c1",
            [
                ProxyBinding("::1", free, "127.0.0.1", uport, "udp"),
                ProxyBinding("::1", free, "127.0.0.1", tport, "tcp"),
            ],
        )
        try:
            got: asyncio.Future[bytes] = loop.create_future()

            class Client(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    got.set_result(data)

            cl, _ = await loop.create_datagram_endpoint(Client, remote_addr=("::1", free))
            cl.sendto(b"hi")
            assert await asyncio.wait_for(got, 5) == b"echo:hi"
            cl.close()
            r, w = await asyncio.open_connection("::1", free)
            w.write(b"yo")
            await w.drain()
            assert await asyncio.wait_for(r.read(100), 5) == b"tcp:yo"
            w.close()
        finally:
            await proxies.stop_all()
            udp.close()
            srv.close()

    asyncio.run(main())
