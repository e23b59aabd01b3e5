"""Latency of the runtime layer on this host: conmon + runc create/start/exit and exec.

Run as root from the repo: ``.venv/bin/python bench/runtime_latency.py [-n 20]``.
Prints median/mean/min/max in milliseconds for

* run:  Supervisor.create + start + wait for ``/bin/true`` (conmon + runtime);
* exec: Supervisor.exec of ``/bin/true`` in a running container, until its exit code;
* the same with the bare runtime (``run`` / ``exec``) as the baseline, so that the
  overhead of conmon and Python shows even when the machine is noisy.

Everything lives in a temp dir and a ``/berthd-bench-<random>`` cgroup parent that
are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from berthd.runtime.cgroups import remove_cgroup
from berthd.runtime.conmon import ConmonSettings, CreateOptions
from berthd.runtime.oci_runtime import OCIRuntime
from berthd.runtime.supervisor import Supervisor
from tests.integration.runtime.bundle import make_bundle, make_rootfs, process_spec


def _report(name: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{name:28s} n={len(ms):3d}  median {statistics.median(ms):6.1f} ms  "
        f"mean {statistics.mean(ms):6.1f}  min {min(ms):6.1f}  max {max(ms):6.1f}"
    )


async def main(n: int, runtime_name: str, runtime_path: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="berthd-bench-"))
    parent = f"/berthd-bench-{secrets.token_hex(4)}"
    rt = OCIRuntime.for_exec_root(runtime_name, runtime_path, root / "run")
    conmon = ConmonSettings(cgroup=f"{parent}/conmon")
    sup = Supervisor(root / "run", {runtime_name: rt}, runtime_name, conmon)
    rootfs = make_rootfs(root / "rootfs")
    try:
        runs: list[float] = []
        for i in range(n):
            cid = f"bench{i}"
            b = make_bundle(root / cid, rootfs, ["/bin/true"], f"{parent}/{cid}")
            t0 = time.perf_counter()
            await sup.create(cid, CreateOptions(bundle=b, persist_dir=b, log_path=b / "log"))
            await sup.start(cid)
            await sup.wait(cid)
            runs.append(time.perf_counter() - t0)
            await sup.delete(cid)
        _report(f"conmon+{runtime_name} run /bin/true", runs)

        base: list[float] = []
        for i in range(n):
            b = make_bundle(root / f"plain{i}", rootfs, ["/bin/true"], f"{parent}/plain{i}")
            t0 = time.perf_counter()
            await rt.run("run", "--bundle", str(b), f"plain{i}")
            base.append(time.perf_counter() - t0)
            await rt.delete(f"plain{i}", force=True)
        _report(f"plain {runtime_name} run (baseline)", base)

        b = make_bundle(root / "long", rootfs, ["sleep", "1000"], f"{parent}/long")
        await sup.create("long", CreateOptions(bundle=b, persist_dir=b))
        await sup.start("long")
        execs: list[float] = []
        for i in range(n):
            t0 = time.perf_counter()
            ex = await sup.exec("long", f"e{i}", process_spec(["/bin/true"]))
            await ex.wait()
            execs.append(time.perf_counter() - t0)
            await ex.close()
        _report(f"conmon+{runtime_name} exec /bin/true", execs)
        execs = []
        for i in range(n):
            t0 = time.perf_counter()
            ex = await sup.exec("long", f"d{i}", process_spec(["/bin/true"]), detach=True)
            await ex.wait()
            execs.append(time.perf_counter() - t0)
            await ex.close()
        _report(f"conmon+{runtime_name} exec -d", execs)
        base = []
        for _ in range(n):
            t0 = time.perf_counter()
            await rt.run("exec", "long", "/bin/true")
            base.append(time.perf_counter() - t0)
        _report(f"plain {runtime_name} exec (baseline)", base)
        await sup.signal("long", signal.SIGKILL)
        await sup.wait("long")
        await sup.delete("long")
    finally:
        await sup.close()
        remove_cgroup(parent)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--runtime-path", default=shutil.which("runc") or "/usr/sbin/runc")
    a = ap.parse_args()
    asyncio.run(main(a.n, a.runtime, a.runtime_path))
