"""The Dockerfile shell lexer: quote removal, escapes and ``$VAR`` expansion.

Follows moby/buildkit ``frontend/dockerfile/shell/lex.go`` (v0.13, vendored by
dockerd v26) rule for rule, including its error texts:

- ``'...'`` is literal; ``"..."`` expands ``$`` and lets the escape token escape
  only ``"``, ``$`` and itself; outside quotes the escape token escapes anything
  (and is dropped at the end of the word).
- ``$NAME``, ``${NAME}``, ``${NAME:-w}``/``${NAME-w}``, ``${NAME:+w}``/``${NAME+w}``,
  ``${NAME:?msg}``/``${NAME?msg}``, ``${NAME#pat}``/``##``, ``${NAME%pat}``/``%%`` and
  ``${NAME/pat/repl}``/``${NAME//pat/repl}``. The ``:`` forms treat an empty value
  as unset. Positional (``$1``) and special (``$@``, ``$#``, …) parameters are
  names like any other (and never set).
- ``process_words`` splits on unquoted white space *after* expansion, so a value
  with spaces becomes several words unless it was inside quotes.

Errors are ``InvalidParameter("failed to process \\"<word>\\": <reason>")``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.lib.strconv import quote as go_quote

from .gotext import is_space

__all__ = ["Lex", "LexError", "build_envs"]

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class LexError(errdefs.InvalidParameter):
    """A word the lexer cannot process (unbalanced quotes, bad ``${}``)."""


class _Fail(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_envs(env: Iterable[str]) -> dict[str, str]:
    """``shell.BuildEnvs``: ``["K=v", "K2"]`` → a map; later entries win."""
    out: dict[str, str] = {}
    for e in env:
        k, sep, v = e.partition("=")
        out[k] = v if sep else ""
    return out


class Lex:
    """``shell.Lex``: one escape token (``\\`` or `````) and the lexer's switches."""

    def __init__(
        self,
        escape_token: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        self.escape_token = escape_token
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand ``word`` into one string (white space kept)."""
        return self._process(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split it into words (quotes keep white space)."""
        return self._process(word, env)[1]

    def process_word_with_matches(self, word: str, env: Mapping[str, str]) -> tuple[str, set[str]]:
        """``ProcessWordWithMatches``: the expansion and the names it found set."""
        sw = _ShellWord(self, word, env)
        result = sw.run(word)[0]
        return result, sw.matches

    def _process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        return _ShellWord(self, word, env).run(word)


@dataclass
class _Words:
    word: str = ""
    words: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _ShellWord:
    def __init__(self, lex: Lex, word: str, env: Mapping[str, str]) -> None:
        self.src = word
        # text/scanner skips a byte order mark at the very start
        self.pos = 1 if word.startswith("\ufeff") else 0
        self.env = env
        self.escape = lex.escape_token
        self.raw_quotes = lex.raw_quotes
        self.raw_escapes = lex.raw_escapes
        self.skip_quotes = lex.skip_process_quotes
        self.skip_unset = lex.skip_unset_env
        self.matches: set[str] = set()

    # --- scanner ---------------------------------------------------------------
    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def run(self, source: str) -> tuple[str, list[str]]:
        try:
            return self.stop_on("", self.raw_escapes)
        except _Fail as e:
            raise LexError(f"failed to process {go_quote(source)}: {e.reason}") from None

    # --- words -----------------------------------------------------------------
    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.get()
            if ch == "$":
                tmp = self.dollar()
                result.append(tmp)
                words.add_string(tmp)
                continue
            if ch in "'\"" and not self.skip_quotes:
                tmp = self.single_quote() if ch == "'" else self.double_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    words.add_raw_char(ch)
                    result.append(ch)
                ch = self.next()
                if not ch:
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise _Fail(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if not ch:
                raise _Fail("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            p = self.peek()
            if not p:
                raise _Fail("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                ch = self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if p == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if not nxt:
                    continue  # a trailing escape is dropped (then: unterminated)
                if nxt in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    # --- $ ---------------------------------------------------------------------
    def getenv(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matches.add(name)
            return self.env[name], True
        return "", False

    def name(self) -> str:
        out: list[str] = []
        while self.peek():
            ch = self.peek()
            if not out and ch.isdecimal():
                while self.peek() and self.peek().isdecimal():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.getenv(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.next()
        p = self.peek()
        if not p:
            raise _Fail("syntax error: missing '}'")
        if p in "{}:":
            raise _Fail("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        chs = ch or "\ufffd"  # Go's string(scanner.EOF)
        if ch == "}":
            value, found = self.getenv(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch or "\ufffd"
        elif ch == "/":
            return self.replace(name)
        elif ch not in ("+", "-", "?", "#", "%"):
            raise _Fail(f"unsupported modifier ({chs}) in substitution")
        try:
            word = self.stop_on("}", ch in ("#", "%"))[0]
        except _Fail:
            if not self.peek():
                raise _Fail("syntax error: missing '}'") from None
            raise
        value, found = self.getenv(name)
        if self.skip_unset and not found:
            return "${" + name + chs + word + "}"
        unset = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else value
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if not found:
                raise _Fail(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _Fail(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            # %/# trim the shortest match, %%/## the longest. (Go indexes word[0]
            # and panics on an empty pattern; here an empty pattern trims nothing.)
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise _Fail(f"unsupported modifier ({chs}) in substitution")

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern = self.stop_on("/", True)[0]
        except _Fail:
            if not self.peek():
                raise _Fail("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement = self.stop_on("}", True)[0]
        except _Fail:
            if not self.peek():
                raise _Fail("syntax error: missing '}'") from None
            raise
        value, found = self.getenv(name)
        if self.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        rx = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return rx.sub(lambda m: _go_expand(replacement, m.group(0)), value)
        m = rx.search(value)
        if m is None:
            return value
        return value[: m.start()] + replacement + value[m.end() :]


# --- shell patterns ------------------------------------------------------------------
def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """``convertShellPatternToRegex``: ``?`` one char, ``*`` shortest or longest run."""
    out: list[str] = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue  # ${} syntax escape, not part of the pattern
            i += 1
            if nxt not in ("*", "?", "\\"):
                shown = nxt if nxt else "\ufffd"  # fmt's %c of scanner.EOF
                raise _Fail(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{shown}'"
                )
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[m.end() :] if m else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each ``\\x`` escape in order (``a\\*c`` → ``c\\*a``)."""
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        tok = pattern[i]
        j = last - i
        if tok == "\\" and i != last:
            out[j - 1] = tok
            out[j] = pattern[i + 1]
            i += 2
        else:
            out[j] = tok
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


_TEMPLATE_NAME = re.compile(r"\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)")


def _go_expand(template: str, match: str) -> str:
    """Go's ``Regexp.ReplaceAllString`` template: ``$0`` is the match, ``$$`` a dollar.

    Shell patterns have no groups, so any other ``$name`` expands to nothing.
    """
    out: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if template.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        m = _TEMPLATE_NAME.match(template, i + 1)
        if m is None:
            out.append("$")
            i += 1
            continue
        name = m.group(1) or m.group(2)
        if name.isdigit() and int(name) == 0:
            out.append(match)
        i = m.end()
    return "".join(out)
