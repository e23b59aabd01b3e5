"""Why Go's ``time.Time`` would refuse a JSON value: its ``UnmarshalJSON`` error text.

dockerd decodes ``created`` fields into ``time.Time``, whose ``UnmarshalJSON`` (Go 1.19,
the toolchain of the dockerd used as the oracle) is ``time.Parse`` of the raw JSON text,
quotes included, against ``"2006-01-02T15:04:05Z07:00"`` (the layout quoted). This
module walks that layout the way ``time.Parse`` does and returns the ``*ParseError``
text it would give, so a malformed time is refused in dockerd's words. It accepts
what Go accepts (a one-digit hour, a fraction of any length, ``-00:00``).
"""

from __future__ import annotations

__all__ = ["json_time_error"]

_LAYOUT = '"2006-01-02T15:04:05Z07:00"'
# (literal prefix, std chunk) pairs of _LAYOUT, as Go's nextStdChunk splits it
_CHUNKS = (
    ('"', "2006"),
    ("-", "01"),
    ("-", "02"),
    ("T", "15"),
    (":", "04"),
    (":", "05"),
    ("", "Z07:00"),
    ('"', ""),
)


def _quote(text: str) -> str:
    """Go's ``time.quote``: ``"`` and ``\\`` escaped, other bytes outside printable
    ASCII as ``\\xNN``."""
    out = ['"']
    for ch in text:
        if ch >= "\x80" or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


class _Bad(Exception):
    pass


def _digit(s: str, i: int) -> bool:
    return i < len(s) and s[i] in "0123456789"


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not _digit(s, 0):
        raise _Bad
    if not _digit(s, 1):
        if fixed:
            raise _Bad
        return int(s[0]), s[1:]
    return int(s[:2]), s[2:]


def _skip(value: str, prefix: str) -> tuple[str, bool]:
    for ch in prefix:
        if not value or value[0] != ch:
            return value, False
        value = value[1:]
    return value, True


def json_time_error(raw: str) -> str | None:
    """The error Go gives decoding the JSON text ``raw`` into a ``time.Time``; None when
    it would decode (``null`` included)."""
    if raw == "null":
        return None
    value = raw
    year = month = day = 0

    def error(layout_elem: str, value_elem: str) -> str:
        return (
            f"parsing time {_quote(raw)} as {_quote(_LAYOUT)}: cannot parse "
            f"{_quote(value_elem)} as {_quote(layout_elem)}"
        )

    def out_of_range(what: str) -> str:
        return f"parsing time {_quote(raw)}: {what} out of range"

    for prefix, std in _CHUNKS:
        value, ok = _skip(value, prefix)
        if not ok:
            return error(prefix, value)
        if not std:
            if value:
                return f"parsing time {_quote(raw)}: extra text: {_quote(value)}"
            break
        hold = value
        try:
            if std == "2006":
                if len(value) < 4 or not all(_digit(value, i) for i in range(4)):
                    raise _Bad
                year, value = int(value[:4]), value[4:]
            elif std == "01":
                month, value = _getnum(value, True)
                if not 1 <= month <= 12:
                    return out_of_range("month")
            elif std == "02":
                day, value = _getnum(value, True)
            elif std == "15":
                hour, value = _getnum(value, False)
                if hour >= 24:
                    return out_of_range("hour")
            elif std == "04":
                minute, value = _getnum(value, True)
                if minute >= 60:
                    return out_of_range("minute")
            elif std == "05":
                second, value = _getnum(value, True)
                if second >= 60:
                    return out_of_range("second")
                if len(value) >= 2 and value[0] in ".," and _digit(value, 1):
                    n = 2
                    while _digit(value, n):
                        n += 1
                    value = value[n:]
            elif value[:1] == "Z":
                value = value[1:]
            else:
                if len(value) < 6 or value[3] != ":" or value[0] not in "+-":
                    raise _Bad
                _getnum(value[1:3], True)
                _getnum(value[4:6], True)
                value = value[6:]
        except _Bad:
            return error(std, hold)
    if day < 1 or day > _days_in(month, year):
        return out_of_range("day")
    return None
