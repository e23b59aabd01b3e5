"""``docker load`` / ``docker save`` throughput of a ~200 MB, 3-layer image.

Run as root from the repo: ``.venv/bin/python bench/images_bench.py [--mb 200] [-n 3]``.
Generates a save archive of compressible text layers in a temp dir, starts a berthd of
its own (own data root and socket), and times the docker CLI:

* load:  ``docker load -i`` of the fresh archive (the image removed between runs);
* save:  ``docker save -o`` of the loaded image;
* ping:  the worst ``/_ping`` latency seen while a load runs (the event loop must stay
  free: extraction runs in worker threads).

With Debian's ``dockerd`` installed the same would run against it for comparison; when
it is missing that is said and skipped. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.daemon_process import BerthdProcess
from tests.integration.images_build import build_random_archive


def _docker(host: str, *args: str) -> None:
    env = {**os.environ, "DOCKER_HOST": host}
    subprocess.run(["docker", *args], env=env, check=True, capture_output=True, timeout=600)


def _ping_ms(sock: str) -> float:
    start = time.perf_counter()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        s.recv(64)
    return (time.perf_counter() - start) * 1000


def _poll(sock: str, stop: threading.Event, worst: list[float]) -> None:
    while not stop.is_set():
        worst[0] = max(worst[0], _ping_ms(sock))
        time.sleep(0.02)


def bench(host: str, sock: str, archive: Path, size: int, runs: int, tmp: Path) -> None:
    loads, saves, pings = [], [], []
    for _ in range(runs):
        stop = threading.Event()
        worst = [0.0]
        t = threading.Thread(target=_poll, args=(sock, stop, worst))
        start = time.perf_counter()
        t.start()
        _docker(host, "load", "-i", str(archive))
        loads.append(time.perf_counter() - start)
        stop.set()
        t.join()
        pings.append(worst[0])
        out = tmp / "saved.tar"
        start = time.perf_counter()
        _docker(host, "save", "-o", str(out), "bench:1")
        saves.append(time.perf_counter() - start)
        out.unlink()
        _docker(host, "rmi", "bench:1")
    mb = size / 1e6
    for name, samples in (("load", loads), ("save", saves)):
        med = statistics.median(samples)
        print(
            f"{name:5s} {mb:6.1f} MB  median {med:6.2f} s  {mb / med:7.1f} MB/s  "
            f"(best {mb / min(samples):.1f} MB/s, n={len(samples)})"
        )
    print(
        f"ping  worst during load: {max(pings):.1f} ms (median of worsts {statistics.median(pings):.1f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("-n", type=int, default=3)
    opts = ap.parse_args()
    if shutil.which("docker") is None:
        sys.exit("the docker CLI is needed")
    tmp = Path(tempfile.mkdtemp(prefix="berthd-imgbench-", dir="/var/tmp"))
    try:
        archive = tmp / "bench.tar"
        t0 = time.perf_counter()
        build_random_archive(archive, "bench:1", layers=3, total_mb=opts.mb)
        size = archive.stat().st_size
        print(f"archive: {size / 1e6:.1f} MB, 3 layers (built in {time.perf_counter() - t0:.1f} s)")
        (tmp / "berthd").mkdir()
        d = BerthdProcess(root=tmp / "berthd").start()
        try:
            print("berthd:")
            bench(d.base_url, d.sock, archive, size, opts.n, tmp)
        finally:
            d.cleanup()
        if shutil.which("dockerd") is None:
            print("dockerd: not installed (Debian docker.io) - comparison skipped")
        else:
            print("dockerd: installed, but the side-by-side run is not automated yet - skipped")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
