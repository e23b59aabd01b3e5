"""Backwards tail: the start offset covers the last N logical lines, and no more reading."""

from __future__ import annotations

import os
from pathlib import Path

from berthd.logger.tail import find_tail_start, lines_backwards

from .conftest import full, lines


def _start(path: Path, n: int, count_trailing: bool = True) -> bytes:
    data = path.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    try:
        off = find_tail_start(fd, len(data), n, count_trailing)
    finally:
        os.close(fd)
    return data[off:]


def test_lines_backwards_across_blocks_and_fragment(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_bytes(b"a\nbb\n\nccc\nunterminated")
    fd = os.open(p, os.O_RDONLY)
    try:
        for block in (1, 2, 3, 64):
            got = [x for x in lines_backwards(fd, os.path.getsize(p), block) if x[1] is not None]
            assert got == [(6, b"ccc"), (5, b""), (2, b"bb"), (0, b"a")], block
    finally:
        os.close(fd)


def test_tail_counts_logical_lines(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_bytes(
        lines(
            *full(3),
            (10, "stdout", b"pa", True),
            (11, "stderr", b"e1", False),
            (12, "stdout", b"rt", True),
            (13, "stderr", b"e2", False),
            (14, "stdout", b"ial", False),
        )
    )
    # The last 2 lines: stderr e2 and stdout "partial" — whose first piece is 4 lines up.
    assert _start(p, 2).startswith(lines((10, "stdout", b"pa", True)))
    assert _start(p, 0) == b""
    assert _start(p, 100) == p.read_bytes()


def test_tail_includes_trailing_pieces(tmp_path: Path) -> None:
    p = tmp_path / "log"
    body = lines(*full(5), (20, "stdout", b"unfinished", True), (21, "stderr", b"e", False))
    p.write_bytes(body)
    # tail 0 still reaches back to the pending piece so a follower can join it.
    assert _start(p, 0, count_trailing=False) == lines(
        (20, "stdout", b"unfinished", True), (21, "stderr", b"e", False)
    )
    assert _start(p, 1, count_trailing=True) == _start(p, 0, count_trailing=False)
    assert _start(p, 2, count_trailing=False) == lines(*full(1, start=4)) + _start(p, 1)


def test_tail_window_bounds_the_search(tmp_path: Path) -> None:
    """A stream silent for long (here stderr, once at the top) does not make tail scan it all."""
    p = tmp_path / "log"
    p.write_bytes(lines((0, "stderr", b"early", False), *full(20_000, start=1)))
    got = _start(p, 2)
    assert got == lines(*full(2, start=19_999))
