"""The runtime adapter's argv and error mapping, against a scripted fake runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.runtime.errors import RuntimeStartError
from berthd.runtime.oci_runtime import OCIRuntime

FAKE = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
for a in "$@"; do last="$a"; done
case "$*" in
  *" state "*) echo '{"status": "running", "pid": 42}' ;;
  *" ps "*) echo '[1, 2, 3]' ;;
  *" kill "*gone*) echo 'time="x" level=error msg="container does not exist"' >&2; exit 1 ;;
  *" start "*bad*) echo 'time="x" level=error msg="exec: \\"foo\\": executable file not found in $PATH"' >&2; exit 1 ;;
  *" update "*) cp "$6" "$(dirname "$0")/update.json" ;;
esac
exit 0
"""


@pytest.fixture
def rt(tmp_path: Path) -> OCIRuntime:
    script = tmp_path / "bin" / "fake-runtime"
    script.parent.mkdir()
    script.write_text(FAKE)
    script.chmod(0o755)
    return OCIRuntime.for_exec_root("fake", str(script), tmp_path / "run", ("--debug",))


def _calls(rt: OCIRuntime) -> list[str]:
    return (Path(rt.path).parent / "calls").read_text().splitlines()


async def test_verbs_argv(rt: OCIRuntime) -> None:
    root = str(rt.root)
    assert rt.root.name == "runtime-fake"
    assert (await rt.state("c1"))["status"] == "running"
    assert await rt.ps("c1") == [1, 2, 3]
    await rt.kill("c1", 9, all_processes=True)
    await rt.pause("c1")
    await rt.resume("c1")
    await rt.delete("c1", force=True)
    await rt.start("c1")
    await rt.update("c1", {"memory": {"limit": 1}})
    calls = _calls(rt)
    prefix = f"--root {root} --debug"
    assert calls[:7] == [
        f"{prefix} state c1",
        f"{prefix} ps --format json c1",
        f"{prefix} kill --all c1 9",
        f"{prefix} pause c1",
        f"{prefix} resume c1",
        f"{prefix} delete --force c1",
        f"{prefix} start c1",
    ]
    assert calls[7].startswith(f"{prefix} update -r ")
    upd = json.loads((Path(rt.path).parent / "update.json").read_text())
    assert upd == {"memory": {"limit": 1}}
    assert list(rt.root.glob("update-*")) == []  # temp file removed


async def test_errors_map_to_kinds(rt: OCIRuntime) -> None:
    with pytest.raises(errdefs.NotFound, match="No such container: gone"):
        await rt.kill("gone", 9)
    with pytest.raises(RuntimeStartError) as ei:
        await rt.start("bad")
    assert ei.value.exit_code == 127


async def test_missing_binary(tmp_path: Path) -> None:
    rt = OCIRuntime.for_exec_root("x", str(tmp_path / "nope"), tmp_path)
    with pytest.raises(errdefs.System):
        await rt.state("c1")
    assert not (await rt.probe(tmp_path, "/unused")).ok


def test_conmon_args(rt: OCIRuntime) -> None:
    assert rt.conmon_args() == [
        "--runtime-arg",
        "--root",
        "--runtime-arg",
        str(rt.root),
        "--runtime-arg",
        "--debug",
    ]


def test_choose_default() -> None:
    from berthd.runtime.oci_runtime import ProbeResult, choose_default

    crun_bad = ProbeResult("crun", False, "crun 1.8.1", "cgroups in hybrid mode not supported")
    runc_ok = ProbeResult("runc", True, "runc 1.1.5")
    assert choose_default([crun_bad, runc_ok], ("crun", "runc")) == "runc"
    assert choose_default([ProbeResult("crun", True, "")], ("crun", "runc")) == "crun"
    assert choose_default([ProbeResult("kata", True, "")]) == "kata"
    with pytest.raises(errdefs.System, match="hybrid"):
        choose_default([crun_bad])
