"""``.dockerignore`` files and moby's pattern matcher (moby/patternmatcher v0.6, as in dockerd v26).

- :func:`read_dockerignore` is ``ignorefile.ReadAll``: a UTF-8 BOM is dropped, lines
  starting with ``#`` are comments, blanks are trimmed, ``!`` marks an exception,
  each pattern is ``filepath.Clean``-ed and a leading ``/`` removed.
- :class:`PatternMatcher` follows the patterns in order (a later match wins, ``!``
  re-includes): ``*`` and ``?`` stop at ``/``, ``[...]`` classes, ``**`` any number
  of directories, ``\\`` escapes. ``matches_or_parent_matches`` is what the daemon
  uses to drop the Dockerfile and ``.dockerignore`` from a context.

Bad patterns raise ``InvalidParameter`` with Go's texts (``syntax error in pattern``,
``illegal exclusion pattern: "!"``). Where moby v0.6 would panic on a pattern whose
regexp does not compile when it is used a second time, this raises the error again.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.lib.gopath import clean as go_clean

from .dockerfile.gotext import trim_space

__all__ = [
    "BAD_PATTERN",
    "PatternMatcher",
    "matches",
    "matches_or_parent_matches",
    "read_dockerignore",
]

BAD_PATTERN = "syntax error in pattern"  # filepath.ErrBadPattern
_MAX_LINE = 64 * 1024
_ESCAPE = frozenset(".+()|{}$")


def read_dockerignore(data: bytes) -> list[str]:
    """``ignorefile.ReadAll``: the patterns of a ``.dockerignore`` file, in order."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    out: list[str] = []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for raw in lines:
        if len(raw) > _MAX_LINE - 1:  # bufio.Scanner's limit (the caller adds its prefix)
            raise errdefs.InvalidParameter("bufio.Scanner: token too long")
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        pattern = raw.decode("utf-8", "surrogateescape")
        if pattern.startswith("#"):
            continue
        pattern = trim_space(pattern)
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = trim_space(pattern[1:])
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


# --- filepath.Match's syntax check ---------------------------------------------------
class _Bad(Exception):
    pass


def _scan_chunk(pattern: str) -> tuple[str, str]:
    pattern = pattern.lstrip("*")
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> str:
    if not chunk or chunk[0] in "-]":
        raise _Bad
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _Bad
    if 0xDC80 <= ord(chunk[0]) <= 0xDCFF:  # not UTF-8
        raise _Bad
    rest = chunk[1:]
    if not rest:
        raise _Bad
    return rest


def _check_chunk(chunk: str) -> None:
    while chunk:
        c = chunk[0]
        if c == "[":
            chunk = chunk[1:]
            if chunk.startswith("^"):
                chunk = chunk[1:]
            nrange = 0
            while True:
                if chunk.startswith("]") and nrange > 0:
                    chunk = chunk[1:]
                    break
                chunk = _get_esc(chunk)
                if chunk[0] == "-":
                    chunk = _get_esc(chunk[1:])
                nrange += 1
        elif c == "\\":
            chunk = chunk[1:]
            if not chunk:
                raise _Bad
            chunk = chunk[1:]
        else:
            chunk = chunk[1:]


def _check_pattern(pattern: str) -> None:
    """Raise unless ``filepath.Match`` accepts the pattern's syntax."""
    try:
        while pattern:
            chunk, pattern = _scan_chunk(pattern)
            _check_chunk(chunk)
    except _Bad:
        raise errdefs.InvalidParameter(BAD_PATTERN) from None


