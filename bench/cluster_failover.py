"""Swarm failover figures on a 3-node harness (issue 18's targets).

Run as root from the repo: ``.venv/bin/python bench/cluster_failover.py [--rounds 3]
[--scenarios node,leader,freeze,link] [--worker] [--heartbeat 5s]``.

One ``tests/cluster/harness.py`` fabric of three netns nodes for the whole run: n1
inits the swarm, n2 and n3 join as managers (``--worker``: n3 joins as a worker). Each
scenario of each round creates a fresh 3-replica service (``busybox sleep``), waits
until it runs one task per node, then fails one node:

- ``node``: SIGKILL of a non-leader's berthd (the worker's with ``--worker``); its etcd
  member, conmon and task container stay. Then berthd is started again;
- ``leader``: SIGKILL of the leader's berthd (its etcd member stays), then restarted;
- ``freeze``: SIGSTOP of a non-leader's berthd and etcd, SIGCONT after the figures;
- ``link``: ``ip -n <switch> link set p<i> down`` for a non-leader, up again after.

Measured from the failure (``time.monotonic()``, the API polled every 0.2 s on a
surviving manager: ``GET /nodes`` is what ``docker node ls`` shows, ``GET /tasks`` what
``docker service ps`` shows): the node Down, its slot's replacement task running on
another node, (leader) another manager Leader; and the task containers of the surviving
nodes restarted or removed (IDs and StartedAt before and after). From the recovery
(berthd spawned again, SIGCONT, link up): the stale task container removed from the
failed node, the node Ready again, and the running task containers per slot across
the nodes (a duplicate is a slot with more than one).

Cleanup goes through the harness (every process by PID, the namespaces deleted).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import api, git, loadavg
from berthd.daemon.cluster.store import ALIVE, LEADER
from tests.cluster.harness import IP, NSENTER, Fabric, NodeDaemon, fabric, needs
from tests.integration.images_build import build_busybox_archive

STEP = 0.2  # the poll step, seconds
TIMEOUT = 90.0
LABEL = "com.docker.swarm.service.name"

# row → target
TARGETS = {
    "lease_gone": "-",
    "leader_key_gone": "-",
    "down": "15 s ± 1.5 s",
    "replaced": "≤ 21 s",
    "leader": "≤ 5 s",
    "restarted": "0",
    "stale_gone": "-",
    "ready_again": "-",
    "duplicates": "0",
}


# -- the API of one node -----------------------------------------------------------------
def get(d: NodeDaemon, path: str) -> Any:
    """``GET path`` on ``d``'s socket, or None while it does not answer."""
    try:
        return api(d.sock, "GET", path, timeout=5)
    except (OSError, RuntimeError, http.client.HTTPException, ValueError):
        return None


def filters(**kv: list[str]) -> str:
    return urllib.parse.quote(json.dumps(kv))


def node_id(d: NodeDaemon) -> str:
    info = get(d, "/info") or {}
    return str((info.get("Swarm") or {}).get("NodeID") or "")


def nodes(d: NodeDaemon) -> dict[str, dict[str, Any]] | None:
    rows = get(d, "/nodes")
    return {str(n["ID"]): n for n in rows} if rows is not None else None


def state_of(n: dict[str, Any]) -> str:
    return str((n.get("Status") or {}).get("State") or "")


def leader_of(rows: dict[str, dict[str, Any]]) -> set[str]:
    return {i for i, n in rows.items() if (n.get("ManagerStatus") or {}).get("Leader")}


def tasks(d: NodeDaemon, service: str) -> list[dict[str, Any]] | None:
    return get(d, f"/tasks?filters={filters(service=[service])}")


def running_tasks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        t
        for t in rows
        if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "running"
    ]


def containers(d: NodeDaemon, service: str) -> list[dict[str, Any]] | None:
    """The task containers of ``service`` on ``d`` (all states)."""
    return get(d, f"/containers/json?all=1&filters={filters(label=[f'{LABEL}={service}'])}")


def started(d: NodeDaemon, service: str) -> dict[str, str]:
    """Container ID → StartedAt of the running task containers of ``service`` on ``d``."""
    out = {}
    for c in containers(d, service) or []:
        if c.get("State") != "running":
            continue
        ins = get(d, f"/containers/{c['Id']}/json")
        if ins is not None:
            out[str(c["Id"])] = str(ins["State"]["StartedAt"])
    return out


