"""Go's notion of white space and the trims the Dockerfile front end relies on.

Python's ``str.isspace`` also accepts ``\\x1c``-``\\x1f``; Go's ``unicode.IsSpace`` does not.
"""

from __future__ import annotations

__all__ = ["is_space", "trim_left_space", "trim_space"]

_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")
_WHITE_SPACE = frozenset(
    "\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def is_space(ch: str) -> bool:
    """``unicode.IsSpace`` for one character."""
    if ord(ch) <= 0xFF:
        return ch in _LATIN1_SPACE
    return ch in _WHITE_SPACE


def trim_left_space(s: str) -> str:
    """``strings.TrimLeftFunc(s, unicode.IsSpace)``."""
    i = 0
    while i < len(s) and is_space(s[i]):
        i += 1
    return s[i:]


def trim_space(s: str) -> str:
    """``strings.TrimSpace``."""
    s = trim_left_space(s)
    j = len(s)
    while j > 0 and is_space(s[j - 1]):
        j -= 1
    return s[:j]
