"""conmon argv: the flags that decide stdin, tty, logging and live-restore."""

from __future__ import annotations

import itertools
from pathlib import Path

from berthd.runtime.conmon import ConmonSettings, CreateOptions, container_argv, exec_argv
from berthd.runtime.oci_runtime import OCIRuntime

RT = OCIRuntime.for_exec_root("runc", "/usr/sbin/runc", Path("/run/x"), ("--systemd-cgroup",))
S = ConmonSettings(path="/usr/bin/conmon")


def _argv(**kw: object) -> list[str]:
    opts = CreateOptions(bundle=Path("/b"), persist_dir=Path("/p"), **kw)  # type: ignore[arg-type]
    return container_argv(S, RT, "cid", opts, Path("/exits"), Path("/b/conmon.pid"))


def _pairs(argv: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise(argv))


def test_base_flags() -> None:
    argv = _argv(log_path=Path("/d/ctr.log"), log_size_max=1000)
    assert argv[0] == "/usr/bin/conmon"
    pairs = _pairs(argv)
    for p in [
        ("--api-version", "1"),
        ("-c", "cid"),
        ("-u", "cid"),
        ("-r", "/usr/sbin/runc"),
        ("-b", "/b"),
        ("--exit-dir", "/exits"),
        ("--persist-dir", "/p"),
        ("--conmon-pidfile", "/b/conmon.pid"),
        ("-l", "k8s-file:/d/ctr.log"),
        ("--log-size-max", "1000"),
        ("--runtime-arg", "--root"),
        ("--runtime-arg", "/run/x/runtime-runc"),
        ("--runtime-arg", "--systemd-cgroup"),
    ]:
        assert p in pairs, p
    assert "--full-attach" in argv
    assert "--sync" not in argv  # conmon must outlive the daemon
    assert "-t" not in argv and "-i" not in argv and "-s" not in argv


def test_stdin_once_closes_stdin_on_detach() -> None:
    argv = _argv(stdin=True, stdin_once=True)
    assert "-i" in argv and "--leave-stdin-open" not in argv


def test_stdin_kept_open_for_reattach() -> None:
    argv = _argv(stdin=True, stdin_once=False, terminal=True)
    assert "-i" in argv and "--leave-stdin-open" in argv and "-t" in argv


def test_no_log() -> None:
    assert ("-l", "none") in _pairs(_argv())


def test_exec_argv() -> None:
    argv = exec_argv(S, RT, "cid", "eid", Path("/e"), attach=True, stdin=True, terminal=False)
    pairs = _pairs(argv)
    assert ("-c", "cid") in pairs and ("-u", "eid") in pairs
    assert ("--exec-process-spec", "/e/process.json") in pairs
    assert ("--exit-dir", "/e/exit") in pairs
    assert "-e" in argv and "--exec-attach" in argv and "-i" in argv
    detached = exec_argv(S, RT, "cid", "eid", Path("/e"), attach=False, stdin=False, terminal=False)
    assert "--exec-attach" not in detached and "-i" not in detached
