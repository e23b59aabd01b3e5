"""The Dockerfile parser: lines → an AST of instruction nodes.

Follows moby/buildkit ``frontend/dockerfile/parser`` (v0.13, vendored by dockerd v26):

- parser directives (``# escape=``, ``# syntax=``) only in the leading comment
  block; a repeated one is an error; a UTF-8 BOM on the first line is dropped;
- a line ending in the escape token (plus blanks) continues on the next; comment
  lines inside a continuation are skipped; blank ones are skipped with a warning;
- ``Node.original`` is the joined line: escape token and trailing blanks removed,
  continuation lines concatenated as written (their leading blanks kept);
- per instruction argument parsing (JSON or shell form, name=value lists, ONBUILD
  sub-instruction, HEALTHCHECK type), ``--flag`` words before the arguments;
- heredocs (``<<EOF``, ``<<-EOF``, quoted names) for RUN, COPY and ADD (also under
  ONBUILD): their bodies are consumed and kept on the node.

Parse errors raise :class:`DockerfileSyntaxError` (an ``InvalidParameter``) with
moby's bare message; callers add dockerd's prefixes (see ``instructions``).
The instruction name is kept as written in ``raw_value`` (dockerd's messages show
it that way) and lower-cased in ``value``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.lib.strconv import quote as go_quote
from berthd.lib.strconv import quote_list as go_quote_list

from .gotext import is_space, trim_left_space, trim_space
from .shell import Lex

__all__ = [
    "DEFAULT_ESCAPE_TOKEN",
    "MAX_LINE",
    "DockerfileSyntaxError",
    "Heredoc",
    "Node",
    "Result",
    "chomp_heredoc_content",
    "must_parse_heredoc",
    "parse",
    "parse_heredoc",
]

DEFAULT_ESCAPE_TOKEN = "\\"
# bufio.MaxScanTokenSize - 1: the longest line (without its newline) Go's scanner takes
MAX_LINE = 65535
EMPTY_CONTINUATION_NOTE = "Empty continuation lines will become errors in a future release."

_HEREDOC_INSTRUCTIONS = frozenset({"add", "copy", "run"})
_RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")  # Go's reWhitespace (ASCII only)
_RE_HEREDOC = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z", re.S)
_RE_LEADING_TABS = re.compile(r"^\t+", re.M)
_RE_DIRECTIVE_TAIL = (
    r"[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z"
)
_RE_DIRECTIVE = re.compile("#" + _RE_DIRECTIVE_TAIL)
_VALID_DIRECTIVES = frozenset({"syntax", "escape"})
_NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


class DockerfileSyntaxError(errdefs.InvalidParameter):
    """A Dockerfile that does not parse; ``start_line``/``end_line`` locate it (1-based)."""

    def __init__(self, message: str, start_line: int = 0, end_line: int = 0) -> None:
        super().__init__(message)
        self.start_line = start_line
        self.end_line = max(end_line, start_line)


@dataclass
class Heredoc:
    """One ``<<NAME`` body: ``expand`` is False when the name was quoted, ``chomp`` for ``<<-``."""

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    file_descriptor: int = 0


@dataclass
class Node:
    """moby's ``parser.Node``; ``next`` is the flattened ``Next`` chain."""

    value: str = ""
    next: list[Node] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    attributes: dict[str, bool] = field(default_factory=dict)
    original: str = ""
    flags: list[str] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0
    raw_value: str = ""  # the instruction name as written ("FROM", "From", …)
    prev_comment: list[str] = field(default_factory=list)

    @property
    def is_json(self) -> bool:
        return self.attributes.get("json", False)

    def args(self) -> list[str]:
        """``instructions.nodeArgs``: the argument words, an ONBUILD's sub-instruction inlined."""
        out: list[str] = []
        for arg in self.next:
            if not arg.children:
                out.append(arg.value)
            elif len(arg.children) == 1:
                sub = arg.children[0]
                out.append(sub.raw_value)
                out.extend(sub.args())
        return out

    def dump(self) -> str:
        """``Node.Dump``: the s-expression moby's parser tests compare against."""
        text = self.value.lower()
        if self.flags:
            text += " " + go_quote_list(self.flags)
        for child in self.children:
            text += "(" + child.dump() + ")\n"
        for arg in self.next:
            text += " " + (arg.dump() if arg.children else go_quote(arg.value))
        return trim_space(text)

    def can_contain_heredoc(self) -> bool:
        node = self
        if node.value == "onbuild" and node.next and node.next[0].children:
            node = node.next[0].children[0]
        return node.value in _HEREDOC_INSTRUCTIONS and not node.is_json


