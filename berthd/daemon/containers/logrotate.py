"""Log rotation while a container runs (``--log-opt max-size=… --log-opt max-file=N``).

A ``LifecycleHook``: for each running container whose LogConfig has a
``max-size`` and ``max-file`` > 1, one task checks the log's size whenever the
file changes (inotify on its directory, a ``stat`` every ``interval`` seconds
otherwise) and rotates it once it has reached ``max-size``
(``berthd.logger.rotate``), then has conmon reopen the log. A container that
writes faster than that can push the current file past ``max-size``; conmon's
own limit (``max-size × max-file``) stays the hard bound, then it empties the
file (what dockerd never does: its logger writes the file itself).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.hooks import TaskPerContainer
from berthd.logger import log_opts
from berthd.logger.rotate import rotate
from berthd.logger.watch import FileWatcher

__all__ = ["LogRotator"]

log = logging.getLogger("berthd.logs")

INTERVAL = 0.5


class LogRotator(TaskPerContainer):
    def __init__(self, reopen: Callable[[str], None], interval: float = INTERVAL) -> None:
        super().__init__()
        self._reopen = reopen  # conmon reopens the container's log
        self.interval = interval

    # -- LifecycleHook ---------------------------------------------------------------------
    def started(self, c: Container) -> None:
        self._cancel(c.id)
        try:
            settings = log_opts(c.host_config.get("LogConfig"))
        except errdefs.BerthdError:
            return
        if not settings.readable or not settings.max_size or settings.max_file < 2:
            return
        if not c.log_path:
            return
        self._run(
            c.id,
            self._loop(c.id, c.log_path, settings.max_size, settings.max_file),
            f"logrotate-{c.short_id}",
        )

    def stopped(self, c: Container) -> None:
        self._cancel(c.id)

    async def _loop(self, cid: str, path: str, max_size: int, max_file: int) -> None:
        watcher = FileWatcher(path, self.interval)
        try:
            while True:
                await watcher.wait(self.interval)
                try:
                    size = os.stat(path).st_size
                except FileNotFoundError:
                    continue
                if size < max_size:
                    continue
                try:
                    await asyncio.to_thread(rotate, path, max_file)
                    self._reopen(cid)
                except (OSError, errdefs.BerthdError) as e:
                    log.warning("container %s: log rotation failed: %s", cid[:12], e)
        finally:
            watcher.close()
