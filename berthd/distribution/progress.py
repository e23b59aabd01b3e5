"""Progress messages of pull and push, and the coalescing stream a client reads.

moby's ``pkg/progress`` + ``streamformatter``: a :class:`Progress` is either a plain
message (``Pulling from …``, ``Digest: …``), an update (``Download complete``, with an
empty ``progressDetail``), a byte-count update (``Downloading`` with a bar) or an aux
object (push's ``{Tag, Digest, Size}``). Lines end with ``\\r\\n`` as dockerd's do.

:class:`StreamOutput` lives on the event loop: producers call it without waiting, the
response drains it. Unread byte-count updates for one layer are replaced by the newest
(a slow client sees the latest state, as dockerd's lossy watchers do), everything else
is kept in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from berthd.image.gojson import marshal
from berthd.image.jsonstream import error_line, progress_line, status_line

__all__ = ["Output", "Progress", "StreamOutput", "encode"]


@dataclass(frozen=True, slots=True)
class Progress:
    id: str = ""
    action: str = ""
    current: int = 0
    total: int = 0
    message: str = ""  # a plain message (no progressDetail) when set
    aux: Mapping[str, object] | None = None
    counts: bool = False  # a byte-count update (replaceable while unread)


Output = Callable[[Progress], None]


def _crlf(line: bytes) -> bytes:
    return line[:-1] + b"\r\n" if line.endswith(b"\n") else line + b"\r\n"


def encode(p: Progress) -> bytes:
    if p.aux is not None:
        return marshal({"progressDetail": {}, "aux": dict(p.aux)}) + b"\r\n"
    if p.message:
        return _crlf(status_line(p.message, p.id))
    return _crlf(progress_line(p.id, p.action, p.current, p.total))


class StreamOutput:
    """The per-request message queue (event loop only)."""

    def __init__(self) -> None:
        self._items: dict[int, bytes] = {}
        self._slot: dict[str, int] = {}  # layer id → slot of its unread count update
        self._seq = 0
        self._ready = asyncio.Event()
        self.written = False  # anything produced yet (dockerd's Flushed())

    def __call__(self, p: Progress) -> None:
        self.written = True
        line = encode(p)
        if p.counts and p.id:
            slot = self._slot.get(p.id)
            if slot is not None and slot in self._items:
                self._items[slot] = line
                return
            self._slot[p.id] = self._seq
        elif p.id:
            self._slot.pop(p.id, None)
        self._items[self._seq] = line
        self._seq += 1
        self._ready.set()

    def error(self, message: str) -> None:
        self.written = True
        self._items[self._seq] = _crlf(error_line(message))
        self._seq += 1
        self._ready.set()

    def pending(self) -> bool:
        return bool(self._items)

    def take(self) -> bytes:
        data = b"".join(self._items.values())
        self._items.clear()
        self._ready.clear()
        return data

    async def wait(self) -> None:
        await self._ready.wait()
