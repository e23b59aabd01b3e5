"""``docker create``, ``docker rm`` and ``docker exec`` on several daemons at once, the
requests interleaved (one on each daemon in turn), so that the load of a shared machine
drifts the same way for all of them.

Run as root from the repo: ``.venv/bin/python bench/interleaved.py [-n 30]
[--rev REV ...] [--no-dockerd]``. Each ``--rev`` is one berthd, run from ``git archive
<rev>`` (default: ``HEAD``); dockerd is Debian's (``bench/common.Dockerd``). Every
daemon is up at the same time, each on its own paths under
``/tmp/bench-interleaved`` and its own cgroup parent; containers run with ``--network
none`` and ``--pull never``. Prints one markdown table of medians of ``-n``: the same
rows as ``bench/sidebyside.py --only runs`` (where each daemon runs its whole section
alone), after the CLI's floor (``docker inspect`` of one container: the CLI's start-up,
``/_ping`` and one cheap request).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CREATE, RUN, Berthd, Daemon, Dockerd, Files, export_berthd, loadavg
from tests.integration.dockerd_process import DOCKERD

ROOT = Path("/tmp/bench-interleaved")


def interleave(daemons: list[Daemon], n: int, op: Callable[[Daemon, int], object]) -> list[str]:
    """``op(d, i)`` for i < n, each i on every daemon in turn; medians in ms."""
    samples: list[list[float]] = [[] for _ in daemons]
    for i in range(n):
        for k, d in enumerate(daemons):
            t0 = time.perf_counter()
            op(d, i)
            samples[k].append(time.perf_counter() - t0)
    return [f"{statistics.median(s) * 1000:.0f} ms" for s in samples]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--rev", action="append", help="a berthd commit to run (repeatable)")
    ap.add_argument("--no-dockerd", action="store_true")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run as root")
    shutil.rmtree(ROOT, ignore_errors=True)
    (ROOT / "work").mkdir(parents=True)
    daemons: list[Daemon] = []
    labels: list[str] = []
    for k, rev in enumerate(a.rev or ["HEAD"]):
        src = ROOT / f"src{k}"
        short = export_berthd(rev, src)
        b = Berthd(ROOT / f"berthd{k}", src, short)
        b.cgroup_parent = f"/berthd-bench{k}"
        daemons.append(b)
        labels.append(f"berthd {short}")
    if not a.no_dockerd and DOCKERD is not None:
        daemons.append(Dockerd(ROOT / "dockerd"))
        labels.append("dockerd")
    load = loadavg()
    try:
        files = Files(ROOT / "work", 1)
        for d in daemons:
            d.fresh().start()
            d.cli("load", "-i", str(files.busybox))
            d.cli(*RUN, "-d", "--name", "r0", "busybox", "sleep", "100000")
            d.cli("exec", "r0", "true")  # warm the caches of the CLI and the daemon
        rows = {
            "`docker inspect -f {{.Id}} r0` (the CLI's floor: /_ping + one GET), median of "
            f"{a.n}": (
                interleave(daemons, a.n, lambda d, i: d.cli("inspect", "-f", "{{.Id}}", "r0"))
            ),
            f"`docker create busybox true`, median of {a.n}": interleave(
                daemons, a.n, lambda d, i: d.cli(*CREATE, "--name", f"k{i}", "busybox", "true")
            ),
            f"`docker rm` of a created container, median of {a.n}": interleave(
                daemons, a.n, lambda d, i: d.cli("rm", f"k{i}")
            ),
            f"`docker exec r0 true`, median of {a.n}": interleave(
                daemons, a.n, lambda d, i: d.cli("exec", "r0", "true")
            ),
        }
        for d in daemons:
            d.remove_all()
    finally:
        for d in daemons:
            d.wipe()
        leaks = [f"{d.name}: {x}" for d in daemons for x in d.leaks]
        shutil.rmtree(ROOT, ignore_errors=True)
    print(f"load average {load} at the start, {loadavg()} at the end")
    print()
    print("| measure | " + " | ".join(labels) + " |")
    print("|---" * (len(labels) + 1) + "|")
    for row, values in rows.items():
        print(f"| {row} | " + " | ".join(values) + " |")
    print(f"\ncleanup had to remove: {leaks or 'nothing'}")


if __name__ == "__main__":
    main()
