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

File I/O, parsing, joining partial lines, filtering and rendering (the caller's
``render``: framing, timestamps) run in a worker thread, up to ``CHUNK`` bytes of
the file per step, so a big log never holds the event loop and the loop makes one
hop (and the server one socket write) per step, not per line.

Use ``contextlib.aclosing(read_logs(...))`` so an early exit releases the file
and the inotify watch at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any, BinaryIO, TypeVar

from berthd import errdefs
from berthd.logger.assemble import LineAssembler
from berthd.logger.batch import Batch
from berthd.logger.k8sfile import (
    TEXT_AT,
    TS_LEN,
    WHOLE,
    Record,
    TimestampParser,
    parse_k8s_chunk,
    parse_k8s_line,
)
from berthd.logger.message import LogMessage, stamp_text
from berthd.logger.rotate import rotated_files
from berthd.logger.tail import find_tail_start
from berthd.logger.watch import POLL_INTERVAL, FileWatcher

__all__ = ["CHUNK", "StopSignal", "parse_tail", "read_log_batches", "read_logs"]

CHUNK = 256 * 1024
# Re-check the file at least this often even if inotify stays silent.
_SAFETY_WAKE = 1.0
_MAX_PHYSICAL = 4 * 1024 * 1024

StopSignal = asyncio.Event | asyncio.Future[Any]
_T = TypeVar("_T")
_R = TypeVar("_R")


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

    def __init__(self, path: str, timestamps: bool = True) -> None:
        self.path = path
        self.f: BinaryIO | None = None
        self.pos = 0
        self._carry = b""
        self._skipping = False
        # without since/until/--timestamps nothing needs a line's time: skip parsing it
        self.parser = TimestampParser() if timestamps else None
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

    def read(self, limit: int | None) -> tuple[bytes, bool]:
        """Up to ``CHUNK`` more bytes, cut after the last whole line: ``(lines, at_end)``."""
        if self.f is None:
            return b"", True
        want = CHUNK if limit is None else min(CHUNK, limit - self.pos)
        if want <= 0:
            return b"", True
        data = os.pread(self.f.fileno(), want, self.pos)
        if not data:
            return b"", True
        self.pos += len(data)
        buf = self._carry + data if self._carry else data
        cut = buf.rfind(b"\n") + 1
        body, self._carry = buf[:cut], buf[cut:]
        if self._skipping and cut:
            body = body[body.index(b"\n") + 1 :]  # the end of an over-long line
            self._skipping = False
        if len(self._carry) > _MAX_PHYSICAL:
            self._carry = b""
            self._skipping = True
        return body, len(data) < want

    def records(self, body: bytes) -> list[Record]:
        return parse_k8s_chunk(body, self.parser)

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

    async def call(self, fn: Callable[[], _R]) -> _R:
        def inner() -> _R:
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


