"""Go's ``strconv`` parsers that dockerd applies to query values, with Go's error text."""

from __future__ import annotations

__all__ = ["parse_bool", "parse_uint64"]

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
