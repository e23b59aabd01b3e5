"""Rotated logs: rotate() keeps max-file files; read_logs reads them oldest first."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from berthd.logger import LogMessage, read_logs
from berthd.logger.rotate import rotate, rotated_files

from .conftest import lines


async def collect(path: Path, **kw: object) -> list[bytes]:
    async with contextlib.aclosing(read_logs(str(path), **kw)) as it:  # type: ignore[arg-type]
        msgs: list[LogMessage] = [m async for m in it]
    return [m.line for m in msgs]


def write(p: Path, first: int, n: int) -> None:
    p.write_bytes(
        lines(*((first + i, "stdout", f"l{first + i}".encode(), False) for i in range(n)))
    )


def test_rotate_shifts_and_keeps_max_file(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    for i in range(5):
        write(log, i * 10, 1)
        rotate(str(log), 3)
        assert not log.exists()
    assert [Path(p).name for p in rotated_files(str(log))] == ["c.log.2", "c.log.1"]
    assert b"l40" in (tmp_path / "c.log.1").read_bytes()
    assert b"l30" in (tmp_path / "c.log.2").read_bytes()
    (tmp_path / "c.log.x").write_bytes(b"")  # not a rotation
    assert len(rotated_files(str(log))) == 2


@pytest.mark.asyncio
async def test_reader_reads_rotated_files_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    write(log, 0, 3)
    rotate(str(log), 3)
    write(log, 3, 3)
    rotate(str(log), 3)
    write(log, 6, 2)
    every = [f"l{i}\n".encode() for i in range(8)]
    assert await collect(log) == every
    assert await collect(log, tail=2) == every[-2:]  # the current file is enough
    assert await collect(log, tail=4) == every[-4:]  # reaches into .1
    assert await collect(log, tail=100) == every
    # the current file may be missing for a moment (rotated, not yet reopened)
    rotate(str(log), 3)
    assert await collect(log, tail=3) == every[-3:]
    assert await collect(log) == every[3:]  # the oldest (.2 before) was dropped
