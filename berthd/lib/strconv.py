"""Go's ``strconv`` parsers that dockerd applies to query values, with Go's error text."""

from __future__ import annotations

__all__ = ["is_space", "parse_bool", "parse_uint64", "quote"]

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(value: str) -> bool:
    """``strconv.ParseBool``; ValueError with Go's message otherwise."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def parse_uint64(raw: str) -> int:
    """``strconv.ParseUint(raw, 10, 64)``; ValueError with Go's message otherwise."""
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{raw}": invalid syntax')
    value = int(raw)
    if value >= 2**64:
        raise ValueError(f'strconv.ParseUint: parsing "{raw}": value out of range')
    return value


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES.update({"\v": "\\v", "\\": "\\\\", '"': '\\"'})


def quote(s: str) -> str:
    """``strconv.Quote`` (Go's ``%q``): printable characters as they are, others escaped."""
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def is_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace`` (Python's ``isspace`` also counts U+001C..U+001F)."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"
