"""Go's notion of white space and the trims the Dockerfile front end relies on.

Python's ``str.isspace`` also accepts ``\\x1c``-``\\x1f``; Go's ``unicode.IsSpace`` does not.
"""

from __future__ import annotations

__all__ = ["GO_SPACES", "is_space", "trim_left_space", "trim_space"]

# unicode.IsSpace: the Latin-1 spaces, then the White_Space property above U+00FF
GO_SPACES = (
    "\t\n\v\f\r \x85\xa0"
    "\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_SET = frozenset(GO_SPACES)


def is_space(ch: str) -> bool:
    """``unicode.IsSpace`` for one character."""
    return ch in _SPACE_SET


def trim_left_space(s: str) -> str:
    """``strings.TrimLeftFunc(s, unicode.IsSpace)``."""
    return s.lstrip(GO_SPACES)


def trim_space(s: str) -> str:
    """``strings.TrimSpace``."""
    return s.strip(GO_SPACES)
