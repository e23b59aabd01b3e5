"""Docker's multiplexed stream framing (moby ``pkg/stdcopy``).

Without a TTY, dockerd sends a container's stdout and stderr over one byte
stream (``docker logs``, ``attach``, ``exec start``) as frames: an 8-byte header
``>BxxxL`` (stream id, three zero bytes, big-endian payload length) followed by
the payload. Clients (the CLI's ``StdCopy``, docker-py's ``frames_iter``)
demultiplex by reading headers, so every byte we send must be inside a frame.
This module is the one framer: attach/exec pumping (``daemon/containers/streams``),
the exec-start error written into a hijacked stream (``api/routers/container``) and
the logs renderer (``HEADER`` in bulk) all use it.

Any frame size is legal, but we keep payloads ≤ 32 KiB: clients size their
buffers around that (Go's ``StdCopy`` starts at 32 KiB + header) and one huge
frame would also mean one huge write.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = [
    "HEADER",
    "HEADER_LEN",
    "MAX_CHUNK",
    "STDERR",
    "STDIN",
    "STDOUT",
    "SYSTEMERR",
    "Demuxer",
    "FrameError",
    "demux",
    "frame",
    "frames",
]

STDIN = 0
STDOUT = 1
STDERR = 2
# dockerd writes its own errors in the middle of a stream on this id
# ("Error grabbing logs: ..."); Go's StdCopy turns it into an error.
SYSTEMERR = 3

HEADER_LEN = 8
MAX_CHUNK = 32 * 1024

_HEADER = struct.Struct(">BxxxL")
# the 8-byte frame header (stream id, payload size), for callers that frame in bulk
HEADER = _HEADER
_VALID_IDS = frozenset((STDIN, STDOUT, STDERR, SYSTEMERR))


class FrameError(ValueError):
    """The byte stream is not valid multiplexed framing."""


def frame(stream_id: int, data: bytes) -> bytes:
    """One frame: header + payload. An empty payload gives a bare header."""
    if stream_id not in _VALID_IDS:
        raise ValueError(f"invalid stream id {stream_id}")
    if len(data) > 0xFFFFFFFF:
        raise ValueError("frame payload larger than 4 GiB")
    return _HEADER.pack(stream_id, len(data)) + data


def frames(stream_id: int, data: bytes, max_chunk: int = MAX_CHUNK) -> Iterator[bytes]:
    """``data`` as frames of at most ``max_chunk`` payload bytes; nothing for empty data.

    Nothing is yielded for ``b""`` because Go's ``StdWriter`` writes no frame
    for an empty write either, and a zero-length frame is just noise.
    """
    if max_chunk <= 0:
        raise ValueError("max_chunk must be positive")
    view = memoryview(data)
    for start in range(0, len(view), max_chunk):
        yield frame(stream_id, bytes(view[start : start + max_chunk]))


class Demuxer:
    """Incremental demultiplexer: feed bytes as they arrive, get whole frames back.

    Used by tests and by code that consumes the stream (a client side). A frame
    is returned only once its payload is complete, so the caller never sees a
    payload split by transport chunking.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Append ``data``; return every frame now complete, in order."""
        self._buf += data
        out: list[tuple[int, bytes]] = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= HEADER_LEN:
            stream_id, length = _HEADER.unpack_from(buf, pos)
            if stream_id not in _VALID_IDS:
                # Go's StdCopy wording.
                raise FrameError(f"Unrecognized input header: {stream_id}")
            end = pos + HEADER_LEN + length
            if end > len(buf):
                break
            out.append((stream_id, bytes(buf[pos + HEADER_LEN : end])))
            pos = end
        if pos:
            del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def close(self) -> None:
        """End of stream: raise if a frame was cut off."""
        if self._buf:
            raise FrameError(f"stream ended inside a frame ({len(self._buf)} bytes left)")


def demux(data: bytes) -> list[tuple[int, bytes]]:
    """Split a complete multiplexed byte string into ``(stream_id, payload)`` frames."""
    d = Demuxer()
    out = d.feed(data)
    d.close()
    return out
