"""Swarm mode phase 0 on one node: a real berthd, its real etcd, the docker CLI and SDK.

One berthd for the module (swarm init is the expensive part: etcd's start);
the tests run in file order on the same swarm, the last ones kill -9 berthd,
restart it, and leave with --force. Every etcd is stopped by PID.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import pytest

from berthd.cluster import EtcdClient
from berthd.cluster.tls import NodeTLS
from berthd.daemon.cluster.store import ALIVE, LEADER, STATUS
from tests.integration.daemon_process import BerthdProcess
from tests.integration.host_state import pid_alive
from tests.integration.images_build import build_busybox_archive

T = TypeVar("T")
DOCKER = shutil.which("docker")
ETCD = Path("/usr/bin/etcd")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or DOCKER is None or not ETCD.exists(),
    reason="needs root, the docker CLI and /usr/bin/etcd",
)


def _etcd_pid(d: BerthdProcess) -> int | None:
    try:
        return int(Path(d.data_root, "swarm", "etcd.pid").read_text())
    except (OSError, ValueError):
        return None


def _kill(pid: int | None) -> None:
    if pid is not None and pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BerthdProcess]:
    d = BerthdProcess().start()
    try:
        archive = tmp_path_factory.mktemp("img") / "busybox.tar"
        build_busybox_archive(archive)
        assert cli(d, "load", "-i", str(archive)).returncode == 0
        yield d
    finally:
        pid = _etcd_pid(d)
        d.cleanup()
        _kill(pid)


def cli(d: BerthdProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert DOCKER is not None
    return subprocess.run(
        [DOCKER, "-H", "unix://" + d.sock, *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
    )


def sdk(d: BerthdProcess) -> docker.DockerClient:
    return docker.DockerClient(base_url="unix://" + d.sock, version="1.45")


def err(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, r
    return r.stderr.strip().removeprefix("Error response from daemon: ")


def test_init_inspect_info(node: BerthdProcess) -> None:
    r = cli(node, "swarm", "init", "--advertise-addr", "127.0.0.1")
    assert r.returncode == 0, r
    assert "is now a manager" in r.stdout
    assert "docker swarm join --token SWMTKN-1-" in r.stdout
    assert "127.0.0.1:2377" in r.stdout
    assert err(cli(node, "swarm", "init")) == (
        'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
        "and join another one."
    )
    client = sdk(node)
    attrs = client.api.inspect_swarm()
    assert sorted(attrs) == sorted(
        [
            "ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "TLSInfo",
            "RootRotationInProgress", "DefaultAddrPool", "SubnetSize", "DataPathPort",
            "JoinTokens",
        ]
    )  # fmt: skip
    assert attrs["Spec"]["Raft"] == {
        "SnapshotInterval": 10000,
        "KeepOldSnapshots": 0,
        "LogEntriesForSlowFollowers": 500,
        "ElectionTick": 10,
        "HeartbeatTick": 1,
    }
    assert attrs["Spec"]["CAConfig"] == {"NodeCertExpiry": 7776000000000000}
    assert (attrs["SubnetSize"], attrs["DataPathPort"]) == (24, 4789)
    digest = attrs["JoinTokens"]["Worker"].split("-")[2]
    assert len(digest) == 50 and attrs["JoinTokens"]["Manager"].split("-")[2] == digest
    assert attrs["TLSInfo"]["TrustRoot"].startswith("-----BEGIN CERTIFICATE-----")
    swarm = client.info()["Swarm"]
    assert swarm["LocalNodeState"] == "active" and swarm["ControlAvailable"] is True
    assert (swarm["Nodes"], swarm["Managers"], swarm["NodeAddr"]) == (1, 1, "127.0.0.1")
    assert swarm["Cluster"]["ID"] == attrs["ID"] and "JoinTokens" not in swarm["Cluster"]
    assert swarm["RemoteManagers"] == [{"NodeID": swarm["NodeID"], "Addr": "127.0.0.1:2377"}]
    # etcd runs as berthd's child on private paths
    pid = _etcd_pid(node)
    assert pid is not None and pid_alive(pid)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert argv[0] == b"/usr/bin/etcd" and node.data_root.encode() in b" ".join(argv)


def test_tokens_update_unlock_key(node: BerthdProcess) -> None:
    client = sdk(node)
    before = client.api.inspect_swarm()
    r = cli(node, "swarm", "join-token", "--rotate", "worker")
    assert r.stdout.startswith("Successfully rotated worker join token."), r
    after = client.api.inspect_swarm()
    assert after["JoinTokens"]["Worker"] != before["JoinTokens"]["Worker"]
    assert after["JoinTokens"]["Manager"] == before["JoinTokens"]["Manager"]
    assert after["Version"]["Index"] > before["Version"]["Index"]
    assert cli(node, "swarm", "unlock-key").stderr == "no unlock key is set\n"
    # a stale version is refused, the spec unchanged
    with pytest.raises(docker.errors.APIError) as e:
        client.api.update_swarm(before["Version"]["Index"], {"Name": "default"})
    assert e.value.status_code == 500
    assert e.value.explanation == "rpc error: code = Unknown desc = update out of sequence"
    assert cli(node, "swarm", "update", "--task-history-limit", "7").returncode == 0
    spec = client.api.inspect_swarm()["Spec"]
    assert spec["Orchestration"]["TaskHistoryRetentionLimit"] == 7
    r = cli(node, "swarm", "update", "--autolock")
    assert "SWMKEY-1-" in r.stdout, r
    assert client.api.get_unlock_key()["UnlockKey"].startswith("SWMKEY-1-")
    assert cli(node, "swarm", "update", "--autolock=false").returncode == 0
    assert client.api.get_unlock_key() == {"UnlockKey": ""}


def test_nodes(node: BerthdProcess) -> None:
    client = sdk(node)
    r = cli(node, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
    assert r.stdout.split() == [os.uname().nodename, "Ready", "Leader"], r
    (n,) = client.api.nodes()
    assert n["Spec"] == {"Labels": {}, "Role": "manager", "Availability": "active"}
    assert n["ManagerStatus"] == {
        "Leader": True,
        "Reachability": "reachable",
        "Addr": "127.0.0.1:2377",
    }
    assert n["Status"] == {"State": "ready", "Addr": "127.0.0.1"}
    nid = n["ID"]
    assert cli(node, "node", "update", "--label-add", "zone=a", nid).returncode == 0
    n2 = client.api.inspect_node(nid)
    assert n2["Spec"]["Labels"] == {"zone": "a"} and n2["Version"]["Index"] > n["Version"]["Index"]
    assert [x["ID"] for x in client.api.nodes(filters={"node.label": "zone=a"})] == [nid]
    assert client.api.nodes(filters={"role": "worker"}) == []
    with pytest.raises(docker.errors.APIError) as e:
        client.api.update_node(nid, n["Version"]["Index"], n2["Spec"])
    assert "update out of sequence" in str(e.value.explanation)
    assert err(cli(node, "node", "demote", nid)) == (
        "rpc error: code = FailedPrecondition desc = attempting to demote the last manager "
        "of the swarm"
    )
    assert err(cli(node, "node", "rm", "--force", nid)) == (
        f"rpc error: code = FailedPrecondition desc = node {nid} is a cluster manager and is "
        "a member of the raft cluster. It must be demoted to worker before removal"
    )
    assert err(cli(node, "node", "inspect", "nope")) == "node nope not found"


def test_services(node: BerthdProcess) -> None:
    client = sdk(node)
    r = cli(
        node, "service", "create", "-d", "--name", "web", "--replicas", "2",
        "--stop-grace-period", "1s", "--restart-delay", "1s", "busybox", "sleep", "1000",
    )  # fmt: skip
    assert r.returncode == 0, r
    sid = r.stdout.strip()
    assert err(cli(node, "service", "create", "-d", "--name", "web", "busybox")) == (
        "rpc error: code = AlreadyExists desc = name conflicts with an existing object: "
        "service web already exists"
    )
    with pytest.raises(docker.errors.APIError) as e:
        client.api.create_service({"ContainerSpec": {"Image": "busybox"}}, name="bad name!")
    assert e.value.status_code == 400
    assert e.value.explanation == (
        "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"
    )
    with pytest.raises(docker.errors.APIError) as e:
        client.api.create_service({"ContainerSpec": {"Image": ""}}, name="noimage")
    assert "image reference must be provided" in str(e.value.explanation)
    svc = client.api.inspect_service("web")
    assert svc["ID"] == sid and svc["Spec"]["Mode"] == {"Replicated": {"Replicas": 2}}
    assert svc["Spec"]["TaskTemplate"]["Runtime"] == "container"
    assert "StopSignal" not in svc["Spec"]["TaskTemplate"]["ContainerSpec"]
    full = client.api.inspect_service("web", insert_defaults=True)["Spec"]
    assert full["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "any",
        "Delay": 1000000000,  # as given; the rest are defaults
        "MaxAttempts": 0,
    }
    assert full["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 1000000000
    assert full["UpdateConfig"]["Order"] == "stop-first"
    # update with the version read, then with a stale one
    assert cli(node, "service", "update", "-d", "--replicas", "3", "web").returncode == 0
    updated = client.api.inspect_service(sid)
    assert updated["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
    assert updated["PreviousSpec"]["Mode"]["Replicated"]["Replicas"] == 2
    with pytest.raises(docker.errors.APIError) as e:
        client.api.update_service(
            sid, svc["Version"]["Index"], updated["Spec"]["TaskTemplate"], name="web"
        )
    assert e.value.explanation == "rpc error: code = Unknown desc = update out of sequence"
    assert cli(node, "service", "rollback", "-d", "web").returncode == 0
    assert client.api.inspect_service(sid)["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    r = cli(node, "service", "create", "-d", "--name", "glob", "--mode", "global", "busybox")
    assert r.returncode == 0, r
    names = cli(node, "service", "ls", "--filter", "mode=global", "--format", "{{.Name}}")
    assert names.stdout.split() == ["glob"]
    assert cli(node, "service", "rm", "glob").returncode == 0
    assert cli(node, "service", "inspect", "glob").stderr == "Error: no such service: glob\n"


def _wait_replicas(node: BerthdProcess, service: str, want: str) -> str:
    """The REPLICAS column once it shows ``want`` (or what it shows after 30 s)."""
    deadline = time.monotonic() + 30
    shown = ""
    while time.monotonic() < deadline:
        shown = cli(node, "service", "ls", "-f", f"name={service}", "--format", "{{.Replicas}}")
        if shown.stdout.strip() == want:
            return want
        time.sleep(0.2)
    return shown.stdout.strip()


def test_replicated_tasks_run_as_containers(node: BerthdProcess) -> None:
    client = sdk(node)
    assert _wait_replicas(node, "web", "2/2") == "2/2"
    tasks = client.api.tasks(filters={"service": "web", "desired-state": "running"})
    assert sorted(t["Slot"] for t in tasks) == [1, 2]
    assert {t["Status"]["State"] for t in tasks} == {"running"}
    names = cli(
        node, "ps", "--format", "{{.Names}}", "--filter", "label=com.docker.swarm.service.name=web"
    )
    assert sorted(n.split(".")[1] for n in names.stdout.split()) == ["1", "2"], names
    cids = {t["Status"]["ContainerStatus"]["ContainerID"] for t in tasks}
    labels = client.api.inspect_container(cids.pop())["Config"]["Labels"]
    assert labels["com.docker.swarm.service.name"] == "web"
    assert cli(node, "service", "scale", "-d", "web=1").returncode == 0
    assert _wait_replicas(node, "web", "1/1") == "1/1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = cli(node, "ps", "-aq", "--filter", "label=com.docker.swarm.service.name=web")
        if len(left.stdout.split()) == 1:
            break
        time.sleep(0.2)
    assert len(left.stdout.split()) == 1
    ps = cli(node, "service", "ps", "web", "--format", "{{.Name}} {{.DesiredState}}")
    assert sorted(ps.stdout.splitlines()) == ["web.1 Running", "web.2 Shutdown"], ps


def _etcd_call(d: BerthdProcess, call: Callable[[EtcdClient], Awaitable[T]]) -> T:
    port = json.loads(Path(d.data_root, "swarm", "state.json").read_text())["ClientPort"]
    tls = NodeTLS(Path(d.data_root, "swarm", "certs"))

    async def go() -> T:
        # the swarm's etcd takes only clients with a certificate of the swarm's CA
        client = EtcdClient(f"https://127.0.0.1:{port}", ssl_context=tls.client_context())
        try:
            return await call(client)
        finally:
            await client.close()

    return asyncio.run(go())


def _node_state(d: BerthdProcess, want: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = cli(d, "node", "ls", "--format", "{{.Status}}").stdout.strip()
        if state == want:
            break
        time.sleep(0.2)
    return state


def test_replicated_job_and_pending(node: BerthdProcess) -> None:
    r = cli(
        node, "service", "create", "-d", "--name", "job", "--mode", "replicated-job",
        "--replicas", "2", "--max-concurrent", "1", "busybox", "true",
    )  # fmt: skip
    assert r.returncode == 0, r
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ps = cli(node, "service", "ps", "job", "--format", "{{.CurrentState}}")
        states = [line.split()[0] for line in ps.stdout.splitlines()]
        if states == ["Complete", "Complete"]:
            break
        time.sleep(0.2)
    assert states == ["Complete", "Complete"], ps
    svc = sdk(node).api.inspect_service("job")
    assert svc["JobStatus"]["JobIteration"] == {"Index": 0}
    assert cli(node, "service", "rm", "job").returncode == 0
    # no node meets the constraint: pending, with SwarmKit's explanation
    r = cli(
        node, "service", "create", "-d", "--name", "nowhere",
        "--constraint", "node.labels.zone==mars", "busybox", "sleep", "9",
    )  # fmt: skip
    assert r.returncode == 0, r
    deadline = time.monotonic() + 30
    err_text = ""
    while time.monotonic() < deadline and not err_text:
        tasks = sdk(node).api.tasks(filters={"service": "nowhere"})
        err_text = tasks[0]["Status"].get("Err", "") if tasks else ""
        time.sleep(0.2)
    assert tasks[0]["Status"]["State"] == "pending"
    assert err_text == "no suitable node (scheduling constraints not satisfied on 1 node)"
    assert cli(node, "service", "rm", "nowhere").returncode == 0


def test_leader_heartbeat_and_down_node(node: BerthdProcess) -> None:
    """The leader key, the node's liveness lease, status/<task>; the node's lease
    revoked: Down, its task replaced (pending while no node is ready), Ready again at
    its next heartbeat, and one container for the service in the end."""
    node_id = sdk(node).info()["Swarm"]["NodeID"]
    leader = _etcd_call(node, lambda c: c.get(LEADER))
    assert leader is not None and leader.value.decode() == node_id and leader.lease
    alive = _etcd_call(node, lambda c: c.get(ALIVE + node_id))
    assert alive is not None and alive.lease
    assert 0 < _etcd_call(node, lambda c: c.lease_ttl(alive.lease)) <= 15
    (task,) = sdk(node).api.tasks(filters={"service": "web", "desired-state": "running"})
    status = _etcd_call(node, lambda c: c.get(STATUS + task["ID"]))
    assert status is not None and json.loads(status.value)["State"] == "running"
    # the node renews its lease five times a period, so a lease revoked once is back
    # within a second: revoke whatever lease holds the key until the leader sees it gone
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        kv = _etcd_call(node, lambda c: c.get(ALIVE + node_id))
        if kv is not None and kv.lease:
            lease = kv.lease
            _etcd_call(node, lambda c, lease=lease: c.lease_revoke(lease))
        if cli(node, "node", "ls", "--format", "{{.Status}}").stdout.strip() == "Down":
            break
        time.sleep(0.05)
    assert _node_state(node, "Down") == "Down"
    info = sdk(node).api.inspect_node(node_id)["Status"]
    assert info["State"] == "down" and info["Message"] == "heartbeat failure"
    assert _node_state(node, "Ready") == "Ready"
    assert _wait_replicas(node, "web", "1/1") == "1/1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = sdk(node).api.tasks(filters={"service": "web", "desired-state": "running"})
        left = cli(node, "ps", "-aq", "--filter", "label=com.docker.swarm.service.name=web")
        if len(left.stdout.split()) == 1 and tasks and tasks[0]["ID"] != task["ID"]:
            break
        time.sleep(0.2)
    assert len(tasks) == 1 and tasks[0]["ID"] != task["ID"]
    assert len(left.stdout.split()) == 1
    old = sdk(node).api.inspect_task(task["ID"])
    assert old["DesiredState"] == "shutdown"


def test_secrets_and_configs(node: BerthdProcess) -> None:
    client = sdk(node)
    r = cli(node, "secret", "create", "--label", "k=v", "pw", "-", stdin="sécret ✓")
    assert r.returncode == 0, r
    sec_id = r.stdout.strip()
    attrs = client.api.inspect_secret("pw")
    assert attrs["ID"] == sec_id and "Data" not in attrs["Spec"]
    assert attrs["Spec"] == {"Name": "pw", "Labels": {"k": "v"}}
    assert err(cli(node, "secret", "create", "pw", "-", stdin="x")) == (
        "rpc error: code = AlreadyExists desc = secret pw already exists"
    )
    with pytest.raises(docker.errors.APIError) as e:
        client.api.create_secret("big", b"x" * 512000)
    assert e.value.explanation == (
        "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less "
        "than 512000 bytes"
    )
    with pytest.raises(docker.errors.APIError) as e:
        client.api.create_secret("bad name", b"x")
    assert "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed" in str(e.value.explanation)
    cfg = client.api.create_config("conf", "ünïcode ✓".encode())
    shown = client.api.inspect_config(cfg["ID"])
    assert base64.b64decode(shown["Spec"]["Data"]).decode() == "ünïcode ✓"
    assert [c["Spec"]["Name"] for c in client.api.configs(filters={"name": "con"})] == ["conf"]
    assert [s["ID"] for s in client.api.secrets(filters={"label": "k=v"})] == [sec_id]
    # labels may change, data may not
    spec: dict[str, Any] = {"Name": "pw", "Labels": {"k": "w"}}
    api = client.api
    url = api._url("/secrets/{0}/update", sec_id)
    res = api._post_json(url, params={"version": attrs["Version"]["Index"]}, data=spec)
    assert res.status_code == 200, res.text
    res = api._post_json(url, params={"version": 1}, data=spec)
    assert res.json()["message"] == "rpc error: code = Unknown desc = update out of sequence"
    res = api._post_json(url, params={"version": 1}, data=dict(spec, Data="eA=="))
    assert res.json()["message"] == (
        "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"
    )
    assert client.api.inspect_secret(sec_id)["Spec"]["Labels"] == {"k": "w"}
    r = cli(
        node, "service", "create", "-d", "--name", "uses", "--secret", "pw",
        "--secret", "source=pw,target=/etc/pw2,mode=0400", "--config", "conf",
        "busybox", "sh", "-c",
        "cat /run/secrets/pw /etc/pw2 /conf; stat -c %a /run/secrets/pw /etc/pw2; exec sleep 100",
    )  # fmt: skip
    assert r.returncode == 0, r
    assert err(cli(node, "secret", "rm", "pw")) == (
        "rpc error: code = InvalidArgument desc = secret 'pw' is in use by the following "
        "service: uses"
    )
    # the task sees its secret and config as files with their modes
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = cli(node, "service", "logs", "--raw", "uses").stdout
        if "400" in out:
            break
        time.sleep(0.2)
    lines = [line.split(" ", 1)[1] for line in out.splitlines()]
    assert lines == ["sécret ✓sécret ✓ünïcode ✓444", "400"], out
    assert cli(node, "service", "rm", "uses").returncode == 0
    assert cli(node, "secret", "rm", "pw").returncode == 0
    assert err(cli(node, "secret", "inspect", "pw")) == "secret pw not found"


def test_service_logs(node: BerthdProcess) -> None:
    r = cli(
        node, "service", "create", "-d", "--name", "echo", "busybox",
        "sh", "-c", "echo hello; echo oops >&2; exec sleep 100",
    )  # fmt: skip
    assert r.returncode == 0, r
    assert _wait_replicas(node, "echo", "1/1") == "1/1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        logs = cli(node, "service", "logs", "--no-task-ids", "echo")
        if "oops" in logs.stderr:
            break
        time.sleep(0.2)
    host = os.uname().nodename
    assert logs.stdout == f"echo.1@{host}    | hello\n", logs
    assert logs.stderr == f"echo.1@{host}    | oops\n", logs
    raw = cli(node, "service", "logs", "--raw", "echo").stdout
    assert raw.startswith("com.docker.swarm.node.id=") and raw.endswith(" hello\n"), raw
    assert err(cli(node, "service", "logs", "--tail", "x", "echo")) == (
        'tail value must be a positive integer or "all"'
    )
    assert cli(node, "service", "rm", "echo").returncode == 0


def test_overlay_networks_and_stack(node: BerthdProcess) -> None:
    client = sdk(node)
    nets = {n["Name"]: n for n in client.api.networks(filters={"driver": "overlay"})}
    assert nets["ingress"]["Ingress"] is True and nets["ingress"]["Scope"] == "swarm"
    assert nets["ingress"]["IPAM"]["Config"] == [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]
    assert cli(node, "network", "create", "-d", "overlay", "--attachable", "ov1").returncode == 0
    ov1 = client.api.inspect_network("ov1")
    assert (ov1["Scope"], ov1["Attachable"]) == ("swarm", True)
    assert ov1["IPAM"]["Config"] == [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}]
    assert err(cli(node, "network", "create", "-d", "overlay", "ov1")) == (
        "rpc error: code = AlreadyExists desc = network with name ov1 already exists"
    )
    assert cli(node, "network", "rm", "ov1").returncode == 0
    compose = "version: '3.8'\nservices:\n  a:\n    image: busybox\n    command: sleep 100\n"
    r = cli(node, "stack", "deploy", "-c", "-", "st", stdin=compose)
    assert "Creating network st_default" in r.stdout and "Creating service st_a" in r.stdout, r
    assert _wait_replicas(node, "st_a", "1/1") == "1/1"
    ps = cli(node, "stack", "ps", "st", "--format", "{{.Name}} {{.CurrentState}}")
    assert ps.stdout.startswith("st_a.1 Running"), ps
    r = cli(node, "stack", "rm", "st")
    assert "Removing network st_default" in r.stdout, r
    names = [n["Name"] for n in client.api.networks(filters={"driver": "overlay"})]
    assert names == ["ingress"]
    assert cli(node, "network", "create", "-d", "overlay", "unused").returncode == 0
    assert client.api.prune_networks()["NetworksDeleted"] == ["unused"]


def test_swarm_events(node: BerthdProcess) -> None:
    r = cli(
        node,
        "events",
        "--since",
        "0",
        "--until",
        str(int(time.time()) + 1),
        "--filter",
        "scope=swarm",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    )
    seen = r.stdout.splitlines()
    for line in (
        f"node create {os.uname().nodename}",
        "node update " + os.uname().nodename,
        "service create web",
        "service update web",
        "service remove glob",
        "secret create pw",
        "secret remove pw",
        "config create conf",
        "network create ov1",
        "network remove unused",
    ):
        assert line in seen, (line, seen)
    r = cli(
        node, "events", "--since", "0", "--until", str(int(time.time()) + 1),
        "--filter", "type=service", "--filter", "event=update", "--format", "{{json .Actor}}",
    )  # fmt: skip
    actors = [json.loads(x) for x in r.stdout.splitlines()]
    assert {"name": "web", "replicas.old": "2", "replicas.new": "3"} in [
        a["Attributes"] for a in actors
    ]


def test_state_survives_kill_9(node: BerthdProcess) -> None:
    listing = ("service", "ls", "--format", "{{.ID}} {{.Name}} {{.Mode}} {{.Image}}")
    before = cli(node, *listing).stdout
    swarm_id = sdk(node).api.inspect_swarm()["ID"]
    old_etcd = _etcd_pid(node)
    assert node.proc is not None
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(10)
    node.stop()
    node.start()
    assert cli(node, *listing).stdout == before
    assert sdk(node).api.inspect_swarm()["ID"] == swarm_id
    # the task whose container berthd stopped at its restart is replaced
    assert _wait_replicas(node, "web", "1/1") == "1/1"
    new_etcd = _etcd_pid(node)
    assert new_etcd != old_etcd and old_etcd is not None and not pid_alive(old_etcd)


def test_etcd_restarted_when_it_dies(node: BerthdProcess) -> None:
    pid = _etcd_pid(node)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _etcd_pid(node) in (pid, None) and time.monotonic() < deadline:
        time.sleep(0.1)
    r = None
    while time.monotonic() < deadline:
        r = cli(node, "service", "ls", "--format", "{{.Name}}")
        if r.returncode == 0:
            break
        time.sleep(0.2)
    assert r is not None and r.stdout.split() == ["web"], r


def test_leave(node: BerthdProcess) -> None:
    assert err(cli(node, "swarm", "leave")) == (
        "You are attempting to leave the swarm on a node that is participating as a manager. "
        "Removing the last manager erases all current state of the swarm. Use `--force` to "
        "ignore this message."
    )
    pid = _etcd_pid(node)
    assert cli(node, "swarm", "leave", "--force").stdout == "Node left the swarm.\n"
    assert pid is not None and not pid_alive(pid)
    assert not Path(node.data_root, "swarm").exists()
    # the tasks' containers went with the swarm
    assert cli(node, "ps", "-aq", "--filter", "label=com.docker.swarm.task.id").stdout == ""
    assert (
        json.loads(cli(node, "info", "--format", "{{json .Swarm}}").stdout)["LocalNodeState"]
        == "inactive"
    )
    assert err(cli(node, "swarm", "leave", "--force")) == "This node is not part of a swarm"
