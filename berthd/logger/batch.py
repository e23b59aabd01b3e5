"""A read step's messages, column by column.

A 50 MB log is half a million lines; one object per line is what made ``docker logs``
slow. A batch keeps the streams, the bytes and (when asked for) the times in three
parallel lists, which the renderers walk with ``zip``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from berthd.logger.message import LogMessage, stamp_text

__all__ = ["Batch"]


@dataclass(slots=True)
class Batch:
    streams: list[str] = field(default_factory=list)  # "stdout" | "stderr"
    lines: list[bytes] = field(default_factory=list)
    # parallel to ``lines`` when the reader keeps times, else empty
    times: list[int] = field(default_factory=list)
    # the reader was asked for ``docker logs -t`` text: every line already starts with
    # its stamp and a space (``2026-11-23T07:22:27.706093639Z ``), ``times`` stays empty
    stamped: bool = False

    def __len__(self) -> int:
        return len(self.lines)

    def extend(self, msgs: Iterable[LogMessage], times: bool) -> None:
        if self.stamped:
            for msg in msgs:
                self.streams.append(msg.stream)
                self.lines.append(stamp_text(msg.ts_ns) + b" " + msg.line)
            return
        for msg in msgs:
            self.streams.append(msg.stream)
            self.lines.append(msg.line)
            if times:
                self.times.append(msg.ts_ns)

    def messages(self) -> list[LogMessage]:
        """As ``LogMessage``s (the batch must have been read with times)."""
        return [LogMessage(*m) for m in zip(self.streams, self.lines, self.times, strict=True)]
