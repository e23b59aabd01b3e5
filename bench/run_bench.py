"""Everyday latencies through the docker CLI against a real berthd.

Run as root from the repo: ``.venv/bin/python bench/run_bench.py [-n 20]``. On a
berthd of its own (temp dir, ``/berthd-test-<random>`` cgroup parent, removed at
the end), it measures

* ``docker run --rm busybox true``: median of ``-n`` runs;
* ``docker run -d busybox sleep``: 50 containers, median per run and the total;
* ``docker exec <c> true``: median of ``-n`` execs in a running container;
* ``docker ps -a`` with 200 containers (the 50 running + 150 created): median of ``-n``;
* berthd's RSS when idle (no container) and with the 50 running.

Each CLI figure includes the docker CLI's own start (~20–40 ms), as a user sees it.
dockerd is not installed on this host, so there is no side-by-side column.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.restore.harness import Env


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(n: int, fn: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--running", type=int, default=50)
    ap.add_argument("--total", type=int, default=200)
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    e = Env()
    try:
        e.start()
        e.ok("ps")  # warm the CLI's caches
        time.sleep(1.0)
        rows.append(("berthd RSS idle", f"{rss_mb(e.pid):.1f} MB"))

        s = timed(args.n, lambda i: e.ok("run", "--rm", "busybox", "true"))
        rows.append((f"docker run --rm busybox true (n={args.n})", f"{_ms(s)}"))

        t0 = time.perf_counter()
        s = timed(
            args.running,
            lambda i: e.ok("run", "-d", "--name", f"r{i}", "busybox", "sleep", "100000"),
        )
        total = time.perf_counter() - t0
        rows.append((f"docker run -d ×{args.running}", f"{_ms(s)} per run, {total:.2f} s in all"))

        s = timed(args.n, lambda i: e.ok("exec", "r0", "true"))
        rows.append((f"docker exec r0 true (n={args.n})", _ms(s)))

        time.sleep(1.0)
        rows.append((f"berthd RSS, {args.running} running", f"{rss_mb(e.pid):.1f} MB"))

        for i in range(args.total - args.running):
            e.api.create_container("busybox", ["true"], name=f"c{i}")
        assert len(e.ok("ps", "-aq").split()) == args.total
        s = timed(args.n, lambda i: e.ok("ps", "-a"))
        rows.append((f"docker ps -a, {args.total} containers (n={args.n})", _ms(s)))
    finally:
        leaks = e.cleanup()
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:{width}s}  {value}")
    print("dockerd: not installed on this host; not measured")
    if leaks:
        print(f"cleanup had to remove: {leaks}")


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms"


if __name__ == "__main__":
    main()