def etcd_values(d: NodeDaemon, key: str) -> list[bytes] | None:
    """The values at ``key`` in ``d``'s etcd member (its v3 JSON gateway, from inside its
    netns): [] when absent; None when the member does not answer."""
    pid = d.etcd_pid()
    if pid is None:
        return None
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    url = argv[argv.index(b"--advertise-client-urls") + 1].decode()
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()})
    certs = Path(d.data_root, "swarm", "certs")  # etcd takes swarm certificates only
    r = subprocess.run(
        [NSENTER, f"--net=/run/netns/{d.netns}", "curl", "-s", "-m", "2",
         "--cacert", f"{certs}/ca.crt", "--cert", f"{certs}/node.crt",
         "--key", f"{certs}/node.key", "-X", "POST", url + "/v3/kv/range", "-d", body],
        capture_output=True, timeout=10,
    )  # fmt: skip
    try:
        kvs = json.loads(r.stdout).get("kvs") or []
    except ValueError:
        return None
    return [base64.b64decode(kv.get("value") or "") for kv in kvs]


def etcd_value(d: NodeDaemon, key: str) -> bytes | None:
    """``key``'s value in ``d``'s etcd member, b"" when absent; None when the member
    does not answer."""
    values = etcd_values(d, key)
    return None if values is None else (values[0] if values else b"")


def slot_of_name(name: str) -> str:
    """``/<service>.<slot>.<task>`` → slot."""
    parts = name.lstrip("/").split(".")
    return parts[1] if len(parts) >= 3 else "?"


# -- polling -----------------------------------------------------------------------------
def poll(
    checks: dict[str, Callable[[], bool]], t0: float, timeout: float = TIMEOUT
) -> dict[str, float | None]:
    """Run every check each STEP until each has held once; seconds since ``t0`` at each
    one's first success (None: not within ``timeout``)."""
    got: dict[str, float | None] = dict.fromkeys(checks)
    deadline = t0 + timeout
    while any(v is None for v in got.values()) and time.monotonic() < deadline:
        for name, check in checks.items():
            if got[name] is None and check():
                got[name] = time.monotonic() - t0
        time.sleep(STEP)
    return got


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    if poll({"x": check}, time.monotonic(), timeout)["x"] is None:
        raise RuntimeError(f"not within {timeout:.0f} s: {what}")


