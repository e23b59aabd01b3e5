"""``.dockerignore`` reading and moby/patternmatcher's tables (ported from its Go tests)."""

from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.builder.dockerignore import (
    PatternMatcher,
    matches,
    matches_or_parent_matches,
    read_dockerignore,
)
from berthd.lib.gopath import clean as go_clean

# (pattern, path, matches) — patternmatcher_test.go TestMatches
MATCHES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True),
    ("**", "/", True), ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True),
    ("**", "dir/file/", True), ("**/", "dir/file/", True), ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True), ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True), ("**/dir", "dir", True),
    ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True), ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True), ("**file", "file", True), ("**file", "dir/file", True),
    ("**/file", "dir/file", True), ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True), ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True), ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True), ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False), ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True), ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True), (".*", ".foo", True), (".*", "foo", False),
    ("abc.def", "abcdef", False), ("abc.def", "abc.def", True), ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False), ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False), ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]  # fmt: skip

MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
]  # fmt: skip

# (pattern, name, matches, bad) — TestMatch (filepath.Match's own table, through Matches)
MATCH = [
    ("abc", "abc", True, False), ("*", "abc", True, False), ("*c", "abc", True, False),
    ("a*", "a", True, False), ("a*", "abc", True, False), ("a*", "ab/c", True, False),
    ("a*/b", "abc/b", True, False), ("a*/b", "a/c/b", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True, False), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False, False), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False, False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True, False), ("a*b?c*x", "abxbbxdbxebxczzy", False, False),
    ("ab[c]", "abc", True, False), ("ab[b-d]", "abc", True, False), ("ab[e-g]", "abc", False, False),
    ("ab[^c]", "abc", False, False), ("ab[^b-d]", "abc", False, False), ("ab[^e-g]", "abc", True, False),
    ("a\\*b", "a*b", True, False), ("a\\*b", "ab", False, False), ("a?b", "a☺b", True, False),
    ("a[^a]b", "a☺b", True, False), ("a???b", "a☺b", False, False), ("a[^a][^a][^a]b", "a☺b", False, False),
    ("[a-ζ]*", "α", True, False), ("*[a-ζ]", "A", False, False), ("a?b", "a/b", False, False),
    ("a*b", "a/b", False, False), ("[\\]a]", "]", True, False), ("[\\-]", "-", True, False),
    ("[x\\-]", "x", True, False), ("[x\\-]", "-", True, False), ("[x\\-]", "z", False, False),
    ("[\\-x]", "x", True, False), ("[\\-x]", "-", True, False), ("[\\-x]", "a", False, False),
    ("[]a]", "]", False, True), ("[-]", "-", False, True), ("[x-]", "x", False, True),
    ("[x-]", "-", False, True), ("[x-]", "z", False, True), ("[-x]", "x", False, True),
    ("[-x]", "-", False, True), ("[-x]", "a", False, True), ("\\", "a", False, True),
    ("[a-b-c]", "a", False, True), ("[", "a", False, True), ("[^", "a", False, True),
    ("[^bc", "a", False, True), ("a[", "a", False, True), ("a[", "ab", False, True),
    ("*x", "xxx", True, False),
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCHES)
def test_matches_or_parent_matches(pattern: str, path: str, expected: bool) -> None:
    assert PatternMatcher([pattern]).matches_or_parent_matches(path) is expected


@pytest.mark.parametrize(("patterns", "path", "expected"), MULTI)
def test_multi_patterns(patterns: list[str], path: str, expected: bool) -> None:
    assert PatternMatcher(patterns).matches_or_parent_matches(path) is expected


@pytest.mark.parametrize(("pattern", "name", "expected", "bad"), MATCH)
def test_match_table(pattern: str, name: str, expected: bool, bad: bool) -> None:
    if bad:
        with pytest.raises(errdefs.InvalidParameter, match=r"^syntax error in pattern$"):
            matches(name, [pattern])
    else:
        assert matches(name, [pattern]) is expected


def test_simple_cases() -> None:
    assert matches("fileutils.go", ["*"])
    assert matches("fileutils.go", ["*.go"])
    assert matches("fileutils.go", ["!fileutils.go", "*.go"])
    assert not matches("docs/README.md", ["docs", "!docs/README.md"])
    assert not matches("docs/README.md", ["docs/", "!docs/README.md"])
    assert not matches("docs/README.md", ["docs/*", "!docs/README.md"])
    assert not matches("fileutils.go", ["*.go", "!fileutils.go"])
    assert not matches(".", ["*.go"])
    assert not matches("/any/path/there", [])
    assert matches("docs/a/b", ["docs"])  # Matches checks the parent at the pattern's depth
    assert not matches("x/docs/b", ["docs"])
    assert matches_or_parent_matches("x/docs/b", ["x/docs"])
    assert not matches_or_parent_matches(".", ["*"])


def test_pattern_errors() -> None:
    with pytest.raises(errdefs.InvalidParameter, match=r'^illegal exclusion pattern: "!"$'):
        PatternMatcher(["!"])
    pm = PatternMatcher(["docs", "  !docs/README.md  ", ""])
    assert pm.exclusions and [p.cleaned for p in pm.patterns] == ["docs", "docs/README.md"]
    # passes filepath.Match's check, fails as a regexp when first used (every time)
    pm = PatternMatcher(["[z-a]"])
    for _ in range(2):
        with pytest.raises(errdefs.InvalidParameter, match=r"^syntax error in pattern$"):
            pm.matches_or_parent_matches("x")


def test_read_dockerignore() -> None:
    content = (
        b"test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    )
    assert read_dockerignore(content) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]
    assert read_dockerignore(b"\xef\xbb\xbf# c\r\n a/../b/ \r\n  # not a comment\n//x\n") == [
        "b",
        "# not a comment",
        "x",
    ]
    assert read_dockerignore(b"") == []
    assert read_dockerignore(b"a" * 65535 + b"\n") == ["a" * 65535]
    with pytest.raises(errdefs.InvalidParameter, match=r"^bufio.Scanner: token too long$"):
        read_dockerignore(b"a" * 65536 + b"\n")


def test_go_clean() -> None:
    assert [go_clean(p) for p in ("", "//a", "a/../..", "/../x", "a//b/./", "///")] == [
        ".",
        "/a",
        "..",
        "/x",
        "a/b",
        "/",
    ]
