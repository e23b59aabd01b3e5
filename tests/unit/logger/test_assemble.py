"""Joining partial pieces per stream."""

from __future__ import annotations

from berthd.logger import LogMessage, Record
from berthd.logger.assemble import LineAssembler


def test_join_interleaved_streams() -> None:
    a = LineAssembler()
    assert a.add(Record(1, "stdout", True, b"he")) == []
    assert a.add(Record(2, "stderr", False, b"err")) == [LogMessage("stderr", b"err\n", 2)]
    assert a.add(Record(3, "stdout", True, b"ll")) == []
    assert a.has_pending()
    # The joined line carries the first piece's time, as dockerd's partial messages do.
    assert a.add(Record(4, "stdout", False, b"o")) == [LogMessage("stdout", b"hello\n", 1)]
    assert not a.has_pending()


def test_flush_emits_unterminated_lines_oldest_first() -> None:
    a = LineAssembler()
    a.add(Record(5, "stdout", True, b"out"))
    a.add(Record(3, "stderr", True, b"err"))
    assert a.flush() == [LogMessage("stderr", b"err", 3), LogMessage("stdout", b"out", 5)]
    assert a.flush() == []


def test_overlong_line_is_cut() -> None:
    a = LineAssembler(max_line=10)
    assert a.add(Record(1, "stdout", True, b"12345")) == []
    assert a.add(Record(2, "stdout", True, b"67890")) == [LogMessage("stdout", b"1234567890", 1)]
    assert a.add(Record(3, "stdout", False, b"x")) == [LogMessage("stdout", b"x\n", 3)]
