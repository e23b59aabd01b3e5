"""``docker logs`` from a conmon k8s-file log, with dockerd's semantics.

dockerd's json-file reader (``loggerutils/logfile.go``, ``follow.go``) defines
what clients expect, and this mirrors it:

- ``tail`` picks the last N lines of the log *first*; ``since``/``until`` and
  the stdout/stderr selection are applied to those (so ``--tail 5 --since x``
  may print fewer than 5). ``tail=0`` prints nothing from the backlog;
  ``tail=None`` is "all".
- ``since`` drops lines stamped before it; the first line stamped after
  ``until`` ends the whole read, follow included.
- the backlog is what the file holds when the read starts; ``follow`` then
  streams what is appended, across conmon's log replacement (``--log-size-max``
  renames a fresh file over the log: the old file is read to its end, then the
  new one from its start) and across truncation in place (size shrinks →
  restart at 0). ``follow`` ends when ``stopped`` fires: what remains is
  drained, pending partial pieces are emitted, and the iterator finishes.
  Following a container that has already stopped is a plain read, as in
  dockerd. With ``until`` set, the follow also ends once the clock passes it.
- a line still being written (pending ``P`` pieces) is shown only once the log
  ends (``stopped`` fired, or not given for a plain read); dockerd's copier also
  holds an unfinished line back while the container runs.

File I/O and parsing run in worker threads in 64 KiB steps, so a big log never
holds the event loop for long; the loop only joins pieces and yields.

Use ``contextlib.aclosing(read_logs(...))`` so an early exit releases the file
and the inotify watch at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any, BinaryIO, TypeVar

from berthd import errdefs
from berthd.logger.assemble import LineAssembler
from berthd.logger.k8sfile import Record, TimestampParser, parse_k8s_line
from berthd.logger.message import LogMessage
from berthd.logger.rotate import rotated_files
from berthd.logger.tail import find_tail_start
from berthd.logger.watch import POLL_INTERVAL, FileWatcher

__all__ = ["CHUNK", "StopSignal", "parse_tail", "read_logs"]

CHUNK = 64 * 1024
# Re-check the file at least this often even if inotify stays silent.
_SAFETY_WAKE = 1.0
_MAX_PHYSICAL = 4 * 1024 * 1024

StopSignal = asyncio.Event | asyncio.Future[Any]
_T = TypeVar("_T")


def parse_tail(text: str | None) -> int | None:
    """The ``tail`` query parameter as dockerd reads it: a non-negative int, else "all" (None).

    dockerd does ``strconv.Atoi`` and treats any error (``all``, ``""``, junk)
    and any negative number as "all".
    """
    if text is None:
        return None
    t = text.strip()
    if not t or not (t.isascii() and t.lstrip("+-").isdigit()):
        return None
    n = int(t)
    return n if n >= 0 else None


class _Cursor:
    """An open log file, a read position and the unfinished physical line.

    Its blocking methods run in a worker thread, one call at a time.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.f: BinaryIO | None = None
        self.pos = 0
        self._carry = b""
        self._skipping = False
        self._parser = TimestampParser()
        self.switching = False  # a new file is at the path; finish this one first

    def open(self) -> bool:
        try:
            self.f = open(self.path, "rb")  # noqa: SIM115 - lives across calls
        except FileNotFoundError:
            return False
        self.pos = 0
        self._carry = b""
        self._skipping = False
        return True

    def size(self) -> int:
        assert self.f is not None
        return os.fstat(self.f.fileno()).st_size

    def read(self, limit: int | None) -> tuple[list[Record], bool]:
        """Parse up to ``CHUNK`` more bytes; ``(records, at_end)``."""
        if self.f is None:
            return [], True
        want = CHUNK if limit is None else min(CHUNK, limit - self.pos)
        if want <= 0:
            return [], True
        data = os.pread(self.f.fileno(), want, self.pos)
        if not data:
            return [], True
        self.pos += len(data)
        lines = (self._carry + data).split(b"\n")
        self._carry = lines.pop()
        if self._skipping and lines:
            lines.pop(0)  # the end of an over-long line
            self._skipping = False
        if len(self._carry) > _MAX_PHYSICAL:
            self._carry = b""
            self._skipping = True
        parser = self._parser
        recs = [r for line in lines if (r := parse_k8s_line(line, parser)) is not None]
        return recs, len(data) < want

    def check(self) -> str:
        """``"same"``, ``"replaced"`` (a new file at the path), ``"truncated"`` or ``"missing"``."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "missing" if self.f is None else "same"
        if self.f is None:
            return "replaced"
        mine = os.fstat(self.f.fileno())
        if (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino):
            return "replaced"
        if mine.st_size < self.pos:
            return "truncated"
        return "same"

    def restart(self) -> None:
        self.pos = 0
        self._carry = b""
        self._skipping = False

    def reopen(self) -> bool:
        self.close()
        return self.open()

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


class _Worker:
    """Runs blocking calls in the default executor, one at a time.

    A cancelled ``await`` does not stop the thread, so if the reader is closed
    while a thread still reads the file, the file is closed by that thread when
    it is done with it (``after_idle``), never under its feet.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._busy = False
        self._on_idle: Callable[[], None] | None = None

    async def call(self, fn: Callable[[], _T]) -> _T:
        def inner() -> _T:
            try:
                return fn()
            finally:
                with self._lock:
                    self._busy = False
                    pending, self._on_idle = self._on_idle, None
                if pending is not None:
                    pending()

        with self._lock:
            self._busy = True
        return await self._loop.run_in_executor(None, inner)

    def after_idle(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._busy:
                self._on_idle = fn
                return
        fn()


class _Stop(Exception):
    """A line stamped after ``until``: the read is over."""


async def read_logs(
    path: str,
    *,
    follow: bool = False,
    since_ns: int = 0,
    until_ns: int = 0,
    tail: int | None = None,
    stdout: bool = True,
    stderr: bool = True,
    stopped: StopSignal | None = None,
    poll_interval: float = POLL_INTERVAL,
) -> AsyncGenerator[LogMessage, None]:
    """Yield the container's log as ``LogMessage``s (see the module docstring).

    ``since_ns``/``until_ns``: 0 = unset. ``stopped``: an ``asyncio.Event`` or
    future that fires when the container has stopped and conmon has written
    its last output (its exit file exists).
    """
    if not (stdout or stderr):
        raise errdefs.InvalidParameter("You must choose at least one stream")
    cursor = _Cursor(path)
    worker = _Worker()
    run = worker.call

    def is_stopped() -> bool:
        if stopped is None:
            return not follow
        return stopped.is_set() if isinstance(stopped, asyncio.Event) else stopped.done()

    def accept(msg: LogMessage) -> bool:
        if until_ns and msg.ts_ns > until_ns:
            raise _Stop
        if since_ns and msg.ts_ns < since_ns:
            return False
        return stdout if msg.stream == "stdout" else stderr

    assembler = LineAssembler()
    watcher: FileWatcher | None = None
    relay: asyncio.Task[None] | None = None
    on_stopped: Callable[[asyncio.Future[Any]], object] = _ignore
    try:
        ended = is_stopped()
        following = follow and not ended
        count_trailing = ended  # pending pieces are emitted only if the log has ended
        backlog: deque[LogMessage] | None = deque(maxlen=tail) if tail is not None else None
        opened = await run(cursor.open)
        end = await run(cursor.size) if opened else 0
        if opened and tail is not None:
            assert cursor.f is not None
            fd = cursor.f.fileno()
            cursor.pos = await run(lambda: find_tail_start(fd, end, tail, count_trailing))
        if not opened or tail is None or cursor.pos == 0:
            # --- the rotated files (oldest first) come before the current one; with a
            # tail, only while the current file alone holds fewer lines ---
            for old in await run(lambda: rotated_files(path)):
                async for msg in _read_whole(old, tail, assembler, worker):
                    if backlog is not None:
                        backlog.append(msg)
                    elif accept(msg):
                        yield msg
        if opened:
            # --- backlog: what the file holds now ---
            at_end = False
            while not at_end:
                recs, at_end = await run(lambda: cursor.read(end))
                for rec in recs:
                    for msg in assembler.add(rec):
                        if backlog is not None:
                            backlog.append(msg)
                        elif accept(msg):
                            yield msg
        if ended:  # (then we are not following)
            for msg in assembler.flush():
                if backlog is not None:
                    backlog.append(msg)
                elif accept(msg):
                    yield msg
        if backlog is not None:
            for msg in backlog:
                if accept(msg):
                    yield msg
        if not following:
            return

        # --- follow: stream appends until stopped (or until passes) ---
        watcher = FileWatcher(path, poll_interval)
        wake = watcher.wake
        if isinstance(stopped, asyncio.Event):
            relay = asyncio.create_task(_relay(stopped, wake))
        elif stopped is not None:
            on_stopped = _callback(wake)
            stopped.add_done_callback(on_stopped)
        while True:
            stop_seen = is_stopped()
            until_passed = bool(until_ns and time.time_ns() > until_ns)
            caught_up = False
            while not caught_up:
                msgs, caught_up = await _follow_step(cursor, assembler, worker)
                for msg in msgs:
                    if accept(msg):
                        yield msg
            if stop_seen:
                for msg in assembler.flush():
                    if accept(msg):
                        yield msg
                return
            if until_passed:
                return
            timeout = _SAFETY_WAKE
            if until_ns:
                timeout = max(0.0, min(timeout, (until_ns - time.time_ns()) / 1e9 + 0.001))
            await watcher.wait(timeout)
    except _Stop:
        return
    finally:
        if relay is not None:
            relay.cancel()
            try:
                await relay
            except asyncio.CancelledError:
                pass
        if watcher is not None:
            watcher.close()
        if isinstance(stopped, asyncio.Future):
            stopped.remove_done_callback(on_stopped)
        worker.after_idle(cursor.close)


async def _read_whole(
    path: str, tail: int | None, assembler: LineAssembler, worker: _Worker
) -> AsyncGenerator[LogMessage, None]:
    """A finished (rotated) log file, or its last ``tail`` lines."""
    old = _Cursor(path)
    if not await worker.call(old.open):
        return
    try:
        end = await worker.call(old.size)
        if tail is not None:
            assert old.f is not None
            fd = old.f.fileno()
            old.pos = await worker.call(lambda: find_tail_start(fd, end, tail, True))
        at_end = False
        while not at_end:
            recs, at_end = await worker.call(lambda: old.read(end))
            for rec in recs:
                for msg in assembler.add(rec):
                    yield msg
    finally:
        await worker.call(old.close)


def _ignore(_f: asyncio.Future[Any]) -> None:
    return None


def _callback(wake: Callable[[], None]) -> Callable[[asyncio.Future[Any]], None]:
    def cb(_f: asyncio.Future[Any]) -> None:
        wake()

    return cb


async def _relay(event: asyncio.Event, wake: Callable[[], None]) -> None:
    await event.wait()
    wake()


async def _follow_step(
    cursor: _Cursor, assembler: LineAssembler, worker: _Worker
) -> tuple[list[LogMessage], bool]:
    """One ≤ 64 KiB step of catching up with the file: ``(messages, caught_up)``.

    Follows a replaced file (conmon's ``--log-size-max``: it closes the old
    file, then renames a new one over the path, so the old file is read to its
    end first, then the new one from 0) and a file truncated in place.
    """
    run = worker.call
    if cursor.f is None and not await run(cursor.open):
        return [], True
    recs, at_end = await run(lambda: cursor.read(None))
    msgs = [msg for rec in recs for msg in assembler.add(rec)]
    if not at_end:
        return msgs, False
    if cursor.switching:
        cursor.switching = False
        await run(cursor.reopen)
        return msgs, False
    state = await run(cursor.check)
    if state == "truncated":
        cursor.restart()
        return msgs, False
    if state == "replaced":
        cursor.switching = True  # one more read of the old file, then switch
        return msgs, False
    return msgs, True
