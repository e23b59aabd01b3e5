"""The Dockerfile parser: buildkit's golden files, directives, continuations, heredocs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from berthd.builder.dockerfile.parser import (
    DockerfileSyntaxError,
    Heredoc,
    chomp_heredoc_content,
    parse,
    parse_heredoc,
)

DATA = Path(__file__).parent / "testdata"
# buildkit's golden files, then ours (testdata/golden: hand-checked dumps)
GOLDEN = sorted((DATA / "parser" / "testfiles").iterdir()) + sorted((DATA / "golden").iterdir())
NEGATIVE = sorted((DATA / "parser" / "testfiles-negative").iterdir())


@pytest.mark.parametrize("case", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_dumps(case: Path) -> None:
    result = parse((case / "Dockerfile").read_bytes())
    assert result.dump() + "\n" == (case / "result").read_text()


@pytest.mark.parametrize("case", NEGATIVE, ids=[p.name for p in NEGATIVE])
def test_negative_files(case: Path) -> None:
    with pytest.raises(DockerfileSyntaxError):
        parse((case / "Dockerfile").read_bytes())


def test_line_numbers() -> None:
    result = parse((DATA / "parser" / "testfile-line" / "Dockerfile").read_bytes())
    assert [(n.start_line, n.end_line) for n in result.ast] == [(5, 5), (11, 12), (17, 31)]


def test_original_is_the_step_text() -> None:
    df = (
        b"FROM busybox\n"
        b"RUN echo a \\\n"
        b"    b \\   \n"
        b"# a comment inside\n"
        b"  # an indented one\n"
        b"\tc\n"
        b"RUN echo \\\\\n"  # an escaped escape is not a continuation
        b"LABEL x=1   \n"
    )
    ast = parse(df).ast
    assert ast[1].original == "RUN echo a     b \tc"
    assert ast[1].next[0].value == "echo a     b \tc"
    assert (ast[1].start_line, ast[1].end_line) == (2, 6)
    assert ast[2].original == "RUN echo \\\\"
    assert ast[3].original == "LABEL x=1   "  # trailing blanks kept; commands trim them


def test_crlf_bom_and_case() -> None:
    ast = parse(b"\xef\xbb\xbffrom busybox\r\nRuN echo hi\r\n").ast
    assert [n.value for n in ast] == ["from", "run"]
    assert [n.raw_value for n in ast] == ["from", "RuN"]
    assert ast[1].original == "RuN echo hi"


def test_escape_directive() -> None:
    result = parse(b"# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo hi\n")
    assert result.escape_token == "`"
    assert result.directives == {"escape": "`"}
    assert result.ast[1].original == "RUN dir c:\\   && echo hi"
    # a directive after any other line is a comment
    assert parse(b"FROM x\n# escape=`\nRUN a `\n").ast[1].original == "RUN a `"
    assert parse(b"\n# escape=`\nFROM x\n").escape_token == "\\"
    assert parse(b"# unknown=1\n# escape=`\nFROM x\n").escape_token == "\\"
    assert parse(b"# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM x\n").directives == {
        "syntax": "docker/dockerfile:1",
        "escape": "`",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"# escape=x\nFROM a\n", "invalid escape token 'x' does not match ` or \\"),
        (b"# escape=`\n# escape=`\nFROM a\n", "only one escape parser directive can be used"),
        (b"# syntax=a\n# syntax=b\nFROM a\n", "only one syntax parser directive can be used"),
        (b"", "file with no instructions"),
        (b"\n\n# just a comment\n   \n", "file with no instructions"),
        (b"FROM a\nRUN <<EOF\necho\n", "unterminated heredoc"),
        (
            b'CMD ["a", 1]\n',
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
        (b"ENV A\n", "ENV must have two arguments"),
        (
            b'LABEL a=b "c"\n',
            'Syntax error - can\'t find = in "\\"c\\"". Must be of the form: name=value',
        ),
    ],
)
def test_errors(data: bytes, message: str) -> None:
    with pytest.raises(DockerfileSyntaxError) as err:
        parse(data)
    assert str(err.value) == message


def test_error_lines() -> None:
    with pytest.raises(DockerfileSyntaxError) as err:
        parse(b"FROM a\n\nENV A \\\n\n")
    assert (err.value.start_line, err.value.end_line) == (3, 4)


def test_max_line_size() -> None:
    ok = b"FROM a\nLABEL a=" + b"b" * (65535 - 8) + b"\n"
    assert parse(ok).ast[1].value == "label"
    long = b"FROM a\nLABEL a=" + b"b" * (65536 - 8) + b"\n"
    with pytest.raises(
        DockerfileSyntaxError, match=r"^dockerfile line greater than max allowed size of 65535$"
    ):
        parse(long)
    with pytest.raises(DockerfileSyntaxError, match=r"^file with no instructions$"):
        parse(b"#" * 70000 + b"\nFROM a\n")


def test_empty_continuation_warnings() -> None:
    df = b"""
