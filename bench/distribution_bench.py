"""``docker push`` / ``docker pull`` on berthd and dockerd, through one local registry.

Run as root from the repo: ``.venv/bin/python bench/distribution_bench.py [--mb 200]
[--layers 4] [--no-dockerd]``. A plain ``docker-registry`` runs on 127.0.0.1 (insecure by
default for both daemons, so plain http). For each daemon on a fresh data root: load a
~``--mb`` MB image of ``--layers`` layers of compressible text, time ``docker push`` to a
repository of its own (layers gzipped by the daemon), remove the image (its layers go),
time ``docker pull`` of it (every layer downloaded, verified, unpacked), then time the
same pull again with everything present ("Image is up to date"), and the worst
``/_ping`` latency during the first pull. Timings on a shared machine, never assertions.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, Berthd, Daemon, Dockerd, loadavg, print_table, worst_ping
from tests.integration.dockerd_process import dockerd_available
from tests.integration.images_build import build_random_archive
from tests.integration.registry_server import RegistryServer


def measure(d: Daemon, archive: Path, ref: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        d.fresh().start()
        d.cli("load", "-i", str(archive))
        d.cli("tag", "bench:1", ref)
        t0 = time.perf_counter()
        d.cli("push", ref)
        out["push"] = f"{time.perf_counter() - t0:.2f} s"
        d.cli("rmi", ref, "bench:1")
        with worst_ping(d.sock) as worst:
            t0 = time.perf_counter()
            d.cli("pull", ref)
            out["pull (all layers)"] = f"{time.perf_counter() - t0:.2f} s"
        out["worst `/_ping` during the pull"] = f"{worst[0]:.0f} ms"
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            d.cli("pull", ref)
            samples.append(time.perf_counter() - t0)
        out["pull, all present (median of 3)"] = f"{sorted(samples)[1] * 1000:.0f} ms"
    finally:
        d.wipe()
    if d.leaks:
        print(f"{d.name} left: {d.leaks}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--no-dockerd", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-distribution-"))
    archive = work / "big.tar"
    build_random_archive(archive, "bench:1", layers=a.layers, total_mb=a.mb)
    size = archive.stat().st_size / 1e6
    print(f"image: {size:.0f} MB, {a.layers} layers; load {loadavg()}", flush=True)
    # from this working tree (the shared venv may hold another checkout of berthd)
    daemons: list[Daemon] = [Berthd(work / "berthd", src=REPO, rev="working tree")]
    if not a.no_dockerd and dockerd_available():
        daemons.append(Dockerd(work / "dockerd"))
    results: dict[str, dict[str, str]] = {}
    with RegistryServer("plain") as reg:
        for d in daemons:
            for row, fig in measure(d, archive, f"{reg.host}/bench/{d.name}:1").items():
                results.setdefault(row, {})[d.name] = fig
    for d in daemons:
        print(f"{d.name}: {d.version()}")
    print_table(results, {d.name: "n/a" for d in daemons})
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
