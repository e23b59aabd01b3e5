"""Joining conmon's partial (``P``) pieces back into whole lines.

conmon cuts a line whenever one read of the container's pipe ends before the
newline (every 8 KiB for long lines, or whenever the program flushes mid-line).
stdout and stderr are separate pipes, so their pieces interleave in the file:
pending pieces are kept per stream.

A line is emitted when its ``F`` piece arrives, stamped with the first piece's
time (what dockerd does for a split line). Pieces still pending when the log
ends (container exited after ``printf foo``) are emitted as they are, without a
newline: dockerd's copier logs such a tail as a non-last partial message, and
json-file then stores it with no ``\\n`` appended, so ``docker logs`` shows it
without one.

Memory is bounded: a "line" that grows past ``max_line`` bytes without a
newline is emitted in ``max_line`` pieces (each without a newline), the way
dockerd emits 16 KiB partial messages, only much larger.
"""

from __future__ import annotations

from berthd.logger.k8sfile import Record
from berthd.logger.message import LogMessage

__all__ = ["MAX_LINE", "LineAssembler"]

MAX_LINE = 1024 * 1024


class LineAssembler:
    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._max_line = max_line
        # stream → (first piece's ts, pieces)
        self._pending: dict[str, tuple[int, list[bytes], int]] = {}
        # read-only view for the reader's fast path: empty while no line is pending
        self.pending = self._pending

    def add(self, rec: Record) -> list[LogMessage]:
        """Feed one record; return the messages it completes (usually 0 or 1)."""
        pend = self._pending.get(rec.stream)
        if not rec.partial:
            if pend is None:
                return [LogMessage(rec.stream, rec.text + b"\n", rec.ts_ns)]
            del self._pending[rec.stream]
            ts, pieces, _ = pend
            pieces.append(rec.text)
            pieces.append(b"\n")
            return [LogMessage(rec.stream, b"".join(pieces), ts)]
        if pend is None:
            pend = (rec.ts_ns, [rec.text], len(rec.text))
        else:
            ts, pieces, size = pend
            pieces.append(rec.text)
            pend = (ts, pieces, size + len(rec.text))
        if pend[2] < self._max_line:
            self._pending[rec.stream] = pend
            return []
        # Too long to hold: hand out what we have, keep joining the rest.
        self._pending.pop(rec.stream, None)
        return [LogMessage(rec.stream, b"".join(pend[1]), pend[0])]

    def add_many(self, recs: list[Record]) -> list[LogMessage]:
        """Feed records in order; the messages they complete (the bulk form of ``add``)."""
        out: list[LogMessage] = []
        pending = self._pending
        for rec in recs:
            if not rec.partial and not pending:  # the common case: a whole line
                out.append(LogMessage(rec.stream, rec.text + b"\n", rec.ts_ns))
            else:
                out.extend(self.add(rec))
        return out

    def has_pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> list[LogMessage]:
        """The log ended: emit pending pieces as unterminated lines, oldest first."""
        out = [LogMessage(s, b"".join(p), ts) for s, (ts, p, _) in self._pending.items()]
        self._pending.clear()
        out.sort(key=lambda m: m.ts_ns)
        return out

    def discard(self) -> None:
        """Forget pending pieces (a reader that stops early without the log ending)."""
        self._pending.clear()
