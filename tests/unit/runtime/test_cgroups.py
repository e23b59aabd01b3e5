"""Parsing mountinfo and /proc/<pid>/cgroup; moving a process; removing trees."""

from __future__ import annotations

import os
from pathlib import Path

from berthd.runtime.cgroups import (
    Hierarchy,
    hierarchies,
    is_unified,
    move_to_cgroup,
    process_cgroups,
    remove_cgroup,
)

HYBRID = """\
30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
31 25 0:27 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
34 25 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw
"""

UNIFIED = "30 25 0:26 / /sys/fs/cgroup rw shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_hybrid_hierarchies() -> None:
    hs = hierarchies(HYBRID)
    assert [h.version for h in hs] == [2, 1, 1, 1]
    assert hs[1].name == "systemd" and not hs[1].controllers
    assert hs[2].controllers == frozenset({"cpu", "cpuacct"})
    assert hs[3].path("/a/b") == Path("/sys/fs/cgroup/memory/a/b")
    assert not is_unified(hs)


def test_unified() -> None:
    hs = hierarchies(UNIFIED)
    assert len(hs) == 1 and hs[0].version == 2
    assert is_unified(hs)


def test_process_cgroups_self() -> None:
    cg = process_cgroups(os.getpid())
    assert all(v.startswith("/") for v in cg.values())


def test_move_and_remove_with_fake_hierarchy(tmp_path: Path) -> None:
    # a plain directory stands in for a hierarchy: the cgroup.procs write is a file write
    h = Hierarchy(tmp_path / "memory", 1, frozenset({"memory"}))
    (tmp_path / "memory").mkdir()
    used = move_to_cgroup(1234, "/p/conmon", [h])
    assert used == [tmp_path / "memory" / "p" / "conmon"]
    assert (used[0] / "cgroup.procs").read_text() == "1234\n"
    # remove_cgroup only rmdirs: the fake has a regular file, so it must stay, not crash
    remove_cgroup("/p", [h])
    (used[0] / "cgroup.procs").unlink()
    remove_cgroup("/p", [h])
    assert not (tmp_path / "memory" / "p").exists()


def test_move_skips_unwritable(tmp_path: Path) -> None:
    bad = Hierarchy(tmp_path / "file", 1, frozenset({"pids"}))
    (tmp_path / "file").write_text("not a dir")
    assert move_to_cgroup(1, "/x", [bad]) == []


def test_is_frozen_v1_and_v2(tmp_path: Path) -> None:
    from berthd.runtime.cgroups import is_frozen

    v1 = [Hierarchy(tmp_path / "freezer", 1, frozenset({"freezer"}))]
    d = tmp_path / "freezer" / "p" / "c"
    d.mkdir(parents=True)
    (d / "freezer.state").write_text("FROZEN\n")
    assert is_frozen("/p/c", v1)
    (d / "freezer.state").write_text("THAWED\n")
    assert not is_frozen("/p/c", v1)
    assert not is_frozen("/p/gone", v1)
    v2 = [Hierarchy(tmp_path / "u", 2, frozenset())]
    (tmp_path / "u" / "p").mkdir(parents=True)
    (tmp_path / "u" / "p" / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert is_frozen("/p", v2)


def test_needs_move() -> None:
    from berthd.runtime.cgroups import needs_move

    mem = Hierarchy(Path("/sys/fs/cgroup/memory"), 1, frozenset({"memory"}))
    sysd = Hierarchy(Path("/sys/fs/cgroup/systemd"), 1, frozenset(), "systemd")
    v2 = Hierarchy(Path("/sys/fs/cgroup/unified"), 2, frozenset())
    mine = {"memory": "/svc", "name=systemd": "/", "": "/system.slice/x"}
    assert needs_move(mem, mine) and not needs_move(sysd, mine) and needs_move(v2, mine)
    assert needs_move(sysd, None)