@dataclass
class Result:
    """The parsed file: its instructions, escape token, warnings and directives."""

    ast: list[Node]
    escape_token: str = DEFAULT_ESCAPE_TOKEN
    warnings: list[str] = field(default_factory=list)  # "Empty continuation line found in: …"
    directives: dict[str, str] = field(default_factory=dict)

    def warning_lines(self) -> list[str]:
        """``Result.PrintWarnings``: what dockerd writes to the build's stderr."""
        if not self.warnings:
            return []
        return [f"[WARNING]: {w}\n" for w in self.warnings] + [
            f"[WARNING]: {EMPTY_CONTINUATION_NOTE}\n"
        ]

    def dump(self) -> str:
        return trim_space("".join("(" + n.dump() + ")\n" for n in self.ast))


# --- directives and escape ---------------------------------------------------------
class _Directives:
    def __init__(self) -> None:
        self.done = False
        self.seen: dict[str, str] = {}
        self.escape = DEFAULT_ESCAPE_TOKEN
        self.continuation = _continuation_regex(self.escape)

    def line(self, line: str) -> None:
        """``possibleParserDirective``: only the leading block of ``# key=value`` lines."""
        if self.done:
            return
        m = _RE_DIRECTIVE.match(line)
        if m is None:
            self.done = True
            return
        key = m.group(1).lower()
        if key not in _VALID_DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise _Fail(f"only one {key} parser directive can be used")
        value = m.group(2)
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise _Fail(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self.continuation = _continuation_regex(value)


def _continuation_regex(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|\A{e}[ \t]*\Z", re.S)


class _Fail(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- lines -------------------------------------------------------------------------
def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(raw: str) -> bool:
    return trim_left_space(_trim_newline(raw)).startswith("#")


def _is_empty_continuation(line: str) -> bool:
    return trim_left_space(_trim_newline(line)) == ""


def _process_line(d: _Directives, raw: str, strip_left: bool) -> str:
    token = _trim_newline(raw)
    if strip_left:
        token = trim_left_space(token)
    d.line(token)
    return "" if token.startswith("#") else token


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    m = d.continuation.search(line)
    if m is None:
        return line, True
    return line[: m.start()] + (m.group(1) or ""), False


class _Lines:
    """``bufio.Scanner`` with moby's ``scanLines``: tokens keep their ``\\n``."""

    def __init__(self, data: bytes) -> None:
        self.lines = data.split(b"\n")
        if self.lines[-1] == b"":
            self.lines.pop()
        self.last_has_newline = data.endswith(b"\n")
        self.pos = 0
        self.too_long = False

    def scan(self) -> str | None:
        if self.too_long or self.pos >= len(self.lines):
            return None
        raw = self.lines[self.pos]
        if len(raw) > MAX_LINE:
            self.too_long = True
            return None
        self.pos += 1
        newline = self.pos < len(self.lines) or self.last_has_newline
        return raw.decode("utf-8", "surrogateescape") + ("\n" if newline else "")


def parse(data: bytes) -> Result:
    """Parse a Dockerfile. Raises :class:`DockerfileSyntaxError` with moby's wording."""
    d = _Directives()
    lines = _Lines(data)
    current = 0
    ast: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    while (raw := lines.scan()) is not None:
        if current == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        if _is_comment(raw):
            comment = trim_space(raw[1:])
            comments = [*comments, comment] if comment else []
        try:
            token = _process_line(d, raw, True)
        except _Fail as e:
            raise DockerfileSyntaxError(e.message, current) from None
        current += 1
        start = current
        line, end_of_line = _trim_continuation(token, d)
        if end_of_line and line == "":
            continue
        empty_continuation = False
        while not end_of_line and (raw := lines.scan()) is not None:
            try:
                token = _process_line(d, raw, False)
            except _Fail as e:
                raise DockerfileSyntaxError(e.message, current) from None
            current += 1
            if _is_comment(raw):
                continue
            if _is_empty_continuation(token):
                empty_continuation = True
                continue
            cont, end_of_line = _trim_continuation(token, d)
            line += cont
        if empty_continuation:
            warnings.append("Empty continuation line found in: " + line)
        try:
            child = _node_from_line(line, d, comments)
        except _Fail as e:
            raise DockerfileSyntaxError(e.message, start, current) from None
        if child.can_contain_heredoc():
            try:
                docs = _heredocs_from_line(line)
            except _Fail as e:
                raise DockerfileSyntaxError(e.message, start, current) from None
            for doc in docs:
                terminated = False
                while (body := lines.scan()) is not None:
                    current += 1
                    candidate = _trim_newline(body)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    doc.content += body
                if not terminated:
                    raise DockerfileSyntaxError("unterminated heredoc", start, current)
                child.heredocs.append(doc)
        child.start_line, child.end_line = start, current
        ast.append(child)
        comments = []
    if not ast:
        raise DockerfileSyntaxError("file with no instructions", current)
    if lines.too_long:
        raise DockerfileSyntaxError(
            f"dockerfile line greater than max allowed size of {MAX_LINE}", current
        )
    return Result(ast=ast, escape_token=d.escape, warnings=warnings, directives=dict(d.seen))


# --- one instruction -----------------------------------------------------------------
def _node_from_line(line: str, d: _Directives, comments: list[str]) -> Node:
    cmd, flags, args = _split_command(line)
    parser = _DISPATCH.get(cmd.lower(), _parse_ignore)
    nxt, attrs = parser(args, d)
    return Node(
        value=cmd.lower(),
        raw_value=cmd,
        original=line,
        flags=flags,
        next=nxt,
        attributes=attrs,
        prev_comment=list(comments),
    )


def _split_command(line: str) -> tuple[str, list[str], str]:
    parts = _RE_WHITESPACE.split(trim_space(line), maxsplit=1)
    flags: list[str] = []
    args = ""
    if len(parts) == 2:
        args, flags = _extract_builder_flags(parts[1])
    return parts[0], flags, trim_space(args)


def _extract_builder_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--name=value`` words. Go walks bytes here, so we do too (as Latin-1)."""
    raw = line.encode("utf-8", "surrogateescape")
    b = raw.decode("latin-1")
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(b)
    while pos <= n:
        ch = b[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or b[pos + 1] != "-":
                return raw[pos:].decode("utf-8", "surrogateescape"), words
            phase = "word"
        if pos == n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if is_space(ch):
                phase = "spaces"
                if word == "--":
                    return raw[pos:].decode("utf-8", "surrogateescape"), words
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = b[pos]
            word += ch
            pos += 1
            continue
        # in a quote
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = b[pos]
        word += ch
        pos += 1
    return "", words


# --- argument parsers (line_parsers.go) ----------------------------------------------
_Parsed = tuple[list[Node], dict[str, bool]]


def _parse_ignore(rest: str, d: _Directives) -> _Parsed:
    return [], {}


def _parse_sub_command(rest: str, d: _Directives) -> _Parsed:
    if rest == "":
        return [], {}
    child = _node_from_line(rest, d, [])
    return [Node(children=[child])], {}


def _parse_words(rest: str, d: _Directives) -> list[str]:
    """Words split on unquoted white space, quotes and escapes kept (for the lexer)."""
    words: list[str] = []
    phase = "spaces"
    word = ""
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    esc = d.escape
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or word:
                words.append(word)
            break
        if phase == "word":
            if is_space(ch):
                phase = "spaces"
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = "quote"
            if ch == esc:
                if pos + 1 == n:
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
            pos += 1
            continue
        if ch == quote:
            phase = "word"
        if ch == esc and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            word += ch
            ch = rest[pos]
        word += ch
        pos += 1
    return words


def _key_value(key: str, value: str) -> list[Node]:
    return [Node(value=key), Node(value=value)]


def _parse_name_val(rest: str, key: str, d: _Directives) -> list[Node]:
    """``ENV``/``LABEL``: ``k=v …`` or the legacy ``k v`` (one pair, the rest is the value)."""
    words = _parse_words(rest, d)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Fail(f"{key} must have two arguments")
        return _key_value(parts[0], parts[1])
    out: list[Node] = []
    for word in words:
        if "=" not in word:
            raise _Fail(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        k, _, v = word.partition("=")
        out.extend(_key_value(k, v))
    return out


def _parse_env(rest: str, d: _Directives) -> _Parsed:
    return _parse_name_val(rest, "ENV", d), {}


def _parse_label(rest: str, d: _Directives) -> _Parsed:
    return _parse_name_val(rest, "LABEL", d), {}


def _parse_name_or_name_val(rest: str, d: _Directives) -> _Parsed:
    return [Node(value=w) for w in _parse_words(rest, d)], {}


def _parse_strings_whitespace_delimited(rest: str, d: _Directives) -> _Parsed:
    if rest == "":
        return [], {}
    return [Node(value=s) for s in _RE_WHITESPACE.split(rest)], {}


def _parse_string(rest: str, d: _Directives) -> _Parsed:
    if rest == "":
        return [], {}
    return [Node(value=rest)], {}


class _NotJSON(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise ValueError(name)  # NaN/Infinity are not JSON to Go


def _go_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # Go: "cannot unmarshal number … into float64"
        raise ValueError(text)
    return value


_JSON = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_go_float, parse_int=_go_float
)


def _parse_json(rest: str) -> _Parsed:
    """``parseJSON``: a JSON array of strings (the first JSON value; trailing text ignored)."""
    rest = trim_left_space(rest)
    if not rest.startswith("["):
        raise _NotJSON
    try:
        value, _ = _JSON.raw_decode(rest)
    except ValueError:
        raise _NotJSON from None
    if not isinstance(value, list):
        raise _NotJSON
    if not all(isinstance(v, str) for v in value):
        raise _Fail(_NOT_STRING_ARRAY)
    return [Node(value=v) for v in value], {"json": True}


def _parse_maybe_json(rest: str, d: _Directives) -> _Parsed:
    if rest == "":
        return [], {}
    try:
        return _parse_json(rest)
    except _NotJSON:
        return [Node(value=rest)], {}


def _parse_maybe_json_to_list(rest: str, d: _Directives) -> _Parsed:
    try:
        return _parse_json(rest)
    except _NotJSON:
        return _parse_strings_whitespace_delimited(rest, d)


def _parse_health_config(rest: str, d: _Directives) -> _Parsed:
    """HEALTHCHECK: the type word (CMD/NONE), then the command like CMD's."""
    b = rest.encode("utf-8", "surrogateescape").decode("latin-1")  # Go indexes bytes
    sep = 0
    while sep < len(b) and not is_space(b[sep]):
        sep += 1
    nxt = sep
    while nxt < len(b) and is_space(b[nxt]):
        nxt += 1
    if sep == 0:
        return [], {}
    raw = b.encode("latin-1")
    typ = raw[:sep].decode("utf-8", "surrogateescape")
    cmd, attrs = _parse_maybe_json(raw[nxt:].decode("utf-8", "surrogateescape"), d)
    return [Node(value=typ), *cmd], attrs


_DISPATCH = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_name_or_name_val,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_env,
    "expose": _parse_strings_whitespace_delimited,
    "from": _parse_strings_whitespace_delimited,
    "healthcheck": _parse_health_config,
    "label": _parse_label,
    "maintainer": _parse_string,
    "onbuild": _parse_sub_command,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}


# --- heredocs ------------------------------------------------------------------------
def parse_heredoc(src: str) -> Heredoc | None:
    """``ParseHeredoc``: ``<<EOF``, ``<<-EOF``, ``<<"EOF"``, ``2<<EOF`` → a Heredoc, else None."""
    m = _RE_HEREDOC.match(src)
    if m is None:
        return None
    fd = int(m.group(1)) if m.group(1) else 0
    chomp = m.group(2) == "-"
    rest = m.group(3)
    if not rest:
        return None
    try:
        words = Lex("\\", skip_unset_env=True).process_words(rest, {})
        if len(words) != 1:
            return None
        raw_words = Lex("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    except errdefs.InvalidParameter as e:
        raise DockerfileSyntaxError(str(e)) from None
    if len(raw_words) != len(words):
        raise DockerfileSyntaxError(
            f"internal lexing of heredoc produced inconsistent results: {rest}"
        )
    word, raw_word = words[0], raw_words[0]
    quotes = word.count("'") + word.count('"')
    raw_quotes = raw_word.count("'") + raw_word.count('"')
    return Heredoc(name=word, expand=quotes == raw_quotes, chomp=chomp, file_descriptor=fd)


def _heredocs_from_line(line: str) -> list[Heredoc]:
    if "<<" not in line:
        return []  # no word can match the heredoc pattern
    lex = Lex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except errdefs.InvalidParameter:
        words = []  # moby ignores the lexer's error here
    docs: list[Heredoc] = []
    for word in words:
        try:
            doc = parse_heredoc(word)
        except DockerfileSyntaxError as e:
            raise _Fail(str(e)) from None
        if doc is not None:
            docs.append(doc)
    return docs


def must_parse_heredoc(src: str) -> Heredoc | None:
    """``MustParseHeredoc``: like :func:`parse_heredoc`, errors read as "not a heredoc"."""
    try:
        return parse_heredoc(src)
    except DockerfileSyntaxError:
        return None


def chomp_heredoc_content(src: str) -> str:
    """``ChompHeredocContent``: drop leading tabs of every line (``<<-``)."""
    return _RE_LEADING_TABS.sub("", src)
