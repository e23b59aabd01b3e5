"""berthd and dockerd side by side on this machine, through the same docker CLI.

Run as root from the repo: ``.venv/bin/python bench/sidebyside.py [-n 20] [--rounds 3]
[--image-runs 3] [--log-mb 50] [--build-mb 50] [--only runs,bridge,images,logs,build,stopped,running] [--no-dockerd] [--rev HEAD]``.
Prints a markdown table; each figure is measured on both daemons one right after the
other, each on a fresh data root of its own (the sections live in ``bench/common.py``):

* ``runs``: ``docker run --rm busybox true`` with ``--network none`` (median of
  ``-n``); ``docker run -d`` of ``--running`` containers (median per run and total);
  ``docker exec <c> true`` (median of ``-n``); ``docker create busybox true`` and
  ``docker rm`` of those created containers (median of ``-n`` each); ``docker ps -a`` with ``--total``
  containers (the running ones + created ones; median of ``-n``); daemon RSS idle and
  with the running containers (the daemon alone, and daemon + helpers as PSS and USS
  sums: containerd + shims for dockerd, the conmons for berthd);
* ``bridge``: ``docker run --rm busybox true`` on the daemon's default bridge network
  (median of ``-n``): berthd's own bridge device and 172.31.251.0/24; dockerd on a
  bridge ``bd-bench`` (172.31.250.1/24) made here for it and deleted afterwards, still
  with ``--iptables=false`` (so it adds no rule) and ``--ip-forward=false``;
* ``images``: ``docker load -i`` / ``docker save -o`` of a ~``--mb`` MB, 3-layer image
  (median of ``--image-runs``; the image removed between runs), and the worst
  ``/_ping`` latency seen during a load;
* ``logs``: ``docker logs`` and ``docker logs -t`` of a container that wrote ``--log-mb`` MB
  of 100-byte lines, to /dev/null (median of ``--log-runs``);
* ``build``: the classic ``docker build`` of a 10-step Dockerfile with a ``--build-mb`` MB
  COPY, the first build on a fresh data root and the fully cached rebuild (median of
  ``--build-runs``);
* ``stopped`` / ``running``: start-up time, from spawning the daemon until
  ``GET /containers/json?all=1`` lists all ``--stopped`` created containers, or all
  ``--running`` containers as running after a SIGTERM with ``--live-restore``
  (median of ``--rounds`` restarts).

Neither daemon touches the host network outside ``bridge``: containers run with
``--network none``; dockerd runs with ``--bridge=none --iptables=false
--ip-forward=false --ip-masq=false --userland-proxy=false`` and berthd with a bridge
name of its own that ``--network none`` never creates and ``--ip-forward=false``. Each
daemon has its own socket, data root, exec root, pid file, config file and cgroup
parent (``/berthd-bench``, ``/dockerd-bench``) under ``/tmp/bench-sidebyside``;
dockerd starts its own managed containerd (``tests/integration/dockerd_process.py``).
busybox comes from ``tests/integration/images_build.build_busybox_archive`` and is
``docker load``-ed (no registry is ever contacted: ``--pull never``). When Debian's
``dockerd`` is not installed its column says so and only berthd is measured. With
``--rev`` berthd runs from ``git archive <rev>`` instead of the working tree. At the
end both are stopped by PID, their directories removed, and what is left on the host
is checked (processes, mounts, interfaces, iptables rules, cgroups) and printed.

Each CLI figure includes the docker CLI's own start-up (~20-40 ms), as a user sees it.
These are timings on a shared machine, never test assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BERTHD_BRIDGE,
    DOCKER,
    DOCKERD_BRIDGE,
    SECTIONS,
    Berthd,
    Daemon,
    Dockerd,
    Files,
    add_arguments,
    export_berthd,
    loadavg,
    print_table,
)
from tests.integration.dockerd_process import DOCKERD, FIXED_DIRS
from tests.integration.host_state import (
    cgroup_dirs,
    host_snapshot,
    mounts_under,
    pids_of,
    proc_argv,
    snapshot_changes,
)

ROOT = Path("/tmp/bench-sidebyside")
# the bridge devices and subnets of the bridge figure
MARKERS = (
    BERTHD_BRIDGE[0],
    DOCKERD_BRIDGE[0],
    BERTHD_BRIDGE[1].rsplit(".", 1)[0] + ".",
    DOCKERD_BRIDGE[1].rsplit(".", 1)[0] + ".",
)


def run_lines(*argv: str) -> list[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.splitlines()


def final_check(before: dict[str, list[str]]) -> list[str]:
    """What the run left on the host (processes, mounts, cgroups, links, rules, dirs)."""

    names = ("dockerd", "containerd", "docker-proxy", "conmon", "runc", "netavark", "aardvark")
    procs = [" ".join(proc_argv(p))[:120] for p in pids_of(names, str(ROOT))]
    # what other daemons on this host do meanwhile shows in a before/after diff too:
    # ours are the lines that name our bridges or subnets
    net = [*run_lines("ip", "-o", "link"), *run_lines("iptables", "-S"),
           *run_lines("iptables", "-t", "nat", "-S")]  # fmt: skip
    net_ours = [line[:160] for line in net if any(m in line for m in MARKERS)]
    mounts = [m for m, _ in mounts_under(str(ROOT))]
    cgs = [str(p) for parent in (Berthd.cgroup_parent, Dockerd.cgroup_parent)
           for p in cgroup_dirs(parent)]  # fmt: skip
    return [
        f"daemon processes left: {procs or 'none'}",
        f"mounts under {ROOT}: {mounts or 'none'}",
        f"cgroup dirs {Berthd.cgroup_parent}, {Dockerd.cgroup_parent}: {cgs or 'none'}",
        f"links, iptables rules naming {list(MARKERS)}: {net_ours or 'none'}",
        *(f"  (not ours: {c})" for c in snapshot_changes(before, host_snapshot())),
        f"dockerd's fixed dirs present: {[p for p in FIXED_DIRS if os.path.exists(p)] or 'none'}",
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(ap)
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--no-dockerd", action="store_true")
    ap.add_argument("--rev", help="run berthd from this commit (git archive), not the tree")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run as root")
    sections = [s.strip() for s in a.only.split(",") if s.strip()]
    if unknown := set(sections) - set(SECTIONS):
        sys.exit(f"unknown sections {sorted(unknown)}")

    shutil.rmtree(ROOT, ignore_errors=True)
    work = ROOT / "work"
    work.mkdir(parents=True)
    src, rev = None, ""
    if a.rev:
        src = ROOT / "src"
        rev = export_berthd(a.rev, src)
    daemons: list[Daemon] = [Berthd(ROOT / "berthd", src, rev)]
    dockerd_note = ""
    if a.no_dockerd:
        dockerd_note = "not run (--no-dockerd)"
    elif DOCKERD is None:
        dockerd_note = "not installed (Debian docker.io) - skipped"
    else:
        daemons.append(Dockerd(ROOT / "dockerd"))

    before = host_snapshot()
    results: dict[str, dict[str, str]] = {}
    setups: dict[str, str] = {}
    leaks: list[str] = []
    started = time.perf_counter()
    load_start = loadavg()
    try:
        files = Files(work, a.mb)
        for d in daemons:  # what each runs on
            try:
                setups[d.name] = d.fresh().start().setup()
            finally:
                d.wipe()
        for section in sections:
            for d in daemons:
                print(f"[{time.perf_counter() - started:6.0f} s] {section} on {d.name}", flush=True)
                try:
                    got = SECTIONS[section](d, files, a)
                except Exception as e:  # one failed figure must not cost the others
                    traceback.print_exc()
                    got = {f"{section} (failed)": f"failed: {str(e)[:200]}"}
                if d.leaks:
                    print(f"  {d.name}: cleanup had to remove: {d.leaks}", flush=True)
                    leaks += [f"{d.name} after {section}: {x}" for x in d.leaks]
                    d.leaks.clear()
                for row, value in got.items():
                    results.setdefault(row, {})[d.name] = value
    finally:
        for d in daemons:
            d.wipe()
        shutil.rmtree(ROOT, ignore_errors=True)

    print()
    for d in daemons:
        print(f"{d.version()}: {setups.get(d.name, '?')}")
    print(f"docker CLI {DOCKER}; load average {load_start} at the start, {loadavg()} at the "
          f"end; {time.perf_counter() - started:.0f} s in all")  # fmt: skip
    print()
    print_table(results, {"berthd": "-", "dockerd": dockerd_note or "-"})
    print()
    leaks += [f"{d.name} at the end: {x}" for d in daemons for x in d.leaks]
    print(f"cleanup had to remove: {leaks or 'nothing'}")
    for note in final_check(before):
        print(note)


if __name__ == "__main__":
    main()