FROM alpine:3.6

RUN valid \\
    continuation

RUN something \\

    following \\

    more

RUN another \\

    thing

RUN non-indented \\
# this is a comment
   after-comment

RUN indented \\
    # this is an indented comment
    comment
\t"""
    result = parse(df)
    assert result.warnings == [
        "Empty continuation line found in: RUN something     following     more",
        "Empty continuation line found in: RUN another     thing",
    ]
    assert result.warning_lines()[-1] == (
        "[WARNING]: Empty continuation lines will become errors in a future release.\n"
    )
    assert result.ast[4].original == "RUN non-indented    after-comment"
    assert parse(b"FROM a\n").warning_lines() == []


def test_continuation_at_eof_and_lone_escape() -> None:
    ast = parse(b"FROM a\nRUN echo \\").ast
    assert ast[1].original == "RUN echo "
    ast = parse(b"FROM a\n\\\nRUN x\n").ast
    assert ast[1].original == "RUN x"


def test_flags_and_forms() -> None:
    ast = parse(
        b"FROM --platform=linux/amd64 a AS b\n"
        b'COPY --from=b --chown=\'1:2\' ["x y", "/d"]\n'
        b'RUN ["echo", "hi"] trailing\n'
        b'CMD ["unterminated"\n'
        b"ADD -- --notaflag /d\n"
        b"ONBUILD RUN --mount=type=cache,target=/c make\n"
        b'HEALTHCHECK --interval=5s CMD ["true"]\n'
    ).ast
    assert ast[0].flags == ["--platform=linux/amd64"]
    assert [n.value for n in ast[0].next] == ["a", "AS", "b"]
    assert ast[1].flags == ["--from=b", "--chown=1:2"]
    assert ast[1].is_json and [n.value for n in ast[1].next] == ["x y", "/d"]
    assert ast[2].is_json and ast[2].args() == ["echo", "hi"]  # Go's decoder stops at the array
    assert not ast[3].is_json and ast[3].args() == ['["unterminated"']
    assert ast[4].flags == [] and ast[4].args() == ["--notaflag", "/d"]
    assert ast[5].dump() == 'onbuild (run ["--mount=type=cache,target=/c"] "make")'
    assert ast[5].args() == ["RUN", "make"]
    assert ast[6].is_json and ast[6].args() == ["CMD", "true"]


def test_name_value_forms() -> None:
    ast = parse(b'FROM a\nENV A=1 B="x y" C=a\\ b\nLABEL old style value\nARG a b=c\n').ast
    assert ast[1].args() == ["A", "1", "B", '"x y"', "C", "a\\ b"]
    assert ast[2].args() == ["old", "style value"]
    assert ast[3].args() == ["a", "b=c"]


def test_flag_bytes_like_go() -> None:
    # Go walks flag words byte by byte: a multi-byte character is mangled
    ast = parse("FROM a\nCOPY --chown=é x y\n".encode()).ast
    assert ast[1].flags == ["--chown=\xc3\xa9"]


# --- heredocs ----------------------------------------------------------------------------
def _doc(
    name: str, content: str = "", expand: bool = True, chomp: bool = False, fd: int = 0
) -> Heredoc:
    return Heredoc(name=name, content=content, expand=expand, chomp=chomp, file_descriptor=fd)


HEREDOCS: list[list[Heredoc]] = [
    [],  # ENV NAME=me
    [],  # RUN ls
    [],  # USER <<INVALID
    [],  # INVALID
    [_doc("EMPTY")],
    [_doc("EMPTY2", fd=3)],
    [],  # RUN "<<NOHEREDOC"
    [_doc("INDENT", "\tfoo\n\tbar\n")],
    [_doc("UNINDENT", "\tbaz\n\tquux\n", chomp=True)],
    [_doc("UNINDENT2", "\tbaz\n\tquux\n", chomp=True)],
    [_doc("EXPAND", "\texpand $NAME\n", chomp=True)],
    [_doc("NOEXPAND", "\tdon't expand $NAME\n", expand=False, chomp=True)],
    [_doc("COPY", "echo hello world\necho foo bar\n")],
    [_doc("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n")],
    [_doc("MOUNT", "echo hello\n")],
    [_doc("FILE1", "content 1\n"), _doc("FILE2", "content 2\n")],
    [_doc("EOF", "\"foo\"\n'bar'\n")],
    [_doc("X", "Y\n"), _doc("Y", "X\n")],
    [_doc("COMPLEX", "print('hello world')\n")],
    [_doc("file.txt", "hello world\n")],
    [_doc("eof", "echo foo\n", expand=False)],
    [_doc("eo'f", "echo foo\n")],
    [_doc("eo'f", "echo foo\n", expand=False)],
    [_doc("one two", "echo bar\n", expand=False)],
    [_doc("$EOF")],
]


def test_heredocs() -> None:
    ast = parse((DATA / "heredoc" / "Dockerfile").read_bytes()).ast
    assert [n.heredocs for n in ast[1:]] == HEREDOCS


def test_heredoc_nodes() -> None:
    ast = parse(
        b'FROM a\nRUN <<EOF\necho hi\nEOF\nRUN ["<<EOF"]\nONBUILD COPY <<X /x\nbody\nX\nLABEL a=b\n'
    ).ast
    assert ast[1].original == "RUN <<EOF" and ast[1].args() == ["<<EOF"]
    assert (ast[1].start_line, ast[1].end_line) == (2, 4)
    assert ast[2].heredocs == []
    assert ast[3].heredocs == [_doc("X", "body\n")]
    assert ast[4].value == "label" and ast[4].start_line == 9


@pytest.mark.parametrize(
    "src", ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"', '<<EO"F"']
)
def test_parse_heredoc_valid(src: str) -> None:
    doc = parse_heredoc(src)
    assert doc is not None and doc.name == "EOF"


@pytest.mark.parametrize("src", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_parse_heredoc_not(src: str) -> None:
    assert parse_heredoc(src) is None


@pytest.mark.parametrize("src", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_parse_heredoc_invalid(src: str) -> None:
    with pytest.raises(DockerfileSyntaxError):
        parse_heredoc(src)


def test_chomp() -> None:
    assert chomp_heredoc_content("\thello\n\tworld\n") == "hello\nworld\n"


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("[]", []),
        ('[""]', [""]),
        ('["a","b"]', ["a", "b"]),
        ('[\t"a",\t"b"\t]', ["a", "b"]),
        ('\t[\t"a",\t"b"\t]\t', ["a", "b"]),
        (
            '["abc 123", "♥", "☃", "\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000"]',
            ["abc 123", "♥", "☃", '" \\ / \b \f \n \r \t \x00'],
        ),
    ],
)
def test_json_arrays(text: str, values: list[str]) -> None:
    node = parse(f"CMD {text}\n".encode()).ast[0]
    assert node.is_json and node.args() == values


@pytest.mark.parametrize(
    "text",
    [
        '["a",42,"b"]',
        '["a",123.456,"b"]',
        '["a",{},"b"]',
        '["a",["c"],"b"]',
        '["a",true,"b"]',
        '["a",null,"b"]',
    ],
)
def test_json_not_strings(text: str) -> None:
    with pytest.raises(DockerfileSyntaxError, match="arrays must be comprised of strings only"):
        parse(f"CMD {text}\n".encode())


def test_json_nan_is_shell_form() -> None:
    node = parse(b"CMD [NaN]\n").ast[0]
    assert not node.is_json and node.args() == ["[NaN]"]


def test_json_out_of_range_number_is_shell_form() -> None:
    node = parse(b"CMD [1e999]\n").ast[0]
    assert not node.is_json and node.args() == ["[1e999]"]
