"""buildkit's ``util/suggest``: append ``(did you mean X?)`` to an error about a name.

A candidate at Levenshtein distance < 3 is suggested (the first of the nearest);
an exact match means the error is about something else, so nothing is added.
Candidates are walked in the order given: where Go builds the list from a map
(instruction names, flag names, mount types; random order on ties) callers pass
it sorted, so ties resolve alphabetically.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["levenshtein", "suggest"]


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit costs (agext/levenshtein's defaults)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _match_case(value: str, orig: str) -> str:
    if orig == orig.lower():
        return value.lower()
    if orig == orig.upper():
        return value.upper()
    return value


def suggest(message: str, value: str, options: Iterable[str], case_sensitive: bool) -> str:
    """``suggest.WrapError``'s text for ``message`` about ``value``."""
    orig = value
    if not case_sensitive:
        value = value.lower()
    match = ""
    best = 3
    for opt in options:
        if not case_sensitive:
            opt = opt.lower()
        if value == opt:
            return message
        dist = levenshtein(value, opt)
        if dist < best:
            match = _match_case(opt, orig) if not case_sensitive else opt
            best = dist
    if not match:
        return message
    return f"{message} (did you mean {match}?)"
