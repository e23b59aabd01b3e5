"""``docker service logs`` / ``docker task logs``: the tasks' container logs, merged.

Every line carries the details the docker CLI needs to print ``web.1.<task>@<node> |``:
``com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=…``
and a space before the line (after the timestamp when timestamps are asked for), as
dockerd's ``WriteLogStream`` writes swarm logs. Streams of several tasks are merged as
their lines come (with ``follow``, until every one ends).

A task on another node is read from that node (``RemoteLogs``): the manager asks the
node's swarm port for the container's log (``berthd.cluster.rpc.stream_logs``, over
mutual TLS with its manager certificate), and the node answers it with ``serve_task_log``
(its own task containers only, as frames: a TTY's output is cut into lines there).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from berthd.cluster.rpc import RpcError, stream_logs
from berthd.errdefs import InvalidParameter
from berthd.image.filters import parse_timestamp_ns
from berthd.lib.stdcopy import Demuxer, frame
from berthd.logger.request import LogsOptions

__all__ = ["LogSource", "RemoteLogs", "logs_options", "merged_task_logs", "serve_task_log"]

log = logging.getLogger("berthd.cluster")


class LogSource(Protocol):
    def logs(self, cid: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]: ...


class TaskLogSource(LogSource, Protocol):
    def task_containers(self) -> dict[str, str]: ...


class RemoteLogs:
    """The log of a task container on the node at ``addr`` (``host:port``)."""

    def __init__(self, addr: str, ssl_context: ssl.SSLContext) -> None:
        self.addr = addr
        self._ssl = ssl_context

    def logs(self, cid: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]:
        body = {"ContainerID": cid, "Options": dataclasses.asdict(opts)}

        async def gen() -> AsyncIterator[bytes]:
            try:
                async for chunk in stream_logs(self.addr, body, self._ssl):
                    yield chunk
            except RpcError as e:  # that node's tasks are missing, as dockerd's would be
                log.warning("swarm: task logs of %s: %s", cid[:12], e.message)

        return False, gen()


async def serve_task_log(
    source: TaskLogSource, cid: str, options: dict[str, Any]
) -> AsyncIterator[bytes]:
    """A manager asks this node for one of its task containers' log: frames."""
    if cid not in source.task_containers().values():
        raise RpcError(f"no task container {cid} on this node", 404)
    try:
        opts = LogsOptions(**options)
    except TypeError:
        raise RpcError("bad log options", 400) from None
    tty, chunks = source.logs(cid, opts)

    async def gen() -> AsyncIterator[bytes]:
        async for stream, line in _frames(tty, chunks):
            yield frame(stream, line)

    return gen()


def logs_options(options: Mapping[str, Any]) -> LogsOptions:
    """The router's options as the container log reader takes them."""
    since = str(options.get("since") or "")
    try:
        since_ns = parse_timestamp_ns(since) if since else 0
    except ValueError:
        raise InvalidParameter(f"could not parse since timestamp: {since}") from None
    tail_raw = str(options.get("tail") or "all")
    tail: int | None = None
    if tail_raw != "all":
        try:
            tail = int(tail_raw)
        except ValueError:
            raise InvalidParameter('tail value must be a positive integer or "all"') from None
        if tail < 0:
            raise InvalidParameter("negative tail values not supported")
    return LogsOptions(
        stdout=bool(options.get("stdout")),
        stderr=bool(options.get("stderr")),
        follow=bool(options.get("follow")),
        since_ns=since_ns,
        until_ns=0,
        timestamps=bool(options.get("timestamps")),
        tail=tail,
    )


def _frames(tty: bool, chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """(stream, line) from a container's log body: multiplexed frames, or raw for a TTY."""

    async def gen() -> AsyncIterator[tuple[int, bytes]]:
        if not tty:
            demuxer = Demuxer()
            async for chunk in chunks:
                for stream, payload in demuxer.feed(chunk):
                    for line in payload.splitlines(keepends=True):
                        yield stream, line
            return
        buf = b""
        async for chunk in chunks:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                yield 1, line + b"\n"
        if buf:
            yield 1, buf

    return gen()


def _decorate(line: bytes, details: bytes, timestamps: bool) -> bytes:
    if timestamps:
        ts, sep, rest = line.partition(b" ")
        return ts + b" " + details + b" " + rest if sep else details + b" " + line
    return details + b" " + line


def merged_task_logs(
    tasks: list[tuple[LogSource, str, Mapping[str, str]]],
    opts: LogsOptions,
) -> AsyncIterator[bytes]:
    """Multiplexed frames of every (source, container ID, swarm attributes) in ``tasks``."""
    streams = []
    for source, cid, attrs in tasks:
        tty, chunks = source.logs(cid, opts)  # errors before anything is sent
        details = ",".join(f"{k}={v}" for k, v in attrs.items()).encode()
        streams.append((details, _frames(tty, chunks)))

    async def gen() -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)

        async def pump(details: bytes, frames: AsyncIterator[tuple[int, bytes]]) -> None:
            try:
                async for stream, line in frames:
                    data = _decorate(line, details, opts.timestamps)
                    await queue.put(frame(stream, data))
            finally:
                await queue.put(None)

        pumps = [asyncio.create_task(pump(d, f)) for d, f in streams]
        left = len(pumps)
        try:
            while left:
                item = await queue.get()
                if item is None:
                    left -= 1
                else:
                    yield item
        finally:
            for p in pumps:
                p.cancel()
            for p in pumps:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await p

    return gen()
