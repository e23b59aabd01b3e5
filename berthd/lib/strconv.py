"""Go's ``strconv`` parsers that dockerd applies to query values, with Go's error text."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["is_space", "parse_bool", "parse_uint64", "quote", "quote_list"]

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


_SIMPLE = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def quote(s: str) -> str:
    """``strconv.Quote`` (Go's ``%q``): a double-quoted Go string literal.

    Lone surrogates (bytes that were not UTF-8, decoded with ``surrogateescape``)
    come out as ``\\xNN`` like Go prints an invalid byte.
    """
    out = ['"']
    for ch in s:
        esc = _SIMPLE.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape'd raw byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def quote_list(items: Iterable[str]) -> str:
    """``fmt.Sprintf("%q", []string{...})``: ``["a" "b"]``."""
    return "[" + " ".join(quote(i) for i in items) + "]"


def is_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace`` (Python's ``isspace`` also counts U+001C..U+001F)."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"
