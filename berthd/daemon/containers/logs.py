"""``docker logs``: conmon's k8s-file log turned back into Docker's stream.

The reader (``berthd.logger``) does since/until/tail/follow; this module
picks the file, decides when a follow ends (the container's exit has been
recorded), and frames each line: multiplexed frames without a TTY, raw bytes
with one, with an RFC 3339 timestamp in front when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from berthd import errdefs
from berthd.container import Container
from berthd.lib.stdcopy import frame
from berthd.logger import format_timestamp, log_opts, read_logs
from berthd.logger.request import LogsOptions

__all__ = ["LogsOptions", "check_logs", "stream_logs"]


def check_logs(c: Container, opts: LogsOptions) -> None:
    if not (opts.stdout or opts.stderr):
        raise errdefs.InvalidParameter("Bad parameters: you must choose at least one stream")
    log_opts(c.host_config.get("LogConfig")).check_readable()
    if not c.log_path:
        raise errdefs.NotImplemented_("configured logging driver does not support reading")


async def stream_logs(
    c: Container, opts: LogsOptions, stopped: asyncio.Event | None
) -> AsyncIterator[bytes]:
    """The bytes of the response body, chunk by chunk."""
    if stopped is None:  # not running: the log is complete
        stopped = asyncio.Event()
        stopped.set()
    tty = c.tty
    gen = read_logs(
        c.log_path,
        follow=opts.follow,
        since_ns=opts.since_ns,
        until_ns=opts.until_ns,
        tail=opts.tail,
        stdout=opts.stdout,
        stderr=opts.stderr,
        stopped=stopped,
    )
    async with contextlib.aclosing(gen):
        async for msg in gen:
            line = msg.line
            if opts.timestamps:
                line = format_timestamp(msg.ts_ns).encode() + b" " + line
            if tty:
                yield line
            else:
                yield frame(1 if msg.stream == "stdout" else 2, line)
