"""The k8s-file line format: the spike's exact sample, round trips, malformed input."""

from __future__ import annotations

from berthd.lib.timefmt import parse_ns
from berthd.logger import Record, format_k8s_line, parse_k8s_line
from berthd.logger.k8sfile import TimestampParser

# Copied from research/runtime-spikes.md ("Log format (k8s-file)"), written by conmon 2.1.6.
SPIKE = b"""2026-11-23T07:22:27.706093639+00:00 stdout F line1
2026-11-23T07:22:27.706093639+00:00 stdout P partial
2026-11-23T07:22:27.706171105+00:00 stderr F to-stderr
"""


def test_spike_sample() -> None:
    recs = [parse_k8s_line(x) for x in SPIKE.split(b"\n")[:-1]]
    t1 = parse_ns("2026-11-23T07:22:27.706093639Z")
    assert recs == [
        Record(t1, "stdout", False, b"line1"),
        Record(t1, "stdout", True, b"partial"),
        Record(parse_ns("2026-11-23T07:22:27.706171105Z"), "stderr", False, b"to-stderr"),
    ]


def test_round_trip_raw_bytes() -> None:
    for text in (b"", b"  leading spaces", b"tab\there\r", b"\xff\xfe not utf8", b"a b c d"):
        for partial in (False, True):
            line = format_k8s_line(123_456_789_012_345_678, "stderr", text, partial)
            assert line.endswith(b"\n")
            assert parse_k8s_line(line[:-1]) == Record(
                123_456_789_012_345_678, "stderr", partial, text
            )


def test_offsets_and_cache() -> None:
    p = TimestampParser()
    a = p.parse(b"2026-11-23T08:22:27.000000001+01:00")
    b = p.parse(b"2026-11-23T08:22:27.000000002+01:00")  # cached seconds
    assert a == parse_ns("2026-11-23T07:22:27.000000001Z")
    assert b - a == 1
    assert p.parse(b"2026-11-23T02:22:27.5-05:00") == parse_ns("2026-11-23T07:22:27.5Z")


def test_malformed_lines_are_none() -> None:
    bad = [
        b"",
        b"garbage",
        b"2026-11-23T07:22:27.706093639+00:00 stdout",
        b"2026-11-23T07:22:27.706093639+00:00 stdin F x",
        b"2026-11-23T07:22:27.706093639+00:00 stdout X x",
        b"2026-13-99T07:22:27.706093639+00:00 stdout F x",
        b"notatime stdout F x",
        b"\xff\xfe stdout F x",
    ]
    for line in bad:
        assert parse_k8s_line(line) is None, line
    # Extra CRI tags after ':' are tolerated; a missing text field is an empty line.
    assert parse_k8s_line(b"2026-11-23T07:22:27Z stdout F:x hi") == Record(
        parse_ns("2026-11-23T07:22:27Z"), "stdout", False, b"hi"
    )
    assert parse_k8s_line(b"2026-11-23T07:22:27Z stdout F") is not None
