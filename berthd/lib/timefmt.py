"""Times as Docker writes them: Go's RFC 3339 with nanoseconds, and human durations.

Container state times are kept as integer nanoseconds since the epoch (0 =
Go's zero time, "0001-01-01T00:00:00Z"), so nothing is lost between the
wall clock, the conmon exit file and the JSON a client reads.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

__all__ = ["ZERO_TIME", "format_ns", "human_duration", "now_ns", "parse_ns"]

ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|z|[+-]\d{2}:\d{2})$"
)


def now_ns() -> int:
    return time.time_ns()


def format_ns(ns: int) -> str:
    """UTC RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's RFC3339Nano."""
    if ns <= 0:
        return ZERO_TIME
    sec, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def parse_ns(text: str) -> int:
    """The inverse of ``format_ns`` (any offset accepted); the zero time → 0."""
    if not text or text.startswith("0001-01-01"):
        return 0
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    secs = int(dt.timestamp())
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return secs * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "5 minutes", "About an hour" …"""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"
