"""The managers' dispatcher against a real etcd 3.4, and a worker's session over TLS.

What a worker is given (its tasks only, their services, only the secrets they
reference, no keys or tokens of the cluster), what it may write (its own tasks'
status), its heartbeat lease renewed for it (kept across managers, revoked when it
leaves), and a session that moves to the next manager when one cannot be reached,
identified by its certificate's CN whatever it sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berthd.cluster.rpc import (
    ASSIGNMENTS_PATH,
    HEARTBEAT_PATH,
    STATUS_PATH,
    JoinListener,
    NodeClient,
    RpcError,
)
from berthd.cluster.tls import NodeTLS
from berthd.daemon.cluster.dispatcher import Dispatcher
from berthd.daemon.cluster.ids import new_id, new_root_ca
from berthd.daemon.cluster.session import DispatcherSession
from berthd.daemon.cluster.store import ALIVE, ObjectStore
from tests.integration.cluster.one_etcd import run
from tests.integration.daemon_process import free_port

pytestmark = pytest.mark.skipif(not Path("/usr/bin/etcd").exists(), reason="needs etcd-server")


def ref(kind: str, oid: str) -> dict[str, Any]:
    return {kind.title() + "ID": oid, kind.title() + "Name": oid, "File": {"Name": oid}}


async def seed(store: ObjectStore) -> None:
    await store.create(
        "cluster",
        {
            "ID": "c1",
            "Spec": {"Dispatcher": {"HeartbeatPeriod": 2_000_000_000}, "CAConfig": {}},
            "JoinTokens": {"Worker": "SWMTKN-w", "Manager": "SWMTKN-m"},
            "CAKey": "KEY",
            "EtcdCA": {"Cert": "C", "Key": "K"},
            "TLSInfo": {"TrustRoot": "ROOT"},
        },
    )
    for nid, role in (("m1", "manager"), ("w1", "worker"), ("w2", "worker")):
        obj: dict[str, Any] = {"ID": nid, "Spec": {"Role": role}, "Status": {"State": "ready"}}
        if role == "manager":
            obj["ManagerStatus"] = {"Addr": "198.18.0.1:2377"}
        await store.create("node", obj)
    for sid in ("s1", "s2"):
        await store.create("secret", {"ID": sid, "Spec": {"Name": sid, "Data": "eA=="}}, sid)
    await store.create("service", {"ID": "web", "Spec": {"Name": "web"}}, "web")
    await store.create("service", {"ID": "db", "Spec": {"Name": "db"}}, "db")
    spec = {"ContainerSpec": {"Image": "busybox", "Secrets": [ref("secret", "s1")]}}
    for tid, sid, nid in (("t1", "web", "w1"), ("t2", "db", "w2"), ("t3", "web", "w2")):
        task = {"ID": tid, "ServiceID": sid, "NodeID": nid, "DesiredState": "running"}
        task["Spec"] = spec if tid == "t1" else {"ContainerSpec": {"Image": "busybox"}}
        task["Status"] = {"State": "assigned"}
        await store.create("task", task)


def test_a_worker_is_given_its_own_part_only() -> None:
    async def scenario(store: ObjectStore) -> None:
        await seed(store)
        out = await Dispatcher(store).assignments("w1", {})
        assert [t["ID"] for t in out["Tasks"]] == ["t1"]
        assert [s["ID"] for s in out["Services"]] == ["web"]
        assert [s["ID"] for s in out["Secrets"]] == ["s1"]  # s2 is nobody's
        assert out["Cluster"] == {
            "ID": "c1",
            "Spec": {
                "Dispatcher": {"HeartbeatPeriod": 2_000_000_000},
                "CAConfig": {"NodeCertExpiry": 0},
            },
        }
        assert out["Node"]["ID"] == "w1" and out["Managers"] == ["198.18.0.1:2377"]
        assert "ClientURLs" not in out  # a worker is not told where etcd is
        with pytest.raises(RpcError) as e:
            await Dispatcher(store).assignments("gone", {})
        assert e.value.status == 403 and "not in this swarm" in e.value.message

    run(scenario)


def test_a_worker_writes_only_its_own_tasks_status() -> None:
    async def scenario(store: ObjectStore) -> None:
        await seed(store)
        d = Dispatcher(store)
        await d.status("w1", {"TaskID": "t1", "Status": {"State": "running"}})
        assert (await store.get("task", "t1") or {})["Status"] == {"State": "running"}
        with pytest.raises(RpcError) as e:
            await d.status("w1", {"TaskID": "t2", "Status": {"State": "failed"}})
        assert e.value.status == 403
        assert (await store.get("task", "t2") or {})["Status"] == {"State": "assigned"}
        with pytest.raises(RpcError) as e:
            await d.status("w1", {"TaskID": "t1", "Status": "running"})
        assert e.value.status == 400

    run(scenario)


def test_the_heartbeat_lease_follows_the_worker_across_managers() -> None:
    async def scenario(store: ObjectStore) -> None:
        await seed(store)
        a, b = Dispatcher(store), Dispatcher(store)
        first = await a.heartbeat("w1", {"Lease": 0, "Endpoint": "198.18.0.2:2377"})
        assert first["Period"] == 2_000_000_000 and first["Lease"]
        assert (await store.etcd.get(ALIVE + "w1")) is not None
        assert await store.etcd.lease_ttl(first["Lease"]) <= 6  # 3 periods
        assert await store.endpoints() == {"w1": "198.18.0.2:2377"}
        # another manager keeps the lease the worker brings, not a second one
        again = await b.heartbeat("w1", {"Lease": first["Lease"]})
        assert again["Lease"] == first["Lease"]
        # a lease that holds another node's key is not adopted
        other = await a.heartbeat("w2", {"Lease": first["Lease"]})
        assert other["Lease"] != first["Lease"]
        await b.heartbeat("w1", {"Leave": True, "Lease": first["Lease"]})
        assert (await store.etcd.get(ALIVE + "w1")) is None
        assert (await store.etcd.get(ALIVE + "w2")) is not None

    run(scenario)


def test_a_session_moves_to_a_manager_that_answers(tmp_path: Path) -> None:
    ca = new_root_ca()
    cluster = new_id()
    manager, worker = NodeTLS(tmp_path / "m"), NodeTLS(tmp_path / "w")
    manager.issue(ca.cert_pem, ca.key_pem, "m1", "manager", cluster, ["127.0.0.1"])
    worker.issue(ca.cert_pem, ca.key_pem, "w1", "worker", cluster, ["127.0.0.1"])

    async def scenario(store: ObjectStore) -> None:
        await seed(store)
        d = Dispatcher(store)
        calls = {ASSIGNMENTS_PATH: d.assignments, STATUS_PATH: d.status}
        calls[HEARTBEAT_PATH] = d.heartbeat
        port, dead = free_port(), free_port()
        listener = JoinListener(
            "127.0.0.1", port, None, manager.server_context(), ca.cert_pem, None, calls
        )
        await listener.start()
        session = DispatcherSession(
            NodeClient(worker.client_context()), [f"127.0.0.1:{dead}", f"127.0.0.1:{port}"]
        )
        try:
            given = await session.assignments()  # the CN says w1, whatever is sent
            assert [t["ID"] for t in given.tasks] == ["t1"]
            assert session.current == f"127.0.0.1:{port}"
            assert ("secret", "s1") in given.files and session.node is not None
            assert await session.renew(0) == 2_000_000_000
            with pytest.raises(RpcError) as e:
                await session.put_status("t3", {"State": "failed"})
            assert e.value.status == 403
        finally:
            await session.close()
            await listener.stop()

    run(scenario)
