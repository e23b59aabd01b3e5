"""``docker logs``: conmon's k8s-file log turned back into Docker's stream.

The reader (``berthd.logger``) does since/until/tail/follow; this module
picks the file, decides when a follow ends (the container's exit has been
recorded), and frames each line: multiplexed frames without a TTY, raw bytes
with one, with an RFC 3339 timestamp in front when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from berthd import errdefs
from berthd.container import Container
from berthd.lib.stdcopy import HEADER
from berthd.logger import Batch, log_opts, read_log_batches
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
    gen = read_log_batches(
        c.log_path,
        _renderer(c.tty),
        follow=opts.follow,
        since_ns=opts.since_ns,
        until_ns=opts.until_ns,
        tail=opts.tail,
        stdout=opts.stdout,
        stderr=opts.stderr,
        stopped=stopped,
        times=False,
        stamps=opts.timestamps,
    )
    async with contextlib.aclosing(gen):
        async for chunk in gen:
            yield chunk


def _renderer(tty: bool) -> Callable[[Batch], bytes]:
    """Bytes of a batch (run in the reader's worker thread): multiplexed frames (one
    per line, as dockerd writes them) without a TTY, raw bytes with one. With
    ``--timestamps`` the reader has put each line after its RFC 3339 stamp already."""
    pack = HEADER.pack

    def render(batch: Batch) -> bytes:
        lines = batch.lines
        if tty:
            return b"".join(lines)
        parts: list[bytes] = []
        add = parts.append
        for stream, line in zip(batch.streams, lines, strict=True):
            add(pack(1 if stream == "stdout" else 2, len(line)))
            add(line)
        return b"".join(parts)

    return render
