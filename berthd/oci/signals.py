"""``--stop-signal`` parsing: dockerd's ``signal.ParseSignal``.

A number (not 0) is taken as is; otherwise the name, with or without ``SIG``,
case-insensitively, including the real-time names ``RTMIN+n``/``RTMAX-n``.
"""

from __future__ import annotations

import re
import signal

from berthd.errdefs import InvalidParameter

__all__ = ["SIGNAL_MAP", "parse_signal"]


def _signal_map() -> dict[str, int]:
    out: dict[str, int] = {}
    for s in signal.Signals:
        name = s.name
        if name.startswith("SIG") and not name.startswith("SIG_"):
            out[name[3:]] = int(s)
    rtmin, rtmax = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
    out["RTMIN"], out["RTMAX"] = rtmin, rtmax
    for i in range(1, rtmax - rtmin):
        out[f"RTMIN+{i}"] = rtmin + i
        out[f"RTMAX-{i}"] = rtmax - i
    return out


SIGNAL_MAP: dict[str, int] = _signal_map()


def parse_signal(raw: str) -> int:
    """``SIGTERM``/``term``/``15`` → 15; ``Invalid signal: foo`` otherwise."""
    if re.fullmatch(r"[+-]?[0-9]+", raw):
        n = int(raw, 10)
        if n == 0:
            raise InvalidParameter(f"Invalid signal: {raw}")
        return n
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    sig = SIGNAL_MAP.get(name)
    if sig is None:
        raise InvalidParameter(f"Invalid signal: {raw}")
    return sig
