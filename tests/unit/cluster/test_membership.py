"""Manager join pieces that need no etcd: the initial-cluster string, etcd's argv, the
leave refusal's wording, and the join call over a real loopback HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berthd.cluster import EtcdSettings, Member
from berthd.cluster.rpc import JoinListener, RpcError, call_join
from berthd.daemon.cluster.cluster import LAST_MANAGER, _leave_refusal
from berthd.daemon.cluster.membership import free_port, initial_cluster


def test_initial_cluster_names_the_new_member() -> None:
    members = [
        Member(1, "n1", ("http://198.18.0.1:2380",), ("http://198.18.0.1:2379",)),
        Member(2, "", ("http://198.18.0.2:2380",), ()),
        Member(3, "", (), ()),
    ]
    assert initial_cluster(members, "n2", "http://198.18.0.2:2380") == (
        "n1=http://198.18.0.1:2380,n2=http://198.18.0.2:2380"
    )


def test_etcd_argv_new_and_existing() -> None:
    s = EtcdSettings(Path("/x/swarm"), "n1", 2379, 2380)
    argv = s.argv()
    assert argv[argv.index("--listen-client-urls") + 1] == "http://127.0.0.1:2379"
    assert argv[argv.index("--initial-cluster-state") + 1] == "new"
    j = EtcdSettings(
        Path("/x/swarm"), "n2", 2379, 2380, host="198.18.0.2",
        initial_cluster="n1=http://198.18.0.1:2380,n2=http://198.18.0.2:2380",
        cluster_token="berthd-n1",
    )  # fmt: skip
    argv = j.argv()
    assert argv[argv.index("--listen-client-urls") + 1] == (
        "http://127.0.0.1:2379,http://198.18.0.2:2379"
    )
    assert argv[argv.index("--advertise-client-urls") + 1] == "http://198.18.0.2:2379"
    assert argv[argv.index("--listen-peer-urls") + 1] == "http://198.18.0.2:2380"
    assert argv[argv.index("--initial-cluster-state") + 1] == "existing"
    assert argv[argv.index("--initial-cluster-token") + 1] == "berthd-n1"
    assert j.client_url == "http://127.0.0.1:2379"


def test_leave_refusal_wording() -> None:
    assert _leave_refusal([]) == LAST_MANAGER
    two = _leave_refusal([{"alive": True}])
    assert "Removing this node leaves 1 managers out of 2. Without a Raft quorum" in two
    three = _leave_refusal([{"alive": True}, {"alive": True}])
    assert "Raft quorum" not in three
    assert three.endswith("Use `--force` to suppress this message.")


async def test_join_call_round_trip() -> None:
    seen: list[dict[str, Any]] = []

    async def handler(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        if body.get("Token") != "good":
            raise RpcError("rpc error: code = InvalidArgument desc = nope", 400)
        return {"Role": "manager"}

    port = free_port("127.0.0.1")
    listener = JoinListener("127.0.0.1", port, handler)
    await listener.start()
    try:
        assert await call_join(f"127.0.0.1:{port}", {"Token": "good"}) == {"Role": "manager"}
        with pytest.raises(RpcError) as e:
            await call_join(f"127.0.0.1:{port}", {"Token": "bad"})
        assert (e.value.status, e.value.message) == (
            400,
            "rpc error: code = InvalidArgument desc = nope",
        )
    finally:
        await listener.stop()
    with pytest.raises(RpcError) as e:
        await call_join(f"127.0.0.1:{port}", {"Token": "good"}, timeout=2)
    assert e.value.status == 0 and "cannot reach the manager" in e.value.message
    assert [b["Token"] for b in seen] == ["good", "bad"]
