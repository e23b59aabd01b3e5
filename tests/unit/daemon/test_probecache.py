"""The probe cache: an answer is kept while the program is the same file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from berthd.daemon.components import _probe
from berthd.daemon.probecache import FILE_NAME, ProbeCache


def _program(path: Path, version: str) -> str:
    path.write_text(f"#!/bin/sh\necho 'prog version {version}'\necho 'commit: abc'\n")
    path.chmod(0o755)
    return str(path)


def test_an_answer_survives_a_reload_while_the_program_is_unchanged(tmp_path: Path) -> None:
    prog = _program(tmp_path / "prog", "1.0")
    cache = ProbeCache(str(tmp_path))
    cache.put("k", prog, {"v": 1})
    cache.save()
    again = ProbeCache(str(tmp_path)).load()
    assert again.get("k", prog) == {"v": 1}
    assert again.get("other", prog) is None


def test_a_changed_or_missing_program_is_asked_again(tmp_path: Path) -> None:
    prog = _program(tmp_path / "prog", "1.0")
    cache = ProbeCache(str(tmp_path))
    cache.put("k", prog, {"v": 1})
    st = os.stat(prog)
    os.utime(prog, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert cache.get("k", prog) is None
    cache.put("k", prog, {"v": 2})
    os.unlink(prog)
    assert cache.get("k", prog) is None


def test_an_unreadable_cache_file_is_an_empty_cache(tmp_path: Path) -> None:
    prog = _program(tmp_path / "prog", "1.0")
    for junk in (b"{not json", b"[1, 2]", b'{"k": 3}', b'{"k": {"program": 1}}'):
        (tmp_path / FILE_NAME).write_bytes(junk)
        assert ProbeCache(str(tmp_path)).load().get("k", prog) is None


def test_component_versions_come_from_the_cache_until_the_binary_changes(
    tmp_path: Path,
) -> None:
    prog = _program(tmp_path / "prog", "1.0")
    cache = ProbeCache(str(tmp_path / "state"))
    first = asyncio.run(_probe(cache, "prog", prog, ()))
    assert first is not None and (first.version, first.commit) == ("1.0", "abc")
    # same file, another answer in the cache: the cache is what is read
    cache.put(f"version:{prog}", prog, {"version": "cached", "commit": ""})
    cached = asyncio.run(_probe(cache, "prog", prog, ()))
    assert cached is not None and cached.version == "cached"
    # a new binary (another inode) is run again
    os.unlink(prog)
    _program(tmp_path / "prog", "2.0.1")
    fresh = asyncio.run(_probe(cache, "prog", prog, ()))
    assert fresh is not None and fresh.version == "2.0.1"
