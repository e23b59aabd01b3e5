"""The JSON-lines messages dockerd streams from ``POST /images/load`` (and pull/push).

Byte-compatible with moby's ``streamformatter`` + ``jsonmessage``: the docker CLI renders
progress bars from ``progressDetail`` and prints ``stream`` text verbatim, and scripts
grep "Loaded image: …", so field order, units and the bar itself match dockerd.
"""

from __future__ import annotations

from typing import Any

from berthd.image.gojson import marshal

__all__ = [
    "error_line",
    "human_size",
    "progress_bar",
    "progress_line",
    "status_line",
    "stream_line",
]

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_PROGRESS_WIDTH = 200  # dockerd has no terminal: JSONProgress.width() falls back to 200


def _dumps(obj: dict[str, Any]) -> bytes:
    """One JSON message as Go's ``json.Marshal`` writes it, plus "\\n"."""
    return marshal(obj) + b"\n"


def human_size(size: float) -> str:
    """go-units ``HumanSize``: 4 significant digits, decimal units (``1.536kB``)."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_DECIMAL_UNITS[i]}"


def progress_bar(current: int, total: int) -> str:
    """``JSONProgress.String()`` for byte counts (no start time, so no ETA)."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if _PROGRESS_WIDTH > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}"
    if current > total:
        numbers = f"{human_size(current):>8}"
    return bar + numbers


def stream_line(text: str) -> bytes:
    """``{"stream": text}`` — what ``NewStdoutWriter`` makes of each write."""
    return _dumps({"stream": text})


def status_line(status: str, id_: str = "") -> bytes:
    obj: dict[str, Any] = {"status": status}
    if id_:
        obj["id"] = id_
    return _dumps(obj)


def progress_line(id_: str, action: str, current: int, total: int) -> bytes:
    """One progress update, e.g. ``Loading layer`` with a bar."""
    detail: dict[str, Any] = {}
    if current:
        detail["current"] = current
    if total:
        detail["total"] = total
    obj: dict[str, Any] = {"status": action, "progressDetail": detail}
    bar = progress_bar(current, total)
    if bar:
        obj["progress"] = bar
    if id_:
        obj["id"] = id_
    return _dumps(obj)


def error_line(message: str) -> bytes:
    """``FormatError``: how an error is reported once the stream has started."""
    return _dumps({"errorDetail": {"message": message}, "error": message})
