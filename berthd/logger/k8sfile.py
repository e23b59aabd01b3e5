"""The CRI "k8s-file" line format that conmon writes (``-l k8s-file:<path>``).

One physical line per chunk of container output::

    2026-11-23T07:22:27.706093639+00:00 stdout F line1
    2026-11-23T07:22:27.706093639+00:00 stdout P partial

Facts from conmon's ``src/ctr_logging.c`` (``write_k8s_log``), which this
module mirrors:

- The timestamp is local time with a numeric offset, always 9 fraction digits
  (``%09ld``); every line cut from one read of the pipe shares it.
- Nothing is escaped. The text is the container's raw bytes (``\\r``, invalid
  UTF-8, anything) up to and including its ``\\n``; for ``F`` that newline ends
  the physical line. ``P`` (no newline yet) means conmon's read ended mid-line
  (reads are ≤ 8 KiB, ``STDIO_BUF_SIZE``), and conmon appends a ``\\n`` that is
  *not* part of the output.
- So the output is recovered exactly: ``F`` → text + ``\\n``; ``P`` → text.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from berthd.lib.timefmt import parse_ns

__all__ = [
    "TEXT_AT",
    "TS_LEN",
    "WHOLE",
    "Record",
    "TimestampParser",
    "format_k8s_line",
    "parse_k8s_chunk",
    "parse_k8s_line",
]

_STREAMS = (b"stdout", b"stderr")


class Record(NamedTuple):
    """One parsed physical line. ``text`` excludes the line's own ``\\n``."""

    ts_ns: int
    stream: str
    partial: bool
    text: bytes


def format_k8s_line(ts_ns: int, stream: str, text: bytes, partial: bool = False) -> bytes:
    """The physical line conmon would write for ``text`` (without its newline).

    For tests and fixtures: UTC with a ``+00:00`` offset, 9 fraction digits,
    exactly conmon's shape.
    """
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"invalid stream {stream!r}")
    if b"\n" in text:
        raise ValueError("text must not contain a newline")
    sec, frac = divmod(ts_ns, 1_000_000_000)
    base = _utc_seconds(sec)
    tag = b"P" if partial else b"F"
    return b"%s.%09d+00:00 %s %s %s\n" % (base, frac, stream.encode(), tag, text)


def _utc_seconds(sec: int) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()


class TimestampParser:
    """RFC 3339 → ns with a cache of the per-second part.

    A log holds many lines per second, and the date/offset part is what costs
    (datetime arithmetic); the 9 fraction digits are a cheap ``int()``. The
    cache keeps parsing of a 50 MB log cheap. One instance per reader: it is
    not shared across threads concurrently.
    """

    _MAX_CACHE = 4096

    def __init__(self) -> None:
        self._cache: dict[bytes, int] = {}

    def parse(self, raw: bytes) -> int:
        """Nanoseconds since the epoch; ``ValueError`` if malformed."""
        # conmon's exact shape: 19 chars, '.', 9 digits, ±HH:MM (35 bytes).
        if len(raw) == 35 and raw[19:20] == b"." and raw[20:29].isdigit():
            key = raw[:19] + raw[29:]
            secs = self._cache.get(key)
            if secs is None:
                secs = parse_ns(key.decode("ascii")) // 1_000_000_000
                if len(self._cache) >= self._MAX_CACHE:
                    self._cache.clear()
                self._cache[key] = secs
            return secs * 1_000_000_000 + int(raw[20:29])
        return parse_ns(raw.decode("ascii"))


def parse_k8s_line(line: bytes, ts_parser: TimestampParser | None = None) -> Record | None:
    """Parse one physical line (its trailing ``\\n`` stripped); ``None`` if malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    raw_ts, stream, tags = parts[0], parts[1], parts[2]
    if stream not in _STREAMS:
        return None
    # The CRI allows further tags after ':' ("F:x"); only the first one is defined.
    tag = tags.split(b":", 1)[0]
    if tag == b"F":
        partial = False
    elif tag == b"P":
        partial = True
    else:
        return None
    try:
        ts = (ts_parser or _DEFAULT_PARSER).parse(raw_ts)
    except (ValueError, UnicodeDecodeError):
        return None
    text = parts[3] if len(parts) == 4 else b""
    return Record(ts, stream.decode(), partial, text)


_DEFAULT_PARSER = TimestampParser()

# conmon's own shape of a whole line: a 35-byte timestamp, then " stdout F " or
# " stderr F ", then the text (for fast paths: ``WHOLE.get(line[TS_LEN:TEXT_AT])``)
TS_LEN = 35
TEXT_AT = TS_LEN + 10
WHOLE = {b" stdout F ": "stdout", b" stderr F ": "stderr"}


def parse_k8s_chunk(body: bytes, ts_parser: TimestampParser | None) -> list[Record]:
    """Every well-formed line of ``body`` (whole lines, each ending in ``\\n``).

    The records :func:`parse_k8s_line` gives line by line, with conmon's usual shape
    (a whole line) recognised by one slice instead of a split: the per-line cost is
    what bounds ``docker logs``. With ``ts_parser=None`` the times of those lines are
    not parsed (``ts_ns`` is 0), for reads that neither filter nor print times.
    """
    out: list[Record] = []
    add = out.append
    whole = WHOLE
    parser = ts_parser or _DEFAULT_PARSER
    parse = ts_parser.parse if ts_parser is not None else None
    lines = body.split(b"\n")
    lines.pop()  # what follows the last newline
    for line in lines:
        stream = whole.get(line[TS_LEN:TEXT_AT])
        if stream is None:
            rec = parse_k8s_line(line, parser)
            if rec is not None:
                add(rec)
            continue
        ts = 0
        if parse is not None:
            try:
                ts = parse(line[:TS_LEN])
            except (ValueError, UnicodeDecodeError):
                continue
        add(Record(ts, stream, False, line[TEXT_AT:]))
    return out