class _Filter:
    """since/until/stream selection and the ``tail`` backlog; runs in the worker thread.

    ``ended`` turns true at the first line stamped after ``until``: the read is over
    (what was accepted before it in the same step is still returned).
    """

    def __init__(
        self, since_ns: int, until_ns: int, stdout: bool, stderr: bool, tail: int | None
    ) -> None:
        self.since_ns = since_ns
        self.until_ns = until_ns
        self.streams = {"stdout": stdout, "stderr": stderr}
        self.backlog: deque[LogMessage] | None = deque(maxlen=tail) if tail is not None else None
        self.ended = False

    def plain(self) -> bool:
        """Only a stream selection applies (no time filter, no tail being collected)."""
        return self.backlog is None and not self.since_ns and not self.until_ns and not self.ended

    def take(self, msgs: Iterable[LogMessage], out: list[LogMessage]) -> None:
        if self.backlog is not None:
            self.backlog.extend(msgs)
        else:
            self.accept(msgs, out)

    def accept(self, msgs: Iterable[LogMessage], out: list[LogMessage]) -> None:
        if self.ended:
            return
        since, until, streams = self.since_ns, self.until_ns, self.streams
        if not since and not until and all(streams.values()):
            out.extend(msgs)
            return
        for msg in msgs:
            if until and msg.ts_ns > until:
                self.ended = True
                return
            if since and msg.ts_ns < since:
                continue
            if streams[msg.stream]:
                out.append(msg)

    def release_backlog(self, out: list[LogMessage]) -> None:
        """The tail is complete: filter it into ``out``; later lines go straight through."""
        if self.backlog is not None:
            backlog, self.backlog = self.backlog, None
            self.accept(backlog, out)


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

    One message at a time over :func:`read_log_batches`; a server that writes the
    log to a client should use that (one write per batch, not per line).
    """
    gen = read_log_batches(
        path,
        Batch.messages,
        follow=follow,
        since_ns=since_ns,
        until_ns=until_ns,
        tail=tail,
        stdout=stdout,
        stderr=stderr,
        stopped=stopped,
        poll_interval=poll_interval,
    )
    async with contextlib.aclosing(gen):
        async for batch in gen:
            for i, msg in enumerate(batch, 1):
                yield msg
                if i % 256 == 0:
                    await asyncio.sleep(0)  # a big batch must not hold the loop


async def read_log_batches(
    path: str,
    render: Callable[[Batch], _T],
    *,
    follow: bool = False,
    since_ns: int = 0,
    until_ns: int = 0,
    tail: int | None = None,
    stdout: bool = True,
    stderr: bool = True,
    stopped: StopSignal | None = None,
    poll_interval: float = POLL_INTERVAL,
    times: bool = True,
    stamps: bool = False,
) -> AsyncGenerator[_T, None]:
    """The log in batches: ``render(batch)`` of each non-empty step, in order.

    Parsing, joining partial lines, filtering and ``render`` all run in the worker
    thread, a step (up to ``CHUNK`` bytes of the file) at a time, so the event loop
    does one hop per step whatever the line count. ``since_ns``/``until_ns``: 0 =
    unset. ``stopped``: an ``asyncio.Event`` or future that fires when the container
    has stopped and conmon has written its last output (its exit file exists).
    ``times=False``: ``render`` does not need the times (``batch.times`` stays empty,
    and without since/until they are not even parsed: the fast path).
    ``stamps=True``: every line comes already after its ``docker logs -t`` text and a
    space (``batch.stamped``); a whole line stamped in UTC (conmon's ``+00:00``) takes
    its text from the file as it is, with no time parsed or formatted.
    """
    if not (stdout or stderr):
        raise errdefs.InvalidParameter("You must choose at least one stream")
    need_ts = bool(times or stamps or since_ns or until_ns)
    times = times and not stamps
    cursor = _Cursor(path, need_ts)
    worker = _Worker()
    run = worker.call
    filt = _Filter(since_ns, until_ns, stdout, stderr, tail)

    def is_stopped() -> bool:
        if stopped is None:
            return not follow
        return stopped.is_set() if isinstance(stopped, asyncio.Event) else stopped.done()

    assembler = LineAssembler()
    watcher: FileWatcher | None = None
    relay: asyncio.Task[None] | None = None
    on_stopped: Callable[[asyncio.Future[Any]], object] = _ignore

    def read_step(cur: _Cursor, limit: int | None) -> tuple[_T | None, bool]:
        body, at_end = cur.read(limit)
        out = Batch(stamped=stamps)
        if filt.plain():
            _whole_lines(body, assembler, filt, out, cur.parser)
        else:
            msgs: list[LogMessage] = []
            filt.take(assembler.add_many(cur.records(body)), msgs)
            out.extend(msgs, times)
        return (render(out) if out else None), at_end

    def final_step() -> _T | None:
        """The log has ended: pending pieces, then the tail backlog."""
        msgs: list[LogMessage] = []
        filt.take(assembler.flush(), msgs)
        filt.release_backlog(msgs)
        return _rendered(msgs)

    def release() -> _T | None:
        msgs: list[LogMessage] = []
        filt.release_backlog(msgs)
        return _rendered(msgs)

    def _rendered(msgs: list[LogMessage]) -> _T | None:
        if not msgs:
            return None
        out = Batch(stamped=stamps)
        out.extend(msgs, times)
        return render(out)

    batch: _T | None
    try:
        ended = is_stopped()
        following = follow and not ended
        count_trailing = ended  # pending pieces are emitted only if the log has ended
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
                async for old_batch in _read_whole(old, tail, read_step, worker, need_ts):
                    yield old_batch
                if filt.ended:
                    return
        if opened:
            # --- backlog: what the file holds now ---
            at_end = False
            while not at_end and not filt.ended:
                batch, at_end = await run(lambda: read_step(cursor, end))
                if batch is not None:
                    yield batch
        if filt.ended:
            return
        if ended or tail is not None:
            if ended:
                batch = await run(final_step)
            else:
                batch = await run(release)
            if batch is not None:
                yield batch
        if not following or filt.ended:
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
                batch, caught_up = await _follow_step(cursor, read_step, worker)
                if batch is not None:
                    yield batch
                if filt.ended:
                    return
            if stop_seen:
                batch = await run(final_step)
                if batch is not None:
                    yield batch
                return
            if until_passed:
                return
            timeout = _SAFETY_WAKE
            if until_ns:
                timeout = max(0.0, min(timeout, (until_ns - time.time_ns()) / 1e9 + 0.001))
            await watcher.wait(timeout)
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


def _whole_lines(
    body: bytes,
    assembler: LineAssembler,
    filt: _Filter,
    out: Batch,
    parser: TimestampParser | None,
) -> None:
    """The fast path (no time filter, no tail being collected): conmon's whole lines
    go straight into ``out`` with no record made (their times parsed only with a
    ``parser``); a partial piece, another shape, or any line while pieces are pending
    takes the assembler's path, in order."""
    streams, lines, times = out.streams, out.lines, out.times
    parse = parser.parse if parser is not None else None
    wanted = filt.streams
    pending = assembler.pending
    whole = WHOLE
    raw = body.split(b"\n")
    raw.pop()  # what follows the last newline
    stamped = out.stamped
    for line in raw:
        stream = whole.get(line[TS_LEN:TEXT_AT])
        if stream is not None and not pending:
            if wanted[stream]:
                if stamped:
                    if line[_ZONE_AT:TS_LEN] == _UTC:
                        # "…T07:22:27.706093639+00:00" is "…T07:22:27.706093639Z" in UTC
                        lines.append(b"%sZ %s\n" % (line[:_ZONE_AT], line[TEXT_AT:]))
                    else:
                        assert parse is not None
                        try:
                            text = stamp_text(parse(line[:TS_LEN]))
                        except (ValueError, UnicodeDecodeError):
                            continue
                        lines.append(b"%s %s\n" % (text, line[TEXT_AT:]))
                    streams.append(stream)
                    continue
                if parse is not None:
                    try:
                        times.append(parse(line[:TS_LEN]))
                    except (ValueError, UnicodeDecodeError):
                        continue
                streams.append(stream)
                lines.append(line[TEXT_AT:] + b"\n")
            continue
        rec = parse_k8s_line(line, parser)
        if rec is not None:
            msgs: list[LogMessage] = []
            filt.accept(assembler.add(rec), msgs)
            out.extend(msgs, parse is not None)


# where the zone of conmon's 35-byte stamp starts, and its text for UTC
_ZONE_AT = TS_LEN - 6
_UTC = b"+00:00"

_Step = Callable[[_Cursor, "int | None"], "tuple[_T | None, bool]"]


async def _read_whole(
    path: str, tail: int | None, step: _Step[_T], worker: _Worker, need_ts: bool
) -> AsyncGenerator[_T, None]:
    """A finished (rotated) log file, or its last ``tail`` lines."""
    old = _Cursor(path, need_ts)
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
            batch, at_end = await worker.call(lambda: step(old, end))
            if batch is not None:
                yield batch
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


async def _follow_step(cursor: _Cursor, step: _Step[_T], worker: _Worker) -> tuple[_T | None, bool]:
    """One step of catching up with the file: ``(batch, caught_up)``.

    Follows a replaced file (conmon's ``--log-size-max``: it closes the old
    file, then renames a new one over the path, so the old file is read to its
    end first, then the new one from 0) and a file truncated in place.
    """
    run = worker.call
    if cursor.f is None and not await run(cursor.open):
        return None, True
    batch, at_end = await run(lambda: step(cursor, None))
    if not at_end:
        return batch, False
    if cursor.switching:
        cursor.switching = False
        await run(cursor.reopen)
        return batch, False
    state = await run(cursor.check)
    if state == "truncated":
        cursor.restart()
        return batch, False
    if state == "replaced":
        cursor.switching = True  # one more read of the old file, then switch
        return batch, False
    return batch, True
