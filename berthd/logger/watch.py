"""Waiting for a log file to change, without busy-looping.

``docker logs -f`` may run for days per client, so the idle cost matters. We
watch the file's *directory* with inotify (through ctypes; no dependency):
conmon replaces the file on ``--log-size-max`` (writes ``<log>.tmp``, renames
it over the log), and a watch on the file itself would stay on the old,
unlinked inode. Events for other files in the directory are filtered out by
name. The inotify fd is registered with the event loop, so waiting costs
nothing until the kernel says something happened.

Where inotify is unavailable (no directory yet, out of watches, odd
filesystems) a polling fallback ``stat()``s the file every ``poll_interval``
(≤ 100 ms): one syscall, no read.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import struct

from berthd.lib.libc import LIBC

__all__ = ["POLL_INTERVAL", "FileWatcher"]

POLL_INTERVAL = 0.1

_IN_MODIFY = 0x00000002
_IN_ATTRIB = 0x00000004
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_DELETE = 0x00000200
_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_CLOSE_WRITE
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name

_libc: ctypes.CDLL | None = None


def _get_libc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            _libc = LIBC
        except OSError:
            return None
    return _libc


def _inotify_dir(directory: str) -> int | None:
    """An inotify fd watching ``directory``, or ``None`` if that is not possible."""
    libc = _get_libc()
    if libc is None:
        return None
    fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    if fd < 0:
        return None
    wd = int(libc.inotify_add_watch(fd, os.fsencode(directory), _MASK))
    if wd < 0:
        os.close(fd)
        return None
    return fd


def _stat_key(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class FileWatcher:
    """``await wait(timeout)`` returns early when ``path`` may have changed.

    Spurious wake-ups are allowed (callers re-check the file); missed ones are
    not, except that callers also pass a timeout as a safety net.
    """

    def __init__(
        self, path: str, poll_interval: float = POLL_INTERVAL, use_inotify: bool = True
    ) -> None:
        self._path = path
        self._names = {os.fsencode(os.path.basename(path))}
        self._names.add(next(iter(self._names)) + b".tmp")
        self._poll = min(poll_interval, POLL_INTERVAL)
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._fd: int | None = None
        if use_inotify:
            self._fd = _inotify_dir(os.path.dirname(os.path.abspath(path)))
        if self._fd is not None:
            self._loop.add_reader(self._fd, self._on_readable)
        self._last = _stat_key(path)

    @property
    def uses_inotify(self) -> bool:
        return self._fd is not None

    def wake(self) -> None:
        """Make the current (or next) ``wait`` return now."""
        self._changed.set()

    def _on_readable(self) -> None:
        assert self._fd is not None
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                self._drop_inotify()
                self._changed.set()
                return
            if not data:
                return
            pos = 0
            while pos + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size : pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                if mask & (_IN_Q_OVERFLOW | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED):
                    if mask & (_IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED):
                        self._drop_inotify()  # the directory is gone: poll from now on
                    self._changed.set()
                elif name in self._names:
                    self._changed.set()

    def _drop_inotify(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    async def wait(self, timeout: float) -> None:
        if self._fd is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
            except TimeoutError:
                pass
            self._changed.clear()
            return
        deadline = self._loop.time() + timeout
        while not self._changed.is_set():
            left = deadline - self._loop.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(min(self._poll, left)):
                    await self._changed.wait()
            except TimeoutError:
                pass
            key = _stat_key(self._path)
            if key != self._last:
                self._last = key
                break
        self._changed.clear()

    def close(self) -> None:
        self._drop_inotify()
