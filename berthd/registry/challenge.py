"""``WWW-Authenticate`` challenges (distribution's ``challenge/authchallenge.go``).

Each header is ``<scheme> k=v, k="quoted", …``: the scheme is a token (lower-cased), keys
are tokens (lower-cased), values tokens or quoted strings with backslash escapes. A
malformed pair ends the parse and keeps what came before, as Go does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Challenge", "parse_challenge", "parse_challenges"]

_SEPARATORS = frozenset(' \t"(),/:;<=>?@[]\\{}')
_SPACE = frozenset(" \t\r\n")


def _is_token(ch: str) -> bool:
    o = ord(ch)
    return 32 < o < 127 and ch not in _SEPARATORS


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in _SPACE:
        i += 1
    return i


def _token(s: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(s) and _is_token(s[j]):
        j += 1
    return s[i:j], j


def _token_or_quoted(s: str, i: int) -> tuple[str, int]:
    if i >= len(s) or s[i] != '"':
        return _token(s, i)
    out: list[str] = []
    i += 1
    escape = False
    while i < len(s):
        ch = s[i]
        if escape:
            out.append(ch)
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
        i += 1
    return "", len(s)


def parse_challenge(header: str) -> Challenge | None:
    scheme, i = _token(header, 0)
    if not scheme:
        return None
    params: dict[str, str] = {}
    s = header
    i = _skip_space(s, i)
    first = True
    while True:
        if not first:
            if i >= len(s) or s[i] != ",":
                break
            i += 1
        first = False
        key, i = _token(s, _skip_space(s, i))
        if not key or i >= len(s) or s[i] != "=":
            break
        value, i = _token_or_quoted(s, i + 1)
        if not value:
            break
        params[key.lower()] = value
        i = _skip_space(s, i)
    return Challenge(scheme.lower(), params)


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Every parsable challenge of a 401's ``WWW-Authenticate`` headers."""
    out: list[Challenge] = []
    for h in headers:
        c = parse_challenge(h)
        if c is not None:
            out.append(c)
    return out
