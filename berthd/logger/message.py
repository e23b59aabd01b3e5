"""What ``docker logs`` is made of: a message and its timestamp text.

A message is one logical output line as dockerd's json-file reader returns it:
the source stream, the bytes (with the trailing ``\\n`` when the line was
complete) and the time conmon stamped on its first piece (dockerd also stamps
all pieces of a split line with the first piece's time).
"""

from __future__ import annotations

import time
from typing import NamedTuple

__all__ = ["LogMessage", "format_timestamp", "stamp_text"]


class LogMessage(NamedTuple):
    """Immutable; a NamedTuple because a big log makes millions of them."""

    stream: str  # "stdout" | "stderr"
    line: bytes
    ts_ns: int


def format_timestamp(ts_ns: int) -> str:
    """``docker logs --timestamps`` prefix text: Go's RFC3339NanoFixed in UTC.

    dockerd formats with ``2006-01-02T15:04:05.000000000Z07:00`` (always 9
    fraction digits, unlike RFC3339Nano which trims zeros), and json-file times
    are UTC, so the zone is ``Z``. The route appends a space.
    """
    sec, frac = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


_last_second: list[tuple[int, bytes]] = [(-1, b"")]


def stamp_text(ts_ns: int) -> bytes:
    """:func:`format_timestamp` as bytes, the seconds part formatted once per second."""
    sec, frac = divmod(ts_ns, 1_000_000_000)
    last_sec, prefix = _last_second[0]
    if sec != last_sec:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()
        _last_second[0] = (sec, prefix)
    return b"%s.%09dZ" % (prefix, frac)