# --- patterns --------------------------------------------------------------------------
@dataclass
class _Pattern:
    cleaned: str
    exclusion: bool
    dirs: list[str]
    kind: str = ""  # "exact" | "prefix" | "suffix" | "regexp" | "bad"; "" until first use
    regexp: re.Pattern[str] | None = field(default=None, repr=False)

    def match(self, path: str) -> bool:
        if not self.kind:
            self._compile()
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix[:1] == "/" and path == suffix[1:]
        if self.kind == "regexp" and self.regexp is not None:
            return self.regexp.match(path) is not None
        raise errdefs.InvalidParameter(BAD_PATTERN)

    def _compile(self) -> None:
        reg = ["^"]
        kind = "exact"
        p = self.cleaned
        pos = 0
        i = 0
        while pos < len(p):
            ch = p[pos]
            pos += 1
            nxt = p[pos] if pos < len(p) else ""
            if ch == "*":
                if nxt == "*":
                    pos += 1
                    if p[pos : pos + 1] == "/":
                        pos += 1
                    if pos >= len(p):
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            reg.append(".*")
                            kind = "regexp"
                    else:
                        reg.append("(.*/)?")
                        kind = "regexp"
                    if i == 0:
                        kind = "suffix"
                else:
                    reg.append("[^/]*")
                    kind = "regexp"
            elif ch == "?":
                reg.append("[^/]")
                kind = "regexp"
            elif ch in _ESCAPE:
                reg.append("\\" + ch)
            elif ch == "\\":
                if nxt:
                    reg.append("\\" + nxt)
                    pos += 1
                    kind = "regexp"
                else:
                    reg.append("\\")
            elif ch in "[]":
                reg.append(ch)
                kind = "regexp"
            else:
                reg.append(ch)
            i += 1
        if kind != "regexp":
            self.kind = kind
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.regexp = re.compile("".join(reg) + r"\Z", re.ASCII)
        except re.error:
            self.kind = "bad"
            raise errdefs.InvalidParameter(BAD_PATTERN) from None
        self.kind = "regexp"


class PatternMatcher:
    """``patternmatcher.New``: the patterns, cleaned and syntax-checked."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns: list[_Pattern] = []
        self.exclusions = False
        for p in patterns:
            p = trim_space(p)
            if not p:
                continue
            p = go_clean(p)
            exclusion = p[0] == "!"
            if exclusion:
                if len(p) == 1:
                    raise errdefs.InvalidParameter('illegal exclusion pattern: "!"')
                p = p[1:]
                self.exclusions = True
            _check_pattern(p)
            self.patterns.append(_Pattern(cleaned=p, exclusion=exclusion, dirs=p.split("/")))

    def matches(self, file: str) -> bool:
        """``Matches``: the file, or its parent directory at the pattern's depth."""
        return self._walk(file, any_parent=False)

    def matches_or_parent_matches(self, file: str) -> bool:
        """``MatchesOrParentMatches``: the file or any of its parent directories."""
        return self._walk(file, any_parent=True)

    def _walk(self, file: str, any_parent: bool) -> bool:
        matched = False
        parent = _go_dir(file)
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(file)
            if not match and parent != ".":
                if any_parent:
                    depths = range(1, len(parent_dirs) + 1)
                elif len(pattern.dirs) <= len(parent_dirs):
                    depths = range(len(pattern.dirs), len(pattern.dirs) + 1)
                else:
                    depths = range(0)
                match = any(_quiet_match(pattern, "/".join(parent_dirs[:n])) for n in depths)
            if match:
                matched = not pattern.exclusion
        return matched


def _quiet_match(pattern: _Pattern, path: str) -> bool:
    try:
        return pattern.match(path)
    except errdefs.InvalidParameter:
        return False  # moby ignores errors on the parent paths


def _go_dir(path: str) -> str:
    """``filepath.Dir``: everything before the last ``/``, cleaned (``.`` when none)."""
    head = path[: path.rfind("/") + 1]
    return go_clean(head)


def matches_or_parent_matches(file: str, patterns: Sequence[str]) -> bool:
    """The package function: ``.`` never matches; the file is cleaned first."""
    file = go_clean(file)
    pm = PatternMatcher(patterns)
    return file != "." and pm.matches_or_parent_matches(file)


def matches(file: str, patterns: Sequence[str]) -> bool:
    """The package function ``Matches``."""
    file = go_clean(file)
    pm = PatternMatcher(patterns)
    return file != "." and pm.matches(file)
