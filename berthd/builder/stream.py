"""The JSON stream of ``POST /build`` (moby ``pkg/streamformatter``).

Every write of the builder's stdout becomes one ``{"stream": …}`` message (so
``Step 1/3 : FROM x`` and its ``\\n`` are two messages, as dockerd writes them);
RUN's stderr is wrapped in ``ESC[91m … ESC[0m``; aux messages carry the image ID;
each message ends with ``\\r\\n`` like dockerd's. With ``q=1`` nothing is sent but
the final ``sha256:…`` line — unless the build fails, which flushes what was held.
"""

from __future__ import annotations

import asyncio

from berthd.image.gojson import marshal

__all__ = ["BuildStream", "error_message", "stream_message"]

_END = b"\r\n"
_HIGH_WATER = 256  # messages queued before RUN output waits for the client


def stream_message(text: str) -> bytes:
    return marshal({"stream": text}) + _END


def aux_message(image_id: str) -> bytes:
    return marshal({"aux": {"ID": image_id}}) + _END


def error_message(message: str, code: int = 0) -> bytes:
    """``jsonmessage.JSONError``: code first when set (``returned a non-zero code``)."""
    detail: dict[str, object] = {"code": code, "message": message} if code else {"message": message}
    return marshal({"errorDetail": detail, "error": message}) + _END


class BuildStream:
    """Collects messages for the response; ``None`` on the queue ends it."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._held: list[bytes] = []
        self._room = asyncio.Event()
        self._room.set()

    async def get(self) -> bytes | None:
        """The consumer's side: the next message (None at the end)."""
        item = await self.queue.get()
        if self.queue.qsize() < _HIGH_WATER:
            self._room.set()
        return item

    async def wait_room(self) -> None:
        """Back-pressure for RUN output: a slow client slows the step, as with
        dockerd, instead of the daemon buffering what the container writes."""
        while self.queue.qsize() >= _HIGH_WATER:
            self._room.clear()
            await self._room.wait()

    def _put(self, data: bytes) -> None:
        if self.quiet:
            self._held.append(data)
        else:
            self.queue.put_nowait(data)

    def raw(self, data: bytes) -> None:
        """A message already formatted (pull progress)."""
        self._put(data)

    def stdout(self, text: str) -> None:
        self._put(stream_message(text))

    def stderr(self, text: str) -> None:
        self._put(stream_message("\x1b[91m" + text + "\x1b[0m"))

    def aux(self, image_id: str) -> None:
        self._put(aux_message(image_id))

    def step(self, index: int, total: int, original: str) -> None:
        self.stdout(f"Step {index}/{total} : {original}")
        self.stdout("\n")

    def finish_quiet(self, image_id: str) -> None:
        """``q=1``: only the ID (the CLI prints it verbatim)."""
        self.queue.put_nowait(stream_message(image_id + "\n"))

    def fail(self, message: str, code: int = 0) -> None:
        for held in self._held:
            self.queue.put_nowait(held)
        self._held.clear()
        self.queue.put_nowait(error_message(message, code))

    def close(self) -> None:
        self.queue.put_nowait(None)
