"""TEMPORARY stand-in for bparser's module (not committed)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence


def read_dockerignore(data: bytes) -> list[str]:
    out = []
    for line in data.decode().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


class PatternMatcher:
    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = list(patterns)

    def matches_or_parent_matches(self, path: str) -> bool:
        hit = False
        parts = path.split("/")
        for p in self.patterns:
            neg = p.startswith("!")
            pat = p[1:] if neg else p
            for i in range(1, len(parts) + 1):
                if fnmatch.fnmatch("/".join(parts[:i]), pat.strip("/")):
                    hit = not neg
        return hit
