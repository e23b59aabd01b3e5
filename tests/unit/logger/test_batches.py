"""read_log_batches: the fast path (whole conmon lines, no record per line) gives exactly
what the general path (records, assembler, filters) gives, for every mix of lines."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from berthd.daemon.containers.logs import _renderer
from berthd.logger import Batch, format_timestamp, read_log_batches, read_logs

from .conftest import T0, lines

S = 1_000_000_000


def _random_log(seed: int, n: int = 3000) -> bytes:
    rnd = random.Random(seed)
    out: list[bytes] = []
    for i in range(n):
        stream = rnd.choice(("stdout", "stderr"))
        partial = rnd.random() < 0.2
        text = bytes(rnd.choice(b"ab \r\t\x00\xff") for _ in range(rnd.randrange(0, 40)))
        text = text.replace(b"\n", b"")
        out.append(lines((i, stream, text, partial)))
        if rnd.random() < 0.02:
            out.append(b"junk without fields\n")
        if rnd.random() < 0.01:
            out.append(b"2023-11-14T22:13:20.000000000+00:00 stdout X odd tag\n")
    return b"".join(out)


def _pairs(batch: Batch) -> list[tuple[str, bytes]]:
    return list(zip(batch.streams, batch.lines, strict=True))


async def _read(path: Path, **kw: object) -> list[tuple[str, bytes]]:
    gen = read_log_batches(str(path), _pairs, **kw)  # type: ignore[arg-type]
    async with contextlib.aclosing(gen):
        return [p async for batch in gen for p in batch]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("stdout", "stderr"), [(True, True), (True, False), (False, True)])
async def test_fast_path_matches_general_path(
    tmp_path: Path, seed: int, stdout: bool, stderr: bool
) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(_random_log(seed))
    fast = await _read(log, times=False, stdout=stdout, stderr=stderr)
    # since_ns=1 accepts every line but takes the general path
    general = await _read(log, since_ns=1, stdout=stdout, stderr=stderr)
    assert fast == general
    assert fast  # the log is not empty
    tailed = await _read(log, tail=10**6, stdout=stdout, stderr=stderr)
    assert tailed == general


async def test_frames_and_timestamps(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(
        lines((0, "stdout", b"one", False), (1, "stderr", b"t", True), (2, "stderr", b"wo", False))
    )
    frames: list[bytes] = []
    gen = read_log_batches(str(log), _renderer(False), times=False)
    async with contextlib.aclosing(gen):
        frames = [b async for b in gen]
    assert (
        b"".join(frames)
        == b"\x01\x00\x00\x00\x00\x00\x00\x04one\n\x02\x00\x00\x00\x00\x00\x00\x04two\n"
    )
    gen = read_log_batches(str(log), _renderer(True), times=False, stamps=True)
    async with contextlib.aclosing(gen):
        raw = b"".join([b async for b in gen])
    assert raw == (b"2023-11-14T22:13:20.000000000Z one\n2023-11-14T22:13:21.000000000Z two\n")
    assert T0 == 1_700_000_000 * S


def _zoned(body: bytes, seed: int) -> bytes:
    """Some of the log's UTC stamps rewritten to the same instant in another zone."""
    rnd = random.Random(seed)
    out: list[bytes] = []
    for line in body.splitlines(keepends=True):
        if line[29:35] == b"+00:00" and rnd.random() < 0.3:
            hh = int(line[11:13])
            # 22:mm UTC is 00:mm+02:00 the next day (the log's day is 2023-11-14)
            if hh >= 22:
                line = b"2023-11-15T%02d%s+02:00%s" % (hh - 22, line[13:29], line[35:])
            else:
                line = b"%s%02d%s+02:00%s" % (line[:11], hh + 2, line[13:29], line[35:])
        out.append(line)
    return b"".join(out)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "kw", [{}, {"since_ns": T0 + 500 * S}, {"until_ns": T0 + 2000 * S}, {"tail": 700}]
)
async def test_stamped_lines_are_the_times_formatted(
    tmp_path: Path, seed: int, kw: dict[str, int]
) -> None:
    """``stamps=True`` (the -t fast path: a UTC stamp copied from the file) gives each
    line after exactly the text ``format_timestamp`` makes of its parsed time."""
    log = tmp_path / "ctr.log"
    log.write_bytes(_zoned(_random_log(seed), seed))
    stamped = await _read(log, times=False, stamps=True, **kw)
    gen = read_logs(str(log), **kw)  # type: ignore[arg-type]
    async with contextlib.aclosing(gen):
        want = [(m.stream, format_timestamp(m.ts_ns).encode() + b" " + m.line) async for m in gen]
    assert stamped == want
    assert len(want) > 100
