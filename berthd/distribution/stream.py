"""Run a pull or push as a task and stream its messages to the response.

Nothing is sent before the first message, so an error raised before any output
becomes an ordinary HTTP error (dockerd's ``WriteFlusher.Flushed()`` rule); an error
after it is the stream's last line. Closing the iterator (the client went away)
cancels the task and waits for its cleanup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from berthd import errdefs
from berthd.distribution.progress import StreamOutput

__all__ = ["run_progress"]

log = logging.getLogger(__name__)


async def run_progress(work: Callable[[StreamOutput], Awaitable[None]]) -> AsyncIterator[bytes]:
    out = StreamOutput()
    task = asyncio.ensure_future(work(out))
    try:
        while True:
            if out.pending():
                yield out.take()
                continue
            if task.done():
                break
            waiter = asyncio.ensure_future(out.wait())
            try:
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        err = task.exception()
        if err is not None:
            if not out.written:
                raise err
            if not isinstance(err, errdefs.BerthdError):
                log.error("image transfer failed: %s", err, exc_info=err)
            out.error(str(err))
            yield out.take()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
