"""Swarm managers on three nodes (issue 18, phase 1): join, node list, a service spread.

One fabric for the module; the tests run in file order on the same swarm: n1 inits,
a wrong token is refused, n2 and n3 join as managers, a 3-replica service gets one
task per node.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berthd.cluster.tls import cert_dates
from tests.cluster.harness import NSENTER, Fabric, NodeDaemon, eventually, fabric, needs
from tests.integration.images_build import build_busybox_archive

pytestmark = pytest.mark.skipif(bool(needs()), reason=needs() or "runs")


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    archive = tmp_path_factory.mktemp("img") / "busybox.tar"
    build_busybox_archive(archive)
    with fabric(3, images=archive) as f:
        yield f


def err(r: object) -> str:
    assert getattr(r, "returncode", 0) == 1, r
    return str(getattr(r, "stderr", "")).strip().removeprefix("Error response from daemon: ")


def manager_token(d: NodeDaemon) -> str:
    r = d.cli("swarm", "join-token", "-q", "manager")
    assert r.returncode == 0, r
    return r.stdout.strip()


def nodes(d: NodeDaemon) -> list[dict[str, object]]:
    r = d.cli("node", "ls", "--format", "{{json .}}")
    assert r.returncode == 0, r
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_init_listens_on_the_swarm_port(three: Fabric) -> None:
    n1 = three.nodes[0]
    r = n1.cli("swarm", "init", "--advertise-addr", n1.addr)
    assert r.returncode == 0, r
    assert f"{n1.addr}:2377" in r.stdout
    # etcd's peer port is on the node's address, for the members to come
    pid = n1.etcd_pid()
    assert pid is not None
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    peer = argv[argv.index(b"--listen-peer-urls") + 1].decode()
    assert peer.startswith(f"https://{n1.addr}:")
    for flag in (b"--client-cert-auth", b"--peer-client-cert-auth"):
        assert flag in argv
    # mutual TLS: etcd's client port takes no client without a certificate of the
    # swarm's CA, and the swarm port shows a certificate of that CA
    client_port = json.loads(Path(n1.data_root, "swarm", "state.json").read_text())["ClientPort"]
    certs = Path(n1.data_root, "swarm", "certs")
    assert (certs / "node.key").stat().st_mode & 0o077 == 0
    assert https_get(n1, client_port, "/health", certs, with_cert=False) == ""
    assert '"health":"true"' in https_get(n1, client_port, "/health", certs, with_cert=True)
    ca = https_get(n1, 2377, "/berthd/v1/ca", certs, with_cert=False)
    assert ca.strip() == (certs / "ca.crt").read_text().strip()


_GET = """
import socket, ssl, sys
host, port, path, ca, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert + "/node.crt", cert + "/node.key")
with socket.create_connection((host, port), timeout=10) as raw, ctx.wrap_socket(
    raw, server_hostname=host
) as tls:
    tls.sendall(("GET %s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" % (path, host)).encode())
    data = b""
    while chunk := tls.recv(65536):
        data += chunk
sys.stdout.buffer.write(data.split(b"\\r\\n\\r\\n", 1)[1])
"""


_PEER = """
import socket, ssl, sys
host, port, certs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/node.crt", certs + "/node.key")
with socket.create_connection((host, port), timeout=10) as raw, ctx.wrap_socket(
    raw, server_hostname=host
) as tls:
    sys.stdout.write(tls.getpeercert(binary_form=True).hex())
