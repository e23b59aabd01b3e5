from __future__ import annotations

from berthd.lib.timefmt import parse_ns
from berthd.logger import format_timestamp


def test_rfc3339nano_fixed() -> None:
    assert format_timestamp(parse_ns("2026-11-23T07:22:27.7Z")) == "2026-11-23T07:22:27.700000000Z"
    assert format_timestamp(parse_ns("2026-11-23T07:22:27Z")) == "2026-11-23T07:22:27.000000000Z"
