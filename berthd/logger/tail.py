"""Where ``docker logs --tail N`` starts reading, found by reading the file backwards.

Reading a 1 GB log to print 10 lines is not acceptable, so we walk physical
lines from the end in 64 KiB blocks until we have passed N *logical* lines
(a line is complete at its ``F`` piece; its earlier ``P`` pieces of the same
stream may lie further back, interleaved with the other stream). The forward
reader then starts at the returned offset and keeps the last N lines it
assembles, so starting a little early is harmless and starting late is the
only thing to avoid.

Pending ``P`` pieces at the end of a stream (a line still being written, or
the unterminated last line of an exited container) are included too, so a
follower joins them instead of showing a line without its beginning. Finding
the last line of a stream that stopped writing long ago would mean scanning
the whole file; we look ``TRAILING_WINDOW`` bytes past the point where the
count was reached and no further (documented limitation).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from berthd.logger.k8sfile import TimestampParser, parse_k8s_line

__all__ = ["BLOCK", "TRAILING_WINDOW", "find_tail_start", "lines_backwards"]

BLOCK = 64 * 1024
TRAILING_WINDOW = 256 * 1024
# A physical line is ≤ 8 KiB + 44 from conmon; anything this long is garbage.
_MAX_PHYSICAL = 4 * 1024 * 1024


def lines_backwards(fd: int, end: int, block: int = BLOCK) -> Iterator[tuple[int, bytes | None]]:
    """``(offset, line)`` of newline-terminated lines in ``[0, end)``, last first.

    After each block read it also yields ``(block offset, None)``, so a caller
    can give up inside a long run of bytes without newlines. The unterminated
    fragment at ``end`` (a write in progress) is skipped, and so is any line
    longer than ``_MAX_PHYSICAL``.
    """
    pos = end
    head = b""  # bytes at [pos, pos + len(head)): the unfinished start of a line + its "\n"
    trimmed = False  # have we cut back to a line boundary yet?
    while pos > 0:
        size = min(block, pos)
        pos -= size
        chunk = os.pread(fd, size, pos)
        if len(chunk) < size:  # the file shrank under us: give up quietly
            return
        yield pos, None
        data = chunk + head
        if not trimmed:
            nl = data.rfind(b"\n")
            if nl < 0:
                head = b""
                continue
            data = data[: nl + 1]
            trimmed = True
        first_nl = data.find(b"\n")
        body = data[first_nl + 1 :]
        offset = pos + len(data)
        for line in reversed(body.split(b"\n")[:-1]):
            offset -= len(line) + 1
            yield offset, line
        head = data[: first_nl + 1]
        if len(head) > _MAX_PHYSICAL:
            head = b""
            trimmed = False
    if head:
        yield 0, head[:-1]


def find_tail_start(fd: int, end: int, n: int, count_trailing: bool) -> int:
    """Offset to read forward from so that the last ``n`` logical lines are complete.

    ``count_trailing``: whether pending pieces at the end of a stream will be
    emitted as a line (the log has ended), and so count towards ``n``.

    Phase 1 walks back until ``n`` lines are counted (everything walked is
    read). Phase 2 looks at most ``TRAILING_WINDOW`` further for earlier
    pieces of those lines and for the pending end of a stream not seen yet.
    """
    parser = TimestampParser()
    count = 0
    seen: set[str] = set()
    need: dict[str, bool] = {}  # stream → its earliest counted line may have pieces further back
    boundary: int | None = end if n == 0 else None  # start of the n-th line from the end
    start = end
    for off, line in lines_backwards(fd, end):
        if boundary is not None:
            if boundary - off > TRAILING_WINDOW:
                break
            if len(seen) >= 2 and not any(need.values()):
                break
        if line is None:
            continue
        rec = parse_k8s_line(line, parser)
        if rec is None:
            continue
        s = rec.stream
        if boundary is None:  # phase 1: every line walked is read
            start = off
            if not rec.partial:
                count += 1
                need[s] = True
            elif s not in seen:
                need[s] = True
                count += count_trailing
            seen.add(s)
            if count >= n:
                boundary = off
            continue
        # phase 2: only pieces of wanted lines, and pending stream ends
        if not rec.partial:
            need[s] = False
        elif need.get(s, s not in seen):
            need[s] = True
            start = off
        seen.add(s)
    else:
        if boundary is None:
            return 0
    return start