"""


def https_peer_cert(d: NodeDaemon, port: int, certs: Path) -> bytes:
    """The certificate a new TLS connection to the node's ``port`` is shown (DER)."""
    r = subprocess.run(
        [NSENTER, f"--net=/run/netns/{d.netns}", sys.executable, "-c", _PEER,
         d.addr, str(port), str(certs)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return bytes.fromhex(r.stdout)


def https_get(d: NodeDaemon, port: int, path: str, certs: Path, with_cert: bool) -> str:
    """GET over TLS from inside the node's netns, trusting the swarm's CA only (and
    presenting the node's certificate with ``with_cert``); "" when refused."""
    r = subprocess.run(
        [
            NSENTER, f"--net=/run/netns/{d.netns}", sys.executable, "-c", _GET,
            d.addr, str(port), path, str(certs / "ca.crt"), str(certs) if with_cert else "",
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return r.stdout if r.returncode == 0 else ""


def test_join_refuses_a_token_of_another_ca(three: Fabric) -> None:
    n1, n2 = three.nodes[0], three.nodes[1]
    token = manager_token(n1)
    digest = token.split("-")[2]
    other = "0" * 50 if digest != "0" * 50 else "1" * 50
    r = n2.cli("swarm", "join", "--token", token.replace(digest, other), f"{n1.addr}:2377")
    assert err(r) == "remote CA does not match fingerprint. Expected: " + "0" * 64
    assert n2.cli("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "inactive"


def test_join_refuses_a_wrong_token(three: Fabric) -> None:
    n1, n2 = three.nodes[0], three.nodes[1]
    token = manager_token(n1)
    wrong = token[:-5] + ("aaaaa" if not token.endswith("aaaaa") else "bbbbb")
    assert err(n2.cli("swarm", "join", "--token", wrong, f"{n1.addr}:2377")) == (
        "rpc error: code = InvalidArgument desc = A valid join token is necessary to join "
        "this cluster"
    )
    assert err(n2.cli("swarm", "join", "--token", "SWMTKN-1-nope", f"{n1.addr}:2377")) == (
        "invalid join token"
    )
    r = n2.cli("info", "--format", "{{.Swarm.LocalNodeState}}")
    assert r.stdout.strip() == "inactive"


def test_managers_join(three: Fabric) -> None:
    n1 = three.nodes[0]
    token = manager_token(n1)
    for d in three.nodes[1:]:
        r = d.cli("swarm", "join", "--token", token, f"{n1.addr}:2377", timeout=90)
        assert r.returncode == 0, r.stderr[:1200]
        assert r.stdout.strip() == "This node joined a swarm as a manager."
    ids = {}
    for d in three.nodes:
        r = d.cli("info", "--format", "{{json .Swarm}}")
        swarm = json.loads(r.stdout)
        assert (swarm["LocalNodeState"], swarm["ControlAvailable"]) == ("active", True)
        assert swarm["NodeAddr"] == d.addr
        ids[d.addr] = swarm["NodeID"]
    assert len(set(ids.values())) == 3

    def listed() -> bool:
        rows = nodes(n1)
        if len(rows) != 3:
            return False
        return sorted((str(r["Status"]), str(r["Availability"])) for r in rows) == [
            ("Ready", "Active")
        ] * 3 and sorted(str(r["ManagerStatus"]) for r in rows) == [
            "Leader",
            "Reachable",
            "Reachable",
        ]

    eventually(listed, 30, "node ls shows 3 Ready/Active managers, one Leader")
    # every manager sees the same swarm
    for d in three.nodes[1:]:
        rows = nodes(d)
        assert {r["ID"] for r in rows} == set(ids.values())
        assert [r["Self"] for r in rows].count(True) == 1
        n = json.loads(d.cli("node", "inspect", "self").stdout)[0]
        assert n["ManagerStatus"]["Addr"] == f"{d.addr}:2377"
        assert n["Status"]["Addr"] == d.addr

    def counted() -> bool:
        r = n1.cli("info", "--format", "{{.Swarm.Managers}} {{.Swarm.Nodes}}")
        return r.stdout.split() == ["3", "3"]

    eventually(counted, 10, "/info counts 3 managers, 3 nodes")
    r = n1.cli("info", "--format", "{{json .Swarm.RemoteManagers}}")
    assert sorted(m["Addr"] for m in json.loads(r.stdout)) == [
        f"{d.addr}:2377" for d in three.nodes
    ]


def test_replicated_service_spreads_over_the_nodes(three: Fabric) -> None:
    n1 = three.nodes[0]
    r = n1.cli(
        "service", "create", "-d", "--name", "spread", "--replicas", "3",
        "--stop-grace-period", "1s", "busybox", "sleep", "1000",
    )  # fmt: skip
    assert r.returncode == 0, r

    def running() -> list[dict[str, object]]:
        out = n1.cli("service", "ps", "spread", "--format", "{{json .}}")
        rows = [json.loads(x) for x in out.stdout.splitlines()]
        return [x for x in rows if str(x["CurrentState"]).startswith("Running")]

    eventually(lambda: len(running()) == 3, 90, "3 tasks running")
    ids = n1.cli("service", "ps", "-q", "--filter", "desired-state=running", "spread")
    nodes_of = set()
    for tid in ids.stdout.split():
        t = json.loads(n1.cli("inspect", "--type", "task", tid).stdout)[0]
        nodes_of.add(t["NodeID"])
    assert len(nodes_of) == 3
    # each node runs its own task container
    for d in three.nodes:
        ps = d.cli("ps", "--filter", "label=com.docker.swarm.service.name=spread", "-q")
        assert len(ps.stdout.split()) == 1, (d.netns, ps)


def test_service_logs_gather_every_nodes_tasks(three: Fabric) -> None:
    n1 = three.nodes[0]
    r = n1.cli(
        "service", "create", "-d", "--name", "talk", "--mode", "global",
        "--stop-grace-period", "1s", "busybox",
        "sh", "-c", "echo hello from $(hostname); sleep 1000",
    )  # fmt: skip
    assert r.returncode == 0, r

    def lines() -> list[str]:
        out = n1.cli("service", "logs", "--raw", "talk", timeout=30)
        return [x[x.index("hello from ") :] for x in out.stdout.splitlines() if "hello from " in x]

    # one line from each node's task: two of them read from the other nodes' swarm ports
    eventually(lambda: len(set(lines())) == 3, 60, "the three tasks' lines")
    out = n1.cli("service", "logs", "talk", timeout=30).stdout.splitlines()
    assert len({x.split("|")[0].split("@")[0].strip() for x in out if "hello from" in x}) == 3
    assert n1.cli("service", "rm", "talk").returncode == 0
    eventually(
        lambda: all(
            d.cli("ps", "-aq", "--filter", "label=com.docker.swarm.service.name=talk").stdout == ""
            for d in three.nodes
        ),
        30,
        "the talk tasks are gone",
    )


def _members(d: NodeDaemon) -> int:
    """How many etcd members ``d``'s berthd sees, from its node list's manager rows."""
    return sum(1 for x in nodes(d) if x["ManagerStatus"])


def test_a_manager_demoted_then_promoted_in_place(three: Fabric) -> None:
    n1, n3 = three.nodes[0], three.nodes[2]
    n3_id = n3.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    tasks = n3.cli("ps", "-q", "--no-trunc").stdout.split()
    assert len(tasks) == 1
    assert n1.cli("node", "demote", n3_id).returncode == 0

    def worker() -> bool:
        r = n3.cli("info", "--format", "{{.Swarm.ControlAvailable}} {{.Swarm.LocalNodeState}}")
        return r.stdout.strip() == "false active" and n3.etcd_pid() is None

    eventually(worker, 30, "n3 runs as a worker, without its etcd member")
    rows = {str(x["ID"]): x for x in nodes(n1)}
    assert rows[n3_id]["ManagerStatus"] == "" and rows[n3_id]["Status"] == "Ready"
    assert _members(n1) == 2
    assert not Path(n3.data_root, "swarm", "etcd").exists()
    assert err(n3.cli("node", "ls")).startswith("This node is not a swarm manager.")
    assert n3.cli("ps", "-q", "--no-trunc").stdout.split() == tasks  # its task runs on
    # the swarm still writes with 2 members (n3's removal kept the quorum right)
    assert n1.cli("service", "update", "-d", "--label-add", "a=1", "spread").returncode == 0

    assert n1.cli("node", "promote", n3_id).returncode == 0

    def manager_again() -> bool:
        r = n3.cli("info", "--format", "{{.Swarm.ControlAvailable}}")
        if r.stdout.strip() != "true" or n3.etcd_pid() is None:
            return False
        row = {str(x["ID"]): x for x in nodes(n1)}[n3_id]
        return row["ManagerStatus"] == "Reachable"

    eventually(manager_again, 45, "n3 is a manager again, with an etcd member")
    assert _members(n3) == 3
    assert n3.cli("ps", "-q", "--no-trunc").stdout.split() == tasks
    # and it is one for good: its berthd restarted comes back as a manager
    n3.stop(timeout=20)
    n3.start(wait=True)
    eventually(
        lambda: n3.cli("info", "--format", "{{.Swarm.ControlAvailable}}").stdout.strip() == "true",
        30,
        "n3 restarts as a manager",
    )
    assert n3.cli("service", "ls", "-q").returncode == 0


def _spread_containers(d: NodeDaemon) -> list[str]:
    ps = d.cli("ps", "-q", "--filter", "label=com.docker.swarm.service.name=spread")
    return ps.stdout.split()


def test_a_node_cut_off_is_down_its_task_moves_and_no_duplicate_when_back(
    three: Fabric,
) -> None:
    n1 = three.nodes[0]
    eventually(lambda: _running_nodes(n1, "spread") == 3, 60, "3 tasks running")
    # cut off a node other than n1 (which watches) that runs a task
    i, victim = next((i, d) for i, d in enumerate(three.nodes) if i and _spread_containers(d))
    others = [d for d in three.nodes if d is not victim]
    had = len(_spread_containers(victim))
    vid = victim.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    three.link(i + 1, up=False)  # it and its etcd member are alone; the two left keep quorum
    try:

        def down() -> bool:
            row = {str(x["ID"]): x for x in nodes(n1)}[vid]
            return (row["Status"], row["ManagerStatus"]) == ("Down", "Unreachable")

        eventually(down, 45, "the node cut off is Down / Unreachable")
        eventually(
            lambda: sum(len(_spread_containers(d)) for d in others) == 3,
            60,
            "its tasks run on the two nodes left",
        )
        # cut off and without quorum, it keeps its containers: nothing it can see says otherwise
        assert len(_spread_containers(victim)) == had
    finally:
        three.link(i + 1, up=True)
    eventually(lambda: not down(), 45, "the node is back")
    eventually(lambda: _spread_containers(victim) == [], 30, "its stale task containers go")
    assert sum(len(_spread_containers(d)) for d in three.nodes) == 3  # no duplicate
    assert _running_nodes(n1, "spread") == 3


def test_a_manager_leaves(three: Fabric) -> None:
    n1, n2 = three.nodes[0], three.nodes[1]
    n2_id = n2.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    assert err(n2.cli("swarm", "leave")) == (
        "You are attempting to leave the swarm on a node that is participating as a manager. "
        "The only way to restore a swarm that has lost consensus is to reinitialize it with "
        "`--force-new-cluster`. Use `--force` to suppress this message."
    )
    r = n2.cli("swarm", "leave", "--force")
    assert r.returncode == 0, r
    assert r.stdout.strip() == "Node left the swarm."
    assert n2.cli("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "inactive"
    assert n2.etcd_pid() is None
    assert n2.cli("ps", "-aq").stdout.strip() == ""  # its task container went with it

    def gone() -> bool:
        row = {str(x["ID"]): x for x in nodes(n1)}.get(n2_id)
        return row is not None and (row["Status"], row["ManagerStatus"]) == ("Down", "")

    eventually(gone, 30, "the node that left is Down and no manager")
    assert n1.cli("node", "rm", n2_id).returncode == 0
    assert len(nodes(n1)) == 2
    # the swarm keeps working without it: its task is placed again, writes succeed
    eventually(lambda: _running_nodes(n1, "spread") == 3, 60, "3 tasks running again")
    assert n1.cli("service", "scale", "-d", "spread=2").returncode == 0


def _running_nodes(d: NodeDaemon, service: str) -> int:
    """How many tasks of ``service`` are running (desired and current)."""
    out = d.cli(
        "service", "ps", "--filter", "desired-state=running", "--format", "{{.CurrentState}}",
        service,
    )  # fmt: skip
    return sum(1 for line in out.stdout.splitlines() if line.startswith("Running"))


def test_a_killed_node_is_down_and_its_task_moves(three: Fabric) -> None:
    n1, n3 = three.nodes[0], three.nodes[2]
    n3_id = n3.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    eventually(lambda: _running_nodes(n1, "spread") == 2, 60, "2 tasks running")
    n3.kill9()  # berthd only: its etcd member (and its containers) stay

    def down() -> bool:
        row = {str(x["ID"]): x for x in nodes(n1)}.get(n3_id)
        return row is not None and (row["Status"], row["ManagerStatus"]) == (
            "Down",
            "Unreachable",
        )

    eventually(down, 45, "the killed node is Down / Unreachable")

    def moved() -> bool:
        ids = n1.cli("service", "ps", "-q", "--filter", "desired-state=running", "spread")
        placed = []
        for tid in ids.stdout.split():
            t = json.loads(n1.cli("inspect", "--type", "task", tid).stdout)[0]
            if t["Status"]["State"] == "running":
                placed.append(t["NodeID"])
        return len(placed) == 2 and n3_id not in placed

    eventually(moved, 60, "its task runs again on the node left")
    # back: Ready again, and the stale task container it left is removed
    n3.start(wait=True)
    eventually(lambda: not down(), 45, "the node is back")
    eventually(
        lambda: n3.cli("ps", "-aq").stdout.strip() == "", 30, "its stale task container is gone"
    )


def test_a_worker_joins_runs_a_task_and_leaves(three: Fabric) -> None:
    n1, n2 = three.nodes[0], three.nodes[1]  # n2 left the swarm above
    r = n1.cli("swarm", "join-token", "-q", "worker")
    token = r.stdout.strip()
    r = n2.cli("swarm", "join", "--token", token, f"{n1.addr}:2377", timeout=90)
    assert r.returncode == 0, r.stderr[:1200]
    assert r.stdout.strip() == "This node joined a swarm as a worker."
    swarm = json.loads(n2.cli("info", "--format", "{{json .Swarm}}").stdout)
    assert (swarm["LocalNodeState"], swarm["ControlAvailable"]) == ("active", False)
    assert swarm["NodeAddr"] == n2.addr
    assert n2.etcd_pid() is None  # a worker runs no etcd member
    assert err(n2.cli("node", "ls")).startswith("This node is not a swarm manager.")
    wid = swarm["NodeID"]

    def ready() -> bool:
        row = {str(x["ID"]): x for x in nodes(n1)}.get(wid)
        return row is not None and (row["Status"], row["ManagerStatus"]) == ("Ready", "")

    eventually(ready, 30, "the worker is Ready, no manager status")
    # a global service runs on every node, the worker included
    r = n1.cli(
        "service", "create", "-d", "--name", "everywhere", "--mode", "global",
        "--stop-grace-period", "1s", "busybox", "sleep", "1000",
    )  # fmt: skip
    assert r.returncode == 0, r

    def on_worker() -> bool:
        ps = n2.cli("ps", "-q", "--filter", "label=com.docker.swarm.service.name=everywhere")
        return len(ps.stdout.split()) == 1

    eventually(on_worker, 60, "the global service's task runs on the worker")
    # certificates: a shorter --cert-expiry has every node renew its own (the worker at
    # the manager), and the swarm goes on with them, etcd serving the new one
    old = {
        d.netns: cert_dates(Path(d.data_root, "swarm", "certs", "node.crt")) for d in three.nodes
    }
    assert n1.cli("swarm", "update", "--cert-expiry", "24h").returncode == 0

    def renewed() -> bool:
        for d in three.nodes:
            start, end = cert_dates(Path(d.data_root, "swarm", "certs", "node.crt"))
            if abs(end - start - 86400) > 60 or (start, end) == old[d.netns]:
                return False
        return True

    eventually(renewed, 45, "every node has a certificate of 1 day")
    certs = Path(n1.data_root, "swarm", "certs")
    port = json.loads(Path(n1.data_root, "swarm", "state.json").read_text())["ClientPort"]
    served = https_peer_cert(n1, port, certs)
    assert served == ssl.PEM_cert_to_DER_cert((certs / "node.crt").read_text())
    assert n1.cli("service", "scale", "-d", "spread=2").returncode == 0
    eventually(on_worker, 30, "the worker's task still runs")
    r = n2.cli("swarm", "leave")
    assert r.returncode == 0, r
    assert r.stdout.strip() == "Node left the swarm."
    assert n2.cli("ps", "-aq").stdout.strip() == ""
    eventually(
        lambda: {str(x["ID"]): x for x in nodes(n1)}.get(wid, {}).get("Status") == "Down",
        30,
        "the worker that left is Down",
    )


def test_the_leader_killed_another_manager_leads(three: Fabric) -> None:
    n1, n3 = three.nodes[0], three.nodes[2]
    n1_id = n1.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    n3_id = n3.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    assert {str(x["ID"]): x for x in nodes(n3)}[n1_id]["ManagerStatus"] == "Leader"
    n1.kill9()  # its etcd member stays: 2 of 2 members, the quorum holds

    def n3_leads() -> bool:
        rows = {str(x["ID"]): x for x in nodes(n3)}
        return rows[n3_id]["ManagerStatus"] == "Leader" and rows[n1_id]["Status"] == "Down"

    eventually(n3_leads, 45, "n3 leads and n1 is Down")
    assert n3.cli("service", "scale", "-d", "spread=1").returncode == 0
    eventually(lambda: _running_nodes(n3, "spread") == 1, 60, "the new leader scales down")


QUORUM = (
    "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that "
    "too few managers are online. Make sure more than half of the managers are online."
)


def test_without_quorum_writes_fail_with_swarms_words_and_reads_work(three: Fabric) -> None:
    n1, n3 = three.nodes[0], three.nodes[2]  # n1's berthd is dead, its etcd member runs
    etcd1 = n1.etcd_pid()
    assert etcd1 is not None
    before = sorted(n3.cli("ps", "-q", "--no-trunc").stdout.split())
    assert before  # the tasks of spread and everywhere
    os.kill(etcd1, signal.SIGSTOP)  # 1 of the 2 members answers: no quorum
    try:
        # (found by reading: a write sent while etcd's leader is still being lost can
        # time out and yet commit once the member returns, as any Raft proposal)
        def leaderless() -> bool:
            return not any(x["ManagerStatus"] == "Leader" for x in nodes(n3))

        eventually(leaderless, 30, "n3's member knows no leader")
        r = n3.cli("service", "create", "-d", "--name", "nope", "busybox", "true")
        assert r.returncode == 1 and err(r) == QUORUM
        t0 = time.monotonic()
        r = n3.cli("service", "scale", "-d", "spread=2")
        assert r.returncode == 1 and r.stderr.strip().endswith(QUORUM), r
        assert time.monotonic() - t0 < 5  # at once, not after etcd's request timeout
        # reads are served from n3's own member
        r = n3.cli("service", "ls", "--format", "{{.Name}}")
        assert r.returncode == 0, r
        assert sorted(r.stdout.split()) == ["everywhere", "spread"]
        rows = nodes(n3)
        assert len(rows) >= 3 and not any(x["ManagerStatus"] == "Leader" for x in rows)
        assert n3.cli("service", "inspect", "spread").returncode == 0
        # the task keeps running: nothing is stopped for want of a leader
        time.sleep(2)
        assert sorted(n3.cli("ps", "-q", "--no-trunc").stdout.split()) == before
    finally:
        os.kill(etcd1, signal.SIGCONT)

    def writable() -> bool:
        return n3.cli("service", "scale", "-d", "spread=2").returncode == 0

    eventually(writable, 30, "writes work again once the member is back")
    assert set(before) <= set(n3.cli("ps", "-q", "--no-trunc").stdout.split())
    assert n3.cli("service", "inspect", "nope").returncode == 1  # refused, never written


def test_force_new_cluster_brings_a_swarm_without_quorum_back(three: Fabric) -> None:
    n1, n3 = three.nodes[0], three.nodes[2]
    etcd1 = n1.etcd_pid()
    assert etcd1 is not None
    n3_id = n3.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    os.kill(etcd1, signal.SIGSTOP)  # quorum lost again
    try:
        eventually(
            lambda: n3.cli("service", "scale", "-d", "spread=1").stderr.strip().endswith(QUORUM),
            30,
            "no quorum",
        )
        r = n3.cli("swarm", "init", "--force-new-cluster", timeout=90)
        assert r.returncode == 0, r
        assert f"current node ({n3_id}) is now a manager" in r.stdout
        # one member, with every object it had: writes work, the services are there
        eventually(
            lambda: n3.cli("service", "scale", "-d", "spread=1").returncode == 0,
            30,
            "writes work on the forced cluster",
        )
        r = n3.cli("service", "ls", "--format", "{{.Name}}")
        assert sorted(r.stdout.split()) == ["everywhere", "spread"]
        eventually(
            lambda: {str(x["ID"]): x for x in nodes(n3)}[n3_id]["ManagerStatus"] == "Leader",
            30,
            "n3 leads the forced cluster",
        )
        assert n3.etcd_pid() is not None
        argv = Path(f"/proc/{n3.etcd_pid()}/cmdline").read_bytes().split(b"\0")
        assert b"--force-new-cluster" not in argv  # run once, not at every start
    finally:
        os.kill(etcd1, signal.SIGCONT)
    # n1's old member, back, does not take the swarm away from n3
    time.sleep(3)
    assert n3.cli("service", "scale", "-d", "spread=2").returncode == 0
