"""The shell lexer against moby/buildkit's own tables (envVarTest, wordsTest) and cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from berthd import errdefs
from berthd.builder.dockerfile.shell import Lex, build_envs

DATA = Path(__file__).parent / "testdata" / "shell"
ENVS = build_envs(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="])


def _env_var_cases() -> list[tuple[str, str]]:
    cases = []
    for line in (DATA / "envVarTest").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = (w.strip() for w in line.strip().split("|"))
        if platform in ("A", "U"):
            cases.append((source, expected))
    return cases


@pytest.mark.parametrize(("source", "expected"), _env_var_cases())
def test_env_var_table(source: str, expected: str) -> None:
    lex = Lex("\\")
    if expected == "error":
        with pytest.raises(errdefs.InvalidParameter):
            lex.process_word(source, ENVS)
    else:
        assert lex.process_word(source, ENVS) == expected


def _words_cases() -> list[tuple[str, list[str], dict[str, str]]]:
    envs: list[str] = []
    cases = []
    for line in (DATA / "wordsTest").read_text().splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            envs.append(line[3:].lstrip(" "))
            continue
        test, expected = line.split("|")
        cases.append((test.strip(), expected.lstrip(" ").split(","), build_envs(envs)))
    return cases


@pytest.mark.parametrize(("source", "expected", "env"), _words_cases())
def test_words_table(source: str, expected: list[str], env: dict[str, str]) -> None:
    try:
        got = Lex("\\").process_words(source, env)
    except errdefs.InvalidParameter:
        got = ["error"]
    assert got == expected


@pytest.mark.parametrize(
    ("word", "env", "expected", "matches"),
    [
        ("x", {"DUMMY": "dummy"}, "x", set()),
        ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", set()),
        ("x ${FOO}", {"FOO": "y"}, "x y", {"FOO"}),
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc", {"FOO", "BAR"}),
        (
            "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
            {"FOO": "xxx", "BAR": ""},
            "xxx bbb ccc",
            {"FOO", "BAR"},
        ),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb ", {"FOO", "BAR"}),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  ", {"FOO", "BAR"}),
        ("${FOO?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
        ("${BAR?bbb}", {"FOO": "xxx", "BAR": ""}, "", {"BAR"}),
        ("${FOO:?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
        ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}),
        ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}),
        ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}),
        ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}),
        ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}),
        ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO"}),
        ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
            "/foo.*/*.txt - /foo..*.txt",
            {"FOO", "NEEDLE"},
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
            "/tmp/bar.txt - /bar.txt",
            {"FOO", "NEEDLE"},
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
            "/foo/b/c.txt - /foo/c.txt",
            {"FOO", "NEEDLE", "REPLACEMENT"},
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
            "https://google.de",
            {"FOO", "NEEDLE", "REPLACEMENT"},
        ),
        ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}),
        (
            "something-${V}.${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tar.gz",
            {"V": "v1", "OS": "linux", "ARCH": "arm", "VARIANT": "v7"},
            "something-v1.linux-arm-v7.tar.gz",
            {"V", "OS", "ARCH", "VARIANT"},
        ),
        (
            "something-${V}.${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tar.gz",
            {"V": "v1", "OS": "linux", "ARCH": "arm64", "VARIANT": ""},
            "something-v1.linux-arm64.tar.gz",
            {"V", "OS", "ARCH", "VARIANT"},
        ),
    ],
)
def test_matches(word: str, env: dict[str, str], expected: str, matches: set[str]) -> None:
    assert Lex("\\").process_word_with_matches(word, env) == (expected, matches)


@pytest.mark.parametrize(
    ("word", "env", "message"),
    [
        ("${BAZ?ccc}", {}, 'failed to process "${BAZ?ccc}": BAZ: ccc'),
        ("${BAR:?}", {"BAR": ""}, 'failed to process "${BAR:?}": BAR: is not allowed to be empty'),
        ("${BAZ?}", {}, 'failed to process "${BAZ?}": BAZ: is not allowed to be unset'),
        (
            "${FOO=aaa}",
            {"FOO": "x"},
            'failed to process "${FOO=aaa}": unsupported modifier (=) in substitution',
        ),
        (
            "${FOO:=aaa}",
            {"FOO": "x"},
            'failed to process "${FOO:=aaa}": unsupported modifier (:=) in substitution',
        ),
        ("${FOO", {}, 'failed to process "${FOO": unsupported modifier (\ufffd) in substitution'),
        ("${FOO:-x", {}, "failed to process \"${FOO:-x\": syntax error: missing '}'"),
        ("${}", {}, 'failed to process "${}": syntax error: bad substitution'),
        ("${", {}, "failed to process \"${\": syntax error: missing '}'"),
        (
            "a'b",
            {},
            'failed to process "a\'b": unexpected end of statement while looking for matching single-quote',
        ),
        (
            'a"b',
            {},
            'failed to process "a\\"b": unexpected end of statement while looking for matching double-quote',
        ),
        ("${A/x", {"A": "1"}, "failed to process \"${A/x\": syntax error: missing '/' in ${}"),
        (
            "${A#\\x}",
            {"A": "1"},
            "failed to process \"${A#\\\\x}\": invalid pattern (\\x) in substitution: invalid escape '\\x'",
        ),
    ],
)
def test_errors(word: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(errdefs.InvalidParameter) as err:
        Lex("\\").process_word(word, env)
    assert str(err.value) == message


def test_mandatory_messages_expand() -> None:
    lex = Lex("\\")
    assert lex.process_word("${VAR:?message here$ARG}", {"VAR": "plain", "ARG": "x"}) == "plain"
    for env in ({"VAR": "", "ARG": "x"}, {"ARG": "x"}):
        with pytest.raises(errdefs.InvalidParameter, match="message herex"):
            lex.process_word("${VAR:?message here$ARG}", env)
    assert lex.process_word("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}) == ""


def test_backtick_escape() -> None:
    lex = Lex("`")
    assert lex.process_word("a`$B c\\d", {"B": "x"}) == "a$B c\\d"
    assert lex.process_word('"`"q`""', {}) == '"q"'
    assert lex.process_words("a` b c", {}) == ["a b", "c"]


def test_skip_unset_and_raw_modes() -> None:
    lex = Lex("\\", skip_unset_env=True, raw_quotes=True)
    assert lex.process_word("$A ${B} ${C:-x} '$D'", {}) == "$A ${B} ${C:-x} '$D'"
    assert Lex("\\", raw_escapes=True).process_word("a\\b", {}) == "a\\b"
    # a value's white space splits words; a quoted one does not
    assert Lex().process_words('$V "$V"', {"V": "a b"}) == ["a", "b", "a b"]
    assert Lex().process_words('x "" y', {}) == ["x", "y"]


def test_empty_trim_pattern_trims_nothing() -> None:
    # Go indexes the pattern's first byte and panics; we trim nothing
    assert Lex().process_word("${A#}${A%}", {"A": "xy"}) == "xyxy"


def test_pattern_from_a_variable_ending_in_backslash() -> None:
    with pytest.raises(errdefs.InvalidParameter) as err:
        Lex().process_word("${F/$N/x}", {"F": "a", "N": "\\"})
    assert str(err.value).endswith(
        "invalid pattern (\\) in substitution: invalid escape '\\\ufffd'"
    )
