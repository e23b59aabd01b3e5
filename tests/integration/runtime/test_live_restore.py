"""Live-restore for real: the process that started the container is gone.

A separate Python process (the "old daemon") creates and starts a container and
dies with ``os._exit``; conmon must survive it, out of its cgroup, and a new
Supervisor in this process restores, attaches and stops the container.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap

import pytest

from berthd.runtime.cgroups import process_cgroups
from tests.integration.runtime.conftest import Env, collect, read_text

pytestmark = pytest.mark.integration

OLD_DAEMON = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from pathlib import Path
    from berthd.runtime.conmon import ConmonSettings, CreateOptions
    from berthd.runtime.oci_runtime import OCIRuntime
    from berthd.runtime.supervisor import Supervisor

    cfg = json.loads(sys.argv[1])
    async def main():
        rt = OCIRuntime.for_exec_root("runc", cfg["runc"], Path(cfg["run"]))
        sup = Supervisor(Path(cfg["run"]), {"runc": rt}, "runc",
                         ConmonSettings(path=cfg["conmon"], cgroup=cfg["cgroup"]))
        b = Path(cfg["bundle"])
        opts = CreateOptions(bundle=b, persist_dir=b, log_path=b / "ctr.log",
                             stdin=True, stdin_once=False)
        await sup.create(cfg["id"], opts)
        await sup.start(cfg["id"])
        print(os.getpid(), flush=True)
        os._exit(0)  # die like a killed daemon: no cleanup at all
    asyncio.run(main())
    """
)


async def test_container_survives_its_creator(env: Env) -> None:
    cid = "livec1"
    env.ids.append(cid)
    bundle = env.bundle(cid, ["sh", "-c", "while read l; do echo got:$l; done"])
    cfg = {
        "runc": env.runtime.path,
        "run": str(env.root / "run"),
        "conmon": env.conmon.path,
        "cgroup": env.conmon.cgroup,
        "bundle": str(bundle),
        "id": cid,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OLD_DAEMON, json.dumps(cfg), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out

    conmon_pid = int(read_text(bundle / "conmon.pid"))
    stat = read_text(f"/proc/{conmon_pid}/stat")
    assert stat and int(stat.rpartition(")")[2].split()[1]) != int(out)  # re-parented
    assert process_cgroups(conmon_pid)["memory"] != process_cgroups()["memory"] or (
        process_cgroups()["memory"] == "/"
    )

    sup = env.new_supervisor()
    restored = await sup.restore(cid)
    assert restored.running
    async with await sup.attach(cid) as session:
        await session.send(b"back\n")
        got = await asyncio.wait_for(collect(session, until=b"got:back\n"), 10)
    assert got[1] == b"got:back\n"
    await sup.signal(cid, signal.SIGKILL)
    assert (await asyncio.wait_for(sup.wait(cid), 10)).exit_code == 137
    await sup.delete(cid)
