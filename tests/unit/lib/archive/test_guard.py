"""Our own breakout checks, independent of GNU tar's."""

from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.lib.archive.guard import BreakoutGuard, clean_name
from berthd.lib.archive.tarheader import Header

REG, LNK, SYM, DIR = b"0", b"1", b"2", b"5"


def h(name: str, kind: bytes = REG, link: str = "") -> Header:
    return Header(name.encode(), kind, 0, link.encode(), 0o644, 0, 0, 0)


def test_clean_name() -> None:
    assert clean_name(b"/etc//./passwd") == b"etc/passwd"
    assert clean_name(b"./") == b""
    with pytest.raises(errdefs.InvalidParameter):
        clean_name(b"a/../../b")


@pytest.mark.parametrize(
    "entries",
    [
        [h("../x")],
        [h("a", SYM, "/"), h("a/x")],
        [h("a", SYM, "../.."), h("a/x")],
        [h("b", SYM, "/etc"), h("a", SYM, "b"), h("a/x")],
        [h("h", LNK, "../etc/passwd")],
        [h("a", SYM, "/etc"), h("h", LNK, "a/passwd")],
        [h("a", SYM, "a"), h("a/x")],  # a loop
    ],
)
def test_breakouts_rejected(entries: list[Header]) -> None:
    guard = BreakoutGuard()
    with pytest.raises(errdefs.InvalidParameter):
        for e in entries:
            guard.check(e)


def test_legit_entries_pass() -> None:
    guard = BreakoutGuard()
    for e in [
        h("usr", DIR),
        h("usr/lib", DIR),
        h("lib", SYM, "usr/lib"),
        h("lib/x"),
        h("bin/sh", SYM, "/bin/busybox"),  # absolute symlinks are fine to create
        h("etc/l", SYM, "../usr/lib"),
        h("h", LNK, "/usr/lib/x"),
        h("d", DIR),
        h("d/l", SYM, "../../etc"),  # a link's target is data: it may point anywhere
        h("up", SYM, "../../../../../.."),
    ]:
        guard.check(e)


def test_replacing_a_symlink_clears_it() -> None:
    guard = BreakoutGuard()
    guard.check(h("a", SYM, "/"))
    guard.check(h("a", DIR))
    guard.check(h("a/x"))