# -- the swarm -----------------------------------------------------------------------------
def cli(d: NodeDaemon, *args: str, timeout: float = 90) -> str:
    r = d.cli(*args, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{d.netns}: docker {' '.join(args)}: {r.stderr.strip()[:800]}")
    return r.stdout


def form_swarm(f: Fabric, worker: bool, heartbeat: str) -> dict[str, str]:
    """n1 inits, n2 (and n3, unless ``worker``) join as managers; node IDs by netns."""
    n1 = f.nodes[0]
    extra = ["--dispatcher-heartbeat", heartbeat] if heartbeat else []
    cli(n1, "swarm", "init", "--advertise-addr", n1.addr, *extra)
    mtoken = cli(n1, "swarm", "join-token", "-q", "manager").strip()
    wtoken = cli(n1, "swarm", "join-token", "-q", "worker").strip()
    for i, d in enumerate(f.nodes[1:], start=2):
        token = wtoken if worker and i == 3 else mtoken
        cli(d, "swarm", "join", "--token", token, f"{n1.addr}:2377", timeout=120)
    ids = {d.netns: node_id(d) for d in f.nodes}

    def ready() -> bool:
        rows = nodes(n1)
        return rows is not None and sorted(state_of(n) for n in rows.values()) == ["ready"] * 3

    wait(ready, 60, "3 nodes Ready")
    return ids


class Swarm:
    def __init__(self, f: Fabric, ids: dict[str, str], worker: bool) -> None:
        self.f = f
        self.ids = ids
        self.by_id = {ids[d.netns]: d for d in f.nodes}
        self.worker = f.nodes[2] if worker else None
        self.managers = [d for d in f.nodes if d is not self.worker]
        self.count = 0
        self.stopped: list[int] = []  # SIGSTOPped PIDs, continued at cleanup

    def leader(self) -> NodeDaemon:
        for d in self.managers:
            rows = nodes(d)
            if rows:
                lead = leader_of(rows)
                if len(lead) == 1:
                    return self.by_id[lead.pop()]
        raise RuntimeError("no single leader")

    def spread_service(self) -> str:
        """A new 3-replica service, running one task per node."""
        self.count += 1
        name = f"fo{self.count}"
        lead = self.leader()
        cli(
            lead, "service", "create", "-d", "--name", name, "--replicas", "3",
            "--stop-grace-period", "1s", "busybox", "sleep", "100000",
        )  # fmt: skip

        def spread() -> bool:
            rows = running_tasks(tasks(lead, name) or [])
            return len(rows) == 3 and len({t["NodeID"] for t in rows}) == 3

        wait(spread, 120, f"{name}: 3 tasks running on 3 nodes")
        return name

    def remove_service(self, name: str) -> None:
        cli(self.leader(), "service", "rm", name)
        wait(
            lambda: all(containers(d, name) == [] for d in self.f.nodes),
            90,
            f"{name}: every task container removed",
        )

    def duplicates(self, name: str) -> tuple[int, int]:
        """(slots with more than one running task container, running task containers)."""
        per_slot: dict[str, int] = {}
        for d in self.f.nodes:
            for c in containers(d, name) or []:
                if c.get("State") == "running":
                    slot = slot_of_name(c["Names"][0])
                    per_slot[slot] = per_slot.get(slot, 0) + 1
        return sum(1 for n in per_slot.values() if n > 1), sum(per_slot.values())


# -- failures and recoveries ---------------------------------------------------------------
def restart(d: NodeDaemon) -> None:
    if hasattr(d, "log"):
        d.log.close()
    d.start(wait=False)


def fail(sw: Swarm, kind: str, v: NodeDaemon) -> Callable[[], None]:
    """Fail ``v`` as ``kind``; returns its recovery."""
    if kind in ("node", "leader"):
        v.kill9()
        return lambda: restart(v)
    if kind == "freeze":
        pids = [p for p in (v.proc.pid if v.proc else None, v.etcd_pid()) if p]
        for p in pids:
            os.kill(p, signal.SIGSTOP)
            sw.stopped.append(p)

        def thaw() -> None:
            for p in pids:
                os.kill(p, signal.SIGCONT)
                sw.stopped.remove(p)

        return thaw
    if kind == "link":
        port = f"p{sw.f.nodes.index(v) + 1}"
        subprocess.run([IP, "-n", sw.f.switch, "link", "set", port, "down"], check=True)
        return lambda: subprocess.run(
            [IP, "-n", sw.f.switch, "link", "set", port, "up"], check=True
        )
    raise ValueError(kind)


def scenario(sw: Swarm, kind: str) -> dict[str, float | None]:
    name = sw.spread_service()
    lead = sw.leader()
    if kind == "leader":
        v = lead
    elif kind == "node" and sw.worker is not None:
        v = sw.worker
    else:
        v = next(d for d in sw.managers if d is not lead)
    vid = sw.ids[v.netns]
    observer = next(d for d in sw.managers if d is not v)
    others = [d for d in sw.f.nodes if d is not v]
    mine = [t for t in running_tasks(tasks(lead, name) or []) if t["NodeID"] == vid]
    slot = mine[0]["Slot"]
    stale = str(mine[0]["Status"]["ContainerStatus"]["ContainerID"])
    before = {d.netns: started(d, name) for d in others}

    def down() -> bool:
        rows = nodes(observer)
        return rows is not None and vid in rows and state_of(rows[vid]) == "down"

    def replaced() -> bool:
        rows = running_tasks(tasks(observer, name) or [])
        return any(t.get("Slot") == slot and t["NodeID"] != vid for t in rows)

    def lease_gone() -> bool:
        return etcd_values(observer, ALIVE + vid) == []  # (its value is b"")

    checks = {"lease_gone": lease_gone, "down": down, "replaced": replaced}
    if kind == "leader":

        def leader_key_gone() -> bool:
            value = etcd_value(observer, LEADER)
            return value is not None and value != vid.encode()

        checks["leader_key_gone"] = leader_key_gone

        def new_leader() -> bool:
            rows = nodes(observer)
            return rows is not None and bool(leader_of(rows) - {vid})

        checks["leader"] = new_leader
    print(f"  {kind}: failing {v.netns} (slot {slot}), observed from {observer.netns}", flush=True)
    t0 = time.monotonic()
    recover = fail(sw, kind, v)
    out: dict[str, float | None] = dict(poll(checks, t0))
    # the survivors' task containers: none restarted (the replacement is a new one)
    after = {d.netns: started(d, name) for d in others}
    out["restarted"] = float(
        sum(1 for ns, was in before.items() for cid, at in was.items() if after[ns].get(cid) != at)
    )
    t1 = time.monotonic()
    recover()

    def stale_gone() -> bool:
        rows = containers(v, name)
        return rows is not None and all(c["Id"] != stale for c in rows)

    def ready_again() -> bool:
        rows = nodes(observer)
        return rows is not None and state_of(rows.get(vid, {})) == "ready"

    out.update(poll({"stale_gone": stale_gone, "ready_again": ready_again}, t1))
    dups, total = sw.duplicates(name)
    out["duplicates"] = float(dups)
    out["running"] = float(total)
    shown = ", ".join(f"{k} {'-' if x is None else f'{x:.1f}'}" for k, x in out.items())
    print(f"    {shown}", flush=True)
    sw.remove_service(name)
    return out


# -- main ----------------------------------------------------------------------------------
def fmt(samples: list[float | None], unit: str) -> str:
    got = [s for s in samples if s is not None]
    missed = len(samples) - len(got)
    if not got:
        return "timeout"
    med = statistics.median(got)
    each = " ".join("-" if s is None else f"{s:.1f}" for s in samples)
    cell = f"{med:.1f}{unit}" if unit else f"{med:g}"
    if len(samples) > 1:
        cell += f" ({each})" if unit else f" (max {max(got):g})"
    return cell + (f", {missed} timed out" if missed else "")


ROWS = {
    "lease_gone": ("failure → its `alive/` key gone from etcd (heartbeat lease expired)", " s"),
    "down": ("failure → node Down in `node ls`", " s"),
    "replaced": ("failure → its slot's task running on another node", " s"),
    "leader_key_gone": ("failure → the `leader` key gone from etcd (lease expired)", " s"),
    "leader": ("failure → another manager Leader in `node ls`", " s"),
    "restarted": ("task containers restarted or removed on the survivors", ""),
    "stale_gone": ("recovery → stale task container removed", " s"),
    "ready_again": ("recovery → node Ready again", " s"),
    "duplicates": ("slots with > 1 running task container after recovery", ""),
}
WHAT = {
    "node": "SIGKILL of a non-leader manager's berthd",
    "leader": "SIGKILL of the leader's berthd",
    "freeze": "SIGSTOP of a non-leader's berthd + etcd",
    "link": "a non-leader's link down",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default="node,leader")
    ap.add_argument("--worker", action="store_true", help="n3 joins as a worker")
    ap.add_argument("--heartbeat", default="", help="swarm init --dispatcher-heartbeat")
    a = ap.parse_args()
    if why := needs():
        sys.exit(why)
    kinds = a.scenarios.split(",")
    if a.worker:
        WHAT["node"] = "SIGKILL of the worker's berthd"
    results: dict[str, list[dict[str, float | None]]] = {k: [] for k in kinds}
    load0 = loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        archive = Path(tmp) / "busybox.tar"
        build_busybox_archive(archive)
        with fabric(3, images=archive) as f:
            sw = Swarm(f, form_swarm(f, a.worker, a.heartbeat), a.worker)
            try:
                for r in range(a.rounds):
                    print(f"round {r + 1} of {a.rounds}", flush=True)
                    for kind in kinds:
                        results[kind].append(scenario(sw, kind))
            finally:
                for p in list(sw.stopped):
                    with contextlib.suppress(OSError):
                        os.kill(p, signal.SIGCONT)
    print()
    print(
        f"berthd {git('rev-parse', '--short', 'HEAD')}, {a.rounds} round(s), "
        f"heartbeat {a.heartbeat or 'default (5s)'}; load average {load0} → {loadavg()}"
    )
    print("| failure | figure | median (each round) | target |")
    print("|---|---|---|---|")
    for kind, rounds in results.items():
        for key, (label, unit) in ROWS.items():
            samples = [r.get(key) for r in rounds]
            if key not in rounds[0]:
                continue
            print(f"| {WHAT[kind]} | {label} | {fmt(samples, unit)} | {TARGETS[key]} |")


if __name__ == "__main__":
    main()
