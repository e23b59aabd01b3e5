"""berthd start-up time until ``GET /containers/json?all=1`` lists every container.

Run as root from the repo: ``.venv/bin/python bench/startup_bench.py [--stopped 1000]
[--running 50] [--rounds 3]``. Two data sets, each on a berthd of its own (temp
dir, ``/berthd-test-<random>`` cgroup parent, removed at the end):

* ``--stopped`` containers created through the API (never started), berthd
  stopped (SIGTERM) and started again ``--rounds`` times;
* ``--running`` containers (``sleep``) with ``--live-restore``: berthd stopped
  (SIGTERM, the containers keep running) and started again ``--rounds`` times;
  they must all be listed as running.

The time is from spawning berthd until the first list that holds everything
(the socket is polled every 5 ms). dockerd is not measured here: run the same
data set on dockerd by hand to compare (issue 6's target: < 1 s for 1,000
stopped containers, and faster than dockerd).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.restore.harness import Env


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def list_all(sock: str) -> list[dict[str, object]] | None:
    try:
        conn = UnixHTTP(sock)
        conn.request("GET", "/containers/json?all=1")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
    except OSError:
        return None
    if resp.status != 200:
        return None
    rows: list[dict[str, object]] = json.loads(body)
    return rows


def time_startup(e: Env, want: int, running: bool) -> float:
    t0 = time.perf_counter()
    e.d.start(wait=False)
    while True:
        rows = list_all(e.d.sock)
        if rows is not None:
            ok = len(rows) >= want
            if running:
                ok = sum(1 for r in rows if r.get("State") == "running") >= want
            if ok:
                return time.perf_counter() - t0
        if e.d.proc is not None and e.d.proc.poll() is not None:
            raise RuntimeError(f"berthd exited:\n{e.logs()[-3000:]}")
        if time.perf_counter() - t0 > 120:
            raise TimeoutError("berthd did not list everything within 120 s")
        time.sleep(0.005)


def bench_stopped(n: int, rounds: int) -> list[float]:
    e = Env()
    try:
        e.start()
        api = e.api

        def create(i: int) -> None:
            api.create_container("busybox", ["true"], name=f"stopped{i}")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, range(n)))
        print(f"created {n} containers in {time.perf_counter() - t0:.1f} s", flush=True)
        out = []
        for _ in range(rounds):
            e.stop()
            out.append(time_startup(e, n, running=False))
        return out
    finally:
        e.cleanup()


def bench_running(n: int, rounds: int) -> list[float]:
    e = Env(("--live-restore",))
    try:
        e.start()
        for i in range(n):
            c = e.api.create_container("busybox", ["sleep", "100000"], name=f"running{i}")
            e.api.start(c["Id"])
        out = []
        for _ in range(rounds):
            e.stop()
            out.append(time_startup(e, n, running=True))
        return out
    finally:
        e.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stopped", type=int, default=1000)
    ap.add_argument("--running", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    results = {
        f"{args.stopped} stopped": bench_stopped(args.stopped, args.rounds),
        f"{args.running} running (live-restore)": bench_running(args.running, args.rounds),
    }
    print()
    print(f"{'data set':28s} {'rounds (s)':28s} {'median (s)':>10s}")
    for name, samples in results.items():
        rounds = " ".join(f"{s:.3f}" for s in samples)
        print(f"{name:28s} {rounds:28s} {statistics.median(samples):10.3f}")
    print("dockerd: not installed on this host; not measured")


if __name__ == "__main__":
    main()
