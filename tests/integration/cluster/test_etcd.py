"""berthd.cluster against a real etcd 3.4: the supervisor and the JSON-gateway client."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from berthd.cluster import Compare, EtcdError, EtcdProcess, EtcdSettings, TxnOp
from berthd.daemon.cluster.roles import join_members, leave_members, undo_member
from tests.helpers.ports import free_port
from tests.integration.host_state import pid_alive

pytestmark = pytest.mark.skipif(not Path("/usr/bin/etcd").exists(), reason="needs etcd-server")


def test_etcd_kv_txn_and_supervision() -> None:
    root = Path(tempfile.mkdtemp(prefix="berthd-etcd-it-"))

    async def scenario() -> None:
        settings = EtcdSettings(root / "swarm", "n1", free_port(), free_port())
        etcd = EtcdProcess(settings)
        await etcd.start()
        try:
            c = etcd.client
            # create-if-absent, twice
            first = await c.txn([Compare("/k", 0, "CREATE")], [TxnOp("put", "/k", b"v1")])
            again = await c.txn([Compare("/k", 0, "CREATE")], [TxnOp("put", "/k", b"v2")])
            assert first.succeeded and not again.succeeded
            kv = await c.get("/k")
            assert kv is not None and kv.value == b"v1"
            # compare-and-swap on mod_revision
            stale = kv.mod_revision - 1
            assert not (await c.txn([Compare("/k", stale)], [TxnOp("put", "/k", b"x")])).succeeded
            ok = await c.txn([Compare("/k", kv.mod_revision)], [TxnOp("put", "/k", "é✓".encode())])
            assert ok.succeeded
            assert (await c.get("/k")) is not None
            await c.put("/p/a", b"1")
            await c.put("/p/b", b"2")
            assert [x.key for x in await c.get_prefix("/p/")] == ["/p/a", "/p/b"]
            assert await c.count_prefix("/p/") == 2
            # a one-member etcd is its own leader; a serializable read sees the same
            assert await c.has_leader()
            local = await c.get_prefix("/p/", serializable=True)
            assert [x.value for x in local] == [b"1", b"2"]
            assert await c.count_prefix("/p/", serializable=True) == 2
            # etcd killed: the supervisor starts it again on the same data
            pid = etcd.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            for _ in range(200):
                if etcd.pid != pid and await c.healthy():
                    break
                await asyncio.sleep(0.05)
            assert etcd.pid != pid and etcd.restarts == 1
            assert await c.count_prefix("/p/") == 2
            assert await c.delete_prefix("/") == 3
            # a second supervisor on the same data dir stops the first etcd (a berthd
            # killed with SIGKILL leaves its etcd running)
            orphan = etcd.pid
            assert orphan is not None
            etcd._stopping = True  # its berthd is "dead": nobody restarts the orphan
            etcd2 = EtcdProcess(settings)
            await etcd2.start()
            assert not pid_alive(orphan) and etcd2.pid != orphan
            await etcd2.stop()
        finally:
            await etcd.stop()
        assert not settings.pid_file.exists()

    try:
        asyncio.run(scenario())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_etcd_leases() -> None:
    """Grant, keep alive, bind keys (put and txn), revoke, expiry."""
    root = Path(tempfile.mkdtemp(prefix="berthd-etcd-lease-"))

    async def scenario() -> None:
        settings = EtcdSettings(root / "swarm", "n1", free_port(), free_port())
        etcd = EtcdProcess(settings)
        await etcd.start()
        try:
            c = etcd.client
            lease = await c.lease_grant(30)
            assert lease.id > 0 and lease.ttl == 30
            await c.put("/l/a", b"1", lease=lease.id)
            res = await c.txn(
                [Compare("/l/b", 0, "CREATE")], [TxnOp("put", "/l/b", b"2", lease=lease.id)]
            )
            assert res.succeeded
            kv = await c.get("/l/b")
            assert kv is not None and kv.lease == lease.id
            assert await c.lease_keepalive(lease.id) == 30
            assert 0 < await c.lease_ttl(lease.id) <= 30
            await c.lease_revoke(lease.id)
            assert await c.count_prefix("/l/") == 0
            assert await c.lease_keepalive(lease.id) == 0
            assert await c.lease_ttl(lease.id) == -1
            await c.lease_revoke(lease.id)  # already gone: not an error
            # a short lease not kept alive expires and takes its key
            short = await c.lease_grant(1)
            await c.put("/l/c", b"3", lease=short.id)
            for _ in range(100):
                if await c.get("/l/c") is None:
                    break
                await asyncio.sleep(0.1)
            assert await c.get("/l/c") is None
            assert await c.lease_keepalive(short.id) == 0
        finally:
            await etcd.stop()

    try:
        asyncio.run(scenario())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_members_join_are_undone_and_leave() -> None:
    """roles.py against real members: a node joins as a member (MemberAdd, then its etcd
    with existing state), a member that never started is removed again, a member
    leaves and hands back another's client URL."""
    root = Path(tempfile.mkdtemp(prefix="berthd-etcd-members-"))

    async def scenario() -> None:
        first = EtcdProcess(EtcdSettings(root / "a", "a", free_port(), free_port()))
        await first.start()
        second: EtcdProcess | None = None
        try:
            c = first.client
            second = await join_members(root / "b", "b", "127.0.0.1", None, c)
            assert sorted(m.name for m in await c.member_list()) == ["a", "b"]
            await second.client.put("/k", b"v")  # through the new member, with quorum
            assert (await c.get("/k")) is not None
            # a member added for an etcd that never starts (3 members, 2 started: the
            # quorum holds, so it can be removed); etcd refuses a new member for 5 s
            # after the previous one, so this waits
            ghost = f"http://127.0.0.1:{free_port()}"
            for _ in range(100):
                try:
                    await c.member_add(ghost)
                    break
                except EtcdError:
                    await asyncio.sleep(0.2)
            assert len(await c.member_list()) == 3
            await undo_member(c, ghost)
            assert sorted(m.name for m in await c.member_list()) == ["a", "b"]
            # b leaves: its member removed, its etcd stopped, its data gone
            url = await leave_members(second, "b")
            assert url == first.settings.advertise_client_url
            assert [m.name for m in await c.member_list()] == ["a"]
            assert second.pid is None and not second.settings.data_dir.exists()
            await c.put("/k2", b"v")  # one member again: its own quorum
        finally:
            if second is not None:
                await second.stop()
            await first.stop()

    try:
        asyncio.run(scenario())
    finally:
        shutil.rmtree(root, ignore_errors=True)
