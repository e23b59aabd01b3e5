"""``docker service logs`` / ``docker task logs``: the tasks' container logs, merged.

Every line carries the details the docker CLI needs to print ``web.1.<task>@<node> |``:
``com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=…``
and a space before the line (after the timestamp when timestamps are asked for), as
dockerd's ``WriteLogStream`` writes swarm logs. Streams of several tasks are merged as
their lines come (with ``follow``, until every one ends).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from berthd.errdefs import InvalidParameter
from berthd.image.filters import parse_timestamp_ns
from berthd.lib.stdcopy import Demuxer, frame
from berthd.logger.request import LogsOptions

__all__ = ["LogSource", "logs_options", "merged_task_logs"]


class LogSource(Protocol):
    def logs(self, cid: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]: ...


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
    source: LogSource,
    tasks: list[tuple[str, Mapping[str, str]]],
    opts: LogsOptions,
) -> AsyncIterator[bytes]:
    """Multiplexed frames of every (container ID, swarm attributes) in ``tasks``."""
    streams = []
    for cid, attrs in tasks:
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
